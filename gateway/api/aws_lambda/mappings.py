"""Event source mappings: Lambda's Create/Get/Update/Delete/ListEventSourceMappings.

An SQS queue of this server read into a function in batches
(``faas.invoke.mappings``). Create, Update and Delete answer 202 with the
mapping's configuration in the state Lambda shows while the change is applied
(``Creating``, ``Updating``, ``Deleting``); the pollers follow within a second,
and a Get then shows ``Enabled`` or ``Disabled``.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from faas.invoke.mappings.model import State
from gateway.api.aws_lambda import paging
from gateway.edge.aws import AwsRequest

LIST_DEFAULT_ITEMS = 100
LIST_MAX_ITEMS = 10_000  # Lambda's MaxItems of ListEventSourceMappings


async def create_event_source_mapping(request: AwsRequest) -> Response:
    mappings = request.platform.mappings
    made = await mappings.create(request.json())
    return JSONResponse(mappings.configuration(made, State.CREATING), status_code=202)


async def get_event_source_mapping(request: AwsRequest) -> Response:
    mappings = request.platform.mappings
    return JSONResponse(mappings.configuration(await mappings.get(request.params["UUID"])))


async def update_event_source_mapping(request: AwsRequest) -> Response:
    mappings = request.platform.mappings
    changed = await mappings.update(request.params["UUID"], request.json())
    return JSONResponse(mappings.configuration(changed, State.UPDATING), status_code=202)


async def delete_event_source_mapping(request: AwsRequest) -> Response:
    mappings = request.platform.mappings
    gone = await mappings.delete(request.params["UUID"])
    return JSONResponse(mappings.configuration(gone, State.DELETING), status_code=202)


async def list_event_source_mappings(request: AwsRequest) -> Response:
    limit = paging.max_items(
        request.arg("MaxItems"), default=LIST_DEFAULT_ITEMS, most=LIST_MAX_ITEMS
    )
    mappings = request.platform.mappings
    found = await mappings.list(
        event_source_arn=request.arg("EventSourceArn"),
        function_name=request.arg("FunctionName"),
    )
    shown, next_marker = paging.page(found, lambda m: m.uuid, request.arg("Marker"), limit)
    return JSONResponse(
        paging.answer(
            "EventSourceMappings", [mappings.configuration(m) for m in shown], next_marker
        )
    )
