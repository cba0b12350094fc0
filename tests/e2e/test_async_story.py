"""The async story over HTTP: queue an event, follow it, configure retries, handle dead letters."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx
import redis

from faas import keys
from faas.settings import Settings
from tests.helpers import handler_zip, upload, wait_until

ECHO = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"id": context.aws_request_id, "attempt": context.attempt, "event": event}
"""
EVENT = {"X-Faas-Invocation-Type": "Event"}


def follow(
    api: httpx.Client, request_id: str, *states: str, within_s: float = 30
) -> dict[str, Any]:
    """The invocation's view once it reaches one of ``states``."""
    return wait_until(
        lambda: api.get(f"/v1/invocations/{request_id}").json(),
        what=f"invocation {request_id} to be {' or '.join(states)}",
        done=lambda view: view["state"] in states,
        within_s=within_s,
    )


def test_an_event_is_accepted_at_once_then_runs_with_its_request_id(api: httpx.Client) -> None:
    assert upload(api, "echo", handler_zip(ECHO)).status_code == 201
    # When I queue an event
    accepted = api.post("/v1/functions/echo/invoke", json={"a": 1}, headers=EVENT)
    # Then I get 202 and a request id at once
    assert accepted.status_code == 202, accepted.text
    request_id = accepted.json()["requestId"]
    assert accepted.headers["X-Request-Id"] == request_id
    # And it runs once, as attempt 1, under that request id
    view = follow(api, request_id, "succeeded")
    assert view["result"] == {"id": request_id, "attempt": 1, "event": {"a": 1}}
    assert view["attempts"] == 1 and view["error"] is None and view["function"] == "echo"
    assert view["enqueuedAt"] <= view["firstAttemptAt"] <= view["finishedAt"]
    # Lambda's own header works too, and DryRun only checks
    lambda_style = api.post(
        "/v1/functions/echo/invoke", json={}, headers={"X-Amz-Invocation-Type": "Event"}
    )
    assert lambda_style.status_code == 202
    dry = api.post(
        "/v1/functions/echo/invoke", json={}, headers={"X-Faas-Invocation-Type": "DryRun"}
    )
    assert dry.status_code == 204


def test_retries_and_dead_letters_are_managed_over_http(api: httpx.Client) -> None:
    assert upload(api, "flaky", handler_zip(ECHO)).status_code == 201
    # Lambda's defaults until I change them
    assert api.get("/v1/functions/flaky/async-config").json() == {
        "max_retries": 2,
        "backoff_base_s": 60.0,
        "backoff_max_s": 120.0,
        "max_event_age_s": 21600,
        "on_success": None,
        "on_failure": None,
    }
    config = {"max_retries": 1, "backoff_base_s": 0.5, "backoff_max_s": 1, "max_event_age_s": 60}
    put = api.put("/v1/functions/flaky/async-config", json=config)
    assert put.status_code == 200 and put.json()["max_retries"] == 1
    # When an event keeps failing
    request_id = api.post("/v1/functions/flaky/invoke", json={"fail": True}, headers=EVENT).json()[
        "requestId"
    ]
    view = follow(api, request_id, "dead-lettered")
    assert view["attempts"] == 2, view
    assert view["reason"] == "RetriesExhausted" and view["error"]["errorType"] == "ValueError"
    # Then it is listed in the dead letters with what I need to act
    page = api.get("/v1/functions/flaky/dead-letters", params={"limit": 10}).json()
    assert page["total"] == 1 and page["offset"] == 0
    letter = page["items"][0]
    assert letter["id"] == request_id and letter["payload"] == {"fail": True}
    assert letter["errorType"] == "ValueError" and letter["errorMessage"] == "asked to fail"
    assert letter["attempts"] == 2 and letter["codeSha256"]
    assert letter["firstAttemptAt"] < letter["lastAttemptAt"]
    # When I redrive everything, it runs again with fresh attempts
    redriven = api.post("/v1/functions/flaky/dead-letters/redrive")
    assert redriven.status_code == 200 and redriven.json() == {"redriven": [request_id]}
    follow(api, request_id, "retrying", "dead-lettered")
    again = follow(api, request_id, "dead-lettered")
    assert again["attempts"] == 2, again
    # And a deleted dead letter is gone
    assert api.delete(f"/v1/functions/flaky/dead-letters/{request_id}").status_code == 204
    assert api.get(f"/v1/invocations/{request_id}").status_code == 404
    assert api.get("/v1/functions/flaky/dead-letters").json()["total"] == 0


def test_bad_async_requests_get_clear_errors(api: httpx.Client) -> None:
    assert upload(api, "echo", handler_zip(ECHO)).status_code == 201
    invoke = "/v1/functions/echo/invoke"
    cases = [
        (api.post("/v1/functions/nope/invoke", json={}, headers=EVENT), 404),
        (api.post(invoke, content=b"{not json", headers=EVENT), 400),
        (api.post(invoke, json={"x": "y" * (1024 * 1024)}, headers=EVENT), 413),
        (api.post(invoke, json={}, headers={"X-Faas-Invocation-Type": "Later"}), 400),
        (api.get("/v1/invocations/nope"), 404),
        (api.put("/v1/functions/echo/async-config", content=b"[oops"), 400),
        (api.put("/v1/functions/nope/async-config", json={}), 404),
        (api.post("/v1/functions/echo/dead-letters/redrive", json={"ids": "x"}), 400),
        (api.post("/v1/functions/echo/dead-letters/redrive", json={"other": 1}), 400),
        (api.delete("/v1/functions/echo/dead-letters/nope"), 404),
        (api.get("/v1/functions/echo/dead-letters", params={"limit": 0}), 422),
    ]
    for response, status in cases:
        assert response.status_code == status, (response.request.url, response.text)
        assert response.json()["message"], response.text
    for body, field in [
        ({"max_retries": 11}, "max_retries"),
        ({"max_event_age_s": 30}, "max_event_age_s"),
        ({"on_success": {"function": "missing"}}, "on_success"),
        ({"on_success": {"function": "echo"}}, "on_success"),
        ({"on_failure": "echo"}, "on_failure"),
    ]:
        refused = api.put("/v1/functions/echo/async-config", json=body)
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    # Nothing was queued by any of them
    assert api.get("/v1/functions/echo/dead-letters").json()["total"] == 0


def test_an_event_redis_refuses_gets_503_never_202(api: httpx.Client, settings: Settings) -> None:
    assert upload(api, "echo", handler_zip(ECHO)).status_code == 201
    client = redis.Redis.from_url(settings.redis_url)
    before = client.xlen(keys.EVENTS)
    # Given a Redis that is out of memory (noeviction: it refuses writes)
    client.config_set("maxmemory", 1)
    try:
        refused = api.post("/v1/functions/echo/invoke", json={}, headers=EVENT)
    finally:
        client.config_set("maxmemory", 0)
    # Then the event is refused with a 503 to retry, and nothing half-stored
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] and "Redis" in refused.json()["message"]
    assert client.xlen(keys.EVENTS) == before
    # And once Redis has room, the same request is accepted and runs
    accepted = api.post("/v1/functions/echo/invoke", json={"b": 2}, headers=EVENT)
    assert accepted.status_code == 202
    follow(api, accepted.json()["requestId"], "succeeded")
    client.close()


def test_the_server_refuses_to_start_on_a_redis_that_evicts_keys(
    server_env: dict[str, str], settings: Settings
) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        started = subprocess.run(
            [sys.executable, "-m", "faas.cli.main", "serve"],
            env={**os.environ, **server_env},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        client.config_set("maxmemory-policy", "noeviction")
        client.close()
    assert started.returncode == 2
    assert "maxmemory-policy noeviction" in started.stderr
    assert "Traceback" not in started.stderr
