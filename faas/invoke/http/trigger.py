"""The HTTP trigger: a plain HTTP request in, an API Gateway proxy invocation, a response out.

In order, as API Gateway does it: the function must be exposed (its ``http``
config), a CORS preflight is answered here without the function, a key is
checked when the route needs one, the route table picks a route and its path
parameters, the event of the configured payload format is built, the function
runs, and its proxy response (or its error) becomes the HTTP response, with
the CORS headers on top.

In ``RESPONSE_STREAM`` mode (a function URL's ``InvokeMode``) a function that
streams is answered as it writes: its HTTP metadata prelude, if its stream
starts with one, sets the status and headers, and the rest is the body, sent
chunk by chunk. A function that does not stream is answered as in buffered mode.

A key the gateway checked is the platform's, never the function's: on a route
with ``auth: key`` the headers it may come in are gone from the event. A route
without platform auth passes ``Authorization`` on untouched (apps carry their
own tokens in it).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import lru_cache

from faas import auth
from faas.errors import Forbidden, FunctionNotFound, PayloadTooLarge, RouteNotFound
from faas.invoke.http import apigw, responses
from faas.invoke.http.apigw import Context, HttpRequest
from faas.invoke.http.config import HttpConfig
from faas.invoke.http.responses import HttpResponse
from faas.invoke.http.routes import RouteTable
from faas.invoke.streaming import Stream
from faas.models import INVOKE_MAX_BYTES, FunctionSpec
from faas.outcomes import InvocationResult, Outcome

Invoke = Callable[[FunctionSpec, bytes, str], Awaitable[InvocationResult]]
# Starts an invocation whose response may stream (``Invoker.stream``).
StreamInvoke = Callable[[FunctionSpec, bytes, str], Stream]
# Raises Unauthorized, Forbidden or RateLimited unless the presented key may call the route.
Authorize = Callable[[str | None], Awaitable[None]]

# Headers the gateway's server sets itself; a function's copies would conflict.
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


@lru_cache(maxsize=1024)
def _table(routes: tuple[str, ...]) -> RouteTable:
    return RouteTable(list(routes))


async def handle(
    spec: FunctionSpec,
    request: HttpRequest,
    ctx: Context,
    *,
    invoke: Invoke,
    authorize: Authorize,
    stream: StreamInvoke | None = None,
) -> HttpResponse:
    """Serve ``request`` (its path relative to the function) with ``spec``'s HTTP config."""
    http = spec.http
    if not http.enabled:
        raise FunctionNotFound(
            f"function {spec.name!r} is not exposed over HTTP (PUT /v1/functions/{spec.name}/http)"
        )
    origin = request.header("origin")
    if (
        http.cors is not None
        and request.method == "OPTIONS"
        and origin
        and request.header("access-control-request-method")
    ):
        allowed = http.cors.preflight(
            origin,
            request.header("access-control-request-method"),
            request.header("access-control-request-headers"),
        )
        if allowed is None:
            raise Forbidden(
                f"CORS: origin {origin!r} may not make this request; see the function's cors"
            )
        return HttpResponse(204, allowed, b"")
    if http.auth == "key":
        await authorize(auth.presented_key(request.header))
        request = dataclasses.replace(request, headers=_without_keys(request.headers))
    if http.payload_format == "1.0":
        route = _table(http.routes).match(request.method, request.encoded_path, encoded=True)
    else:
        route = _table(http.routes).match(request.method, request.path)
    if route is None:
        raise RouteNotFound(
            f"no route of function {spec.name!r} takes {request.method} {request.path}"
        )
    build = apigw.event_v1 if http.payload_format == "1.0" else apigw.event_v2
    event = json.dumps(build(request, route, ctx)).encode()
    if len(event) > INVOKE_MAX_BYTES:
        raise PayloadTooLarge(
            f"the event is {len(event)} bytes; Lambda's limit for a request is {INVOKE_MAX_BYTES}"
        )
    if http.streams and stream is not None:
        return await _streamed(stream(spec, event, ctx.request_id), http, origin)
    result = await invoke(spec, event, ctx.request_id)
    return _finish(result, http, origin)


async def _streamed(stream: Stream, http: HttpConfig, origin: str) -> HttpResponse:
    """The response to a ``RESPONSE_STREAM`` request: its body follows as it is written."""
    try:
        await stream.started()
        if not stream.streamed:
            return _finish(await stream.result(), http, origin)
        chunks = stream.chunks()
        status, headers, first = 200, [("content-type", stream.content_type or "")], b""
        if stream.content_type == responses.HTTP_INTEGRATION:
            metadata = b""
            async for chunk in chunks:
                metadata += chunk
                if responses.PRELUDE_END in metadata or len(metadata) > responses.PRELUDE_MAX:
                    break
            raw, end, first = metadata.partition(responses.PRELUDE_END)
            if not end:
                result = await stream.result()
                if result.outcome is not Outcome.SUCCESS:  # failed before its metadata
                    return _finish(result, http, origin)
                raise responses.MalformedResponse(
                    "the stream's HTTP metadata did not end with 8 NUL bytes within "
                    f"{responses.PRELUDE_MAX} bytes"
                )
            status, headers = responses.prelude(raw)
    except BaseException:
        stream.close()
        raise
    out = _with_platform_headers(headers, http, origin, stream.request_id)
    return HttpResponse(status, out, b"", stream=stream.closing(_body(first, chunks, stream)))


async def _body(first: bytes, chunks: AsyncIterator[bytes], stream: Stream) -> AsyncIterator[bytes]:
    """A streamed body; a client that leaves lets the invocation run to its end."""
    try:
        if first:
            yield first
        async for chunk in chunks:
            yield chunk
    finally:
        stream.close()


def _without_keys(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` less those ``auth.presented_key`` reads a key from: every
    ``Authorization: Bearer …`` and every ``X-Api-Key`` (another scheme, such as
    Basic, is no platform key and stays)."""
    return [
        (name, value)
        for name, value in headers
        if not (
            name.lower() == auth.API_KEY
            or (name.lower() == auth.AUTHORIZATION and auth.is_bearer(value))
        )
    ]


def _finish(result: InvocationResult, http: HttpConfig, origin: str) -> HttpResponse:
    if result.outcome is Outcome.SUCCESS:
        out = responses.response(result.payload, http.payload_format)
    else:
        out = responses.function_error(
            result.request_id,
            result.error or {},
            timed_out=result.outcome is Outcome.TIMEOUT,
            debug=http.debug,
        )
    headers = _with_platform_headers(out.headers, http, origin, result.request_id)
    return HttpResponse(out.status, headers, out.body)


def _with_platform_headers(
    given: list[tuple[str, str]], http: HttpConfig, origin: str, request_id: str
) -> list[tuple[str, str]]:
    """The function's headers less hop-by-hop ones, with CORS and the request id."""
    headers = [(k, v) for k, v in given if k.lower() not in _HOP_BY_HOP]
    if http.cors is not None:
        # As API Gateway: configured CORS overrides what the function set.
        headers = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
        headers += http.cors.response_headers(origin)
    if not any(k.lower() == "x-request-id" for k, _ in headers):
        headers.append(("x-request-id", request_id))
    return headers
