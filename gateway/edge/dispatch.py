"""The one dispatcher: every request is matched once against the route table, at the edge.

``Dispatch`` wraps the FastAPI app from outside. For each request it finds the
row of ``gateway.routes`` (``Table.match``), then in this order:

1. checks the key the row needs (``gateway.edge.access``): a refused request is
   answered before its body is read;
2. holds the body to the row's limit (``gateway.edge.limits``); a web console
   row (``CONSOLE``) checks its session and CSRF token instead of a key
   (``gateway.console.gate``), which may read a small urlencoded form for it;
3. answers a method the path does not take (405, with ``Allow``), serves the
   row itself when its endpoint has ``serve`` (the invoke), or hands the
   request to FastAPI (every other row, and unknown paths: 404 or a redirect).

The rows of the AWS APIs (and unknown paths under theirs) go to
``gateway.edge.aws`` instead, which signs them in and answers in AWS's shapes.

Serving past FastAPI is what the invoke, most of a busy server's traffic,
was profiled into (``wrk -c8`` with py-spy): FastAPI's routing, dependency
solving and response wrapping were ~15% of the gateway's samples per invoke; for
Event, about half of the server's CPU per queued event (async end to end 671 ->
902 events/s in a back-to-back run). Keeping the edge out of FastAPI's own
middleware stack (six ASGI layers an invoke passed through for nothing) took the
gateway's CPU per invoke at c=32 from about 450 to 330 us. Each step guards its
own errors: FastAPI's handlers cannot see them.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from faas.platform import Platform
from gateway.console import gate
from gateway.edge import access, aws, limits
from gateway.edge.table import DEFAULT_BODY_LIMIT, KEYLESS, Role, Table
from gateway.errors import response_for


class Dispatch:
    """ASGI app: the route table's keys, limits and edge endpoints, in front of ``api``."""

    def __init__(self, table: Table, api: FastAPI) -> None:
        self.table = table
        self.api = api  # the FastAPI app: its state holds the platform once it started

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        found = self.table.match(scope["method"], scope["path"])
        platform: Platform | None = getattr(self.api.state, "platform", None)
        if platform is not None and (
            found.route.aws if found.route is not None else aws.is_aws_path(scope["path"])
        ):
            response = await aws.serve(platform, found, scope, receive)
            if response is not None:
                await response(scope, receive, send)
            return
        if platform is not None and found.role not in KEYLESS:
            try:
                key = await access.check(platform, found.role, found.function, scope["headers"])
            except Exception as exc:
                await response_for(exc)(scope, receive, send)
                return
            scope.setdefault("state", {})["api_key"] = key
        route = found.route
        limit = DEFAULT_BODY_LIMIT if route is None else route.body_limit
        if limits.declared_over(scope["headers"], limit):
            await limits.too_large(send, limit)
            return
        receive = limits.counted(receive, limit)
        if platform is not None and found.role is Role.CONSOLE:
            try:
                admitted = await gate.admit(platform, scope, receive)
            except Exception as exc:
                admitted = response_for(exc)
            if isinstance(admitted, Response):
                await admitted(scope, receive, send)
                return
            receive = admitted
        if route is None:
            if found.allow:
                refused = HTTPException(405, headers={"Allow": ", ".join(found.allow)})
                await response_for(refused)(scope, receive, send)
            else:
                await self.api(scope, receive, send)  # 404, or a redirect to a row
            return
        serve = route.endpoint.serve
        if serve is None or platform is None:  # no platform: the app was run without its lifespan
            await self.api(scope, receive, send)
            return
        try:
            response = await serve(platform, found.params, scope, receive)
        except Exception as exc:
            response = response_for(exc)
        if response is not None:
            await response(scope, receive, send)
