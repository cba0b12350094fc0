"""The route table: every path once, with its methods, who may call it, body limit, handler.

The edge reads it for each request before the body; the API registers and
documents the same rows. A later API (Lambda's own paths) is more rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope

from faas import auth
from faas.auth import ApiKey, KeyRing
from faas.models import INVOKE_MAX_BYTES
from faas.platform import Platform
from faas.settings import Settings
from gateway.api.v1 import functions
from gateway.api.v1.invoke import requested
from gateway.app import create_app
from gateway.edge import bodies
from gateway.edge.table import DEFAULT_BODY_LIMIT, Endpoint, Need, Role, Route, Table
from gateway.routes import ROUTES, UPLOAD
from tests.unit.test_auth import NO_RATES

MB = DEFAULT_BODY_LIMIT


@pytest.mark.parametrize(
    ("method", "path", "handler", "limit"),
    [
        ("POST", "/v1/functions/resize/invoke", "invoke", INVOKE_MAX_BYTES),
        # The slashed form is the same row, with the same limit (it had 1 MB)
        ("POST", "/v1/functions/resize/invoke/", "invoke", INVOKE_MAX_BYTES),
        ("POST", "/v1/functions", "create_function", UPLOAD),
        ("PUT", "/v1/functions/resize/code", "update_code", UPLOAD),
        ("GET", "/v1/functions/resize/code", "get_code", MB),
        ("GET", "/v1/functions/resize", "get_function", MB),
        ("GET", "/fn/hook", "http_route", INVOKE_MAX_BYTES),
        ("PUT", "/fn/hook/orders/42", "http_route", INVOKE_MAX_BYTES),
        ("POST", "/v1/functions/resize/dead-letters/redrive", "redrive", MB),
        # A dead letter whose id looks like the redrive path is still a dead letter
        ("DELETE", "/v1/functions/resize/dead-letters/redrive", "delete_dead_letter", MB),
        ("GET", "/v1/invocations/abc-123", "get_invocation", MB),
        ("GET", "/metrics", "metrics_endpoint", MB),
        ("GET", "/docs", "swagger_ui_html", MB),
    ],
)
def test_a_request_finds_its_row_its_handler_and_body_limit(
    method: str, path: str, handler: str, limit: int
) -> None:
    found = ROUTES.match(method, path)
    assert found.route is not None
    assert found.route.endpoint.handler.__name__ == handler
    assert found.route.body_limit == limit


def test_the_invoke_row_names_its_function_and_is_served_at_the_edge() -> None:
    found = ROUTES.match("POST", "/v1/functions/resize/invoke")
    assert found.need == Need(Role.INVOKE, "resize")
    assert found.params == {"name": "resize"}
    assert found.route is not None and found.route.endpoint.serve is not None


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/functions/resize/invoke", ("POST",)),
        ("POST", "/v1/functions/resize", ("GET", "PATCH", "DELETE")),
        ("PATCH", "/v1/functions/resize/code", ("GET", "PUT")),
        ("HEAD", "/healthz", ("GET",)),
    ],
)
def test_a_method_the_path_does_not_take_has_no_row_but_what_it_takes(
    method: str, path: str, allow: tuple[str, ...]
) -> None:
    found = ROUTES.match(method, path)
    assert found.route is None and found.allow == allow


def test_an_unknown_path_has_no_row_and_needs_the_admin_key() -> None:
    found = ROUTES.match("POST", "/v1/functions/a/b/invoke")
    assert found.route is None and found.allow == () and found.need == Need(Role.ADMIN)


async def _no_op() -> None:
    """A handler for the tables these tests make up."""


NO_OP = Endpoint(_no_op)


def test_a_route_written_twice_is_refused() -> None:
    with pytest.raises(ValueError, match=r"GET /a/\{x\} is in the table twice"):
        Table(
            [
                Route("GET", "/a/{x}", Role.ADMIN, NO_OP),
                Route("GET HEAD", "/a/{x}", Role.ADMIN, NO_OP),
            ]
        )


def test_a_path_must_start_with_a_literal_segment() -> None:
    with pytest.raises(ValueError, match="must start with a literal segment"):
        Table([Route("GET", "/{x}", Role.ADMIN, NO_OP)])


def test_an_invoke_row_must_name_the_parameter_that_holds_its_function() -> None:
    with pytest.raises(ValueError, match="must name its function"):
        Route("POST", "/a/{x}", Role.INVOKE, NO_OP)
    with pytest.raises(ValueError, match=r"no parameter \{y\}"):
        Route("POST", "/a/{x}", Role.INVOKE, NO_OP, function="y")
    with pytest.raises(ValueError, match="must name its function"):
        Route("GET", "/a/{x}", Role.ADMIN, NO_OP, function="x")


@pytest.mark.parametrize(
    ("headers", "kind", "tail"),
    [
        ([], b"RequestResponse", False),
        ([(b"x-amz-invocation-type", b"Event")], b"Event", False),
        # Both sent, in either order: X-Faas-Invocation-Type wins
        (
            [(b"x-amz-invocation-type", b"Event"), (b"x-faas-invocation-type", b"RequestResponse")],
            b"RequestResponse",
            False,
        ),
        (
            [(b"x-faas-invocation-type", b"DryRun"), (b"x-amz-invocation-type", b"Event")],
            b"DryRun",
            False,
        ),
        # An empty one counts as absent
        (
            [(b"x-faas-invocation-type", b""), (b"x-amz-invocation-type", b"Event")],
            b"Event",
            False,
        ),
        # The log type likewise: ours first, then Lambda's
        ([(b"x-amz-log-type", b"Tail")], b"RequestResponse", True),
        ([(b"x-amz-log-type", b"Tail"), (b"x-faas-log-type", b"None")], b"RequestResponse", False),
    ],
)
def test_the_invocation_type_is_ours_before_lambdas(
    headers: list[tuple[bytes, bytes]], kind: bytes, tail: bool
) -> None:
    assert requested(headers) == (kind, tail)


# Lambda's API, as a later issue may add it: rows of the same table.
ADMIN_KEY = "admin-key-0123456789"
RESIZER_KEY = "resizer-key-0123456789"


async def lambda_invoke(
    platform: Platform, params: Mapping[str, str], scope: Scope, receive: Receive
) -> Response | None:
    body = await bodies.read(receive)
    return None if body is None else JSONResponse({"function": params["name"], "bytes": len(body)})


async def lambda_invoke_doc(name: str) -> None:
    """Invoke a function (a new API)."""


LAMBDA_ROWS = [
    Route(
        "POST",
        "/newapi/functions/{name}/invocations",
        Role.INVOKE,
        Endpoint(lambda_invoke_doc, {"tags": ["lambda"]}, serve=lambda_invoke),
        INVOKE_MAX_BYTES,
        function="name",
    ),
    Route("GET", "/newapi/functions", Role.ADMIN, functions.list_functions),
]


class KeysOnly:
    """What the edge itself asks of the platform: its key checker (the real one)."""

    def __init__(self, *keys: ApiKey) -> None:
        self.access = auth.Access(KeyRing(keys), NO_RATES)


@pytest.mark.filterwarnings("ignore:Duplicate Operation ID:UserWarning")  # /fn's, as before
async def test_a_new_api_is_more_rows_of_the_same_table() -> None:
    # Given the gateway with a new API's invoke path as one more row, served at the edge
    app = create_app(Settings.from_env({}), ROUTES.plus(LAMBDA_ROWS))
    app.api.state.platform = KeysOnly(
        ApiKey("admin", ADMIN_KEY, admin=True),
        ApiKey("resizer", RESIZER_KEY, admin=False, functions=frozenset({"resize"})),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        path = "/newapi/functions/resize/invocations"
        resizer = {"Authorization": f"Bearer {RESIZER_KEY}"}
        # When a key that may invoke resize sends it 2 MB
        served = await client.post(path, content=b"x" * (2 << 20), headers=resizer)
        # Then the edge serves it with the function named, under the row's body limit
        assert served.json() == {"function": "resize", "bytes": 2 << 20}
        # And the row's key rule holds: another function is refused before its handler
        other = await client.post("/newapi/functions/other/invocations", headers=resizer)
        assert other.status_code == 403
        assert "may not invoke function 'other'" in other.json()["message"]
        # And so does its body limit
        huge = await client.post(path, content=b"x" * (7 << 20), headers=resizer)
        assert huge.status_code == 413
        # And a method the path does not take is a 405 that says which it does
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        wrong = await client.get(path, headers=admin)
        assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
        assert wrong.json()["error"] == "MethodNotAllowed"
        # And the management row needs the admin key, as every v1 one does
        listing = await client.get("/newapi/functions", headers=resizer)
        assert listing.status_code == 403
        # And the API documents the new rows beside v1's, from the same table
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert list(paths["/newapi/functions/{name}/invocations"]) == ["post"]
        assert list(paths["/newapi/functions"]) == ["get"]
        assert list(paths["/v1/functions/{name}/invoke"]) == ["post"]


@pytest.mark.filterwarnings("ignore:Duplicate Operation ID:UserWarning")  # /fn's, as before
def test_the_api_documents_every_documented_row_and_nothing_else() -> None:
    app = create_app(Settings.from_env({}))
    documented = {
        (method.lower(), route.path.replace(":path}", "}"))
        for route in ROUTES.routes
        if route.documented and route.endpoint.options.get("include_in_schema", True)
        for method in route.methods.split()
    }
    schema = app.api.openapi()
    assert {(m, p) for p, methods in schema["paths"].items() for m in methods} == documented
