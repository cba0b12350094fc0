"""Async invocations as plain data: their states, their stored form, destination records.

An ``Invocation`` is what ``GET /v1/invocations/{requestId}`` shows and what
the queue keeps in a Redis hash (``faas.keys``); the conversion both ways is
here so that it is tested without Redis.

Events and results are kept byte for byte, as the caller and the function gave
them (the invoke path only checks an event is JSON). What the API shows of them
is decided here, on reading: valid JSON whatever was stored. A lone surrogate
(``"\\ud800"``, which JSON can spell and UTF-8 cannot carry) is shown as U+FFFD,
and a document nested deeper than the API serializes is shown as its JSON text.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from faas.text import as_text

# The deepest document the API shows as JSON: pydantic serializes 255 levels, and
# the answer's own envelope (a page, an item) takes a few of them.
SHOWN_DEPTH = 200


class State(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    # Ended without a dead letter: the function was deleted, or the event is unusable.
    FAILED = "failed"
    DEAD_LETTERED = "dead-lettered"


TERMINAL = frozenset({State.SUCCEEDED, State.FAILED, State.DEAD_LETTERED})


@dataclass(frozen=True)
class Invocation:
    """One asynchronous event and everything that happened to it."""

    request_id: str
    function: str
    payload: bytes
    state: State = State.QUEUED
    attempts: int = 0
    # Throttles and platform errors: retried without spending an attempt.
    free_retries: int = 0
    # Workers that died (or stalled past their lease) running it: their attempts
    # were refunded, and ``faas.invoke.asyncq.retry`` bounds these apart.
    workers_lost: int = 0
    enqueued_at: float = 0.0
    first_attempt_at: float | None = None
    last_attempt_at: float | None = None
    finished_at: float | None = None
    code_sha256: str | None = None
    result: bytes | None = None
    error: dict[str, Any] | None = None
    reason: str | None = None
    # What queued it: "async" (the invoke API, a destination) or "schedule" (a tick).
    source: str = "async"
    # A published version or an alias to run instead of $LATEST (an alias draws its
    # version at each attempt).
    qualifier: str | None = None
    # The ``created_at`` of the function it was queued for: a function deleted and made
    # again under its name has another, and the worker does not run the old one's events
    # on it. None for events queued before it was recorded (they run as they did).
    function_created_at: float | None = None

    def to_fields(self) -> dict[str, str | bytes]:
        """The Redis hash form: absent values are absent fields."""
        fields: dict[str, str | bytes] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name == "error":
                fields[f.name] = json.dumps(value)
            elif isinstance(value, bytes | str):
                fields[f.name] = value
            else:
                fields[f.name] = repr(value) if isinstance(value, float) else str(value)
        return fields

    @classmethod
    def from_fields(cls, raw: dict[bytes, bytes]) -> Invocation:
        data = {k.decode(): v for k, v in raw.items()}

        def text(name: str) -> str | None:
            value = data.get(name)
            return value.decode() if value is not None else None

        def number(name: str) -> float | None:
            value = text(name)
            return float(value) if value is not None else None

        error = text("error")
        return cls(
            request_id=text("request_id") or "",
            function=text("function") or "",
            payload=data.get("payload", b"null"),
            state=State(text("state") or State.QUEUED),
            attempts=int(text("attempts") or 0),
            free_retries=int(text("free_retries") or 0),
            workers_lost=int(text("workers_lost") or 0),
            enqueued_at=number("enqueued_at") or 0.0,
            first_attempt_at=number("first_attempt_at"),
            last_attempt_at=number("last_attempt_at"),
            finished_at=number("finished_at"),
            code_sha256=text("code_sha256"),
            result=data.get("result"),
            error=json.loads(error) if error else None,
            qualifier=text("qualifier"),
            function_created_at=number("function_created_at"),
            reason=text("reason"),
            source=text("source") or "async",
        )

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def to_api(self) -> dict[str, Any]:
        """The JSON the invocation API answers with."""
        return {
            "requestId": self.request_id,
            "function": self.function,
            "state": self.state.value,
            "attempts": self.attempts,
            "throttledRetries": self.free_retries,
            "workersLost": self.workers_lost,
            "enqueuedAt": iso(self.enqueued_at),
            "firstAttemptAt": iso(self.first_attempt_at),
            "lastAttemptAt": iso(self.last_attempt_at),
            "finishedAt": iso(self.finished_at),
            "codeSha256": self.code_sha256,
            "result": shown(self.result),
            # Flat (the agent makes every error {errorType, errorMessage, stackTrace}).
            "error": _printable(self.error),
            "reason": self.reason,
        }

    def to_dead_letter(self) -> dict[str, Any]:
        """A dead letter as the dead-letter API lists it."""
        error = _printable(self.error) or {}
        return {
            "id": self.request_id,
            "requestId": self.request_id,
            "reason": self.reason,
            "errorType": error.get("errorType", self.reason),
            "errorMessage": error.get("errorMessage", ""),
            "attempts": self.attempts,
            "firstAttemptAt": iso(self.first_attempt_at),
            "lastAttemptAt": iso(self.last_attempt_at),
            "deadLetteredAt": iso(self.finished_at),
            "codeSha256": self.code_sha256,
            "payload": shown(self.payload),
        }


def destination_record(
    invocation: Invocation,
    *,
    condition: str,
    function_arn: str,
    response: bytes | None,
    function_error: bool,
    now: float,
) -> bytes:
    """Lambda's invocation record, sent to an ``on_success`` or ``on_failure`` function."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": iso(now),
        "requestContext": {
            "requestId": invocation.request_id,
            "functionArn": f"{function_arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": invocation.attempts,
        },
        "requestPayload": _json_or_text(invocation.payload),
    }
    if invocation.attempts > 0:
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error:
            context["functionError"] = "Unhandled"
        record["responseContext"] = context
        record["responsePayload"] = _json_or_text(response)
    return json.dumps(record).encode()


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def shown(raw: bytes | None) -> Any:
    """Stored JSON (an event, a result) as the API shows it: a value whose JSON is
    valid UTF-8 text, and that pydantic can serialize."""
    if raw is None:
        return None
    value = _json_or_text(raw)
    # Each level opens a bracket: most documents are cleared by counting them in C.
    if raw.count(b"[") + raw.count(b"{") > SHOWN_DEPTH and _deeper_than(value, SHOWN_DEPTH):
        return _text(raw)  # the JSON as it was given, as a string
    return _printable(value)


def _json_or_text(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _text(raw)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _printable(value: Any) -> Any:
    """``value``, with each lone surrogate in its strings and keys shown as U+FFFD."""
    try:
        # One pass in C clears the usual document (no surrogate): 13 ms a MB of records.
        json.dumps(value, ensure_ascii=False).encode()
        return value
    except UnicodeEncodeError:
        return _replaced(value)


def _replaced(value: Any) -> Any:
    # Recursion is bounded: ``shown`` lets no document deeper than SHOWN_DEPTH through.
    if isinstance(value, str):
        return as_text(value)
    if isinstance(value, dict):
        return {as_text(k): _replaced(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v) for v in value]
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` objects and arrays, level by level."""
    level = [value] if isinstance(value, dict | list) else []
    for _ in range(limit):
        level = [
            child
            for container in level
            for child in (container.values() if isinstance(container, dict) else container)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True
