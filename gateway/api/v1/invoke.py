"""Invoke API: run a function and return what it returned, or queue the event.

The invocation type comes from ``X-Faas-Invocation-Type`` (or Lambda's
``X-Amz-Invocation-Type``): ``RequestResponse`` (the default) waits for the
result, ``Event`` queues the event and answers 202 once Redis holds it,
``DryRun`` only checks the function and the event.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse

from faas.catalog import logs as function_logs
from faas.errors import InvalidRequest
from faas.models import ASYNC_INVOKE_MAX_BYTES, INVOKE_MAX_BYTES, InvocationResult, Outcome
from faas.platform import Platform
from gateway.api.v1.schemas import Accepted, ErrorOut, FunctionErrorOut
from gateway.deps import PlatformDep
from gateway.edge.bodies import json_event

router = APIRouter(prefix="/v1/functions", tags=["invoke"])

STATUS = {
    Outcome.SUCCESS: 200,
    Outcome.FUNCTION_ERROR: 500,
    Outcome.OUT_OF_MEMORY: 500,
    Outcome.TIMEOUT: 504,
}


@router.post(
    "/{name}/invoke",
    responses={
        200: {"description": "the handler's return value, as JSON"},
        202: {"model": Accepted, "description": "the event is queued (Event)"},
        204: {"description": "the function exists and the event is valid (DryRun)"},
        500: {"model": FunctionErrorOut, "description": "the function failed"},
        504: {"model": FunctionErrorOut, "description": "the function timed out"},
        **{code: {"model": ErrorOut} for code in (400, 404, 413, 429, 502, 503)},
    },
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": {}}}}},
)
async def invoke(
    platform: PlatformDep,
    name: str,
    request: Request,
    x_faas_invocation_type: Annotated[str | None, Header()] = None,
    x_amz_invocation_type: Annotated[str | None, Header()] = None,
    x_faas_log_type: Annotated[str | None, Header()] = None,
    x_amz_log_type: Annotated[str | None, Header()] = None,
) -> Response:
    """Run the function with the request body as its event (JSON, up to 6 MB; 1 MB queued)."""
    kind = x_faas_invocation_type or x_amz_invocation_type or "RequestResponse"
    if kind == "Event":
        return await run_async(platform, name, await json_event(request, ASYNC_INVOKE_MAX_BYTES))
    if kind not in ("RequestResponse", "DryRun"):
        raise InvalidRequest(
            f"invocation type {kind!r} is not one of RequestResponse, Event, DryRun"
        )
    event = await json_event(request, INVOKE_MAX_BYTES)
    if kind == "DryRun":
        await platform.get_function(name)
        return Response(status_code=204)
    return await run_sync(platform, name, event, (x_faas_log_type or x_amz_log_type) == "Tail")


async def run_async(platform: Platform, name: str, event: bytes) -> Response:
    """An Event invocation of a checked event: 202 once Redis holds it."""
    request_id = await platform.invoke_async(name, event)
    return JSONResponse(
        {"requestId": request_id}, status_code=202, headers={"X-Request-Id": request_id}
    )


async def run_sync(platform: Platform, name: str, event: bytes, tail: bool) -> Response:
    """A RequestResponse invocation of a checked event, as its HTTP response."""
    result = await platform.invoke(name, event, str(uuid.uuid4()))
    return to_response(result, tail)


def to_response(result: InvocationResult, tail: bool = False) -> Response:
    headers = {
        "X-Request-Id": result.request_id,
        "X-Faas-Cold-Start": "true" if result.cold_start else "false",
        "X-Faas-Duration-Ms": f"{result.duration_ms:.2f}",
    }
    if tail:
        # As Lambda's LogType=Tail: the last 4 KB of the invocation's log, base64.
        headers["X-Faas-Log-Result"] = function_logs.tail(result.log)
    if result.init_duration_ms is not None:
        headers["X-Faas-Init-Duration-Ms"] = f"{result.init_duration_ms:.2f}"
    if result.outcome is Outcome.SUCCESS:
        return Response(result.payload, media_type="application/json", headers=headers)
    error = result.error or {}
    body = {
        "errorType": error.get("errorType", "Runtime.Unknown"),
        "errorMessage": error.get("errorMessage", ""),
        "stackTrace": error.get("stackTrace") or [],
        "requestId": result.request_id,
    }
    headers["X-Faas-Function-Error"] = "Unhandled"
    return Response(
        json.dumps(body),
        status_code=STATUS[result.outcome],
        media_type="application/json",
        headers=headers,
    )
