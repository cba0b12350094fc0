"""Async invocation records: their stored form, the API's view, Lambda's destination record."""

from __future__ import annotations

import dataclasses
import json

import pytest

from faas.errors import ValidationFailed
from faas.invoke.asyncq.records import (
    SHOWN_DEPTH,
    Invocation,
    State,
    destination_record,
    iso,
    shown,
)
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
    function_created_at=1699999999.1234567,  # kept exactly: the worker compares it with ==
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


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("stored", "seen"),
    [
        (b'{"key": "a.png"}', {"key": "a.png"}),
        (b"[1, 2.5, null, true]", [1, 2.5, None, True]),
        # A lone surrogate, in a value or a key, is shown as U+FFFD; a pair is one character
        (b'"a\\ud800b"', "a\ufffdb"),
        (
            b'{"k\\udfff": ["\\ud83d\\ude00", "\\ude00\\ud83d"]}',
            {"k\ufffd": ["\U0001f600", "\ufffd\ufffd"]},
        ),
        # Not JSON, or not UTF-8: its text
        (b"plain words", "plain words"),
        (b'"caf\xe9"', '"caf\ufffd"'),
        # As deep as the API serializes: JSON; deeper, or deeper than Python parses: its text
        (nested(SHOWN_DEPTH), json.loads(nested(SHOWN_DEPTH))),
        (nested(SHOWN_DEPTH + 1), nested(SHOWN_DEPTH + 1).decode()),
        (nested(100_000), nested(100_000).decode()),
        # Many brackets but shallow: still JSON
        (b"[" + b"[]," * 300 + b"{}]", [[]] * 300 + [{}]),
        (None, None),
    ],
    ids=[
        "object",
        "scalars",
        "lone-surrogate",
        "surrogates-in-keys-and-pairs",
        "not-json",
        "not-utf8",
        "deepest-shown",
        "too-deep",
        "too-deep-to-parse",
        "wide",
        "none",
    ],
)
def test_what_the_api_shows_of_a_stored_event_or_result(stored: bytes | None, seen: object) -> None:
    shown_value = shown(stored)
    assert shown_value == seen
    # and whatever it is, its JSON is UTF-8 text
    json.dumps(shown_value, ensure_ascii=False).encode()


def test_the_invocation_view_counts_lost_workers_and_shows_a_surrogate_error_as_text() -> None:
    lost = dataclasses.replace(
        FAILED,
        workers_lost=2,
        result=b'{"msg": "\\ud800"}',
        error={"errorType": "ValueError", "errorMessage": "bad \ud800", "stackTrace": []},
    )
    view = lost.to_api()
    assert view["workersLost"] == 2 and view["attempts"] == 3
    assert view["result"] == {"msg": "\ufffd"}
    assert view["error"]["errorMessage"] == "bad \ufffd"
    assert lost.to_dead_letter()["errorMessage"] == "bad \ufffd"
    assert Invocation(request_id="r", function="f", payload=b"{}").to_api()["workersLost"] == 0


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
