"""API Gateway proxy events and responses, against AWS's documented shapes."""

from __future__ import annotations

import base64
import json

import pytest

from faas.apigw import (
    Context,
    HttpRequest,
    HttpResponse,
    MalformedResponse,
    RouteMatch,
    event_v1,
    event_v2,
    response,
)

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
    assert event["headers"] == {"Content-Type": "text/plain", "X-Api-Key": "k"}
    assert event_v2(lowered, ROUTE, CTX)["headers"] == {
        "content-type": "text/plain",
        "x-api-key": "k",
    }
