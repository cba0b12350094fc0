"""The in-container agent: PID 1 of every function container.

It serves two HTTP/1.1 endpoints, both described in docs/container-protocol.md:

* the platform socket ``$FAAS_SOCKET_DIR/agent.sock``: ``POST /invoke``, ``GET /health``;
* the Lambda Runtime API on ``$AWS_LAMBDA_RUNTIME_API`` for the bootstrap process.

It spawns the bootstrap, reaps every zombie, and turns the bootstrap's death into a
function error that marks the sandbox broken. Standard library only, so the image
needs nothing installed; no threads, so forking the bootstrap is safe.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import http
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

MAX_RESPONSE = 6 * 1024 * 1024  # Lambda's synchronous response limit
MAX_EVENT = 32 * 1024 * 1024  # generous: the gateway enforces the real request limit
MAX_HEADERS = 100
# The most of a function's output kept for one invocation; older output is dropped first.
MAX_LOG = 256 * 1024
UNIX_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL
RUNTIME_PREFIX = "/2018-06-01/runtime"
INVOCATION_PATH = re.compile(RUNTIME_PREFIX + r"/invocation/(?P<id>[^/]+)/(?P<kind>response|error)")
HERE = os.path.dirname(os.path.abspath(__file__))
OOM_FILES = ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control")


def log(message: str) -> None:
    """Write one agent line to the container log (stderr, shared with the function)."""
    print(f"faas-agent: {message}", file=sys.stderr, flush=True)


# --- HTTP/1.1, just enough for both servers -------------------------------------------


class HttpError(Exception):
    """A request refused before routing (``args[0]`` is the status); the connection closes."""


@dataclass
class Request:
    """One parsed request. ``oversize`` is the declared length of a body we discarded."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool
    reader: asyncio.StreamReader
    oversize: int = 0


@dataclass
class Response:
    """A response to write; ``close`` ends the connection after it."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False


def json_response(status: int, obj: object, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(
        status, json.dumps(obj).encode(), {"Content-Type": "application/json"} | (headers or {})
    )


async def _line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readline()
    except ValueError:  # a line past the reader's 64 KiB limit
        raise HttpError(400) from None


async def read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_body: int
) -> Request | None:
    """Parse one request; None on a clean end of stream between requests."""
    line = await _line(reader)
    if not line:
        return None
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        raise HttpError(400)
    method, target, version = parts
    headers: dict[str, str] = {}
    while True:
        line = await _line(reader)
        if line in (b"\r\n", b"\n"):
            break
        if not line.endswith(b"\n") or len(headers) >= MAX_HEADERS:
            raise HttpError(400)
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400)
        headers[name.lower()] = value.strip()
    # Without chunked decoding we cannot find the end of such a body: refuse and close.
    if "transfer-encoding" in headers:
        raise HttpError(411)
    declared = headers.get("content-length", "0")
    if not (declared.isascii() and declared.isdigit()):
        raise HttpError(400)
    length = int(declared)
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl otherwise waits a second
    request = Request(method, target.split("?", 1)[0], headers, b"", keep_alive, reader)
    if length > max_body:
        # Drain rather than close: the client keeps its connection and reads our 413.
        request.oversize = length
        while length:
            chunk = await reader.read(min(length, 1 << 16))
            if not chunk:
                raise asyncio.IncompleteReadError(b"", length)
            length -= len(chunk)
    elif length:
        request.body = await reader.readexactly(length)
    return request


def encode_response(response: Response, close: bool) -> bytes:
    """Serialise a response; bodies always carry Content-Length."""
    status = http.HTTPStatus(response.status)
    lines = [f"HTTP/1.1 {status.value} {status.phrase}", f"Content-Length: {len(response.body)}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


Route = Callable[[Request], Awaitable[Response | None]]


async def serve(
    route: Route, max_body: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Serve one keep-alive connection; a route returning None drops the connection."""
    try:
        while True:
            try:
                request = await read_request(reader, writer, max_body)
            except HttpError as exc:
                writer.write(encode_response(Response(exc.args[0]), close=True))
                await writer.drain()
                return
            if request is None:
                return
            try:
                response = await route(request)
            except Exception:
                log("internal error:\n" + traceback.format_exc())
                response = Response(500, close=True)
            if response is None:
                return
            close = response.close or not request.keep_alive
            writer.write(encode_response(response, close))
            await writer.drain()
            if close:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        pass  # the peer went away; nothing to answer
    finally:
        writer.close()


# --- Pure decisions -------------------------------------------------------------------


def read_oom_kills(paths: tuple[str, ...] = OOM_FILES) -> int | None:
    """The memory cgroup's OOM-kill count (v2 memory.events or v1 memory.oom_control)."""
    for path in paths:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None


def exit_error(wait_status: int, oom_before: int | None, oom_after: int | None) -> tuple[str, str]:
    """Lambda's (errorType, reason) for a bootstrap that exited with ``wait_status``."""
    killed_by = os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else None
    if killed_by is not None:
        name = signal.strsignal(killed_by) or f"signal {killed_by}"
        reason = f"Runtime exited with error: signal: {name.lower()}"
    else:
        code = os.waitstatus_to_exitcode(wait_status)
        reason = f"Runtime exited with error: exit status {code}"
        if code == 0:
            reason = "Runtime exited without providing a reason"
    if oom_after is not None and oom_before is not None:
        oom = oom_after > oom_before
    else:
        # No baseline: a count that is now positive only convinces us if the kernel's
        # weapon (SIGKILL) was used, since an old OOM kill in this cgroup proves nothing.
        oom = bool(oom_after) and killed_by == signal.SIGKILL
    return ("Runtime.OutOfMemory" if oom else "Runtime.ExitError"), reason


def error_body(error_type: str, message: str, trace: list[str] | None = None) -> bytes:
    """The function-error JSON the platform receives."""
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "stackTrace": trace or []}
    ).encode()


def normalise_error(body: bytes, header_type: str | None) -> bytes:
    """Coerce whatever the bootstrap POSTed to /error into the documented shape."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {"errorMessage": body.decode("utf-8", "replace")}
    trace = data.get("stackTrace")
    return error_body(
        str(data.get("errorType") or header_type or "Runtime.Unknown"),
        str(data.get("errorMessage") or ""),
        [str(line) for line in trace] if isinstance(trace, list) else [],
    )


def _prefer_oom_kill() -> None:
    # Runs in the child between fork and exec: make the kernel's OOM killer choose the
    # bootstrap, so the agent survives to report Runtime.OutOfMemory.
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")


# --- The agent ------------------------------------------------------------------------


class OutputCapture:
    """The bootstrap's stdout and stderr, through one pipe, kept for the current invocation.

    The bootstrap flushes before it posts a result, so everything it wrote is in
    the pipe by then: ``take`` drains what is left without waiting.
    """

    def __init__(self) -> None:
        self._read_fd, self.write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self._buffer = bytearray()
        self._dropped = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self._read_fd, self._drain)

    def child_started(self) -> None:
        # Only the child writes now: at its exit the pipe reads as closed.
        os.close(self.write_fd)

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._read_fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                if self._loop is not None:
                    self._loop.remove_reader(self._read_fd)
                    self._loop = None
                return
            self._buffer += chunk
            if len(self._buffer) > MAX_LOG:
                excess = len(self._buffer) - MAX_LOG
                del self._buffer[:excess]
                self._dropped += excess

    def take(self) -> bytes:
        """Everything written since the last ``take`` (at most ``MAX_LOG`` bytes)."""
        if self._loop is not None:
            self._drain()
        output = bytes(self._buffer)
        if self._dropped:
            output = f"[faas: {self._dropped} earlier bytes of output dropped]\n".encode() + output
        self._buffer.clear()
        self._dropped = 0
        return output


def outcome(body: bytes, error: bool = False, broken: bool = False) -> Response:
    """How an invocation ended, as the platform will see it."""
    headers = {"Content-Type": "application/json"}
    if error:
        headers["X-Function-Error"] = "Unhandled"
    if broken:
        headers["X-Sandbox-Broken"] = "1"
    return Response(200, body, headers)


@dataclass
class Invocation:
    """The one invocation in flight."""

    request_id: str
    headers: dict[str, str]  # the Runtime API headers handed to the bootstrap
    event: bytes
    done: asyncio.Future[Response]
    delivered: bool = False
    capture_log: bool = False


class Agent:
    """Owns the bootstrap child and the single invocation in flight."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.runtime_api = env.get("AWS_LAMBDA_RUNTIME_API") or "127.0.0.1:9001"
        self.socket_dir = env.get("FAAS_SOCKET_DIR") or "/run/faas"
        self.task_root = env.get("LAMBDA_TASK_ROOT") or "/var/task"
        self.child: subprocess.Popen[bytes] | None = None
        self.child_exited = asyncio.Event()
        self.spawned_at = time.monotonic()
        self.init_ms: int | None = None
        self.initialised = asyncio.Event()  # first /next, or the failure that ended init
        # Set once, when the sandbox must never serve again; builds the error per request.
        self.fatal: Callable[[str], bytes] | None = None
        self.current: Invocation | None = None
        self.queue: asyncio.Queue[Invocation] = asyncio.Queue()
        self.invoked = False
        self.oom_at_start = read_oom_kills()
        self.output = OutputCapture()

    def state(self) -> str:
        """The /health state."""
        if self.fatal is not None:
            return "broken"
        return "initializing" if self.init_ms is None else "ready"

    def _init_finished(self) -> None:
        if self.init_ms is None:
            self.init_ms = round((time.monotonic() - self.spawned_at) * 1000)
            self.initialised.set()

    def break_sandbox(self, fatal: Callable[[str], bytes]) -> None:
        """Fail the pending invocation and every later one; the first cause wins."""
        self._init_finished()
        if self.fatal is None:
            self.fatal = fatal
        while not self.queue.empty():
            self.queue.get_nowait()
        inv = self.current
        if inv is not None and not inv.done.done():
            inv.done.set_result(outcome(self.fatal(inv.request_id), error=True, broken=True))

    def _runtime_failed(self, error_type: str, reason: str) -> None:
        # Lambda names the request in these messages, so the error is built per invoke.
        log(f"{error_type}: {reason}")
        self.break_sandbox(lambda rid: error_body(error_type, f"RequestId: {rid} Error: {reason}"))

    # --- the bootstrap process

    def spawn(self) -> None:
        """Start the bootstrap for FAAS_RUNTIME; a bad entrypoint breaks the sandbox."""
        runtime = self.env.get("FAAS_RUNTIME", "python3.11")
        self.spawned_at = time.monotonic()
        if runtime.startswith("python3"):
            argv = [sys.executable, os.path.join(HERE, "python", "bootstrap.py")]
        elif runtime == "provided":
            argv = [os.path.join(self.task_root, "bootstrap")]
        else:
            self._runtime_failed("Runtime.InvalidEntrypoint", f"Unsupported runtime: {runtime}")
            return
        access = os.R_OK if len(argv) == 2 else os.X_OK
        if not (os.path.isfile(argv[-1]) and os.access(argv[-1], access)):
            self._runtime_failed(
                "Runtime.InvalidEntrypoint", f"Couldn't find valid bootstrap(s): [{argv[-1]}]"
            )
            return
        env = self.env | {"AWS_LAMBDA_RUNTIME_API": self.runtime_api}
        try:
            # A session of its own lets shutdown kill the handler's grandchildren too.
            self.child = subprocess.Popen(
                argv,
                env=env,
                cwd=self.task_root if os.path.isdir(self.task_root) else None,
                start_new_session=True,
                preexec_fn=_prefer_oom_kill,
                stdout=self.output.write_fd,
                stderr=self.output.write_fd,
            )
            self.output.child_started()
        except OSError as exc:
            self._runtime_failed(
                "Runtime.InvalidEntrypoint", f"fork/exec {argv[0]}: {exc.strerror}"
            )

    def reap(self) -> None:
        """SIGCHLD: collect every exited child (we are PID 1, orphans land on us)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.child
            if child is not None and pid == child.pid:
                child.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
                self.child_exited.set()
                self._runtime_failed(*exit_error(status, self.oom_at_start, read_oom_kills()))

    async def stop_child(self) -> None:
        """SIGTERM the bootstrap's session, SIGKILL it if it lingers, and reap it."""
        child = self.child
        if child is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, sig)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.child_exited.wait(), 2.0)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # whatever the handler left behind
        self.reap()

    # --- platform API

    async def platform_route(self, request: Request) -> Response:
        """``POST /invoke``, ``GET /health`` and ``GET /ready`` on the platform socket."""
        if request.method == "POST" and request.path == "/invoke":
            return await self.invoke(request)
        if request.method == "GET" and request.path == "/health":
            return json_response(200, {"state": self.state()})
        if request.method == "GET" and request.path == "/ready":
            # The platform starts the function's timeout only once init is over, as Lambda does.
            await self.initialised.wait()
            init = {"X-Init-Duration-Ms": str(self.init_ms)}
            return json_response(200, {"state": self.state()}, init)
        return json_response(404, {"error": "not found"})

    async def invoke(self, request: Request) -> Response:
        """Hand one event to the bootstrap and wait for its outcome."""
        h = request.headers
        request_id = h.get("x-request-id", "")
        if not request_id:
            return json_response(400, {"error": "X-Request-Id is required"})
        if request.oversize:
            return json_response(413, {"error": "event too large"})
        if self.current is not None:
            return json_response(409, {"error": "an invocation is already in flight"})
        deadline = h.get("x-deadline-ms") or str(int(time.time() * 1000) + 900_000)
        if not deadline.isdigit():
            return json_response(400, {"error": "X-Deadline-Ms must be epoch milliseconds"})
        trace = f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Sampled=0"
        runtime_headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": deadline,
            "Lambda-Runtime-Invoked-Function-Arn": h.get("x-invoked-function-arn", ""),
            "Lambda-Runtime-Trace-Id": h.get("x-amzn-trace-id") or trace,
            # Not Lambda's: which async attempt this is (1 for a sync call).
            "Faas-Attempt": h.get("x-faas-attempt") or "1",
        }
        if h.get("x-client-context"):
            # The platform sends base64 (as the Invoke API does); runtimes expect JSON.
            try:
                context = json.loads(base64.b64decode(h["x-client-context"], validate=True))
            except (binascii.Error, ValueError):
                return json_response(400, {"error": "X-Client-Context must be base64 JSON"})
            runtime_headers["Lambda-Runtime-Client-Context"] = json.dumps(context)
        first, self.invoked = not self.invoked, True
        loop = asyncio.get_running_loop()
        inv = Invocation(request_id, runtime_headers, request.body, loop.create_future())
        inv.capture_log = h.get("x-faas-capture-log") == "1"
        self.current = inv
        try:
            if self.fatal is not None:
                response = outcome(self.fatal(request_id), error=True, broken=True)
            else:
                self.queue.put_nowait(inv)
                response = await inv.done
        finally:
            self.current = None
        if first and self.init_ms is not None:
            response.headers["X-Init-Duration-Ms"] = str(self.init_ms)
        output = self.output.take()
        if inv.capture_log:
            # The platform asked for the invocation's output: it leads the body.
            response.headers["X-Faas-Log-Length"] = str(len(output))
            response.body = output + response.body
        elif output:
            sys.stderr.buffer.write(output)
            sys.stderr.flush()
        return response

    # --- Runtime API

    async def runtime_route(self, request: Request) -> Response | None:
        """The Lambda Runtime API routes the bootstrap calls."""
        path = request.path
        if request.method == "GET" and path == RUNTIME_PREFIX + "/invocation/next":
            return await self.next_invocation(request)
        if request.method == "POST" and path == RUNTIME_PREFIX + "/init/error":
            body = normalise_error(
                request.body, request.headers.get("lambda-runtime-function-error-type")
            )
            self.break_sandbox(lambda _rid: body)
            return json_response(202, {"status": "OK"})
        match = INVOCATION_PATH.fullmatch(path)
        if request.method == "POST" and match:
            return self.post_result(urllib.parse.unquote(match["id"]), match["kind"], request)
        return json_response(404, {"errorMessage": "not found", "errorType": "NotFound"})

    async def next_invocation(self, request: Request) -> Response | None:
        """Block until an event arrives; give up if the bootstrap hangs up first."""
        self._init_finished()
        getter = asyncio.ensure_future(self.queue.get())
        hangup = asyncio.ensure_future(request.reader.read(1))
        try:
            await asyncio.wait({getter, hangup}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            getter.cancel()
            hangup.cancel()
            # Let the cancelled read unwind: a StreamReader allows a single waiter.
            await asyncio.wait({getter, hangup})
        if getter.cancelled():
            return None  # the caller hung up (or sent garbage): drop the connection
        inv = getter.result()
        if hangup.done() and not hangup.cancelled():
            self.queue.put_nowait(inv)  # nobody left to receive it; keep it for the next /next
            return None
        inv.delivered = True
        return Response(200, inv.event, inv.headers)

    def post_result(self, request_id: str, kind: str, request: Request) -> Response:
        """``/invocation/{id}/response`` and ``/invocation/{id}/error``."""
        inv = self.current
        if inv is None or not inv.delivered or inv.request_id != request_id or inv.done.done():
            return json_response(
                400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
            )
        if request.oversize:
            message = (
                f"Response payload size ({request.oversize} bytes) exceeded maximum allowed "
                f"payload size ({MAX_RESPONSE} bytes)."
            )
            error = error_body("Function.ResponseSizeTooLarge", message)
            inv.done.set_result(outcome(error, error=True))
            return Response(413, error, {"Content-Type": "application/json"})
        if kind == "response":
            inv.done.set_result(outcome(request.body))
        else:
            header_type = request.headers.get("lambda-runtime-function-error-type")
            inv.done.set_result(outcome(normalise_error(request.body, header_type), error=True))
        return json_response(202, {"status": "OK"})

    # --- lifecycle

    async def run(self) -> int:
        """Bind both servers, signal readiness, spawn the bootstrap, serve until SIGTERM."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGCHLD, self.reap)  # before spawning: no missed exit
        path = os.path.join(self.socket_dir, "agent.sock")
        host, _, port = self.runtime_api.rpartition(":")
        try:
            if len(os.fsencode(path)) + 4 > UNIX_PATH_MAX:
                raise ValueError(f"socket path longer than {UNIX_PATH_MAX} bytes: {path}.tmp")
            api_sock = listen(socket.AF_INET, (host or "127.0.0.1", int(port)))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path + ".tmp")  # a leftover from an earlier run
            platform_sock = listen(socket.AF_UNIX, path + ".tmp")
            os.chmod(path + ".tmp", 0o666)  # the platform connects under another uid
        except (OSError, ValueError) as exc:
            log(f"cannot bind: {exc}")
            return 1
        # Servers built from ready sockets: no getaddrinfo thread, so the fork stays safe.
        api = await asyncio.start_server(
            functools.partial(serve, self.runtime_route, MAX_RESPONSE), sock=api_sock
        )
        platform = await asyncio.start_unix_server(
            functools.partial(serve, self.platform_route, MAX_EVENT), sock=platform_sock
        )
        os.rename(path + ".tmp", path)  # the readiness signal: it appears already listening
        self.output.watch(loop)
        self.spawn()
        await stop.wait()
        log("stopping: terminating the bootstrap")
        await self.stop_child()
        api.close()
        platform.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        return 0


def listen(family: socket.AddressFamily, address: str | tuple[str, int]) -> socket.socket:
    """A listening, non-blocking stream socket bound to ``address``."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(64)
    sock.setblocking(False)
    return sock


def main() -> None:
    """Entry point: ``python3 /opt/faas/agent.py``."""
    sys.exit(asyncio.run(Agent(os.environ).run()))


if __name__ == "__main__":
    main()
