"""Reading back what a function was given and gave: valid JSON text, never a 500.

Events and results are kept byte for byte. JSON can spell half a UTF-16
surrogate pair (``"\\ud800"``), which no UTF-8 text can hold, and can nest
deeper than the API serializes. Reading such an event or result back
(``GET /v1/invocations/{id}``, the dead letters) used to answer 500, and so did
an HTTP route whose function returned such a string. Bodies are sent as the raw
bytes a client writes. And a 500 used to close its keep-alive connection without
saying so: the client's next request on it was reset.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

import httpx
import redis

from faas import keys
from faas.settings import Settings
from tests.helpers import Server, handler_zip, upload, wait_until

# Echoes its event, fails when asked (with the event's text in the message), or
# returns what the event names.
ECHO = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail: " + event["msg"])
    if "give" in event:
        return event["give"]
    return {"echo": event}
"""
# An HTTP route whose function answers with a lone surrogate where the path says.
WEB = """
def handler(event, context):
    where = event["rawPath"]
    if where == "/plain":
        return "half \\ud800 pair"
    if where == "/cookie":
        return {"statusCode": 200, "cookies": ["c=\\ud800"], "body": "ok"}
    return {"statusCode": 200, "body": "half \\ud800 pair"}
"""
EVENT = {"X-Faas-Invocation-Type": "Event", "Content-Type": "application/json"}
REPLACED = "half \ufffd pair"  # a lone surrogate, shown as U+FFFD


def follow(api: httpx.Client, request_id: str, within_s: float = 60) -> dict[str, Any]:
    """Poll the invocation until it ends; its view (each read a 200 of UTF-8 JSON)."""

    def read() -> dict[str, Any]:
        reply = api.get(f"/v1/invocations/{request_id}")
        assert reply.status_code == 200, reply.text
        view: dict[str, Any] = json.loads(reply.content.decode("utf-8"))
        return view

    return wait_until(
        read,
        what=f"invocation {request_id} to end",
        done=lambda view: view["state"] in ("succeeded", "failed", "dead-lettered"),
        within_s=within_s,
    )


def queue(api: httpx.Client, event: bytes) -> str:
    accepted = api.post("/v1/functions/echo/invoke", content=event, headers=EVENT)
    assert accepted.status_code == 202, accepted.text
    return str(accepted.json()["requestId"])


def test_events_and_results_a_function_was_given_and_gave_always_read_back(
    api: httpx.Client,
) -> None:
    # Given a function that echoes its event, with no retries
    assert upload(api, "echo", handler_zip(ECHO)).status_code == 201
    assert api.put("/v1/functions/echo/async-config", json={"max_retries": 0}).is_success
    # When events holding a lone surrogate are queued: one it echoes, one it fails on
    echoed = queue(api, b'{"msg": "half \\ud800 pair"}')
    failed = queue(api, b'{"fail": true, "msg": "half \\ud800 pair"}')
    # and one whose result nests deeper than the API shows as JSON
    deep = json.dumps({"give": json.loads("[" * 300 + "]" * 300)}).encode()
    nested = queue(api, deep)

    # Then each reads back as JSON, the surrogate shown as U+FFFD
    view = follow(api, echoed)
    assert view["state"] == "succeeded", view
    assert view["result"] == {"echo": {"msg": REPLACED}}
    assert view["workersLost"] == 0
    dead = follow(api, failed)
    assert dead["state"] == "dead-lettered" and dead["error"]["errorType"] == "ValueError"
    assert dead["error"]["errorMessage"] == f"asked to fail: {REPLACED}"
    # and the too-deep result as the JSON text the function gave
    view = follow(api, nested)
    assert view["state"] == "succeeded", view
    assert json.loads(view["result"]) == json.loads(deep)["give"]

    # And the dead letter is listed with its payload and message as text
    page = api.get("/v1/functions/echo/dead-letters")
    assert page.status_code == 200, page.text
    [letter] = json.loads(page.content.decode("utf-8"))["items"]
    assert letter["requestId"] == failed
    assert letter["payload"] == {"fail": True, "msg": REPLACED}
    assert letter["errorMessage"] == f"asked to fail: {REPLACED}"


def test_a_function_returning_a_lone_surrogate_is_answered_cleanly(api: httpx.Client) -> None:
    # Given a function, called directly, and another behind an HTTP route
    assert upload(api, "echo", handler_zip(ECHO)).status_code == 201
    assert upload(api, "web", handler_zip(WEB)).status_code == 201
    http = {"enabled": True, "payload_format": "2.0"}
    assert api.put("/v1/functions/web/http", json=http).status_code == 200

    # When the direct call's function returns a string holding a lone surrogate
    given = api.post("/v1/functions/echo/invoke", content=b'{"give": "half \\ud800 pair"}')
    # Then its JSON comes back as the function's runtime wrote it, as Lambda passes it on
    assert given.status_code == 200, given.text
    assert given.content == b'"half \\ud800 pair"'
    # and its error, when it raises with one, is the function's error
    raised = api.post("/v1/functions/echo/invoke", content=b'{"fail": 1, "msg": "\\ud800"}')
    assert raised.status_code == 500 and raised.headers["X-Faas-Function-Error"] == "Unhandled"
    assert raised.json()["errorType"] == "ValueError"

    # When the route's function returns one, as its value or in its body
    for path in ("/plain", "/body"):
        reply = api.get(f"/fn/web{path}")
        # Then the response is UTF-8 text, the surrogate sent as U+FFFD
        assert reply.status_code == 200, (path, reply.text)
        assert reply.content.decode("utf-8") == REPLACED
    # And in a cookie, which no header can carry, it is a malformed response
    cookie = api.get("/fn/web/cookie")
    assert cookie.status_code == 502, cookie.text
    assert cookie.json()["error"] == "MalformedResponse"


def test_after_a_500_the_next_request_on_the_same_connection_is_served(
    server: Server, settings: Settings
) -> None:
    # Given an async record in Redis that this server cannot read (a bug, or another version)
    store = redis.Redis.from_url(settings.redis_url)
    store.hset(keys.invocation("garbled"), mapping={"function": "f", "state": "no-such-state"})
    store.close()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        # When it is read, on a keep-alive connection
        connection.request("GET", "/v1/invocations/garbled")
        failed = connection.getresponse()
        body = json.loads(failed.read())
        socket = connection.sock
        # Then the answer is a 500 whose JSON says no more than that
        assert failed.status == 500
        assert body == {
            "error": "InternalError",
            "message": "the server failed unexpectedly; see its log",
        }
        # And the next request on that same connection is served
        connection.request("GET", "/healthz")
        healthy = connection.getresponse()
        assert healthy.status == 200 and json.loads(healthy.read()) == {"status": "ok"}
        assert connection.sock is socket
    finally:
        connection.close()
    # and the bug is in the server's log, once
    assert server.log_path.read_text().count("no-such-state") == 1
