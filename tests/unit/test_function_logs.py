"""An invocation's log: the function's output framed as Lambda frames it, its tail, its query.

A user reads these records with ``GET /v1/functions/{name}/logs`` and the tail
in ``X-Faas-Log-Result``; they should look like CloudWatch's lines for Lambda.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from faas.catalog.logs import TAIL_BYTES, LogRecord, frame, parse_since, tail
from faas.errors import ValidationFailed
from faas.outcomes import InvocationResult, Outcome, error_payload

RID = "8f5e2c1a-1111-2222-3333-444455556666"
END = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC).timestamp()


def result(
    output: bytes = b"hello\n",
    *,
    outcome: Outcome = Outcome.SUCCESS,
    payload: bytes = b'"ok"',
    cold_start: bool = False,
    duration_ms: float = 12.34,
    init_duration_ms: float | None = None,
) -> InvocationResult:
    return InvocationResult(
        RID,
        outcome,
        payload,
        cold_start,
        duration_ms,
        init_duration_ms=init_duration_ms,
        output=output,
    )


def test_the_output_sits_between_start_end_and_report() -> None:
    text = frame(result(b"hello\nworld\n"), memory_mb=128, max_bytes=65536, end=END)

    assert text.splitlines() == [
        f"START RequestId: {RID} Version: $LATEST",
        "hello",
        "world",
        f"END RequestId: {RID}",
        f"REPORT RequestId: {RID}\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB",
    ]
    assert text.endswith("\n")


def test_output_without_a_final_newline_gets_one() -> None:
    text = frame(result(b"no newline"), memory_mb=128, max_bytes=65536, end=END)

    assert f"no newline\nEND RequestId: {RID}\n" in text


def test_a_silent_function_has_no_blank_line() -> None:
    text = frame(result(b""), memory_mb=128, max_bytes=65536, end=END)

    assert text.splitlines()[:2] == [
        f"START RequestId: {RID} Version: $LATEST",
        f"END RequestId: {RID}",
    ]


def test_a_cold_start_reports_its_init_duration() -> None:
    cold = result(cold_start=True, init_duration_ms=250.5)

    report = frame(cold, memory_mb=256, max_bytes=65536, end=END).splitlines()[-1]

    assert report.endswith("\tMemory Size: 256 MB\tInit Duration: 250.50 ms")


def test_a_warm_start_reports_no_init_duration() -> None:
    report = frame(result(), memory_mb=128, max_bytes=65536, end=END).splitlines()[-1]

    assert "Init Duration" not in report


@pytest.mark.parametrize(("duration_ms", "billed"), [(0.2, 1), (12.0, 12), (12.01, 13), (12.5, 13)])
def test_billed_duration_is_rounded_up_to_the_millisecond(duration_ms: float, billed: int) -> None:
    text = frame(result(duration_ms=duration_ms), memory_mb=128, max_bytes=65536, end=END)

    assert f"\tBilled Duration: {billed} ms\t" in text


def test_a_run_of_a_whole_odd_number_of_milliseconds_is_billed_that_number() -> None:
    text = frame(result(duration_ms=13.0), memory_mb=128, max_bytes=65536, end=END)

    assert "\tBilled Duration: 13 ms\t" in text


def test_a_long_output_keeps_its_end_and_says_how_much_was_dropped() -> None:
    output = b"".join(b"line %03d\n" % i for i in range(100))  # 900 bytes

    text = frame(result(output), memory_mb=128, max_bytes=90, end=END)

    lines = text.splitlines()
    assert lines[1] == "[faas: 810 earlier bytes dropped]"
    assert lines[2:12] == [f"line {i:03d}" for i in range(90, 100)]
    assert lines[12] == f"END RequestId: {RID}"
    assert "line 089" not in text


def test_an_output_at_the_limit_is_kept_whole() -> None:
    text = frame(result(b"x" * 99 + b"\n"), memory_mb=128, max_bytes=100, end=END)

    assert "dropped" not in text
    assert "x" * 99 + "\n" in text


def test_a_timeout_says_so_after_the_output() -> None:
    timed_out = result(
        b"working...\n",
        outcome=Outcome.TIMEOUT,
        payload=error_payload("Sandbox.Timedout", "Task timed out after 1.00 seconds"),
    )

    lines = frame(timed_out, memory_mb=128, max_bytes=65536, end=END).splitlines()

    assert lines[1:4] == [
        "working...",
        f"2024-05-01T12:00:00.000+00:00 {RID} Task timed out after 1.00 seconds",
        f"END RequestId: {RID}",
    ]


def test_a_function_error_adds_no_platform_line() -> None:
    failed = result(
        b"[ERROR] boom\n",
        outcome=Outcome.FUNCTION_ERROR,
        payload=error_payload("ValueError", "boom"),
    )

    lines = frame(failed, memory_mb=128, max_bytes=65536, end=END).splitlines()

    assert lines[1:3] == ["[ERROR] boom", f"END RequestId: {RID}"]


def test_output_that_is_not_utf8_is_shown_not_raised() -> None:
    text = frame(result(b"caf\xe9 \xff\xfe\n"), memory_mb=128, max_bytes=65536, end=END)

    assert "caf\ufffd \ufffd\ufffd" in text


def test_truncation_in_the_middle_of_a_character_is_shown_not_raised() -> None:
    output = "é".encode() * 10  # two bytes each; keeping 5 cuts one in half

    text = frame(result(output), memory_mb=128, max_bytes=5, end=END)

    assert "[faas: 15 earlier bytes dropped]" in text
    assert "\ufffdéé\n" in text


# --- The tail a sync invoke returns --------------------------------------------------------


def test_the_tail_of_a_short_record_is_all_of_it() -> None:
    text = frame(result(), memory_mb=128, max_bytes=65536, end=END)

    assert base64.b64decode(tail(text)).decode() == text


def test_the_tail_of_a_long_record_is_its_last_4_kb() -> None:
    text = "".join(f"line {i:05d}\n" for i in range(2000))  # 22,000 bytes

    decoded = base64.b64decode(tail(text))

    assert len(decoded) == TAIL_BYTES == 4096
    assert decoded == text.encode()[-4096:]
    assert decoded.endswith(b"line 01999\n")


# --- since= -------------------------------------------------------------------------------

NOW = 1_714_564_800.0  # 2024-05-01T12:00:00Z


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1714560000", 1_714_560_000.0),
        ("1714560000.5", 1_714_560_000.5),
        (" 1714560000 ", 1_714_560_000.0),
        ("2024-05-01T11:00:00Z", NOW - 3600),
        ("2024-05-01T13:00:00+02:00", NOW - 3600),
        ("2024-05-01T11:00:00", NOW - 3600),  # naive is UTC
        ("2024-05-01T11:00:00.250Z", NOW - 3600 + 0.25),
        ("90s", NOW - 90),
        ("15m", NOW - 900),
        ("2h", NOW - 7200),
        ("1d", NOW - 86400),
        ("1.5h", NOW - 5400),
    ],
)
def test_since_takes_epoch_seconds_iso_8601_or_an_age(raw: str, expected: float) -> None:
    assert parse_since(raw, NOW) == pytest.approx(expected)


@pytest.mark.parametrize("raw", ["yesterday", "", "15 minutes", "15w", "-5m", "2024-13-01"])
def test_a_since_that_means_nothing_is_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed, match="since must be") as caught:
        parse_since(raw, NOW)

    assert caught.value.field == "since"


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "1e400"])
def test_a_since_that_is_not_a_finite_number_is_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_since(raw, NOW)


# --- A record as Redis keeps it and as the API shows it ------------------------------------

RECORD = LogRecord(
    request_id=RID,
    function="resize",
    kind="sync",
    outcome="success",
    start=NOW - 0.0125,
    end=NOW,
    duration_ms=12.5,
    text=f"START RequestId: {RID} Version: $LATEST\nhéllo\nEND RequestId: {RID}\n",
)


def test_a_record_comes_back_from_redis_as_it_went_in() -> None:
    as_redis_gives_it = {k.encode(): v.encode() for k, v in RECORD.to_fields().items()}

    assert LogRecord.from_fields(as_redis_gives_it) == RECORD


def test_a_record_as_the_api_shows_it() -> None:
    shown = RECORD.to_api()

    assert shown == {
        "requestId": RID,
        "function": "resize",
        "kind": "sync",
        "outcome": "success",
        "start": "2024-05-01T11:59:59.987+00:00",
        "end": "2024-05-01T12:00:00.000+00:00",
        "durationMs": 12.5,
        "log": RECORD.text,
    }
