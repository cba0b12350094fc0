"""Async invocation records: their stored form, the API's view, Lambda's destination record."""

from __future__ import annotations

import json

import pytest

from faas.errors import ValidationFailed
from faas.invocations import Invocation, State, destination_record, iso
from faas.models import AsyncConfig

FAILED = Invocation(
    request_id="r-1",
    function="resize",
    payload=b'{"key": "a.png"}',
    state=State.DEAD_LETTERED,
    attempts=3,
    free_retries=2,
    enqueued_at=1700000000.0,
    first_attempt_at=1700000001.25,
    last_attempt_at=1700000004.5,
    finished_at=1700000005.0,
    code_sha256="ab" * 32,
    error={"errorType": "ValueError", "errorMessage": "bad", "stackTrace": []},
    reason="RetriesExhausted",
)


def test_the_stored_form_round_trips() -> None:
    stored = {
        k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in FAILED.to_fields().items()
    }
    assert Invocation.from_fields(stored) == FAILED
    fresh = Invocation(request_id="r-2", function="f", payload=b"{}", enqueued_at=1.5)
    stored = {
        k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fresh.to_fields().items()
    }
    assert "result" not in fresh.to_fields() and Invocation.from_fields(stored) == fresh


def test_a_dead_letter_shows_what_the_user_needs_to_act() -> None:
    letter = FAILED.to_dead_letter()
    assert letter == {
        "id": "r-1",
        "requestId": "r-1",
        "reason": "RetriesExhausted",
        "errorType": "ValueError",
        "errorMessage": "bad",
        "attempts": 3,
        "firstAttemptAt": "2023-11-14T22:13:21.250Z",
        "lastAttemptAt": "2023-11-14T22:13:24.500Z",
        "deadLetteredAt": "2023-11-14T22:13:25.000Z",
        "codeSha256": "ab" * 32,
        "payload": {"key": "a.png"},
    }


def test_the_failure_record_has_lambdas_shape() -> None:
    record = json.loads(
        destination_record(
            FAILED,
            condition="RetriesExhausted",
            function_arn="arn:aws:lambda:local-1:000000000000:function:resize",
            response=b'{"errorType": "ValueError", "errorMessage": "bad"}',
            function_error=True,
            now=1700000005.0,
        )
    )
    assert record == {
        "version": "1.0",
        "timestamp": iso(1700000005.0),
        "requestContext": {
            "requestId": "r-1",
            "functionArn": "arn:aws:lambda:local-1:000000000000:function:resize:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"key": "a.png"},
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {"errorType": "ValueError", "errorMessage": "bad"},
    }


def test_an_event_that_never_ran_has_no_response() -> None:
    never = Invocation(request_id="r", function="f", payload=b"[1]", attempts=0)
    record = json.loads(
        destination_record(
            never,
            condition="EventAgeExceeded",
            function_arn="arn",
            response=None,
            function_error=True,
            now=0.0,
        )
    )
    assert "responseContext" not in record and "responsePayload" not in record
    assert record["requestContext"]["approximateInvokeCount"] == 0


def test_async_config_speaks_the_apis_shape() -> None:
    config = AsyncConfig.from_dict(
        {"max_retries": 0, "on_success": {"function": "ok"}, "on_failure": None}
    )
    assert config == AsyncConfig(max_retries=0, on_success="ok")
    assert config.to_dict()["on_success"] == {"function": "ok"}
    assert AsyncConfig.from_dict({}) == AsyncConfig()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_retries": 11}, "max_retries"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"backoff_base_s": 0}, "backoff_base_s"),
        ({"backoff_base_s": 10, "backoff_max_s": 5}, "backoff_max_s"),
        ({"max_event_age_s": 59}, "max_event_age_s"),
        ({"max_event_age_s": 21601}, "max_event_age_s"),
        ({"on_success": "fn"}, "on_success"),
        ({"on_failure": {"function": "bad name"}}, "on_failure"),
        ({"on_failure": {"function": "a", "extra": 1}}, "on_failure"),
        ({"retries": 1}, "retries"),
    ],
)
def test_async_config_out_of_range_names_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        AsyncConfig.from_dict(body)
    assert caught.value.field == field
