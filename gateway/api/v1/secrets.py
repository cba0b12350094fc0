"""Secrets of a function: set them, list their names, delete one. Values never come back."""

from __future__ import annotations

from fastapi import Request, Response

from gateway.api.v1.schemas import ErrorOut, SecretNames
from gateway.deps import PlatformDep
from gateway.edge.bodies import json_body
from gateway.edge.table import Endpoints

endpoint = Endpoints(tags=["secrets"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 404, 422, 503)
}


@endpoint(response_model=SecretNames, responses=ERRORS)
async def list_secrets(platform: PlatformDep, name: str) -> SecretNames:
    return SecretNames(secrets=await platform.functions.secret_names(name))


@endpoint(response_model=SecretNames, responses=ERRORS)
async def put_secrets(platform: PlatformDep, name: str, request: Request) -> SecretNames:
    """Replace the secrets with ``{"NAME": "value", ...}``; the function's containers see
    them as files ``/run/secrets/NAME`` (fresh containers start for the change)."""
    return SecretNames(secrets=await platform.functions.put_secrets(name, await json_body(request)))


@endpoint(status_code=204, responses=ERRORS)
async def delete_secret(platform: PlatformDep, name: str, secret: str) -> Response:
    await platform.functions.delete_secret(name, secret)
    return Response(status_code=204)
