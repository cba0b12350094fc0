"""What each request must present, read off its method and path before its body.

The needs are the rows of the route table (``gateway.routes``). Deny by default:
a path the table does not know needs the admin key, so a new management route
can never be left open by mistake.
"""

from __future__ import annotations

import pytest

from gateway.edge.table import Need, Role
from gateway.routes import ROUTES

need = ROUTES.need


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
        ("GET", "/openapi.json"),
        ("HEAD", "/healthz"),
        # A trailing slash is the row's: FastAPI redirects it to /healthz.
        ("GET", "/healthz/"),
    ],
)
def test_health_and_docs_are_open(method: str, path: str) -> None:
    assert need(method, path) == Need(Role.PUBLIC)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/fn/hook"),
        ("POST", "/fn/hook/orders/42"),
        ("DELETE", "/fn/hook/"),
        ("OPTIONS", "/fn/hook/x"),
        ("TRACE", "/fn/hook/x"),  # a method routes do not take: 405, still without a key
    ],
)
def test_http_routes_are_left_to_the_function_http_config(method: str, path: str) -> None:
    assert need(method, path) == Need(Role.TRIGGER)


@pytest.mark.parametrize("path", ["/v1/functions/resize/invoke", "/v1/functions/resize/invoke/"])
def test_invoking_needs_a_key_that_may_invoke_that_function(path: str) -> None:
    assert need("POST", path) == Need(Role.INVOKE, "resize")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_on_invoke_need_the_admin_key(method: str) -> None:
    assert need(method, "/v1/functions/resize/invoke") == Need(Role.ADMIN)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_any_key_may_ask_after_an_invocation(method: str) -> None:
    assert need(method, "/v1/invocations/abc-123") == Need(Role.CALLER)


def test_deleting_an_invocation_needs_the_admin_key() -> None:
    assert need("DELETE", "/v1/invocations/abc-123") == Need(Role.ADMIN)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/metrics"),
        ("GET", "/v1/functions"),
        ("POST", "/v1/functions"),
        ("GET", "/v1/functions/resize"),
        ("PATCH", "/v1/functions/resize"),
        ("DELETE", "/v1/functions/resize"),
        ("PUT", "/v1/functions/resize/code"),
        ("GET", "/v1/functions/resize/code"),
        ("GET", "/v1/functions/resize/async-config"),
        ("PUT", "/v1/functions/resize/http"),
        ("GET", "/v1/functions/resize/schedules"),
        ("PUT", "/v1/functions/resize/schedules"),
        ("GET", "/v1/functions/resize/logs"),
        ("GET", "/v1/functions/resize/secrets"),
        ("PUT", "/v1/functions/resize/secrets"),
        ("DELETE", "/v1/functions/resize/secrets/DB_PASSWORD"),
        ("GET", "/v1/functions/resize/dead-letters"),
        ("POST", "/v1/functions/resize/dead-letters/redrive"),
        ("DELETE", "/v1/functions/resize/dead-letters/abc-123"),
        # Look-alikes of the invoke and invocation paths are not them.
        ("POST", "/v1/functions/resize/invoke/extra"),
        ("POST", "/v1/functions/invoke"),
        ("POST", "/v1/functions/a/b/invoke"),
        ("GET", "/v1/invocations"),
        ("GET", "/v1/invocations/abc/result"),
    ],
)
def test_the_management_api_needs_the_admin_key(method: str, path: str) -> None:
    assert need(method, path) == Need(Role.ADMIN)


@pytest.mark.parametrize(
    "path",
    ["/", "/v2/functions", "/healthz/extra", "//healthz", "/fnord", "/metrics/", "/fn", "/fn/"],
)
def test_an_unknown_path_needs_the_admin_key(path: str) -> None:
    assert need("GET", path) == Need(Role.ADMIN)
