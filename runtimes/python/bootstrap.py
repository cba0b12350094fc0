"""The Python runtime client: imports the handler once, then serves invocations.

The agent starts this file as its child (docs/container-protocol.md). It talks to the
Lambda Runtime API over one keep-alive connection: GET next, call
``handler(event, context)``, POST the response or the error, with the error names and
messages Lambda users know. Standard library only. It never writes to stdout, which
belongs to the handler's print(); its own error lines go to stderr.
"""

from __future__ import annotations

import decimal
import http.client
import importlib
import json
import logging
import os
import sys
import time
import traceback
from types import SimpleNamespace
from typing import Any

API_PREFIX = "/2018-06-01/runtime"
THIS_FILE = os.path.realpath(__file__)
CLIENT_FIELDS = ("installation_id", "app_title", "app_version_name", "app_version_code")


class FaultError(Exception):
    """A failure of the runtime's own steps, reported under a ``Runtime.*`` error type."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error = {"errorMessage": message, "errorType": error_type, "stackTrace": trace or []}


class LambdaContext:
    """The ``context`` argument, with the attribute names Lambda's Python runtime uses."""

    def __init__(
        self, request_id: str, deadline_ms: int, arn: str, client_context: Any = None
    ) -> None:
        env = os.environ
        self.aws_request_id = request_id
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")  # a str, as on Lambda
        self.invoked_function_arn = arn
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = SimpleNamespace(cognito_identity_id=None, cognito_identity_pool_id=None)
        self.client_context = None
        if isinstance(client_context, dict):
            client = client_context.get("client")
            self.client_context = SimpleNamespace(
                custom=client_context.get("custom"),
                env=client_context.get("env"),
                client=SimpleNamespace(**{k: client.get(k) for k in CLIENT_FIELDS})
                if isinstance(client, dict)
                else None,
            )
        self._deadline_ms = deadline_ms
        self.attempt = 1

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the platform's deadline, never negative."""
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, message: object) -> None:
        """Write to the function's log, as Lambda's ``context.log`` does."""
        sys.stdout.write(str(message))

    def __repr__(self) -> str:
        return f"LambdaContext(aws_request_id={self.aws_request_id!r})"


class RuntimeClient:
    """The Runtime API over one keep-alive HTTP connection."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.conn = http.client.HTTPConnection(host, int(port))  # no timeout: /next blocks

    def call(
        self, method: str, path: str, body: bytes | None = None, error_type: str | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request; http.client reconnects by itself if the agent closed the connection."""
        headers = {"Content-Type": "application/json"}
        if error_type:
            headers["Lambda-Runtime-Function-Error-Type"] = error_type
        self.conn.request(method, API_PREFIX + path, body=body, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.headers, response.read()

    def post_error(self, path: str, error: dict[str, Any]) -> None:
        """Log an error like Lambda does, then report it to the agent."""
        log_error(error)
        self.call("POST", path, json.dumps(error).encode(), error["errorType"])


def log_error(error: dict[str, Any]) -> None:
    """``[ERROR] <type>: <message>`` and the traceback, on stderr."""
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    lines.append("Traceback (most recent call last):")  # Lambda prints it even when empty
    lines += [line.rstrip("\n") for line in error["stackTrace"]]
    stream = sys.__stderr__ or sys.stderr
    try:
        stream.write("\n".join(lines) + "\n")
        stream.flush()
    except Exception:
        pass  # a handler that closed stderr must not take the runtime down with it


def exception_error(exc: BaseException) -> dict[str, Any]:
    """The error JSON for an exception raised by user code: type = its class name."""
    frames = traceback.extract_tb(exc.__traceback__)
    while frames and os.path.realpath(frames[0].filename) == THIS_FILE:
        frames = traceback.StackSummary.from_list(frames[1:])  # hide the runtime's own frames
    try:
        message = str(exc)
    except Exception:
        message = f"<unprintable {type(exc).__name__} object>"
    trace = traceback.format_list(frames)
    return {"errorMessage": message, "errorType": type(exc).__name__, "stackTrace": trace}


def load_handler(handler: str) -> Any:
    """Import ``path/to/module.function`` with Lambda's error names and messages."""
    modname, dot, fname = handler.rpartition(".")
    if not (modname and fname):
        reason = "not enough values to unpack (expected 2, got 1)"
        if dot:
            reason = "empty module or function name"
        raise FaultError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {reason}")
    if modname.split(".")[0] in sys.builtin_module_names:
        message = f"Cannot use built-in module {modname} as a handler module"
        raise FaultError("Runtime.BuiltInModuleConflict", message)
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as exc:
        raise FaultError(
            "Runtime.ImportModuleError", f"Unable to import module '{modname}': {exc}"
        ) from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        message = f"Syntax error in module '{modname}': {exc}"
        raise FaultError("Runtime.UserCodeSyntaxError", message, trace) from None
    try:
        return getattr(module, fname)
    except AttributeError:
        message = f"Handler '{fname}' missing on module '{modname}'"
        raise FaultError("Runtime.HandlerNotFound", message) from None


def _encode_default(value: Any) -> Any:
    # Lambda's marshaller accepts Decimal (DynamoDB returns them); the rest fails as usual.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def marshal(result: Any) -> bytes:
    """The handler's return value as response bytes, or Runtime.MarshalError."""
    if isinstance(result, bytes):
        return result
    try:
        return json.dumps(result, default=_encode_default).encode()
    except Exception as exc:
        raise FaultError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from None


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


REQUEST_ID = _RequestIdFilter()


def setup_logging() -> None:
    """The root logger writes Lambda's ``[LEVEL] time request-id message`` lines."""
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(REQUEST_ID)
    logging.getLogger().addHandler(handler)


def handle(
    client: RuntimeClient, handler: Any, headers: http.client.HTTPMessage, body: bytes
) -> None:
    """Run one invocation and report its response or error."""
    request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
    REQUEST_ID.request_id = request_id
    os.environ["_X_AMZN_TRACE_ID"] = headers.get("Lambda-Runtime-Trace-Id", "")
    try:
        client_context = json.loads(headers.get("Lambda-Runtime-Client-Context") or "null")
        deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)
        arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        context = LambdaContext(request_id, deadline_ms, arn, client_context)
        # Not Lambda's: which attempt of an async event this is (1 for sync calls).
        context.attempt = int(headers.get("Faas-Attempt") or 1)
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise FaultError(
                "Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}"
            ) from None
        payload = marshal(handler(event, context))
    except FaultError as exc:
        flush_output()
        client.post_error(f"/invocation/{request_id}/error", exc.error)
    except Exception as exc:  # not BaseException: sys.exit() ends the runtime, as on Lambda
        flush_output()
        client.post_error(f"/invocation/{request_id}/error", exception_error(exc))
    else:
        flush_output()
        client.call("POST", f"/invocation/{request_id}/response", payload)


def flush_output() -> None:
    """Push what the handler wrote into the pipe before the result: the agent's log of
    this invocation ends when the result arrives."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # closed or broken by the handler; its output is lost, the result is not


def main() -> None:
    """Init (import the handler, or report an init error and exit), then loop forever."""
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # print() reaches the log as it happens
    # Our own directory must not shadow user modules (a user's bootstrap.py, say).
    here = os.path.dirname(THIS_FILE)
    sys.path[:] = [task_root] + [p for p in sys.path if p and os.path.realpath(p) != here]
    client = RuntimeClient(os.environ.get("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"))
    setup_logging()
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except FaultError as exc:
        client.post_error("/init/error", exc.error)
        sys.exit(1)
    except Exception as exc:  # the module raised while being imported
        client.post_error("/init/error", exception_error(exc))
        sys.exit(1)
    while True:
        status, headers, body = client.call("GET", "/invocation/next")
        if status != 200:
            sys.exit(f"Runtime API /next answered {status}")
        handle(client, handler, headers, body)


if __name__ == "__main__":
    main()
