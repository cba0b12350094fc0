"""The Python runtime client: imports the handler once, then serves invocations.

The agent starts it as its child, ``python3 -P -m runtimes.python.bootstrap`` with
our directory first on PYTHONPATH (docs/container-protocol.md). It talks to the
Lambda Runtime API over one keep-alive connection: GET next, call
``handler(event, context)``, POST the response or the error, with the error names and
messages Lambda users know. Standard library only, and as little of it as it needs:
every module imported here stays in memory beside the handler (the Runtime API client,
``runtime_api``, is a few lines over a socket rather than http.client, which pulls in
the email package). It never writes to stdout, which belongs to the handler's print(); its own
error lines go to stderr.

Started with ``--wait-for-env`` (by the agent of a generic container) it imports all
of that, then waits for the function's environment on stdin, applies it and goes on
as if it had been started with it.

Given a listening socket in ``FAAS_DIRECT_FD`` (the agent binds it), it also serves
the platform's ``POST /invoke`` on it, after init: the agent then stays out of the way
of every invoke it is not needed for (docs/container-protocol.md, "The direct socket").
It answers as the agent does, with ``runtimes.protocol``.

Before it imports the function's code it steps aside (``step_aside``): PYTHONPATH
is the function's again, the task root takes our directory's place on ``sys.path``,
and our package leaves ``sys.modules``, so a module of the function's by any of
our names imports as its own.
"""

from __future__ import annotations

import array
import fcntl
import importlib
import json
import logging
import os
import socket
import sys
import termios
import time
import traceback
from types import SimpleNamespace

from runtimes.protocol.http1 import Loop, Request, Response, Server, json_response
from runtimes.protocol.invocation import (
    DIRECT_SOCKET,
    MAX_EVENT,
    ThrottleCounter,
    accept,
    answer,
)
from runtimes.python.runtime_api import RuntimeClient

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

THIS_FILE = os.path.realpath(__file__)
# The directory that holds our package (/opt/faas in the image): first on our path.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(THIS_FILE)))
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


Report = tuple[str, bytes, "str | None"]  # Runtime API path, body, function error type


def error_report(path: str, error: dict[str, Any]) -> Report:
    """An error, logged like Lambda does, as what to post to ``path``."""
    log_error(error)
    return path, json.dumps(error).encode(), error["errorType"]


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
    # A Decimal exists only if its module was imported: no need to import it ourselves.
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(value, decimal.Decimal):
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


def handle(handler: Any, headers: dict[str, str], body: bytes) -> Report:
    """Run one invocation: the response or the error to report."""
    request_id = headers.get("lambda-runtime-aws-request-id", "")
    REQUEST_ID.request_id = request_id
    os.environ["_X_AMZN_TRACE_ID"] = headers.get("lambda-runtime-trace-id", "")
    try:
        client_context = json.loads(headers.get("lambda-runtime-client-context") or "null")
        deadline_ms = int(headers.get("lambda-runtime-deadline-ms") or 0)
        arn = headers.get("lambda-runtime-invoked-function-arn", "")
        context = LambdaContext(request_id, deadline_ms, arn, client_context)
        # Not Lambda's: which attempt of an async event this is (1 for sync calls).
        context.attempt = int(headers.get("faas-attempt") or 1)
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise FaultError(
                "Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}"
            ) from None
        payload = marshal(handler(event, context))
    except FaultError as exc:
        flush_output()
        return error_report(f"/invocation/{request_id}/error", exc.error)
    except Exception as exc:  # not BaseException: sys.exit() ends the runtime, as on Lambda
        flush_output()
        return error_report(f"/invocation/{request_id}/error", exception_error(exc))
    flush_output()
    return f"/invocation/{request_id}/response", payload, None


def flush_output() -> None:
    """Push what the handler wrote into the pipe before the result: the agent's log of
    this invocation ends when the result arrives."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # closed or broken by the handler; its output is lost, the result is not


_COUNT = array.array("i", [0])


def unread(fd: int) -> int:
    """Bytes waiting in the pipe ``fd`` belongs to (either end); 1 if that cannot be told."""
    try:
        fcntl.ioctl(fd, termios.FIONREAD, _COUNT, True)
    except OSError:
        return 1
    return _COUNT[0]


class DirectServer:
    """The platform's ``POST /invoke`` on our own socket, beside the agent's Runtime API.

    An invoke sent here costs the container one wakeup, of this process, where the
    agent's path costs three (agent, runtime, agent): the agent took about 60% of
    the container's CPU per invoke. The agent still reads our output, reaps us and
    tells the platform how we ended if we die mid-invoke (``GET /lost``); events it
    is sent itself still reach us on the Runtime API, whose ``/next`` stays parked
    meanwhile. One invocation at a time either way: this is one thread.
    """

    closed = False  # for the loop, which watches the agent's channel through us

    def __init__(self, control: str, bell: str) -> None:
        self.control = RuntimeClient("127.0.0.1:0", control)  # never dialled: a socketpair
        self.bell = int(bell)
        os.set_inheritable(self.bell, False)
        os.set_blocking(self.bell, False)
        # The output pipe, whatever the handler later does to fd 1: to tell if it wrote.
        self.output = os.dup(1)
        self.handler: Any = None
        self.client: RuntimeClient | None = None
        self.throttle = ThrottleCounter()
        self.owed = 0  # answers the agent owes us before its next event

    def serve(self, fd: str, handler: Any, client: RuntimeClient) -> bool:
        """Serve the listening socket ``fd`` (the agent bound it) until the process ends;
        False if it is no such socket."""
        loop = Loop()
        try:
            sock = socket.socket(fileno=int(fd))
            sock.setblocking(False)
        except (OSError, ValueError) as exc:
            print(f"faas-runtime: not serving fd {fd}: {exc}", file=sys.__stderr__, flush=True)
            return False
        self.handler, self.client = handler, client
        self.throttle.since_last()  # counted from now: init is not an invocation's
        Server(loop, sock, self.route, MAX_EVENT)
        # The first /next tells the agent that we listen; it says so in /ready.
        client.send(
            client.encode(
                "GET", "/invocation/next", None, extra=f"Faas-Direct-Socket: {DIRECT_SOCKET}\r\n"
            )
        )
        assert client.sock is not None  # connected by that send
        loop.watch(client.sock, self)
        loop.run()
        return True

    def on_readable(self) -> None:
        """The agent's channel: an event sent to the agent's own socket."""
        client = self.client
        assert client is not None
        for _ in range(self.owed):
            client.reply()  # the posted result's 202, which came with the event
        status, headers, body = client.reply()
        if status != 200:
            sys.exit(f"Runtime API /next answered {status}")
        client.send_report_and_next(*handle(self.handler, headers, body))
        self.owed = 1

    def route(self, request: Request) -> Response:
        """``POST /invoke``, answered as the agent answers it (docs/container-protocol.md),
        always with the invocation's output."""
        if request.method != "POST" or request.path != "/invoke":
            return json_response(404, {"error": "not found"})
        headers = accept(request)
        if isinstance(headers, Response):
            return headers  # refused: too large, or a bad header
        names = {name.lower(): value for name, value in headers.items()}
        _, payload, error_type = handle(self.handler, names, request.body)
        throttled = self.throttle.since_last()
        return answer(
            payload, error_type is not None, throttled=throttled, output=self.take_output()
        )

    def take_output(self) -> bytes:
        """What the invocation wrote (the agent holds it), asked for only if there is any.

        Written output is either still in the pipe, or the agent read it after
        ringing the bell (``processes.OutputCapture``): checked in that order, no
        output is missed, and an invocation that wrote nothing costs two ioctls.
        """
        if not (unread(self.output) or unread(self.bell)):
            return b""
        try:
            while os.read(self.bell, 4096):
                pass
        except BlockingIOError:
            pass
        status, _, body = self.control.call("GET", "/faas/output")
        return body if status == 200 else b""


def receive_environment(stream: int = 0) -> None:
    """Pre-started: wait for the function's environment (JSON on ``stream``), apply it.

    Afterwards the process looks as if it had been started with that environment:
    os.environ, TZ, the working directory and PYTHONPATH's entries on sys.path.
    The agent only hands over an environment whose interpreter-start variables
    (PYTHONHASHSEED, LANG, ...) match ours.
    """
    chunks = []
    while chunk := os.read(stream, 1 << 16):
        chunks.append(chunk)
    env = json.loads(b"".join(chunks))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, stream)  # stdin as a fresh runtime has it
    os.close(devnull)
    os.environ.clear()
    os.environ.update(env)
    time.tzset()
    task_root = env.get("LAMBDA_TASK_ROOT", "/var/task")
    try:
        os.chdir(task_root)
    except OSError:
        pass
    # Where a fresh interpreter puts PYTHONPATH: after sys.path[0] (our directory, which
    # becomes the task root), made absolute.
    extra = [os.path.abspath(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[1:1] = extra
    del sys.argv[1:]
    importlib.invalidate_caches()  # the code arrived after we started


def give_back_pythonpath() -> None:
    """PYTHONPATH as the function set it (or unset): the agent put ``ROOT`` in front."""
    _, sep, theirs = os.environ.get("PYTHONPATH", "").partition(os.pathsep)
    if sep:
        os.environ["PYTHONPATH"] = theirs
    else:
        os.environ.pop("PYTHONPATH", None)


def step_aside(task_root: str) -> None:
    """Leave the function's imports to the function, as a fresh interpreter started for
    its code would: the task root where our directory was (``sys.path[0]``, as a
    script's own directory would be), and our package out of ``sys.modules``. What we
    imported keeps working (we hold it); a module of the function's named like one of
    ours (a ``runtimes`` package, say) imports as its own."""
    ours = 1 if sys.path and os.path.realpath(sys.path[0]) == ROOT else 0
    sys.path[:] = [task_root] + [p for p in sys.path[ours:] if p]
    for name in [name for name in sys.modules if name.partition(".")[0] == "runtimes"]:
        del sys.modules[name]


def main() -> None:
    """Init (import the handler, or report an init error and exit), then loop forever."""
    give_back_pythonpath()
    # What the agent started us with is not the function's: out of its environment.
    runtime_fd = os.environ.pop("FAAS_RUNTIME_FD", None)
    control_fd = os.environ.pop("FAAS_CONTROL_FD", None)
    bell_fd = os.environ.pop("FAAS_OUTPUT_BELL_FD", None)
    direct_fd = os.environ.pop("FAAS_DIRECT_FD", None)
    if direct_fd and direct_fd.isdigit():
        os.set_inheritable(int(direct_fd), False)  # the handler's subprocesses must not get it
    direct = None
    if runtime_fd and control_fd and bell_fd and direct_fd:
        direct = DirectServer(control_fd, bell_fd)
    if sys.argv[1:] == ["--wait-for-env"]:
        receive_environment()
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # print() reaches the log as it happens
    step_aside(task_root)
    client = RuntimeClient(os.environ.get("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"), runtime_fd)
    setup_logging()
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except FaultError as exc:
        client.call("POST", *error_report("/init/error", exc.error))
        sys.exit(1)
    except Exception as exc:  # the module raised while being imported
        client.call("POST", *error_report("/init/error", exception_error(exc)))
        sys.exit(1)
    if direct is not None and direct_fd and direct.serve(direct_fd, handler, client):
        return
    status, headers, body = client.call("GET", "/invocation/next")
    while True:
        if status != 200:
            sys.exit(f"Runtime API /next answered {status}")
        status, headers, body = client.report_and_next(*handle(handler, headers, body))


if __name__ == "__main__":
    main()
