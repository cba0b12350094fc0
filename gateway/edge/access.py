"""Access control at the edge: every request's key is checked before its body is read.

One table decides what each path needs, deny by default for the API:

| path                              | needs                                          |
|-----------------------------------|------------------------------------------------|
| ``/healthz``, ``/readyz``, docs   | nothing                                        |
| ``POST /v1/functions/{name}/invoke`` | an admin key, or an invoke key for ``name`` |
| ``GET /v1/invocations/{id}``      | any key (the route hides others' invocations)  |
| ``/fn/{name}/...``                | what the function's HTTP config says (the     |
|                                   | trigger checks it: ``auth: key`` or public)    |
| anything else (``/v1/...``, ``/metrics``) | an admin key                           |

On a server without keys everything is let through (it listens on localhost only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from faas import auth
from faas.platform import Platform
from gateway.errors import response_for

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/redoc", "/openapi.json"})
INVOKE_PATH = re.compile(r"^/v1/functions/(?P<name>[^/]+)/invoke/?$")
_INVOCATION = re.compile(r"^/v1/invocations/[^/]+/?$")


@dataclass(frozen=True)
class Need:
    """What a request must present: ``role`` is open, admin, invoke, caller or route."""

    role: str
    function: str | None = None


def need(method: str, path: str) -> Need:
    if path in OPEN_PATHS or path.startswith("/docs/"):
        return Need("open")
    if path == "/fn" or path.startswith("/fn/"):
        return Need("route")
    match = INVOKE_PATH.fullmatch(path)
    if match and method == "POST":
        return Need("invoke", match["name"])
    if _INVOCATION.fullmatch(path) and method in ("GET", "HEAD"):
        return Need("caller")
    return Need("admin")


class AccessControl:
    """ASGI middleware: refuse (401/403/429) before the app reads a byte of the body."""

    def __init__(self, app: ASGIApp, api: Starlette) -> None:
        self.app = app
        self.api = api  # the FastAPI app, whose state holds the platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        platform: Platform | None = getattr(self.api.state, "platform", None)
        required = need(scope["method"], scope["path"])
        if platform is not None and required.role not in ("open", "route"):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            presented = auth.presented_key(headers)
            try:
                if required.role == "admin":
                    key = platform.access.admin(presented)
                elif required.role == "invoke":
                    key = platform.access.invoke(presented, required.function or "")
                else:
                    key = platform.access.caller(presented)
            except Exception as exc:  # outside FastAPI: its handlers would not see this
                await response_for(exc)(scope, receive, send)
                return
            scope.setdefault("state", {})["api_key"] = key
        await self.app(scope, receive, send)
