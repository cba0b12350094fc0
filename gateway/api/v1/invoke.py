"""Invoke API: run a function and return what it returned, queue the event, or only check it.

The invocation type comes from ``X-Faas-Invocation-Type``, else Lambda's
``X-Amz-Invocation-Type`` (the first wins when both are sent; an empty one
counts as absent): ``RequestResponse`` (the default) waits for the result,
``Event`` queues the event and answers 202 once Redis holds it, ``DryRun`` only
checks the function and the event (204). The log type is read the same way.

The edge serves this route itself, past FastAPI (``serve``; see
``gateway.edge.dispatch`` for what that bought): FastAPI only documents it, from
``invoke``'s parameters.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Header
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope

from faas.catalog import logs as function_logs
from faas.errors import InvalidRequest, ValidationFailed
from faas.models import ASYNC_INVOKE_MAX_BYTES, INVOKE_MAX_BYTES, QUALIFIER_PATTERN
from faas.outcomes import InvocationResult, Outcome
from faas.platform import Platform
from gateway.api.v1.schemas import Accepted, ErrorOut, FunctionErrorOut
from gateway.edge import bodies
from gateway.edge.table import Endpoints

endpoint = Endpoints(tags=["invoke"])

STATUS = {
    Outcome.SUCCESS: 200,
    Outcome.FUNCTION_ERROR: 500,
    Outcome.OUT_OF_MEMORY: 500,
    Outcome.TIMEOUT: 504,
}

# The headers read, by their place in ``requested``'s slots: ours before Lambda's.
_HEADERS = {
    b"x-faas-invocation-type": 0,
    b"x-amz-invocation-type": 1,
    b"x-faas-log-type": 2,
    b"x-amz-log-type": 3,
}
_TYPES = (b"RequestResponse", b"Event", b"DryRun")


def requested(headers: Iterable[tuple[bytes, bytes]]) -> tuple[bytes, bool]:
    """The invocation type the headers ask for, and whether they ask for the log's tail."""
    slots: list[bytes | None] = [None, None, None, None]
    for name, value in headers:
        slot = _HEADERS.get(name)
        if slot is not None and slots[slot] is None:
            slots[slot] = value
    kind = slots[0] or slots[1] or b"RequestResponse"
    return kind, (slots[2] or slots[3]) == b"Tail"


async def serve(
    platform: Platform, params: Mapping[str, str], scope: Scope, receive: Receive
) -> Response | None:
    """The invoke, as the edge serves it: the one dispatcher of the three types."""
    kind, tail = requested(scope["headers"])
    if kind not in _TYPES:
        shown = kind.decode("latin-1")
        raise InvalidRequest(
            f"invocation type {shown!r} is not one of RequestResponse, Event, DryRun"
        )
    body = await bodies.read(receive)  # past the body limit: a 413 HTTPException
    if body is None:
        return None  # the client left before its request was whole: nothing to run
    name = params["name"]
    qualifier = _qualifier(scope["query_string"])
    if kind == b"Event":
        event = bodies.checked_event(body, ASYNC_INVOKE_MAX_BYTES)
        return await run_async(platform, name, event, qualifier)
    event = bodies.checked_event(body, INVOKE_MAX_BYTES)
    if kind == b"DryRun":
        await platform.qualifiers.resolve(name, qualifier, draw=False)
        return Response(status_code=204)
    return await run_sync(platform, name, event, tail, qualifier)


def _qualifier(query: bytes) -> str | None:
    """``?qualifier=``: a version number, ``$LATEST`` or an alias; None when absent."""
    if not query:
        return None
    values = parse_qs(query.decode("latin-1")).get("qualifier")
    if not values:
        return None
    if not QUALIFIER_PATTERN.fullmatch(values[0]):
        raise ValidationFailed(
            "qualifier must be $LATEST, a version number or an alias name", field="qualifier"
        )
    return values[0]


@endpoint(
    serve=serve,
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
    name: str,
    x_faas_invocation_type: Annotated[str | None, Header()] = None,
    x_amz_invocation_type: Annotated[str | None, Header()] = None,
    x_faas_log_type: Annotated[str | None, Header()] = None,
    x_amz_log_type: Annotated[str | None, Header()] = None,
    qualifier: str | None = None,
) -> None:
    """Run the function with the request body as its event (JSON, up to 6 MB; 1 MB queued);
    ``qualifier`` runs a published version or an alias instead of ``$LATEST``."""


async def run_async(
    platform: Platform, name: str, event: bytes, qualifier: str | None = None
) -> Response:
    """An Event invocation of a checked event: 202 once Redis holds it."""
    request_id = await platform.invoker.invoke_async(name, event, qualifier)
    return JSONResponse(
        {"requestId": request_id}, status_code=202, headers={"X-Request-Id": request_id}
    )


async def run_sync(
    platform: Platform, name: str, event: bytes, tail: bool, qualifier: str | None = None
) -> Response:
    """A RequestResponse invocation of a checked event, as its HTTP response."""
    result = await platform.invoker.invoke(name, event, str(uuid.uuid4()), qualifier)
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
    headers["X-Faas-Function-Error"] = "Unhandled"
    return Response(
        json.dumps(result.error_document()),
        status_code=STATUS[result.outcome],
        media_type="application/json",
        headers=headers,
    )
