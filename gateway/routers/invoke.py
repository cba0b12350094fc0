"""Invoke API: run a function synchronously and return what it returned."""

from __future__ import annotations

import json
import uuid

from fastapi import APIRouter, Request, Response

from faas.errors import InvalidRequest
from faas.models import InvocationResult, Outcome
from gateway.deps import PlatformDep
from gateway.schemas import ErrorOut, FunctionErrorOut

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
        500: {"model": FunctionErrorOut, "description": "the function failed"},
        504: {"model": FunctionErrorOut, "description": "the function timed out"},
        **{code: {"model": ErrorOut} for code in (400, 404, 413, 429, 502, 503)},
    },
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": {}}}}},
)
async def invoke(platform: PlatformDep, name: str, request: Request) -> Response:
    """Run the function with the request body as its event (JSON, up to 6 MB)."""
    event = await request.body()
    if event.strip() == b"":
        event = b"{}"
    else:
        try:
            json.loads(event)
        except (ValueError, RecursionError) as exc:
            raise InvalidRequest(f"the event is not valid JSON: {exc}") from None
    request_id = str(uuid.uuid4())
    result = await platform.invoke(name, event, request_id)
    return to_response(result)


def to_response(result: InvocationResult) -> Response:
    headers = {
        "X-Request-Id": result.request_id,
        "X-Faas-Cold-Start": "true" if result.cold_start else "false",
        "X-Faas-Duration-Ms": f"{result.duration_ms:.2f}",
    }
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
