"""The Lambda API's event invoke configs: boto3 sets how Event invokes are retried and
where a failed one's record goes, and the async worker does as it says.

A record reaches its destination function as that function's event; the recorder
prints it, and the story reads it back from the recorder's log.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.e2e import test_lambda_api_story as story
from tests.helpers import handler_zip, upload, wait_until

# The Lambda API story's server (an admin key) and its boto3 client.
server_env, lam, clients = story.server_env, story.lam, story.clients
arn = story.arn

FAILING = """
def handler(event, context):
    raise ValueError("asked to fail")
"""
RECORDER = """
import json
def handler(event, context):
    print("RECORD " + json.dumps(event))
"""


@pytest.fixture
def functions(api: httpx.Client) -> None:
    """``flaky``, whose every call fails, and ``recorder``, which prints its events."""
    for name, source in (("flaky", FAILING), ("recorder", RECORDER)):
        assert upload(api, name, handler_zip(source)).status_code == 201


def record_of(api: httpx.Client, request_id: str) -> dict[str, Any]:
    """The destination record of the event ``request_id``, once the recorder has it."""

    def found() -> dict[str, Any] | None:
        logs = api.get("/v1/functions/recorder/logs", params={"limit": 1000}).json()["logs"]
        for entry in logs:
            for line in entry["log"].splitlines():
                if line.startswith("RECORD "):
                    record: dict[str, Any] = json.loads(line[len("RECORD ") :])
                    if record["requestContext"]["requestId"] == request_id:
                        return record
        return None

    record: dict[str, Any] = wait_until(found, what=f"the record of {request_id}", within_s=60)
    return record


def send_event(client: Any, payload: dict[str, Any]) -> str:
    """Queue an Event invoke of ``flaky``; its request id."""
    queued = client.invoke(
        FunctionName="flaky", InvocationType="Event", Payload=json.dumps(payload)
    )
    assert queued["StatusCode"] == 202
    request_id: str = queued["ResponseMetadata"]["RequestId"]
    return request_id


def test_a_failed_event_reaches_the_on_failure_function_after_no_retries(
    lam: Any,
    api: httpx.Client,
    functions: None,
) -> None:
    # When I send flaky's failures to the recorder, with no retries
    put = lam.put_function_event_invoke_config(
        FunctionName="flaky",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": arn("recorder")}},
    )
    # Then the config is flaky's $LATEST, as Lambda answers it, and reads back the same
    assert put["FunctionArn"] == arn("flaky") + ":$LATEST"
    assert put["MaximumRetryAttempts"] == 0 and put["MaximumEventAgeInSeconds"] == 21600
    assert put["DestinationConfig"] == {
        "OnSuccess": {},
        "OnFailure": {"Destination": arn("recorder")},
    }
    put.pop("ResponseMetadata")
    got = lam.get_function_event_invoke_config(FunctionName="flaky")
    got.pop("ResponseMetadata")
    assert got == put
    listed = lam.list_function_event_invoke_configs(FunctionName="flaky")
    assert listed["FunctionEventInvokeConfigs"] == [put] and "NextMarker" not in listed
    # And it is the async config /v1 shows
    v1 = api.get("/v1/functions/flaky/async-config").json()
    assert v1["max_retries"] == 0 and v1["on_failure"] == {"function": "recorder"}
    # When an Event invoke of flaky fails
    request_id = send_event(lam, {"order": 7})
    # Then the recorder gets Lambda's record of it, after one attempt
    record = record_of(api, request_id)
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": arn("flaky") + ":$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == {"order": 7}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert api.get(f"/v1/invocations/{request_id}").json()["attempts"] == 1


def test_retries_follow_the_config_and_an_update_keeps_what_it_leaves_out(
    lam: Any,
    api: httpx.Client,
    functions: None,
) -> None:
    # Given retries a moment apart (backoffs are ours: set through /v1)
    fast = {"backoff_base_s": 0.2, "backoff_max_s": 0.5}
    assert api.put("/v1/functions/flaky/async-config", json=fast).status_code == 200
    # When I allow one retry and send failures to the recorder
    lam.put_function_event_invoke_config(
        FunctionName="flaky",
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": arn("recorder")}},
    )
    # Then a failing event runs twice before its record is sent, and the backoffs held
    twice = record_of(api, send_event(lam, {"n": 1}))
    assert twice["requestContext"]["approximateInvokeCount"] == 2
    assert api.get("/v1/functions/flaky/async-config").json()["backoff_base_s"] == 0.2
    # When I update only the retries to none
    updated = lam.update_function_event_invoke_config(FunctionName="flaky", MaximumRetryAttempts=0)
    # Then the destination stayed, and the next failure runs once
    assert updated["DestinationConfig"]["OnFailure"] == {"Destination": arn("recorder")}
    once = record_of(api, send_event(lam, {"n": 2}))
    assert once["requestContext"]["approximateInvokeCount"] == 1


def test_a_config_is_deleted_and_bad_ones_get_lambdas_errors(
    lam: Any,
    functions: None,
) -> None:
    missing = lam.exceptions.ResourceNotFoundException
    invalid = lam.exceptions.InvalidParameterValueException
    # A function without a config: Get and Delete say so, List is empty
    for call in (lam.get_function_event_invoke_config, lam.delete_function_event_invoke_config):
        with pytest.raises(missing) as none:
            call(FunctionName="flaky")
        assert none.value.response["Error"]["Message"] == (
            f"The function {arn('flaky')}:$LATEST doesn't have an EventInvokeConfig"
        )
    listed = lam.list_function_event_invoke_configs(FunctionName="flaky")
    assert listed["FunctionEventInvokeConfigs"] == []
    # Refused: a destination that does not exist, the function itself, three retries,
    # and a config that sets nothing
    with pytest.raises(invalid) as unknown:
        lam.put_function_event_invoke_config(
            FunctionName="flaky", DestinationConfig={"OnFailure": {"Destination": arn("nope")}}
        )
    assert unknown.value.response["Error"]["Message"] == (
        f"The destination ARN {arn('nope')} is invalid."
    )
    for fields in (
        {"DestinationConfig": {"OnSuccess": {"Destination": arn("flaky")}}},
        {"MaximumRetryAttempts": 3},
        {},
    ):
        with pytest.raises(invalid):
            lam.put_function_event_invoke_config(FunctionName="flaky", **fields)
    # Not found: another function, a version this server never published
    with pytest.raises(missing):
        lam.put_function_event_invoke_config(FunctionName="nope", MaximumRetryAttempts=0)
    with pytest.raises(missing):
        lam.put_function_event_invoke_config(
            FunctionName="flaky", Qualifier="1", MaximumRetryAttempts=0
        )
    # Nothing refused was stored; a real config is, until it is deleted
    with pytest.raises(missing):
        lam.get_function_event_invoke_config(FunctionName="flaky")
    lam.put_function_event_invoke_config(FunctionName="flaky", MaximumEventAgeInSeconds=60)
    assert lam.get_function_event_invoke_config(FunctionName="flaky")["MaximumRetryAttempts"] == 2
    lam.delete_function_event_invoke_config(FunctionName="flaky")
    with pytest.raises(missing):
        lam.get_function_event_invoke_config(FunctionName="flaky")
    # A config of exactly Lambda's defaults is a config too, as on Lambda
    lam.put_function_event_invoke_config(
        FunctionName="flaky", MaximumRetryAttempts=2, MaximumEventAgeInSeconds=21600
    )
    got = lam.get_function_event_invoke_config(FunctionName="flaky")
    assert got["MaximumRetryAttempts"] == 2
    listed = lam.list_function_event_invoke_configs(FunctionName="flaky")
    assert len(listed["FunctionEventInvokeConfigs"]) == 1
