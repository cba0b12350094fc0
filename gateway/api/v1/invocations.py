"""Async invocations: their state, and the dead letters of a function."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from faas.errors import InvalidRequest, InvocationNotFound
from gateway.api.v1.schemas import DeadLetterOut, DeadLetterPage, ErrorOut, InvocationOut, Redriven
from gateway.deps import CallerDep, PlatformDep
from gateway.edge.bodies import json_body
from gateway.edge.table import Endpoints

endpoint = Endpoints(tags=["async invocations"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 404, 422, 503)
}


@endpoint(response_model=InvocationOut, responses=ERRORS)
async def get_invocation(platform: PlatformDep, key: CallerDep, request_id: str) -> InvocationOut:
    """State, attempts, times, and the result or error of an async invocation."""
    invocation = await platform.invoker.get_invocation(request_id)
    if key is not None and not key.may_invoke(invocation.function):
        # As if it did not exist: a key learns nothing of functions it may not call.
        raise InvocationNotFound(f"no async invocation with id {request_id!r}")
    return InvocationOut(**invocation.to_api())


@endpoint(response_model=DeadLetterPage, responses=ERRORS)
async def list_dead_letters(
    platform: PlatformDep,
    name: str,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeadLetterPage:
    """The function's dead letters, oldest first."""
    total, items = await platform.dead_letters.page(name, offset, limit)
    return DeadLetterPage(
        total=total,
        offset=offset,
        limit=limit,
        items=[DeadLetterOut(**i.to_dead_letter()) for i in items],
    )


@endpoint(response_model=Redriven, responses=ERRORS)
async def redrive(platform: PlatformDep, name: str, request: Request) -> Redriven:
    """Queue dead letters again with fresh attempts: all, or ``{"ids": [...]}``."""
    body = await json_body(request)
    if body is None:
        body = {}
    if not isinstance(body, dict) or set(body) - {"ids"}:
        raise InvalidRequest('the body must be empty or {"ids": [request ids]}')
    ids = body.get("ids")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        raise InvalidRequest("ids must be a list of request ids")
    return Redriven(redriven=await platform.dead_letters.redrive(name, ids))


@endpoint(status_code=204, responses=ERRORS)
async def delete_dead_letter(platform: PlatformDep, name: str, request_id: str) -> Response:
    """Drop one dead letter for good."""
    await platform.dead_letters.delete(name, request_id)
    return Response(status_code=204)
