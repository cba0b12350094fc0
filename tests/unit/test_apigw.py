"""API Gateway proxy events and responses, against AWS's documented shapes."""

from __future__ import annotations

import base64
import json

import pytest

from faas.invoke.http.apigw import (
    Context,
    Forwarded,
    HttpRequest,
    RouteMatch,
    caller,
    encoded_path,
    event_v1,
    event_v2,
    trusted_networks,
)
from faas.invoke.http.responses import HttpResponse, MalformedResponse, response

CTX = Context(
    request_id="req-1", account_id="000000000000", api_id="fn", domain="localhost", now=1700000000.5
)
ROUTE = RouteMatch("GET /users/{userId}", "/users/{userId}", {"userId": "42"})
REQUEST = HttpRequest(
    method="GET",
    path="/users/42",
    raw_query="limit=10&tag=a&tag=b",
    headers=[
        ("Host", "localhost"),
        ("User-Agent", "curl/8"),
        ("X-Multi", "1"),
        ("X-Multi", "2"),
        ("Cookie", "a=1; b=2"),
        ("Content-Type", "application/json"),
    ],
    body=b'{"name": "ada"}',
    source_ip="127.0.0.1",
)


def test_a_rest_api_event_has_the_v1_shape() -> None:
    event = event_v1(REQUEST, ROUTE, CTX)
    assert event["resource"] == "/users/{userId}" and event["path"] == "/users/42"
    assert event["httpMethod"] == "GET"
    assert event["headers"]["X-Multi"] == "2"
    assert event["multiValueHeaders"]["X-Multi"] == ["1", "2"]
    assert event["queryStringParameters"] == {"limit": "10", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"limit": ["10"], "tag": ["a", "b"]}
    assert event["pathParameters"] == {"userId": "42"}
    assert event["body"] == '{"name": "ada"}' and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["requestId"] == "req-1" and ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["httpMethod"] == "GET" and ctx["path"] == "/users/42"
    assert ctx["stage"] == "$default" and ctx["requestTimeEpoch"] == 1700000000500
    assert ctx["resourcePath"] == "/users/{userId}"


def test_an_http_api_event_has_the_v2_shape() -> None:
    event = event_v2(REQUEST, ROUTE, CTX)
    assert event["version"] == "2.0" and event["routeKey"] == "GET /users/{userId}"
    assert event["rawPath"] == "/users/42" and event["rawQueryString"] == "limit=10&tag=a&tag=b"
    assert event["cookies"] == ["a=1", "b=2"] and "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "1,2" and event["headers"]["user-agent"] == "curl/8"
    assert event["queryStringParameters"] == {"limit": "10", "tag": "a,b"}
    assert event["pathParameters"] == {"userId": "42"}
    assert event["requestContext"]["http"] == {
        "method": "GET",
        "path": "/users/42",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "curl/8",
    }
    assert event["requestContext"]["timeEpoch"] == 1700000000500
    assert event["body"] == '{"name": "ada"}' and event["isBase64Encoded"] is False


def test_without_a_query_path_parameters_or_body_those_keys_are_empty() -> None:
    bare = HttpRequest("GET", "/", "", [], b"", "127.0.0.1")
    v1 = event_v1(bare, RouteMatch(), CTX)
    assert v1["queryStringParameters"] is None and v1["pathParameters"] is None
    assert v1["body"] is None and v1["isBase64Encoded"] is False
    v2 = event_v2(bare, RouteMatch(), CTX)
    assert "queryStringParameters" not in v2 and "pathParameters" not in v2 and "body" not in v2


@pytest.mark.parametrize("make", [event_v1, event_v2])
def test_a_binary_body_arrives_base64(make) -> None:  # type: ignore[no-untyped-def]
    data = bytes(range(256))
    upload = HttpRequest(
        "POST", "/f", "", [("Content-Type", "application/octet-stream")], data, "127.0.0.1"
    )
    event = make(upload, RouteMatch(), CTX)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == data


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("returned", "fmt", "expected"),
    [
        (
            {"statusCode": 201, "headers": {"Location": "/users/1"}, "body": '{"id": 1}'},
            "1.0",
            HttpResponse(
                201,
                [("Location", "/users/1"), ("content-type", "application/json")],
                b'{"id": 1}',
            ),
        ),
        (
            {
                "statusCode": 200,
                "multiValueHeaders": {"X-A": ["1", "2"]},
                "body": "hi",
                "headers": {"Content-Type": "text/plain"},
            },
            "1.0",
            HttpResponse(200, [("Content-Type", "text/plain"), ("X-A", "1"), ("X-A", "2")], b"hi"),
        ),
        (
            {
                "statusCode": 200,
                "body": base64.b64encode(b"\x00\xff").decode(),
                "isBase64Encoded": True,
                "headers": {"content-type": "image/png"},
            },
            "2.0",
            HttpResponse(200, [("content-type", "image/png")], b"\x00\xff"),
        ),
        (
            {"statusCode": 204, "cookies": ["s=1; HttpOnly"]},
            "2.0",
            HttpResponse(
                204, [("set-cookie", "s=1; HttpOnly"), ("content-type", "application/json")], b""
            ),
        ),
        # HTTP API: a plain value is a 200 JSON response.
        (
            {"hello": "world"},
            "2.0",
            HttpResponse(200, [("content-type", "application/json")], b'{"hello": "world"}'),
        ),
        ([1, 2], "2.0", HttpResponse(200, [("content-type", "application/json")], b"[1, 2]")),
        ("plain", "2.0", HttpResponse(200, [("content-type", "application/json")], b"plain")),
    ],
)
def test_proxy_responses_map_back(returned: object, fmt: str, expected: HttpResponse) -> None:
    assert response(_json(returned), fmt) == expected


@pytest.mark.parametrize(
    ("payload", "fmt", "words"),
    [
        (_json({"hello": "world"}), "1.0", "statusCode"),
        (_json([1]), "1.0", "statusCode"),
        (_json({"statusCode": "abc"}), "1.0", "statusCode"),
        (_json({"statusCode": 700}), "2.0", "statusCode"),
        (_json({"statusCode": 200, "body": {"a": 1}}), "1.0", "body must be a string"),
        (_json({"statusCode": 200, "headers": {"X": {"a": 1}}}), "1.0", "header"),
        (_json({"statusCode": 200, "headers": []}), "1.0", "objects"),
        (_json({"statusCode": 200, "body": "%%%", "isBase64Encoded": True}), "2.0", "base64"),
        (_json({"statusCode": 200, "cookies": "a=1"}), "2.0", "cookies"),
        (b"not json", "2.0", "not JSON"),
    ],
)
def test_a_malformed_proxy_response_is_a_502(payload: bytes, fmt: str, words: str) -> None:
    with pytest.raises(MalformedResponse, match=words):
        response(payload, fmt)


def test_v1_headers_take_the_case_clients_send() -> None:
    lowered = HttpRequest(
        "GET", "/", "", [("content-type", "text/plain"), ("x-api-key", "k")], b"", ""
    )
    event = event_v1(lowered, ROUTE, CTX)
    assert event["headers"] == {
        "Content-Type": "text/plain",
        "X-Api-Key": "k",
        "X-Forwarded-Proto": "http",
    }
    assert event_v2(lowered, ROUTE, CTX)["headers"] == {
        "content-type": "text/plain",
        "x-api-key": "k",
        "x-forwarded-proto": "http",
    }


# Who called, as API Gateway tells a function. The gateway listens on 8080; a proxy
# the operator trusts sits at 10.0.0.2 (FAAS_TRUSTED_PROXIES=10.0.0.0/24).
CLIENT, PROXY, SPOOF = "198.51.100.7", "10.0.0.2", "203.0.113.66"
XFF, PROTO, PORT = "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port"


@pytest.mark.parametrize(
    ("peer", "headers", "trusted", "source_ip", "forwarded"),
    [
        # A client straight to the gateway: its address, the gateway's port and scheme.
        (CLIENT, [], "", CLIENT, Forwarded(CLIENT, "8080", "http")),
        # Its own X-Forwarded-For is kept, with its address appended, but never believed;
        # nor are its -Proto and -Port.
        (
            CLIENT,
            [(XFF, SPOOF), (PROTO, "https"), (PORT, "443")],
            "",
            CLIENT,
            Forwarded(f"{SPOOF}, {CLIENT}", "8080", "http"),
        ),
        # The same from an address that is not the trusted proxy.
        (CLIENT, [(XFF, SPOOF)], "10.0.0.0/24", CLIENT, Forwarded(f"{SPOOF}, {CLIENT}", "8080")),
        # Through the trusted proxy: the client it names, the scheme and port it says.
        (
            PROXY,
            [(XFF, CLIENT), (PROTO, "https")],
            "10.0.0.0/24",
            CLIENT,
            Forwarded(CLIENT, "443", "https"),
        ),
        (
            PROXY,
            [(XFF, CLIENT), (PROTO, "https"), (PORT, "8443")],
            "10.0.0.2",
            CLIENT,
            Forwarded(CLIENT, "8443", "https"),
        ),
        # A client spoofing through the proxy: the proxy appended the real address.
        (
            PROXY,
            [(XFF, f"{SPOOF}, {CLIENT}")],
            "10.0.0.0/24",
            CLIENT,
            Forwarded(f"{SPOOF}, {CLIENT}", "8080", "http"),
        ),
        # Two trusted proxies in a row (two headers, as some proxies send them).
        (
            PROXY,
            [(XFF, CLIENT), (XFF, "10.0.0.3")],
            "10.0.0.0/24",
            CLIENT,
            Forwarded(CLIENT, "8080"),
        ),
        # The proxy's own request, or a proxy passing on something that is no address.
        (PROXY, [], "10.0.0.0/24", PROXY, Forwarded(PROXY, "8080")),
        (PROXY, [(XFF, "unknown")], "10.0.0.0/24", PROXY, Forwarded(f"unknown, {PROXY}", "8080")),
        # Addresses with ports and IPv6 forms.
        (
            "::ffff:10.0.0.2",
            [(XFF, "[2001:db8::1]:5123")],
            "10.0.0.0/24",
            "2001:db8::1",
            Forwarded("[2001:db8::1]:5123", "8080"),
        ),
        ("::1", [(XFF, f"{CLIENT}:5123")], "::1", CLIENT, Forwarded(f"{CLIENT}:5123", "8080")),
    ],
)
def test_the_caller_is_the_connection_or_what_a_trusted_proxy_says(
    peer: str,
    headers: list[tuple[str, str]],
    trusted: str,
    source_ip: str,
    forwarded: Forwarded,
) -> None:
    got = caller(peer, headers, trusted_networks(trusted), scheme="http", port=8080)
    assert got == (source_ip, forwarded)


@pytest.mark.parametrize("make", [event_v1, event_v2])
def test_events_carry_x_forwarded_headers_as_api_gateway_adds_them(make) -> None:  # type: ignore[no-untyped-def]
    # Given a client that sent its own X-Forwarded-* headers straight to the gateway
    sent = [("User-Agent", "curl/8"), (XFF, SPOOF), (PROTO, "https"), (PORT, "1")]
    source_ip, forwarded = caller(CLIENT, sent, (), scheme="http", port=8080)
    request = HttpRequest("GET", "/", "", sent, b"", source_ip, forwarded=forwarded)
    # When the event is built
    event = make(request, RouteMatch(), CTX)
    # Then it has the gateway's X-Forwarded-* headers, and sourceIp is the connection's
    headers = {k.lower(): v for k, v in event["headers"].items()}
    assert headers["x-forwarded-for"] == f"{SPOOF}, {CLIENT}"
    assert headers["x-forwarded-port"] == "8080" and headers["x-forwarded-proto"] == "http"
    if make is event_v1:
        assert event["multiValueHeaders"]["X-Forwarded-For"] == [f"{SPOOF}, {CLIENT}"]
        assert event["multiValueHeaders"]["X-Forwarded-Proto"] == ["http"]
        assert event["requestContext"]["identity"]["sourceIp"] == CLIENT
    else:
        assert set(event["headers"]) == set(headers)  # 2.0: lower-case names
        assert event["requestContext"]["http"]["sourceIp"] == CLIENT


@pytest.mark.parametrize(
    ("sent", "path"),
    [
        (b"/users/42", "/users/42"),
        (b"/files/a%20b", "/files/a%20b"),
        (b"/files/a%2Fb", "/files/a%2Fb"),
        (b"/files/a+b", "/files/a+b"),
        (b"/files/%CE%BB", "/files/%CE%BB"),
        # Bytes a URL may not hold as they are get encoded; escapes are left as sent.
        (b"/files/a b", "/files/a%20b"),
        ("/files/λ".encode(), "/files/%CE%BB"),
        (b"/files/100%25", "/files/100%25"),
    ],
)
def test_a_path_is_kept_as_sent_with_what_a_url_cannot_hold_encoded(sent: bytes, path: str) -> None:
    assert encoded_path(sent) == path


def test_a_rest_api_path_is_as_sent_an_http_api_path_is_decoded() -> None:
    # Given a request for "/files/a b/c λ" whose slash inside the name was encoded
    request = HttpRequest(
        "GET", "/files/a b/c λ", "", [], b"", CLIENT, raw_path="/files/a%20b%2Fc%20%CE%BB"
    )
    # Then payload 1.0 has the path as sent, as AWS's REST API events do
    v1 = event_v1(request, RouteMatch(), CTX)
    assert v1["path"] == v1["requestContext"]["path"] == "/files/a%20b%2Fc%20%CE%BB"
    # and payload 2.0 has it decoded, as AWS's HTTP API events do
    v2 = event_v2(request, RouteMatch(), CTX)
    assert v2["rawPath"] == v2["requestContext"]["http"]["path"] == "/files/a b/c λ"
