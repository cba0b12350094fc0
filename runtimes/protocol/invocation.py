"""One invocation as both of its servers see it: the agent and the Python runtime.

The platform's ``POST /invoke`` reaches the agent, or, once a Python runtime serves
its own socket (docs/container-protocol.md, "The direct socket"), the runtime
itself. Either way the request is read and answered here, by the same rules: the
platform's headers turned into the Lambda Runtime API's (``accept``), and the
answer (``answer``): the error shape and ``X-Function-Error``, the response limit,
the output leading the body (``X-Faas-Log-Length``), the CPU-throttling count
(``X-Faas-Cpu-Throttled``). A streamed answer (docs/container-protocol.md,
"Streamed answers") has its head (``stream_head``) and trailers
(``stream_trailers``) written here too.

Standard library only; imported as ``runtimes.protocol.invocation``.
"""

from __future__ import annotations

import json
import os
import time

from runtimes.protocol.http1 import Request, Response, json_response

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_EVENT = 32 * 1024 * 1024  # generous: the gateway enforces the real request limit
MAX_RESPONSE = 6 * 1024 * 1024  # Lambda's synchronous response limit
MAX_STREAM = 20 * 1024 * 1024  # Lambda's limit for a streamed response
# The Runtime API header of a response the runtime streams, and its value.
RESPONSE_MODE = "lambda-runtime-function-response-mode"
# The socket our Python runtime serves invokes on, in the agent's socket directory
# (docs/container-protocol.md, "The direct socket").
DIRECT_SOCKET = "runtime.sock"
CPU_STAT_FILES = ("/sys/fs/cgroup/cpu.stat", "/sys/fs/cgroup/cpu/cpu.stat")  # v2, v1
# When the platform gives no deadline: Lambda's longest timeout.
DEFAULT_DEADLINE_MS = 900_000


def error_body(error_type: str, message: str, trace: list[str] | None = None) -> bytes:
    """The function-error JSON the platform receives."""
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "stackTrace": trace or []}
    ).encode()


def too_large(size: int) -> bytes:
    """Lambda's error for a result of ``size`` bytes, past ``MAX_RESPONSE``."""
    message = (
        f"Response payload size ({size} bytes) exceeded maximum allowed "
        f"payload size ({MAX_RESPONSE} bytes)."
    )
    return error_body("Function.ResponseSizeTooLarge", message)


def stream_too_large(size: int) -> bytes:
    """Lambda's error for a streamed response past ``MAX_STREAM``."""
    message = (
        f"Response payload size ({size} bytes) exceeded maximum allowed "
        f"payload size ({MAX_STREAM} bytes)."
    )
    return error_body("Function.ResponseSizeTooLarge", message)


def streams(request: Request) -> bool:
    """Whether a Runtime API request is a response the runtime streams (its body chunked)."""
    return (
        request.chunked is not None
        and request.method == "POST"
        and request.headers.get(RESPONSE_MODE, "").lower() == "streaming"
    )


def stream_head(content_type: str | None, init_ms: int | None = None) -> Response:
    """The head of a streamed answer: its chunks and trailers follow."""
    headers = {"X-Faas-Stream": "1", "Content-Type": content_type or "application/octet-stream"}
    if init_ms is not None:
        headers["X-Init-Duration-Ms"] = str(init_ms)
    return Response(200, b"", headers)


def stream_trailers(
    error: bytes | None,
    *,
    broken: bool = False,
    throttled: int = 0,
    output: bytes | None = None,
) -> dict[str, str]:
    """The trailers that end a streamed answer: how it ended, and its output if asked."""
    import base64  # only streamed answers need it

    trailers: dict[str, str] = {}
    if error is not None:
        trailers["X-Function-Error"] = "Unhandled"
        trailers["X-Faas-Error"] = base64.b64encode(error).decode()
    if output is not None:
        trailers["X-Faas-Output"] = base64.b64encode(output).decode()
    if broken:
        trailers["X-Sandbox-Broken"] = "1"
    if throttled:
        trailers["X-Faas-Cpu-Throttled"] = str(throttled)
    return trailers


def streamed_error(trailers: Mapping[str, str]) -> tuple[bytes, str] | None:
    """The error a runtime's streamed response ended with (its Runtime API trailers):
    (the body it sent, its type), or None when it ended well."""
    error_type = trailers.get("lambda-runtime-function-error-type")
    if error_type is None:
        return None
    import base64
    import binascii

    raw = trailers.get("lambda-runtime-function-error-body", "")
    try:
        body = base64.b64decode(raw, validate=True)
    except binascii.Error:
        body = raw.encode()
    return body, error_type


def accept(request: Request) -> dict[str, str] | Response:
    """The Runtime API headers of a ``POST /invoke``, or the refusal that answers it:
    ``413`` for an event past the server's limit, ``400`` for a bad header."""
    if request.oversize:
        return json_response(413, {"error": "event too large"})
    headers = runtime_headers(request.headers)
    if isinstance(headers, str):
        return json_response(400, {"error": headers})
    return headers


def answer(
    result: bytes,
    error: bool = False,
    *,
    broken: bool = False,
    init_ms: int | None = None,
    throttled: int = 0,
    output: bytes | None = None,
) -> Response:
    """How an invocation ended, as the platform reads it: always ``200``.

    ``result`` is the response, or the error JSON when ``error``; past ``MAX_RESPONSE``
    it becomes Lambda's size error. ``broken``: the sandbox must not serve again.
    ``output`` (when the platform asked for it) leads the body, its length in
    ``X-Faas-Log-Length``.
    """
    if len(result) > MAX_RESPONSE:
        result, error = too_large(len(result)), True
    headers = {"Content-Type": "application/json"}
    if error:
        headers["X-Function-Error"] = "Unhandled"
    if broken:
        headers["X-Sandbox-Broken"] = "1"
    if init_ms is not None:
        headers["X-Init-Duration-Ms"] = str(init_ms)
    if throttled:
        headers["X-Faas-Cpu-Throttled"] = str(throttled)
    if output is not None:
        headers["X-Faas-Log-Length"] = str(len(output))
        if output:
            result = output + result
    return Response(200, result, headers)


def runtime_headers(h: Mapping[str, str]) -> dict[str, str] | str:
    """The Runtime API headers of ``/next`` for the platform's invoke headers ``h``
    (lower-case names); a string says why the request is bad (a 400)."""
    request_id = h.get("x-request-id", "")
    if not request_id:
        return "X-Request-Id is required"
    deadline = h.get("x-deadline-ms") or str(int(time.time() * 1000) + DEFAULT_DEADLINE_MS)
    if not deadline.isdigit():
        return "X-Deadline-Ms must be epoch milliseconds"
    headers = {
        "Content-Type": "application/json",
        "Lambda-Runtime-Aws-Request-Id": request_id,
        "Lambda-Runtime-Deadline-Ms": deadline,
        "Lambda-Runtime-Invoked-Function-Arn": h.get("x-invoked-function-arn", ""),
        "Lambda-Runtime-Trace-Id": h.get("x-amzn-trace-id")
        or f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Sampled=0",
        # Not Lambda's: which async attempt this is (1 for a sync call).
        "Faas-Attempt": h.get("x-faas-attempt") or "1",
    }
    if h.get("x-client-context"):
        # The platform sends base64 (as the Invoke API does); runtimes expect JSON.
        context = client_context(h["x-client-context"])
        if context is None:
            return "X-Client-Context must be base64 JSON"
        headers["Lambda-Runtime-Client-Context"] = context
    return headers


def client_context(header: str) -> str | None:
    """The ``X-Client-Context`` header (base64 JSON) as the JSON runtimes expect."""
    import base64  # rare: only mobile SDK calls carry a client context
    import binascii

    try:
        return json.dumps(json.loads(base64.b64decode(header, validate=True)))
    except (binascii.Error, ValueError):
        return None


def throttled_periods(stat: bytes) -> int | None:
    """``nr_throttled`` of a cpu.stat: the CFS periods in which the cgroup used up its quota."""
    at = stat.find(b"nr_throttled ")
    if at < 0:
        return None
    value = stat[at + len(b"nr_throttled ") :].split(b"\n", 1)[0]
    return int(value) if value.isdigit() else None


class ThrottleCounter:
    """How often the container hit its CPU quota since the last look.

    The cpu.stat stays open and is read with one ``pread`` (about 5 µs), once
    per invocation. None of it where the file is missing or unreadable.
    """

    def __init__(self, paths: tuple[str, ...] = CPU_STAT_FILES) -> None:
        self._fd: int | None = None
        self._last = 0
        for path in paths:
            try:
                self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            break
        self.since_last()

    def since_last(self) -> int:
        """Periods throttled since the previous call (0 if unknown)."""
        if self._fd is None:
            return 0
        try:
            now = throttled_periods(os.pread(self._fd, 512, 0))
        except OSError:
            now = None
        if now is None:
            return 0
        seen, self._last = self._last, now
        return max(0, now - seen)
