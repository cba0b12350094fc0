"""Invocation types over HTTP: one dispatcher, one header precedence, one body limit.

The invoke route is served at the edge for all three types (RequestResponse,
Event, DryRun). When a client sends both ``X-Faas-Invocation-Type`` and Lambda's
``X-Amz-Invocation-Type``, ours wins whatever their order; the log type likewise.
"""

from __future__ import annotations

import base64
import json

import httpx

from tests.helpers import handler_zip, upload

ECHO = """
def handler(event, context):
    print("ran")
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"event_bytes": len(str(event))} if "blob" in event else event
"""
INVOKE = "/v1/functions/echo/invoke"


def test_our_invocation_type_wins_over_lambdas_whatever_their_order(api: httpx.Client) -> None:
    assert upload(api, "echo", handler_zip(ECHO)).status_code == 201
    # When Lambda's header comes first asking Event, and ours asks RequestResponse
    both = [("X-Amz-Invocation-Type", "Event"), ("X-Faas-Invocation-Type", "RequestResponse")]
    ran = api.post(INVOKE, content=b'{"a": 1}', headers=both)
    # Then the function ran and answered, as ours asked
    assert ran.status_code == 200, ran.text
    assert ran.json() == {"a": 1}
    # When ours asks DryRun and Lambda's, first, asks RequestResponse
    both = [("X-Amz-Invocation-Type", "RequestResponse"), ("X-Faas-Invocation-Type", "DryRun")]
    dry = api.post(INVOKE, content=b'{"fail": true}', headers=both)
    # Then nothing ran: the function and the event were only checked
    assert dry.status_code == 204, dry.text
    # Lambda's header alone still works, and an empty one of ours counts as absent
    queued = api.post(INVOKE, json={}, headers={"X-Amz-Invocation-Type": "Event"})
    assert queued.status_code == 202 and queued.json()["requestId"]
    empty = [("X-Faas-Invocation-Type", ""), ("X-Amz-Invocation-Type", "Event")]
    assert api.post(INVOKE, json={}, headers=empty).status_code == 202


def test_our_log_type_wins_over_lambdas(api: httpx.Client) -> None:
    assert upload(api, "echo", handler_zip(ECHO)).status_code == 201
    # When Lambda's asks the log's tail first, and ours says None
    both = [("X-Amz-Log-Type", "Tail"), ("X-Faas-Log-Type", "None")]
    plain = api.post(INVOKE, json={}, headers=both)
    # Then there is no log in the answer
    assert plain.status_code == 200 and "X-Faas-Log-Result" not in plain.headers
    # And Lambda's alone asks it
    tailed = api.post(INVOKE, json={}, headers={"X-Amz-Log-Type": "Tail"})
    assert "ran" in base64.b64decode(tailed.headers["X-Faas-Log-Result"]).decode()


def test_dry_run_checks_the_function_and_the_event_without_running_it(
    api: httpx.Client,
) -> None:
    dry = {"X-Faas-Invocation-Type": "DryRun"}
    # A function that does not exist
    missing = api.post("/v1/functions/nobody/invoke", json={}, headers=dry)
    assert missing.status_code == 404 and missing.json()["error"] == "FunctionNotFound"
    assert upload(api, "echo", handler_zip(ECHO)).status_code == 201
    # An event that is not JSON
    bad = api.post(INVOKE, content=b"{not json", headers=dry)
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["message"]
    # A type nobody knows
    later = api.post(INVOKE, json={}, headers={"X-Faas-Invocation-Type": "Later"})
    assert later.status_code == 400 and "'Later'" in later.json()["message"]
    # A good one: 204, and the function never ran (it has no log yet)
    assert api.post(INVOKE, json={"fail": True}, headers=dry).status_code == 204
    assert api.get("/v1/functions/echo/logs").json()["logs"] == []


def test_the_invoke_path_with_a_slash_is_the_same_route(api: httpx.Client) -> None:
    assert upload(api, "echo", handler_zip(ECHO)).status_code == 201
    # When a 2 MB event is sent to .../invoke/ (a trailing slash)
    event = json.dumps({"blob": "x" * (2 << 20)}).encode()
    answered = api.post(INVOKE + "/", content=event)
    # Then it runs under the invoke's 6 MB limit, as without the slash
    assert answered.status_code == 200, answered.text
    assert answered.json()["event_bytes"] > 2 << 20
    # And another method there is refused with the one it takes
    wrong = api.get(INVOKE)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
