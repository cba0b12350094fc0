"""How an invocation ended and what came back: what the backends' instances return and
every door (the APIs, HTTP routes, the async worker, pollers) answers from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """How an invocation ended, as the user sees it."""

    SUCCESS = "success"
    FUNCTION_ERROR = "function_error"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"


@dataclass(frozen=True)
class InvocationResult:
    """What came back from one invocation."""

    request_id: str
    outcome: Outcome
    # The handler's response bytes (success) or the error JSON bytes.
    payload: bytes
    cold_start: bool
    duration_ms: float
    init_duration_ms: float | None = None
    # What the function wrote to stdout and stderr during the invocation (its init too,
    # on a cold start), as the container's agent captured it.
    output: bytes = b""
    # The invocation's log record as stored (START, the output, END, REPORT).
    log: str = ""

    @property
    def error(self) -> dict[str, Any] | None:
        if self.outcome is Outcome.SUCCESS:
            return None
        try:
            data = json.loads(self.payload)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            text = self.payload.decode("utf-8", "replace")
            data = {"errorType": "Runtime.Unknown", "errorMessage": text}
        return data

    def error_document(self) -> dict[str, Any]:
        """A failed invocation's error as an invoke answers it (both APIs), Lambda's way."""
        error = self.error or {}
        if isinstance(error.get("trace"), list) and "stackTrace" not in error:
            # A Node.js runtime's shape, which Lambda answers as it is.
            return {
                "errorType": error.get("errorType", "Runtime.Unknown"),
                "errorMessage": error.get("errorMessage", ""),
                "trace": error["trace"],
            }
        return {
            "errorMessage": error.get("errorMessage", ""),
            "errorType": error.get("errorType", "Runtime.Unknown"),
            "requestId": self.request_id,
            "stackTrace": error.get("stackTrace") or [],
        }


def error_payload(error_type: str, message: str, stack: list[str] | None = None) -> bytes:
    """The Lambda-shaped error body, for errors the platform itself reports."""
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}
    ).encode()
