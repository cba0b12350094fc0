"""Event source mappings through ``/v1``: a queue of this server read into a function.

Bodies take the Lambda API's field names (``EventSourceArn``, ``FunctionName``,
``BatchSize``, ``MaximumBatchingWindowInSeconds``, ``FunctionResponseTypes``,
``ScalingConfig``, ``FilterCriteria``, ``Enabled``) and answers are Lambda's
``EventSourceMappingConfiguration``: one shape to learn, checked in one place
(``faas.invoke.mappings.validation``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response

from faas.errors import InvalidRequest
from gateway.api.v1.schemas import ErrorOut
from gateway.deps import PlatformDep
from gateway.edge.bodies import json_body
from gateway.edge.table import Endpoints

endpoint = Endpoints(tags=["event source mappings"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 404, 409, 422, 503)
}


async def _object(request: Request) -> dict[str, Any]:
    doc = await json_body(request)
    if not isinstance(doc, dict):
        raise InvalidRequest("the body must be a JSON object of the mapping's fields")
    return doc


@endpoint(responses=ERRORS)
async def list_mappings(
    platform: PlatformDep,
    function: Annotated[str | None, Query(description="a function name or ARN")] = None,
    queue: Annotated[str | None, Query(description="a queue ARN")] = None,
) -> dict[str, Any]:
    """Every mapping, or those of one function and/or one queue."""
    found = await platform.mappings.list(event_source_arn=queue, function_name=function)
    return {"mappings": [platform.mappings.configuration(m) for m in found]}


@endpoint(status_code=201, responses=ERRORS)
async def create_mapping(platform: PlatformDep, request: Request) -> dict[str, Any]:
    """Read a queue (``EventSourceArn``) into a function (``FunctionName``) in batches."""
    made = await platform.mappings.create(await _object(request))
    return platform.mappings.configuration(made)


@endpoint(responses=ERRORS)
async def get_mapping(platform: PlatformDep, uuid: str) -> dict[str, Any]:
    return platform.mappings.configuration(await platform.mappings.get(uuid))


@endpoint(responses=ERRORS)
async def update_mapping(platform: PlatformDep, uuid: str, request: Request) -> dict[str, Any]:
    """Change the fields given (``Enabled: false`` stops its pollers within a second)."""
    changed = await platform.mappings.update(uuid, await _object(request))
    return platform.mappings.configuration(changed)


@endpoint(status_code=204, responses=ERRORS)
async def delete_mapping(platform: PlatformDep, uuid: str) -> Response:
    await platform.mappings.delete(uuid)
    return Response(status_code=204)
