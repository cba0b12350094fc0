"""The HTTP trigger's decisions (exposure, keys, preflight, routes, errors) with a
handler stood in by a plain function: no container is involved in these rules."""

from __future__ import annotations

import json

import pytest

from faas import auth
from faas.auth import Access, ApiKey, KeyRing
from faas.errors import Forbidden, FunctionNotFound, RouteNotFound, Unauthorized
from faas.invoke.http import trigger as http_trigger
from faas.invoke.http.apigw import Context, HttpRequest
from faas.invoke.http.config import HttpConfig
from faas.invoke.http.responses import MalformedResponse
from faas.models import FunctionConfig, FunctionSpec
from faas.outcomes import InvocationResult, Outcome, error_payload
from tests.unit.test_auth import NO_RATES

CTX = Context(request_id="req-1", account_id="0", api_id="fn", domain="localhost")
ERROR = error_payload("ValueError", "secret detail", ['  File "app.py", line 3'])


def spec(**http: object) -> FunctionSpec:
    return FunctionSpec(
        FunctionConfig("fn", "python3.11", "app.handler"),
        "0" * 64,
        1,
        0.0,
        0.0,
        http=HttpConfig.from_dict(http),
    )


def request(method: str = "GET", path: str = "/", *headers: tuple[str, str]) -> HttpRequest:
    return HttpRequest(method, path, "", list(headers), b"", "127.0.0.1")


class Handler:
    """Answers with a fixed outcome and payload, and remembers the events it saw."""

    def __init__(self, outcome: Outcome = Outcome.SUCCESS, payload: object = None) -> None:
        self.outcome = outcome
        self.payload = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.events: list[dict[str, object]] = []

    async def __call__(self, _spec: FunctionSpec, event: bytes, rid: str) -> InvocationResult:
        self.events.append(json.loads(event))
        return InvocationResult(rid, self.outcome, self.payload, False, 1.0)


def access(*invoke_keys: str) -> Access:
    """A server with these invoke keys (and an admin key), or an open one without any."""
    if not invoke_keys:
        return Access(KeyRing(), NO_RATES)
    admin = ApiKey("admin", "admin-key-0123456789", admin=True)
    return Access(KeyRing((admin, *(ApiKey(k, k, admin=False) for k in invoke_keys))), NO_RATES)


async def serve(s: FunctionSpec, r: HttpRequest, h: Handler, keys: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    gate = access(*keys)
    return await http_trigger.handle(
        s, r, CTX, invoke=h, authorize=lambda key: gate.route_within_rate(key, s.name)
    )


async def test_a_function_nobody_exposed_is_not_found() -> None:
    hidden = FunctionSpec(FunctionConfig("fn", "python3.11", "a.b"), "0" * 64, 1, 0.0, 0.0)
    with pytest.raises(FunctionNotFound, match="not exposed"):
        await serve(hidden, request(), Handler())


async def test_routes_give_path_parameters_and_unknown_paths_are_404() -> None:
    handler = Handler(payload={"statusCode": 200, "body": '{"ok": true}'})
    s = spec(routes=["GET /users/{userId}"], payload_format="1.0")
    out = await serve(s, request("GET", "/users/42"), handler)
    assert out.status == 200 and json.loads(out.body) == {"ok": True}
    assert handler.events[0]["pathParameters"] == {"userId": "42"}
    assert handler.events[0]["resource"] == "/users/{userId}"
    with pytest.raises(RouteNotFound):
        await serve(s, request("GET", "/orders/1"), handler)
    assert len(handler.events) == 1


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ((), Unauthorized),
        ((("authorization", "Bearer wrong"),), Forbidden),
        ((("x-api-key", "nearly-k1"),), Forbidden),
    ],
)
async def test_a_keyed_route_refuses_a_missing_or_wrong_key(
    headers: tuple[tuple[str, str], ...], error: type[Exception]
) -> None:
    handler = Handler(payload={})
    with pytest.raises(error):
        await serve(spec(auth="key"), request("GET", "/", *headers), handler, ("k1", "k2"))
    assert handler.events == []


@pytest.mark.parametrize("header", [("authorization", "Bearer k2"), ("x-api-key", "k1")])
async def test_a_keyed_route_takes_a_listed_key(header: tuple[str, str]) -> None:
    out = await serve(
        spec(auth="key"), request("GET", "/", header), Handler(payload={}), ("k1", "k2")
    )
    assert out.status == 200


@pytest.mark.parametrize("payload_format", ["1.0", "2.0"])
@pytest.mark.parametrize(
    "sent",
    [
        [("authorization", "Bearer k2")],
        [("x-api-key", "k1")],
        [("Authorization", "bearer k2"), ("X-Api-Key", "admin-key-0123456789")],
        [("x-api-key", "admin-key-0123456789")],
    ],
)
async def test_the_key_a_keyed_route_took_never_reaches_the_function(
    payload_format: str, sent: list[tuple[str, str]]
) -> None:
    # Given a route with auth "key", called with an invoke key (and an admin key too)
    handler = Handler(payload={"statusCode": 200, "body": ""})
    s = spec(auth="key", payload_format=payload_format)
    out = await serve(s, request("GET", "/", ("accept", "*/*"), *sent), handler, ("k1", "k2"))
    # Then the function runs, and nothing of either key is in its event
    assert out.status == 200
    event = json.dumps(handler.events[0])
    assert "k1" not in event and "k2" not in event and "admin-key" not in event
    names = {name.lower() for name in handler.events[0]["headers"]}  # type: ignore[attr-defined]
    assert "authorization" not in names and "x-api-key" not in names
    assert "accept" in names


@pytest.mark.parametrize(
    "header",
    [
        ("Authorization", "Bearer k"),
        ("AUTHORIZATION", "  bEaReR   k "),
        ("X-API-KEY", "k"),
        ("x-api-key", " k "),
        ("authorization", "Basic dXNlcjpwYXNz"),
        ("authorization", "Bearer"),
        ("authorization", "Bearerk"),
    ],
)
def test_whatever_the_gateway_reads_a_key_from_is_what_a_route_strips(
    header: tuple[str, str],
) -> None:
    # Given one header, as a client may spell it
    name, value = header
    # When the gateway looks for a key in it, and an HTTP route builds an event from it
    read = auth.presented_key({name.lower(): value})
    kept = http_trigger._without_keys([header])
    # Then a header that gives a key never reaches the function, and another stays
    assert kept == ([] if read is not None else [header])


@pytest.mark.parametrize("payload_format", ["1.0", "2.0"])
async def test_an_app_s_own_authorization_reaches_the_function(payload_format: str) -> None:
    handler = Handler(payload={"statusCode": 200, "body": ""})
    # Given a public route, called with the app's own bearer token
    token = ("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig")
    await serve(spec(payload_format=payload_format), request("GET", "/", token), handler)
    # and a keyed route, called with a key and the app's Basic credentials
    basic = ("authorization", "Basic dXNlcjpwdw==")
    keyed = spec(auth="key", payload_format=payload_format)
    await serve(keyed, request("GET", "/", ("x-api-key", "k1"), basic), handler, ("k1",))
    # Then both reach the function as they were sent
    seen = [{k.lower(): v for k, v in e["headers"].items()} for e in handler.events]  # type: ignore[attr-defined]
    assert seen[0]["authorization"] == token[1]
    assert seen[1]["authorization"] == basic[1] and "x-api-key" not in seen[1]


async def test_a_rest_api_route_gets_path_parameters_as_sent() -> None:
    handler = Handler(payload={"statusCode": 200, "body": ""})
    s = spec(routes=["GET /files/{name}"], payload_format="1.0")
    sent = HttpRequest("GET", "/files/a b/c", "", [], b"", "127.0.0.1", raw_path="/files/a%20b%2Fc")
    await serve(s, sent, handler)
    assert handler.events[0]["pathParameters"] == {"name": "a%20b%2Fc"}
    assert handler.events[0]["path"] == "/files/a%20b%2Fc"


async def test_a_keyed_route_on_a_server_without_keys_is_refused() -> None:
    with pytest.raises(Forbidden, match="the server has none"):
        await serve(spec(auth="key"), request("GET", "/", ("x-api-key", "k")), Handler())


CORS = {"allow_origins": ["https://app.example.com"], "allow_methods": ["GET"], "max_age": 60}


async def test_the_gateway_answers_a_preflight_without_the_function_or_a_key() -> None:
    handler = Handler()
    preflight = request(
        "OPTIONS",
        "/users",
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "GET"),
    )
    out = await serve(spec(cors=CORS, auth="key"), preflight, handler, ("k",))
    assert out.status == 204 and handler.events == []
    assert dict(out.headers)["access-control-max-age"] == "60"
    bad = request(
        "OPTIONS", "/", ("origin", "https://evil.test"), ("access-control-request-method", "GET")
    )
    with pytest.raises(Forbidden, match="CORS"):
        await serve(spec(cors=CORS), bad, handler)


async def test_configured_cors_replaces_the_functions_own_cors_headers() -> None:
    handler = Handler(
        payload={"statusCode": 200, "headers": {"Access-Control-Allow-Origin": "*"}, "body": ""}
    )
    out = await serve(
        spec(cors=CORS), request("GET", "/", ("origin", "https://app.example.com")), handler
    )
    cors = [(k, v) for k, v in out.headers if k.lower() == "access-control-allow-origin"]
    assert cors == [("access-control-allow-origin", "https://app.example.com")]


@pytest.mark.parametrize(
    ("outcome", "status", "error"),
    [(Outcome.FUNCTION_ERROR, 502, "FunctionError"), (Outcome.TIMEOUT, 504, "FunctionTimeout")],
)
@pytest.mark.parametrize("debug", [False, True])
async def test_a_failed_function_is_a_gateway_error_with_details_only_in_debug(
    outcome: Outcome, status: int, error: str, debug: bool
) -> None:
    out = await serve(spec(debug=debug), request(), Handler(outcome, ERROR))
    body = json.loads(out.body)
    assert out.status == status and body["error"] == error
    assert body["errorType"] == "ValueError" and body["requestId"] == "req-1"
    assert ("secret detail" in out.body.decode()) is debug
    assert ("stackTrace" in body) is debug


async def test_a_malformed_response_is_refused() -> None:
    with pytest.raises(MalformedResponse):
        await serve(spec(payload_format="1.0"), request(), Handler(payload=[1, 2]))
    with pytest.raises(MalformedResponse, match="line break"):
        bad = {"statusCode": 200, "headers": {"X-A": "1\r\nSet-Cookie: x"}}
        await serve(spec(), request(), Handler(payload=bad))
