"""The in-container agent: PID 1 of every function container.

It serves two HTTP/1.1 endpoints, both described in docs/container-protocol.md:

* the platform socket ``$FAAS_SOCKET_DIR/agent.sock``: ``POST /invoke``,
  ``GET /health``, ``GET /ready`` and, in a generic container, ``POST /specialize``;
* the Lambda Runtime API on ``$AWS_LAMBDA_RUNTIME_API`` for the bootstrap process.

It starts the bootstrap, reaps every zombie, and turns the bootstrap's death into a
function error that marks the sandbox broken. A generic container (``FAAS_GENERIC=1``)
belongs to no function yet: the agent pre-starts the Python runtime, which waits for
the function's environment, and hands it over on ``/specialize``.

Standard library only, and only its small, fast parts: one ``selectors`` loop serves
both sockets (asyncio alone would cost ~50 ms of start and ~7 MB per container, see
the footprint section of the protocol doc); what only errors need is imported when
they happen. No threads, so forking the bootstrap is safe.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

MAX_RESPONSE = 6 * 1024 * 1024  # Lambda's synchronous response limit
MAX_EVENT = 32 * 1024 * 1024  # generous: the gateway enforces the real request limit
MAX_HEADERS = 100
MAX_HEAD = 64 * 1024  # request line and headers together
# The most of a function's output kept for one invocation; older output is dropped first.
MAX_LOG = 256 * 1024
UNIX_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL
RUNTIME_PREFIX = "/2018-06-01/runtime"
INVOCATION_PREFIX = RUNTIME_PREFIX + "/invocation/"
HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_BOOTSTRAP = os.path.join(HERE, "python", "bootstrap.py")
OOM_FILES = ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control")
REASONS = {
    100: "Continue",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    404: "Not Found",
    409: "Conflict",
    411: "Length Required",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
}
# Variables Python reads only when the interpreter starts (besides PYTHONPATH, which the
# pre-started runtime applies itself). The image sets these two for every function.
IMAGE_PYTHON_DEFAULTS = frozenset({"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"})


def log(message: str) -> None:
    """Write one agent line to the container log (stderr, shared with the function)."""
    print(f"faas-agent: {message}", file=sys.stderr, flush=True)


def format_exc() -> str:
    import traceback  # only for the rare internal error: keeps the agent small

    return traceback.format_exc()


# --- HTTP/1.1, just enough for both servers -------------------------------------------


class HttpError(Exception):
    """A request refused before routing (``args[0]`` is the status); the connection closes."""


class Request:
    """One parsed request. ``oversize`` is the declared length of a body we discard.

    A route that cannot answer at once returns None and later calls ``answer``;
    ``on_hangup`` (if set) runs when the client goes away first.
    """

    __slots__ = ("body", "conn", "headers", "keep_alive", "method", "on_hangup", "oversize", "path")

    def __init__(self, method: str, path: str, headers: dict[str, str], keep_alive: bool) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = b""
        self.keep_alive = keep_alive
        self.oversize = 0
        self.conn: Connection | None = None
        self.on_hangup: Callable[[], None] | None = None

    def answer(self, response: Response) -> None:
        if self.conn is not None:
            self.conn.answer(self, response)


class Response:
    """A response to write; ``close`` ends the connection after it."""

    __slots__ = ("body", "close", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        close: bool = False,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else {}
        self.close = close


def json_response(status: int, obj: object, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(
        status, json.dumps(obj).encode(), {"Content-Type": "application/json"} | (headers or {})
    )


def head_end(buffer: bytearray) -> int:
    """The length of the request head in ``buffer`` (through its blank line), or -1."""
    ends = [i + n for i, n in ((buffer.find(b"\n\r\n"), 3), (buffer.find(b"\n\n"), 2)) if i >= 0]
    return min(ends) if ends else -1


def parse_head(head: bytes) -> tuple[Request, int, bool]:
    """The request, its body length and whether it expects ``100 Continue``."""
    lines = head.decode("latin-1").split("\n")
    parts = lines[0].rstrip("\r").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        raise HttpError(400)
    method, target, version = parts
    headers: dict[str, str] = {}
    for raw in lines[1:]:
        line = raw.rstrip("\r")
        if not line:
            break
        if len(headers) >= MAX_HEADERS:
            raise HttpError(400)
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400)
        headers[name.lower()] = value.strip()
    # Without chunked decoding we cannot find the end of such a body: refuse and close.
    if "transfer-encoding" in headers:
        raise HttpError(411)
    declared = headers.get("content-length", "0")
    if not (declared.isascii() and declared.isdigit()):
        raise HttpError(400)
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
    request = Request(method, target.split("?", 1)[0], headers, keep_alive)
    return request, int(declared), headers.get("expect", "").lower() == "100-continue"


def encode_response(response: Response, close: bool) -> bytes:
    """Serialise a response; bodies always carry Content-Length."""
    status = response.status
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    lines.append(f"Content-Length: {len(response.body)}")
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


class Loop:
    """A selector whose registered objects have ``on_readable`` (and ``on_writable``)."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.running = True

    def watch(self, fileobj: socket.socket | int, handler: object) -> None:
        self.selector.register(fileobj, selectors.EVENT_READ, handler)

    def forget(self, fileobj: socket.socket | int) -> None:
        try:
            self.selector.unregister(fileobj)
        except (KeyError, ValueError):
            pass

    def want_write(self, fileobj: socket.socket, handler: object, on: bool) -> None:
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0)
        self.selector.modify(fileobj, events, handler)

    def run(self) -> None:
        while self.running:
            for key, mask in self.selector.select():
                handler = key.data
                if getattr(handler, "closed", False):
                    continue  # closed by an earlier handler of this same batch
                if mask & selectors.EVENT_READ:
                    handler.on_readable()
                if mask & selectors.EVENT_WRITE and not getattr(handler, "closed", False):
                    handler.on_writable()


class Server:
    """A listening socket: every accepted connection is served with ``route``."""

    def __init__(
        self,
        loop: Loop,
        sock: socket.socket,
        route: Callable[[Request], Response | None],
        max_body: int,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.route = route
        self.max_body = max_body
        self.tcp = sock.family == socket.AF_INET
        loop.watch(sock, self)

    def on_readable(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors, say: the client will retry
                log(f"accept failed: {exc}")
                return
            conn.setblocking(False)
            if self.tcp:
                # Small request, small answer: Nagle would hold them for the peer's ACK.
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            Connection(self.loop, conn, self.route, self.max_body)

    def close(self) -> None:
        self.loop.forget(self.sock)
        self.sock.close()


class Connection:
    """One keep-alive HTTP/1.1 connection: requests in order, one at a time."""

    def __init__(
        self,
        loop: Loop,
        sock: socket.socket,
        route: Callable[[Request], Response | None],
        max_body: int,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.route = route
        self.max_body = max_body
        self.inbuf = bytearray()
        self.out: list[memoryview] = []
        self.writing = False
        self.reading: Request | None = None  # head parsed, body still arriving
        self.need = 0  # body bytes still to come (discarded for an oversize body)
        self.active: Request | None = None  # routed, not answered yet
        self.processing = False
        self.close_after = False
        self.closed = False
        loop.watch(sock, self)

    def on_readable(self) -> None:
        try:
            data = self.sock.recv(1 << 18)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        active = self.active
        if active is not None and active.on_hangup is not None:
            self.close()  # a long-poll's client sent more: it gave up, or speaks nonsense
            return
        self.inbuf += data
        if active is not None and len(self.inbuf) > self.max_body + MAX_HEAD:
            self.close()  # pipelining far past one request while we work on this one
            return
        self.process()

    def process(self) -> None:
        """Parse and route what the buffer holds, until a request is left waiting."""
        self.processing = True
        try:
            while self.active is None and not (self.closed or self.close_after):
                request = self.reading
                if request is None:
                    end = head_end(self.inbuf)
                    if end < 0:
                        if len(self.inbuf) > MAX_HEAD:
                            self.refuse(400)
                        return
                    try:
                        request, length, expect = parse_head(bytes(self.inbuf[:end]))
                    except HttpError as exc:
                        self.refuse(exc.args[0])
                        return
                    del self.inbuf[:end]
                    request.conn = self
                    if expect:
                        self.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl otherwise waits 1 s
                    if length > self.max_body:
                        # Drain rather than close: the client keeps its connection for our 413.
                        request.oversize = length
                    self.reading, self.need = request, length
                if request.oversize:
                    dropped = min(self.need, len(self.inbuf))
                    del self.inbuf[:dropped]
                    self.need -= dropped
                    if self.need:
                        return
                else:
                    if len(self.inbuf) < self.need:
                        return
                    request.body = bytes(self.inbuf[: self.need])
                    del self.inbuf[: self.need]
                self.reading = None
                self.dispatch(request)
        finally:
            self.processing = False

    def dispatch(self, request: Request) -> None:
        self.active = request
        try:
            response = self.route(request)
        except Exception:
            log("internal error:\n" + format_exc())
            response = Response(500, close=True)
        if response is not None:
            self.answer(request, response)

    def answer(self, request: Request, response: Response) -> None:
        """Write the response to ``request``; a gone client is not an error."""
        if request is not self.active or self.closed:
            return
        self.active = None
        close = response.close or not request.keep_alive
        self.write(encode_response(response, close))
        if close:
            self.close_after = True
            if not self.out:
                self.close()
        elif not self.processing:
            self.process()  # a request that arrived while this one waited

    def refuse(self, status: int) -> None:
        self.close_after = True
        self.write(encode_response(Response(status), close=True))
        if not self.out:
            self.close()

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        self.out.append(memoryview(data))
        self.flush()

    def flush(self) -> None:
        try:
            while self.out:
                view = self.out[0]
                sent = self.sock.send(view)
                if sent < len(view):
                    self.out[0] = view[sent:]
                else:
                    self.out.pop(0)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.close()
            return
        if bool(self.out) != self.writing:
            self.writing = bool(self.out)
            self.loop.want_write(self.sock, self, self.writing)

    def on_writable(self) -> None:
        self.flush()
        if not self.out and self.close_after:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.forget(self.sock)
        self.sock.close()
        request, self.active = self.active, None
        if request is not None and request.on_hangup is not None:
            request.on_hangup()


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


def specialization_env(body: bytes) -> dict[str, str] | None:
    """The environment a ``/specialize`` body carries, or None if it is malformed."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    env = data.get("env") if isinstance(data, dict) else None
    if not isinstance(env, dict):
        return None
    for name, value in env.items():
        # execve takes NAME=value C strings: no NUL anywhere, no '=' in a name.
        if not (isinstance(value, str) and name) or "=" in name or "\0" in name + value:
            return None
    return env


def startup_vars(env: Mapping[str, str]) -> dict[str, str]:
    """What of ``env`` a Python interpreter reads only at start (PYTHONPATH aside)."""
    return {
        name: value
        for name, value in env.items()
        if (name.startswith("PYTHON") and name != "PYTHONPATH")
        or name == "LANG"
        or name.startswith("LC_")
    }


def prestart_fits(env: Mapping[str, str], prestarted_with: Mapping[str, str]) -> bool:
    """Whether a runtime pre-started with ``prestarted_with`` can become the function's.

    It can apply os.environ, TZ and PYTHONPATH itself; what Python reads only at start
    must be what the function asks for, or the image's defaults the function leaves unset.
    """
    want, have = startup_vars(env), startup_vars(prestarted_with)
    if any(have.get(name) != value for name, value in want.items()):
        return False
    return set(have) - set(want) <= IMAGE_PYTHON_DEFAULTS


# --- Processes ------------------------------------------------------------------------


def _prefer_oom_kill() -> None:
    # In the child before exec: make the kernel's OOM killer choose the bootstrap,
    # so the agent survives to report Runtime.OutOfMemory.
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def start_process(
    argv: list[str], env: Mapping[str, str], cwd: str | None, stdin: int | None, output: int
) -> int:
    """fork/exec ``argv`` in a session of its own, stdout and stderr on ``output``.

    Raises OSError if the fork or the exec failed (reported through a close-on-exec
    pipe, as subprocess does). Every other descriptor of ours is non-inheritable.
    """
    err_read, err_write = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(err_read)
        os.close(err_write)
        raise
    if pid == 0:  # the child
        code = 0
        try:
            signal.set_wakeup_fd(-1)  # a signal now must not wake the agent's loop
            for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores these; exec keeps it
                signal.signal(sig, signal.SIG_DFL)
            os.setsid()  # shutdown kills the session: the handler's grandchildren too
            _prefer_oom_kill()
            if stdin is not None:
                os.dup2(stdin, 0)
            os.dup2(output, 1)
            os.dup2(output, 2)
            if cwd is not None:
                os.chdir(cwd)
            os.execve(argv[0], argv, dict(env))
        except BaseException as exc:
            code = getattr(exc, "errno", None) or 0
        finally:
            try:
                os.write(err_write, str(code).encode())
            finally:
                os._exit(127)
    os.close(err_write)
    chunks = []
    while chunk := os.read(err_read, 64):
        chunks.append(chunk)
    os.close(err_read)
    if not chunks:
        return pid  # the exec closed the pipe
    os.waitpid(pid, 0)
    code = int(b"".join(chunks) or 0)
    raise OSError(code, os.strerror(code) if code else "exec failed")


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
        self._loop: Loop | None = None

    def watch(self, loop: Loop) -> None:
        self._loop = loop
        loop.watch(self._read_fd, self)

    def child_started(self) -> None:
        # Only the child writes now: at its exit the pipe reads as closed.
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def on_readable(self) -> None:
        while True:
            try:
                chunk = os.read(self._read_fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                if self._loop is not None:
                    self._loop.forget(self._read_fd)
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
            self.on_readable()
        output = bytes(self._buffer)
        if self._dropped:
            output = f"[faas: {self._dropped} earlier bytes of output dropped]\n".encode() + output
        self._buffer.clear()
        self._dropped = 0
        return output


class SignalPipe:
    """Signals as bytes on a pipe the loop watches (``signal.set_wakeup_fd``)."""

    def __init__(self, loop: Loop, handle: Callable[[int], None]) -> None:
        self._read_fd, write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, _ignore_signal)  # a Python handler makes the byte get written
        self._handle = handle
        loop.watch(self._read_fd, self)

    def on_readable(self) -> None:
        try:
            data = os.read(self._read_fd, 512)
        except BlockingIOError:
            return
        for signum in dict.fromkeys(data):  # a burst of SIGCHLD needs one reap
            self._handle(signum)


def _ignore_signal(signum: int, frame: object) -> None:
    pass  # the wakeup byte does the work


class PipeWriter:
    """Writes ``data`` to a pipe without blocking the loop, then closes it."""

    closed = False

    def __init__(self, loop: Loop, fd: int, data: bytes) -> None:
        self.loop, self.fd, self.data = loop, fd, memoryview(data)
        os.set_blocking(fd, False)
        self.on_writable()

    def on_writable(self) -> None:
        try:
            while self.data:
                self.data = self.data[os.write(self.fd, self.data) :]
        except BlockingIOError:
            if not self.loop.selector.get_map().get(self.fd):
                self.loop.selector.register(self.fd, selectors.EVENT_WRITE, self)
            return
        except OSError:
            pass  # the reader died: the reaper reports it
        self.loop.forget(self.fd)
        os.close(self.fd)
        self.closed = True


def outcome(body: bytes, error: bool = False, broken: bool = False) -> Response:
    """How an invocation ended, as the platform will see it."""
    headers = {"Content-Type": "application/json"}
    if error:
        headers["X-Function-Error"] = "Unhandled"
    if broken:
        headers["X-Sandbox-Broken"] = "1"
    return Response(200, body, headers)


class Invocation:
    """The one invocation in flight."""

    __slots__ = ("delivered", "event", "finished", "first", "headers", "request", "request_id")

    def __init__(
        self, request: Request, request_id: str, headers: dict[str, str], first: bool
    ) -> None:
        self.request = request  # the platform's /invoke, answered when the result is in
        self.request_id = request_id
        self.headers = headers  # the Runtime API headers handed to the bootstrap
        self.event = request.body
        self.first = first
        self.delivered = False
        self.finished = False


class Agent:
    """Owns the bootstrap child and the single invocation in flight."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.runtime_api = env.get("AWS_LAMBDA_RUNTIME_API") or "127.0.0.1:9001"
        self.socket_dir = env.get("FAAS_SOCKET_DIR") or "/run/faas"
        self.task_root = env.get("LAMBDA_TASK_ROOT") or "/var/task"
        self.generic = env.get("FAAS_GENERIC") == "1"
        self.specialized = not self.generic
        self.loop = Loop()
        self.child: int | None = None  # the bootstrap's pid (pre-started or not)
        self.prestart_fd: int | None = None  # where a pre-started runtime reads its env
        self.prestart_env: dict[str, str] = {}
        self.spawned_at = time.monotonic()
        self.init_ms: int | None = None
        self.ready_waiters: list[Request] = []
        # Set once, when the sandbox must never serve again; builds the error per request.
        self.fatal: Callable[[str], bytes] | None = None
        self.current: Invocation | None = None
        self.queued: Invocation | None = None  # accepted, not yet taken by /next
        self.next_waiters: list[Request] = []
        self.invoked = False
        self.oom_at_start = read_oom_kills()
        self.output = OutputCapture()

    def state(self) -> str:
        """The /health state."""
        if self.fatal is not None:
            return "broken"
        if not self.specialized:
            return "generic"
        return "initializing" if self.init_ms is None else "ready"

    def _init_finished(self) -> None:
        if self.init_ms is None:
            self.init_ms = round((time.monotonic() - self.spawned_at) * 1000)
            waiters, self.ready_waiters = self.ready_waiters, []
            for request in waiters:
                request.answer(self.ready_response())

    def ready_response(self) -> Response:
        init = {"X-Init-Duration-Ms": str(self.init_ms)}
        return json_response(200, {"state": self.state()}, init)

    def break_sandbox(self, fatal: Callable[[str], bytes]) -> None:
        """Fail the pending invocation and every later one; the first cause wins."""
        if self.fatal is None:
            self.fatal = fatal
        self._init_finished()
        self.queued = None
        inv = self.current
        if inv is not None and not inv.finished:
            self.finish(inv, outcome(self.fatal(inv.request_id), error=True, broken=True))

    def _runtime_failed(self, error_type: str, reason: str) -> None:
        # Lambda names the request in these messages, so the error is built per invoke.
        log(f"{error_type}: {reason}")
        self.break_sandbox(lambda rid: error_body(error_type, f"RequestId: {rid} Error: {reason}"))

    # --- the bootstrap process

    def spawn(self, env: Mapping[str, str]) -> None:
        """Start the bootstrap for FAAS_RUNTIME; a bad entrypoint breaks the sandbox."""
        runtime = env.get("FAAS_RUNTIME", "python3.11")
        if runtime.startswith("python3"):
            argv = [sys.executable, PYTHON_BOOTSTRAP]
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
        cwd = self.task_root if os.path.isdir(self.task_root) else None
        try:
            self.child = start_process(argv, env, cwd, None, self.output.write_fd)
        except OSError as exc:
            self._runtime_failed(
                "Runtime.InvalidEntrypoint", f"fork/exec {argv[0]}: {exc.strerror}"
            )
            return
        self.output.child_started()

    def prestart(self) -> None:
        """Generic container: start the Python runtime now; it waits for its environment."""
        if not self.env.get("FAAS_RUNTIME", "python3.11").startswith("python3"):
            return
        env = startup_vars(self.env)
        read_fd, write_fd = os.pipe()
        try:
            argv = [sys.executable, PYTHON_BOOTSTRAP, "--wait-for-env"]
            self.child = start_process(argv, env, None, read_fd, self.output.write_fd)
        except OSError as exc:
            log(f"cannot pre-start the Python runtime: {exc}")  # /specialize starts one
            os.close(write_fd)
            return
        finally:
            os.close(read_fd)
        self.prestart_fd, self.prestart_env = write_fd, env

    def hand_over(self, env: dict[str, str]) -> bool:
        """Give ``env`` to the pre-started runtime if it can serve it; else discard it."""
        fd, self.prestart_fd = self.prestart_fd, None
        if fd is None:
            return False
        python = env.get("FAAS_RUNTIME", "python3.11").startswith("python3")
        if self.child is not None and python and prestart_fits(env, self.prestart_env):
            PipeWriter(self.loop, fd, json.dumps(env).encode())
            self.output.child_started()
            return True
        os.close(fd)
        pid, self.child = self.child, None  # its exit is no failure: nobody's runtime yet
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return False

    def reap(self) -> None:
        """SIGCHLD: collect every exited child (we are PID 1, orphans land on us)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid != self.child:
                continue
            self.child = None
            if self.specialized:
                self._runtime_failed(*exit_error(status, self.oom_at_start, read_oom_kills()))
            else:
                log(f"the pre-started runtime exited ({status}); /specialize starts a new one")
                if self.prestart_fd is not None:
                    os.close(self.prestart_fd)
                    self.prestart_fd = None

    def stop_child(self) -> None:
        """SIGTERM the bootstrap's session, SIGKILL it if it lingers, and reap it."""
        pid = self.child
        if pid is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.child is None:
                break
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 2.0
            while self.child is not None and time.monotonic() < deadline:
                self.reap()
                if self.child is not None:
                    time.sleep(0.005)
        try:
            os.killpg(pid, signal.SIGKILL)  # whatever the handler left behind
        except ProcessLookupError:
            pass
        self.reap()

    def on_signal(self, signum: int) -> None:
        if signum == signal.SIGCHLD:
            self.reap()
        elif signum in (signal.SIGTERM, signal.SIGINT):
            self.loop.running = False

    # --- platform API

    def platform_route(self, request: Request) -> Response | None:
        """``POST /invoke``, ``GET /health``, ``GET /ready``, ``POST /specialize``."""
        method, path = request.method, request.path
        if method == "POST" and path == "/invoke":
            if not self.specialized:
                return json_response(409, {"error": "no function yet: POST /specialize first"})
            return self.invoke(request)
        if method == "GET" and path == "/health":
            return json_response(200, {"state": self.state()})
        if method == "GET" and path == "/ready":
            if not self.specialized:
                return json_response(409, {"error": "no function yet: POST /specialize first"})
            # The platform starts the function's timeout only once init is over, as Lambda does.
            if self.init_ms is not None:
                return self.ready_response()
            self.ready_waiters.append(request)
            return None
        if method == "POST" and path == "/specialize":
            return self.specialize(request)
        return json_response(404, {"error": "not found"})

    def specialize(self, request: Request) -> Response:
        """Make a generic container the function's: start its runtime with its env."""
        if not self.generic or self.specialized:
            return json_response(409, {"error": "this container already has a function"})
        env = specialization_env(request.body)
        if env is None:
            message = 'the body must be {"env": {...}} with string names and values'
            return json_response(400, {"error": message})
        self.specialized = True
        self.env = env
        self.task_root = env.get("LAMBDA_TASK_ROOT") or "/var/task"
        self.spawned_at = time.monotonic()  # init time counts from here
        env = env | {"AWS_LAMBDA_RUNTIME_API": self.runtime_api}
        if not self.hand_over(env):
            self.spawn(env)
        return json_response(200, {"state": "initializing"})

    def invoke(self, request: Request) -> Response | None:
        """Hand one event to the bootstrap; the answer comes with its outcome."""
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
        trace = f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Sampled=0"
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
            context = client_context(h["x-client-context"])
            if context is None:
                return json_response(400, {"error": "X-Client-Context must be base64 JSON"})
            runtime_headers["Lambda-Runtime-Client-Context"] = context
        first, self.invoked = not self.invoked, True
        inv = Invocation(request, request_id, runtime_headers, first)
        self.current = inv
        if self.fatal is not None:
            self.finish(inv, outcome(self.fatal(request_id), error=True, broken=True))
        else:
            self.queued = inv
            self.deliver()
        return None

    def finish(self, inv: Invocation, response: Response) -> None:
        """Answer the platform with how ``inv`` ended, its output leading if asked."""
        inv.finished = True
        if self.current is inv:
            self.current = None
        if self.queued is inv:
            self.queued = None
        if inv.first and self.init_ms is not None:
            response.headers["X-Init-Duration-Ms"] = str(self.init_ms)
        output = self.output.take()
        if inv.request.headers.get("x-faas-capture-log") == "1":
            # The platform asked for the invocation's output: it leads the body.
            response.headers["X-Faas-Log-Length"] = str(len(output))
            response.body = output + response.body
        elif output:
            sys.stderr.buffer.write(output)
            sys.stderr.flush()
        inv.request.answer(response)

    # --- Runtime API

    def runtime_route(self, request: Request) -> Response | None:
        """The Lambda Runtime API routes the bootstrap calls."""
        method, path = request.method, request.path
        if method == "GET" and path == INVOCATION_PREFIX + "next":
            return self.next_invocation(request)
        if method == "POST" and path == RUNTIME_PREFIX + "/init/error":
            body = normalise_error(
                request.body, request.headers.get("lambda-runtime-function-error-type")
            )
            self.break_sandbox(lambda _rid: body)
            return json_response(202, {"status": "OK"})
        if method == "POST" and path.startswith(INVOCATION_PREFIX):
            request_id, _, kind = path[len(INVOCATION_PREFIX) :].partition("/")
            if request_id and kind in ("response", "error"):
                if "%" in request_id:
                    from urllib.parse import unquote  # rare: ids are UUIDs

                    request_id = unquote(request_id)
                return self.post_result(request_id, kind, request)
        return json_response(404, {"errorMessage": "not found", "errorType": "NotFound"})

    def next_invocation(self, request: Request) -> Response | None:
        """Park until an event arrives; forget the request if the bootstrap hangs up."""
        self._init_finished()
        waiters = self.next_waiters

        def hung_up() -> None:
            if request in waiters:
                waiters.remove(request)

        request.on_hangup = hung_up
        waiters.append(request)
        self.deliver()
        return None

    def deliver(self) -> None:
        while self.queued is not None and self.next_waiters:
            waiter = self.next_waiters.pop(0)
            inv, self.queued = self.queued, None
            inv.delivered = True
            waiter.on_hangup = None
            waiter.answer(Response(200, inv.event, inv.headers))

    def post_result(self, request_id: str, kind: str, request: Request) -> Response:
        """``/invocation/{id}/response`` and ``/invocation/{id}/error``."""
        inv = self.current
        if inv is None or not inv.delivered or inv.request_id != request_id or inv.finished:
            return json_response(
                400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
            )
        if request.oversize:
            message = (
                f"Response payload size ({request.oversize} bytes) exceeded maximum allowed "
                f"payload size ({MAX_RESPONSE} bytes)."
            )
            error = error_body("Function.ResponseSizeTooLarge", message)
            self.finish(inv, outcome(error, error=True))
            return Response(413, error, {"Content-Type": "application/json"})
        if kind == "response":
            self.finish(inv, outcome(request.body))
        else:
            header_type = request.headers.get("lambda-runtime-function-error-type")
            self.finish(inv, outcome(normalise_error(request.body, header_type), error=True))
        return json_response(202, {"status": "OK"})

    # --- lifecycle

    def run(self) -> int:
        """Bind both servers, signal readiness, start the bootstrap, serve until SIGTERM."""
        SignalPipe(self.loop, self.on_signal)  # before any child: no exit goes unseen
        path = os.path.join(self.socket_dir, "agent.sock")
        host, _, port = self.runtime_api.rpartition(":")
        try:
            if len(os.fsencode(path)) + 4 > UNIX_PATH_MAX:
                raise ValueError(f"socket path longer than {UNIX_PATH_MAX} bytes: {path}.tmp")
            api_sock = listen(socket.AF_INET, (host or "127.0.0.1", int(port)))
            try:
                os.unlink(path + ".tmp")  # a leftover from an earlier run
            except FileNotFoundError:
                pass
            platform_sock = listen(socket.AF_UNIX, path + ".tmp")
            os.chmod(path + ".tmp", 0o666)  # the platform connects under another uid
        except (OSError, ValueError) as exc:
            log(f"cannot bind: {exc}")
            return 1
        api = Server(self.loop, api_sock, self.runtime_route, MAX_RESPONSE)
        platform = Server(self.loop, platform_sock, self.platform_route, MAX_EVENT)
        os.rename(path + ".tmp", path)  # the readiness signal: it appears already listening
        self.output.watch(self.loop)
        if self.generic:
            self.prestart()
        else:
            self.spawn(self.env | {"AWS_LAMBDA_RUNTIME_API": self.runtime_api})
        self.loop.run()
        log("stopping: terminating the bootstrap")
        self.stop_child()
        api.close()
        platform.close()
        try:
            os.unlink(path)
        except OSError:
            pass
        return 0


def client_context(header: str) -> str | None:
    """The ``X-Client-Context`` header (base64 JSON) as the JSON runtimes expect."""
    import base64  # rare: only mobile SDK calls carry a client context
    import binascii

    try:
        return json.dumps(json.loads(base64.b64decode(header, validate=True)))
    except (binascii.Error, ValueError):
        return None


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
    sys.exit(Agent(os.environ).run())


if __name__ == "__main__":
    main()
