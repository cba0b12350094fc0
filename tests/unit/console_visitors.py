"""Who visits the console in its page tests: an admin and an invoke key, a function's spec,
a request as the gate admits it (no server: the pages' templates are rendered directly)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from faas.auth import ApiKey
from faas.models import FunctionConfig, FunctionSpec
from gateway.console import render
from gateway.console.gate import Visitor

ADMIN = Visitor(ApiKey("ops", "a" * 32, admin=True), "tok")
INVOKER = Visitor(ApiKey("ci", "b" * 32, admin=False, functions=frozenset({"resize"})), "tok")


def spec(name: str = "resize", version: str = "$LATEST", **changes: Any) -> FunctionSpec:
    config = FunctionConfig(name=name, runtime="python3.11", handler="app.handler", **changes)
    return FunctionSpec(
        config,
        code_sha256="ab" * 32,
        code_size=2048,
        created_at=1_700_000_000.0,
        updated_at=1_700_000_100.0,
        version=version,
    )


def request_of(visitor: Visitor, path: str = "/ui/functions/resize", htmx: bool = False) -> Request:
    headers = [(b"hx-request", b"true")] if htmx else []
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": headers,
        "query_string": b"",
        "state": {"console": visitor},
    }
    return Request(scope)


def page(visitor: Visitor, template: str, **context: Any) -> str:
    """``template`` rendered for ``visitor``, as a page's handler renders it."""
    return bytes(render.render(request_of(visitor), template, **context).body).decode()


def main_part(html: str) -> str:
    """The page below its header (whose log-out form every page has)."""
    return html.split("</header>", 1)[1]
