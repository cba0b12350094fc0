"""Lambda's Invoke: ``POST /2015-03-31/functions/{FunctionName}/invocations``.

As the Lambda API answers it: a handler's error, timeout or running out of
memory is a 200 with ``X-Amz-Function-Error: Unhandled`` and the error JSON;
``X-Amz-Executed-Version`` names the version that ran; ``X-Amz-Log-Result`` (the
last 4 KB of the log, base64) comes only with ``X-Amz-Log-Type: Tail``. Event
answers 202 with an empty body once Redis holds the event; DryRun 204.

InvokeWithResponseStream (``POST /2021-11-15/functions/{FunctionName}/
response-streaming-invocations``) answers in AWS's event-stream framing
(``eventstream``): a ``PayloadChunk`` event per chunk the function streams, as
it arrives, then ``InvokeComplete``, whose ``ErrorCode`` (the error's type) and
``ErrorDetails`` (its message) tell a failure after the stream began. A
function that does not stream gives its payload as one chunk. What fails
before the first byte (unknown function, throttled) is an error answer as for
Invoke.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import AsyncIterator

from starlette.responses import Response, StreamingResponse

from faas.catalog import logs as function_logs
from faas.errors import ValidationFailed
from faas.invoke.streaming import Stream
from faas.models import ASYNC_INVOKE_MAX_BYTES, INVOKE_MAX_BYTES
from faas.outcomes import Outcome
from gateway.api.aws_lambda import eventstream, versions
from gateway.edge import bodies
from gateway.edge.aws import AwsRequest

TYPES = ("RequestResponse", "Event", "DryRun")
STREAM_TYPES = ("RequestResponse", "DryRun")
# Lambda's limit on the ClientContext header (base64).
CLIENT_CONTEXT_MAX = 3583


async def invoke(request: AwsRequest) -> Response:
    kind = _invocation_type(request, TYPES)
    log_type = _log_type(request)
    context = _client_context(request.header("x-amz-client-context"))
    named = request.function()
    platform = request.platform
    spec, version = await versions.resolve(platform, named)
    executed = {"X-Amz-Executed-Version": version}
    if kind == "Event":
        # Queued with its qualifier: an alias draws its version when the event runs.
        event = bodies.checked_event(request.body, ASYNC_INVOKE_MAX_BYTES)
        request_id = await platform.invoker.invoke_async(spec.name, event, named.qualifier)
        return Response(status_code=202, headers={"x-amzn-RequestId": request_id})
    event = bodies.checked_event(request.body, INVOKE_MAX_BYTES)
    if kind == "DryRun":
        return Response(status_code=204, headers=executed)
    request_id = str(uuid.uuid4())
    result = await platform.invoker.run(spec, event, request_id, client_context=context)
    headers = {"x-amzn-RequestId": request_id, **executed}
    if log_type == "Tail":
        headers["X-Amz-Log-Result"] = function_logs.tail(result.log)
    if result.outcome is Outcome.SUCCESS:
        return Response(result.payload, media_type="application/json", headers=headers)
    headers["X-Amz-Function-Error"] = "Unhandled"
    return Response(
        json.dumps(result.error_document()), media_type="application/json", headers=headers
    )


async def invoke_with_response_stream(request: AwsRequest) -> Response:
    kind = _invocation_type(request, STREAM_TYPES)
    tail = _log_type(request) == "Tail"
    context = _client_context(request.header("x-amz-client-context"))
    platform = request.platform
    spec, version = await versions.resolve(platform, request.function())
    event = bodies.checked_event(request.body, INVOKE_MAX_BYTES)
    executed = {"X-Amz-Executed-Version": version}
    if kind == "DryRun":
        return Response(status_code=204, headers=executed)
    request_id = str(uuid.uuid4())
    stream = platform.invoker.stream(spec, event, request_id, client_context=context)
    try:
        await stream.started()
    except BaseException:
        stream.close()
        raise
    return StreamingResponse(
        stream.closing(_events(stream, tail)),
        media_type=eventstream.CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id, **executed},
    )


async def _events(stream: Stream, tail: bool) -> AsyncIterator[bytes]:
    """The event stream of one invocation; a reader that leaves lets it run to its end."""
    try:
        async for chunk in stream.chunks():
            yield eventstream.payload_chunk(chunk)
        try:
            result = await stream.result()
        except Exception as exc:  # the platform failed it mid-stream: no status left to set
            yield eventstream.invoke_complete("ServiceException", str(exc) or type(exc).__name__)
            return
        log = function_logs.tail(result.log) if tail else None
        if result.outcome is Outcome.SUCCESS:
            yield eventstream.invoke_complete(log_result=log)
        else:
            error = result.error_document()
            yield eventstream.invoke_complete(error["errorType"], error["errorMessage"], log)
    finally:
        stream.close()


def _invocation_type(request: AwsRequest, allowed: tuple[str, ...]) -> str:
    kind = request.header("x-amz-invocation-type") or "RequestResponse"
    if kind not in allowed:
        raise ValidationFailed(
            f"InvocationType {kind!r} must be one of {', '.join(allowed)}",
            field="InvocationType",
        )
    return kind


def _log_type(request: AwsRequest) -> str:
    log_type = request.header("x-amz-log-type") or "None"
    if log_type not in ("None", "Tail"):
        raise ValidationFailed(f"LogType {log_type!r} must be None or Tail", field="LogType")
    return log_type


def _client_context(header: str | None) -> str | None:
    """The ``ClientContext`` as sent (base64 JSON), once checked."""
    if not header:
        return None
    try:
        if len(header) > CLIENT_CONTEXT_MAX:
            raise ValueError("too long")
        json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise ValidationFailed(
            "ClientContext must be a base64-encoded JSON object of at most "
            f"{CLIENT_CONTEXT_MAX} characters",
            field="ClientContext",
        ) from None
    return header
