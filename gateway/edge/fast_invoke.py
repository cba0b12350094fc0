"""Invokes served past FastAPI: the platform's hottest route.

``POST /v1/functions/{name}/invoke`` with the RequestResponse type (the
default) or Event is most of a busy server's traffic. This ASGI layer sits at
the edge, behind ``AccessControl`` and ``BodyLimit`` (so keys, rate limits and
body limits hold exactly as for every route) and in front of the FastAPI app
(see ``gateway.app``). It answers such requests with the very functions the
FastAPI route uses (``checked_event``, ``run_sync``, ``run_async``, the error
mapping); every other request, and DryRun or a bad type, goes on to FastAPI,
which also keeps documenting the route in the OpenAPI schema.

What it bought, under ``wrk -c8`` with py-spy: FastAPI's routing, dependency
solving and response wrapping were ~15% of the gateway's samples per invoke;
for Event, about half of the server's CPU per queued event (async end to end
671 -> 902 events/s in a back-to-back run). Moving the edge out of FastAPI's
own middleware stack (six ASGI layers an invoke passed through for nothing)
took the gateway's CPU per invoke at c=32 from about 450 to 330 us.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from faas.models import ASYNC_INVOKE_MAX_BYTES, INVOKE_MAX_BYTES
from faas.platform import Platform
from gateway import errors
from gateway.api.v1.invoke import run_async, run_sync
from gateway.edge.access import INVOKE_PATH
from gateway.edge.bodies import checked_event

_TYPE_HEADERS = (b"x-faas-invocation-type", b"x-amz-invocation-type")
_LOG_HEADERS = (b"x-faas-log-type", b"x-amz-log-type")


class FastInvoke:
    """ASGI middleware: RequestResponse and Event invokes straight to the platform."""

    def __init__(self, app: Starlette) -> None:
        self.app = app  # the FastAPI app: everything else goes there; its state has the platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = (
            INVOKE_PATH.fullmatch(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        platform: Platform | None = getattr(self.app.state, "platform", None)
        if match is None or platform is None:
            await self.app(scope, receive, send)
            return
        kind = log_type = None
        for name, value in scope["headers"]:
            if name in _TYPE_HEADERS and kind is None:
                kind = value
            elif name in _LOG_HEADERS and log_type is None:
                log_type = value
        if kind not in (None, b"RequestResponse", b"Event"):
            await self.app(scope, receive, send)  # DryRun, or a bad type's 400
            return
        try:
            body = await _body(receive)  # past the body limit: a 413 HTTPException
            if body is None:
                return  # the client left before its request was whole: nothing to run
            if kind == b"Event":
                event = checked_event(body, ASYNC_INVOKE_MAX_BYTES)
                response = await run_async(platform, match["name"], event)
            else:
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
