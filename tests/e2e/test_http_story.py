"""Lambda code written for API Gateway, served unchanged over plain HTTP and driven by curl."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import Server, handler_zip, upload

# A user-profile API as written for a REST API (payload 1.0): it routes on
# httpMethod and pathParameters, pages with queryStringParameters and answers
# with its own CORS headers. Users live in a file on a volume, its "table".
CRUD_V1 = """
import json, os, uuid

TABLE = "/mnt/users/users.json"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET,POST,PUT,DELETE,OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
}


def load():
    if not os.path.exists(TABLE):
        return {}
    with open(TABLE) as f:
        return json.load(f)


def save(users):
    with open(TABLE + ".tmp", "w") as f:
        json.dump(users, f)
    os.replace(TABLE + ".tmp", TABLE)


def reply(status, body):
    headers = dict(CORS, **{"Content-Type": "application/json"})
    return {"statusCode": status, "headers": headers, "body": json.dumps(body)}


def parse(body):
    try:
        data = json.loads(body or "")
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("name"), str) else None


def handler(event, context):
    method = event["httpMethod"]
    user_id = (event.get("pathParameters") or {}).get("userId")
    if method == "OPTIONS":
        return {"statusCode": 204, "headers": CORS, "body": ""}
    users = load()
    if user_id is None and method == "POST":
        data = parse(event["body"])
        if data is None:
            return reply(400, {"message": "the body must be JSON with a name"})
        user = {"id": uuid.uuid4().hex[:8], "name": data["name"], "n": len(users)}
        users[user["id"]] = user
        save(users)
        return reply(201, user)
    if user_id is None and method == "GET":
        query = event.get("queryStringParameters") or {}
        limit = int(query.get("limit", "10"))
        ordered = sorted(users.values(), key=lambda u: u["n"])
        start = int(query.get("cursor", "0"))
        page = ordered[start:start + limit]
        more = start + limit < len(ordered)
        return reply(200, {"items": page, "cursor": str(start + limit) if more else None})
    if user_id not in users:
        return reply(404, {"message": "user %s not found" % user_id})
    if method == "GET":
        return reply(200, users[user_id])
    if method == "PUT":
        data = parse(event["body"])
        if data is None:
            return reply(400, {"message": "the body must be JSON with a name"})
        users[user_id]["name"] = data["name"]
        save(users)
        return reply(200, users[user_id])
    if method == "DELETE":
        del users[user_id]
        save(users)
        return reply(200, {"deleted": user_id})
    return reply(400, {"message": "unsupported method " + method})
"""

# The same API written for an HTTP API (payload 2.0): requestContext.http,
# comma-joined query values, plain return values for the simple answers.
CRUD_V2 = """
import json, os, uuid

TABLE = "/mnt/users/users.json"


def load():
    if not os.path.exists(TABLE):
        return {}
    with open(TABLE) as f:
        return json.load(f)


def save(users):
    with open(TABLE, "w") as f:
        json.dump(users, f)


def error(status, message):
    return {"statusCode": status, "headers": {"content-type": "application/json"},
            "body": json.dumps({"message": message})}


def handler(event, context):
    method = event["requestContext"]["http"]["method"]
    user_id = event.get("pathParameters", {}).get("userId")
    users = load()
    if event["routeKey"] == "POST /users":
        try:
            data = json.loads(event.get("body") or "")
            name = data["name"]
        except (ValueError, KeyError, TypeError):
            return error(400, "the body must be JSON with a name")
        user = {"id": uuid.uuid4().hex[:8], "name": name, "n": len(users)}
        users[user["id"]] = user
        save(users)
        return {"statusCode": 201, "headers": {"content-type": "application/json"},
                "cookies": ["last=" + user["id"]], "body": json.dumps(user)}
    if event["routeKey"] == "GET /users":
        query = event.get("queryStringParameters", {})
        limit, start = int(query.get("limit", "10")), int(query.get("cursor", "0"))
        ordered = sorted(users.values(), key=lambda u: u["n"])
        more = start + limit < len(ordered)
        return {"items": ordered[start:start + limit],
                "cursor": str(start + limit) if more else None}
    if user_id not in users:
        return error(404, "user %s not found" % user_id)
    if method == "PUT":
        try:
            users[user_id]["name"] = json.loads(event.get("body") or "")["name"]
        except (ValueError, KeyError, TypeError):
            return error(400, "the body must be JSON with a name")
        save(users)
    if method == "DELETE":
        del users[user_id]
        save(users)
        return {"deleted": user_id}
    return users[user_id]
"""

# Binary in, binary out: the request arrives base64 and goes back base64.
BYTES = """
import base64, hashlib

def handler(event, context):
    assert event["isBase64Encoded"] is True
    data = base64.b64decode(event["body"])
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/octet-stream",
                    "X-Sha256": hashlib.sha256(data).hexdigest()},
        "body": base64.b64encode(data[::-1]).decode(),
        "isBase64Encoded": True,
    }
"""

# Answers with the event it got and its context: what reached the function's code.
ECHO_EVENT = """
import json

def handler(event, context):
    seen = {"event": event, "context": {k: repr(v) for k, v in vars(context).items()}}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(seen)}
"""

FAILING = """
import time

def handler(event, context):
    if event["rawPath"] == "/slow":
        time.sleep(5)
    if event["rawPath"] == "/raise":
        raise ValueError("the database password is hunter2")
    return {"statusCode": "not a status"}
"""


@dataclass
class Reply:
    status: int
    headers: dict[str, list[str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[-1] if values else None

    def json(self) -> object:
        return json.loads(self.body)


class Curl:
    """Runs the real curl against the server, as a user at a shell would."""

    def __init__(self, base: str, workdir: Path) -> None:
        self.base = base
        self.workdir = workdir

    def __call__(self, method: str, path: str, *args: str) -> Reply:
        head, out = self.workdir / "head", self.workdir / "out"
        subprocess.run(
            ["curl", "-sS", "-X", method, "-D", str(head), "-o", str(out), *args, self.base + path],
            check=True,
            timeout=60,
        )
        lines = head.read_bytes().decode("latin-1").split("\r\n")
        headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers.setdefault(name.strip().lower(), []).append(value.strip())
        return Reply(int(lines[0].split()[1]), headers, out.read_bytes())


@pytest.fixture
def curl(server: Server, tmp_path: Path) -> Curl:
    return Curl(server.url, tmp_path)


def deploy(
    api: httpx.Client, name: str, source: str, http: dict[str, object], **fields: str
) -> None:
    assert upload(api, name, handler_zip(source), **fields).status_code == 201
    put = api.put(f"/v1/functions/{name}/http", json=http)
    assert put.status_code == 200, put.text


JSON = ("-H", "Content-Type: application/json")


def crud_story(curl: Curl, base: str) -> None:
    """Create, get, update, list with pagination and delete users through curl."""
    # A bad body is the handler's 400
    assert curl("POST", base, *JSON, "-d", "{not json").status == 400
    created = [curl("POST", base, *JSON, "-d", json.dumps({"name": n})) for n in "abcde"]
    assert [c.status for c in created] == [201] * 5
    ids = [c.json()["id"] for c in created]  # type: ignore[index]
    got = curl("GET", f"{base}/{ids[1]}")
    assert got.status == 200 and got.json() == created[1].json()
    assert got.header("content-type") == "application/json"
    updated = curl("PUT", f"{base}/{ids[1]}", *JSON, "-d", '{"name": "bee"}')
    assert updated.status == 200 and updated.json()["name"] == "bee"  # type: ignore[index]
    assert curl("PUT", f"{base}/{ids[1]}", *JSON, "-d", "[]").status == 400
    # Pages of two, following the cursor
    seen: list[str] = []
    cursor: str | None = "0"
    while cursor is not None:
        page = curl("GET", f"{base}?limit=2&cursor={cursor}")
        assert page.status == 200
        body = page.json()
        assert isinstance(body, dict) and len(body["items"]) <= 2
        seen += [u["id"] for u in body["items"]]
        cursor = body["cursor"]
    assert seen == ids
    assert curl("DELETE", f"{base}/{ids[0]}").status == 200
    missing = curl("GET", f"{base}/{ids[0]}")
    assert missing.status == 404 and ids[0] in missing.json()["message"]  # type: ignore[index]
    assert curl("DELETE", f"{base}/{ids[0]}").status == 404


def test_a_rest_api_handler_runs_unchanged_through_curl(api: httpx.Client, curl: Curl) -> None:
    deploy(
        api,
        "users-v1",
        CRUD_V1,
        {"payload_format": "1.0", "routes": ["ANY /users", "ANY /users/{userId}"]},
        volumes=json.dumps({"users-v1": "/mnt/users"}),
    )
    crud_story(curl, "/fn/users-v1/users")
    # Without gateway CORS, the handler answers preflights and its CORS headers pass through
    preflight = curl(
        "OPTIONS",
        "/fn/users-v1/users",
        "-H",
        "Origin: https://app.example.com",
        "-H",
        "Access-Control-Request-Method: POST",
    )
    assert preflight.status == 204
    assert preflight.header("access-control-allow-origin") == "*"
    listed = curl("GET", "/fn/users-v1/users?limit=1", "-H", "Origin: https://app.example.com")
    assert listed.header("access-control-allow-methods") == "GET,POST,PUT,DELETE,OPTIONS"
    # A path outside the route table never reaches the function
    outside = curl("GET", "/fn/users-v1/orders")
    assert outside.status == 404 and outside.json()["error"] == "RouteNotFound"  # type: ignore[index]


def test_an_http_api_handler_runs_unchanged_with_gateway_cors(
    api: httpx.Client, curl: Curl
) -> None:
    deploy(
        api,
        "users-v2",
        CRUD_V2,
        {
            "routes": [
                "GET /users",
                "POST /users",
                "GET /users/{userId}",
                "PUT /users/{userId}",
                "DELETE /users/{userId}",
            ],
            "cors": {
                "allow_origins": ["https://app.example.com"],
                "allow_methods": ["GET", "POST", "PUT", "DELETE"],
                "allow_headers": ["content-type"],
                "max_age": 300,
            },
        },
        volumes=json.dumps({"users-v2": "/mnt/users"}),
    )
    crud_story(curl, "/fn/users-v2/users")
    created = curl("POST", "/fn/users-v2/users", *JSON, "-d", '{"name": "f"}')
    assert created.headers["set-cookie"] == [f"last={created.json()['id']}"]  # type: ignore[index]
    # The gateway answers the preflight itself...
    origin = ("-H", "Origin: https://app.example.com")
    preflight = curl(
        "OPTIONS",
        "/fn/users-v2/users",
        *origin,
        "-H",
        "Access-Control-Request-Method: PUT",
        "-H",
        "Access-Control-Request-Headers: Content-Type",
    )
    assert preflight.status == 204
    assert preflight.header("access-control-allow-origin") == "https://app.example.com"
    assert preflight.header("access-control-allow-headers") == "content-type"
    assert preflight.header("access-control-max-age") == "300"
    refused = curl(
        "OPTIONS",
        "/fn/users-v2/users",
        "-H",
        "Origin: https://evil.example.com",
        "-H",
        "Access-Control-Request-Method: GET",
    )
    assert refused.status == 403 and refused.json()["error"] == "Forbidden"  # type: ignore[index]
    # ...and puts CORS headers on the function's answers
    listed = curl("GET", "/fn/users-v2/users", *origin)
    assert listed.header("access-control-allow-origin") == "https://app.example.com"
    assert curl("GET", "/fn/users-v2/users").header("access-control-allow-origin") is None


@pytest.mark.parametrize("payload_format", ["1.0", "2.0"])
def test_binary_bodies_round_trip_byte_exact(
    api: httpx.Client, curl: Curl, tmp_path: Path, payload_format: str
) -> None:
    name = f"bytes-{payload_format.replace('.', '')}"
    deploy(api, name, BYTES, {"payload_format": payload_format})
    data = os.urandom(300_000) + bytes(range(256))
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    reply = curl(
        "POST",
        f"/fn/{name}/upload",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        f"@{source}",
    )
    assert reply.status == 200
    assert reply.header("x-sha256") == hashlib.sha256(data).hexdigest()
    assert reply.body == data[::-1]
    assert reply.header("content-type") == "application/octet-stream"


def test_function_errors_on_routes_are_gateway_errors_without_the_trace(
    api: httpx.Client, curl: Curl
) -> None:
    deploy(api, "failing", FAILING, {}, timeout_s="1")
    raised = curl("GET", "/fn/failing/raise")
    assert raised.status == 502
    body = raised.json()
    assert isinstance(body, dict)
    assert body["error"] == "FunctionError" and body["errorType"] == "ValueError"
    assert b"hunter2" not in raised.body and b"Traceback" not in raised.body
    assert raised.header("x-request-id") == body["requestId"]
    slow = curl("GET", "/fn/failing/slow")
    assert slow.status == 504 and slow.json()["error"] == "FunctionTimeout"  # type: ignore[index]
    malformed = curl("GET", "/fn/failing/other")
    assert malformed.status == 502
    assert "statusCode" in malformed.json()["message"]  # type: ignore[index]
    # In debug mode the author sees the message and the stack trace
    assert api.put("/v1/functions/failing/http", json={"debug": True}).status_code == 200
    debug = curl("GET", "/fn/failing/raise").json()
    assert isinstance(debug, dict) and "hunter2" in debug["errorMessage"]
    assert any("handler" in line for line in debug["stackTrace"])


@pytest.fixture
def keyed_env(server_env: dict[str, str]) -> Iterator[None]:
    server_env["FAAS_ADMIN_KEY"] = "admin-key-0123456789"
    server_env["FAAS_INVOKE_KEYS"] = "k-one-0123456789abcdef, k-two-0123456789abcdef"
    yield


@pytest.mark.usefixtures("keyed_env")
def test_routes_are_public_or_need_a_key(api: httpx.Client, curl: Curl) -> None:
    echo = "def handler(event, context):\n    return {'path': event['rawPath']}\n"
    deploy(api, "private", echo, {"auth": "key"})
    deploy(api, "public", echo, {})
    assert curl("GET", "/fn/public/x").json() == {"path": "/x"}
    missing = curl("GET", "/fn/private/x")
    assert missing.status == 401 and missing.header("www-authenticate") == "Bearer"
    wrong = curl("GET", "/fn/private/x", "-H", "X-Api-Key: k-three-0123456789abcdef")
    assert wrong.status == 403
    two = curl("GET", "/fn/private/x", "-H", "X-Api-Key: k-two-0123456789abcdef")
    assert two.json() == {"path": "/x"}
    bearer = curl("GET", "/fn/private/y", "-H", "Authorization: Bearer k-one-0123456789abcdef")
    assert bearer.json() == {"path": "/y"}


ADMIN_KEY, INVOKE_KEY = "admin-key-0123456789", "k-one-0123456789abcdef"


@pytest.mark.usefixtures("keyed_env")
def test_platform_keys_never_reach_the_functions_code(api: httpx.Client, curl: Curl) -> None:
    deploy(api, "keyed-v1", ECHO_EVENT, {"auth": "key", "payload_format": "1.0"})
    deploy(api, "keyed-v2", ECHO_EVENT, {"auth": "key"})
    deploy(api, "public", ECHO_EVENT, {})
    for name in ("keyed-v1", "keyed-v2"):
        # Given a keyed route called with an invoke key, and an admin key beside it
        both = curl(
            "GET",
            f"/fn/{name}/me",
            "-H",
            f"Authorization: Bearer {INVOKE_KEY}",
            "-H",
            f"X-Api-Key: {ADMIN_KEY}",
            "-H",
            "Accept: application/json",
        )
        # Then the function runs, and its event holds neither key
        assert both.status == 200
        assert INVOKE_KEY.encode() not in both.body and ADMIN_KEY.encode() not in both.body
        headers = {k.lower() for k in both.json()["event"]["headers"]}  # type: ignore[index]
        assert "accept" in headers and not {"authorization", "x-api-key"} & headers
        # nor when the admin key alone opened the route
        admin = curl("GET", f"/fn/{name}/me", "-H", f"X-Api-Key: {ADMIN_KEY}")
        assert admin.status == 200 and ADMIN_KEY.encode() not in admin.body
    # A public route hands the app its own token as it came
    token = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2ln"
    public = curl("GET", "/fn/public/me", "-H", f"Authorization: {token}").json()
    assert public["event"]["headers"]["authorization"] == token  # type: ignore[index]
    # The invoke API hands the function only the body: no key in its event or context
    for key in ({"Authorization": f"Bearer {ADMIN_KEY}"}, {"X-Api-Key": INVOKE_KEY}):
        invoked = api.post("/v1/functions/keyed-v2/invoke", json={"a": 1}, headers=key)
        assert invoked.status_code == 200 and json.loads(invoked.json()["body"])["event"] == {
            "a": 1
        }
        assert ADMIN_KEY not in invoked.text and INVOKE_KEY not in invoked.text


def _headers(event: dict[str, object]) -> dict[str, str]:
    return {k.lower(): v for k, v in event["headers"].items()}  # type: ignore[attr-defined]


@pytest.mark.parametrize("payload_format", ["1.0", "2.0"])
def test_the_event_says_who_called_as_api_gateway_does(
    api: httpx.Client, curl: Curl, server: Server, payload_format: str
) -> None:
    name = f"who-{payload_format.replace('.', '')}"
    deploy(api, name, ECHO_EVENT, {"payload_format": payload_format})
    # Given a client calling the gateway directly (no proxy is trusted)
    direct = curl("GET", f"/fn/{name}/files/a%20b%2Fc").json()["event"]  # type: ignore[index]
    # Then the event has the X-Forwarded-* headers API Gateway adds, from the connection
    assert _headers(direct)["x-forwarded-for"] == "127.0.0.1"
    assert _headers(direct)["x-forwarded-port"] == str(server.port)
    assert _headers(direct)["x-forwarded-proto"] == "http"
    # When the client claims another address and scheme
    spoofed = curl(
        "GET",
        f"/fn/{name}/",
        "-H",
        "X-Forwarded-For: 203.0.113.66",
        "-H",
        "X-Forwarded-Proto: https",
    ).json()["event"]  # type: ignore[index]
    # Then its claim is kept in the chain, with its real address appended, and believed nowhere
    assert _headers(spoofed)["x-forwarded-for"] == "203.0.113.66, 127.0.0.1"
    assert _headers(spoofed)["x-forwarded-proto"] == "http"
    if payload_format == "1.0":
        assert spoofed["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
        assert spoofed["multiValueHeaders"]["X-Forwarded-For"] == ["203.0.113.66, 127.0.0.1"]
        assert direct["multiValueHeaders"]["X-Forwarded-Port"] == [str(server.port)]
        # A REST API's path is as sent
        assert direct["path"] == "/files/a%20b%2Fc"
    else:
        assert spoofed["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
        # An HTTP API's path is decoded
        assert direct["rawPath"] == "/files/a b/c"


@pytest.fixture
def behind_a_proxy(server_env: dict[str, str]) -> Iterator[None]:
    server_env["FAAS_TRUSTED_PROXIES"] = "127.0.0.1"
    yield


@pytest.mark.usefixtures("behind_a_proxy")
def test_a_trusted_proxy_says_who_called(api: httpx.Client, curl: Curl) -> None:
    deploy(api, "proxied", ECHO_EVENT, {"payload_format": "1.0"})
    # Given a TLS proxy on 127.0.0.1 that the operator trusts, passing on a client's request
    event = curl(
        "GET",
        "/fn/proxied/",
        "-H",
        "X-Forwarded-For: 198.51.100.7",
        "-H",
        "X-Forwarded-Proto: https",
    ).json()["event"]  # type: ignore[index]
    # Then the client the proxy names is the caller, over HTTPS on 443
    assert event["requestContext"]["identity"]["sourceIp"] == "198.51.100.7"
    assert event["headers"]["X-Forwarded-For"] == "198.51.100.7"
    assert event["headers"]["X-Forwarded-Proto"] == "https"
    assert event["headers"]["X-Forwarded-Port"] == "443"


def test_an_http_config_is_kept_validated_and_can_hide_the_function(
    api: httpx.Client, curl: Curl
) -> None:
    echo = "def handler(event, context):\n    return event['routeKey']\n"
    assert upload(api, "echo", handler_zip(echo)).status_code == 201
    # Not exposed until configured
    assert curl("GET", "/fn/echo/").status == 404
    assert api.get("/v1/functions/echo/http").json()["enabled"] is False
    bad = api.put("/v1/functions/echo/http", json={"routes": ["GET /{a+}/b"]})
    assert bad.status_code == 422 and bad.json()["field"] == "routes"
    assert api.put("/v1/functions/nope/http", json={}).status_code == 404
    assert api.put("/v1/functions/echo/http", content=b"{").status_code == 400
    config = api.put("/v1/functions/echo/http", json={"routes": ["get /a/{b}"]}).json()
    assert config["routes"] == ["GET /a/{b}"] and config["path"] == "/fn/echo/"
    # (a returned string is the body as it is, as API Gateway does with payload 2.0)
    assert curl("GET", "/fn/echo/a/1").body == b"GET /a/{b}"
    # A body past Lambda's 6 MB request limit is refused before the function
    big = api.post("/fn/echo/a/1", content=b"x" * (6 * 1024 * 1024 + 1))
    assert big.status_code == 413 and big.json()["error"] == "PayloadTooLarge"
    assert api.get("/v1/functions/echo/http").json() == config
    assert api.put("/v1/functions/echo/http", json={"enabled": False}).status_code == 200
    assert curl("GET", "/fn/echo/a/1").status == 404
    assert curl("GET", "/fn/nope/a").status == 404
