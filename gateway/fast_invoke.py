"""Synchronous invokes served past FastAPI's routing: the platform's hottest route.

``POST /v1/functions/{name}/invoke`` with the RequestResponse type (the
default) is most of a busy server's traffic. This ASGI layer sits inside
``AccessControl`` and ``BodyLimit`` (so keys, rate limits and body limits hold
exactly as for every route) and answers such requests with the very functions
the FastAPI route uses (``checked_event``, ``run_sync``, the error mapping);
every other request, and every other invocation type, goes on to FastAPI,
which also keeps documenting the route in the OpenAPI schema.

What it bought, under ``wrk -c8`` with py-spy: FastAPI's routing, dependency
solving and response wrapping were ~15% of the gateway's samples per invoke.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from faas.models import INVOKE_MAX_BYTES
from faas.platform import Platform
from gateway import errors
from gateway.access import INVOKE_PATH
from gateway.bodies import checked_event
from gateway.routers.invoke import run_sync

_TYPE_HEADERS = (b"x-faas-invocation-type", b"x-amz-invocation-type")
_LOG_HEADERS = (b"x-faas-log-type", b"x-amz-log-type")


class FastInvoke:
    """ASGI middleware: RequestResponse invokes straight to the platform."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = (
            INVOKE_PATH.fullmatch(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        platform: Platform | None = getattr(scope["app"].state, "platform", None)
        if match is None or platform is None:
            await self.app(scope, receive, send)
            return
        kind = log_type = None
        for name, value in scope["headers"]:
            if name in _TYPE_HEADERS and kind is None:
                kind = value
            elif name in _LOG_HEADERS and log_type is None:
                log_type = value
        if kind not in (None, b"RequestResponse"):
            await self.app(scope, receive, send)  # Event, DryRun, or a bad type's 400
            return
        body = await _body(receive)
        if body is None:
            return  # the client left before its request was whole: nothing to run
        try:
            event = checked_event(body, INVOKE_MAX_BYTES)
            response = await run_sync(platform, match["name"], event, log_type == b"Tail")
        except Exception as exc:
            response = errors.response_for(exc)
        await response(scope, receive, send)


async def _body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
