"""The in-container agent: PID 1 of every function container.

It serves two HTTP/1.1 endpoints, both described in docs/container-protocol.md:

* the platform socket ``$FAAS_SOCKET_DIR/agent.sock``: ``POST /invoke``,
  ``GET /health``, ``GET /ready``, ``GET /lost`` and, in a generic container,
  ``POST /specialize``;
* the Lambda Runtime API on ``$AWS_LAMBDA_RUNTIME_API`` for the bootstrap process
  (and on private socketpairs for our Python runtime).

Our Python runtime, once initialized, serves the platform's invokes on a socket of
its own (``runtime.sock``, "The direct socket" in the protocol doc); the agent then
only reads its output, reaps it, and says how an invocation ended if it dies.

It starts the bootstrap, reaps every zombie, and turns the bootstrap's death into a
function error that marks the sandbox broken. A generic container (``FAAS_GENERIC=1``)
belongs to no function yet: the agent pre-starts the Python runtime, which waits for
the function's environment, and hands it over on ``/specialize``.

Standard library only, and only its small, fast parts: one ``selectors`` loop serves
both sockets (asyncio alone would cost ~50 ms of start and ~7 MB per container, see
the footprint section of the protocol doc); what only errors need is imported when
they happen. No threads, so forking the bootstrap is safe. The loop, the HTTP server
and an invoke's answer are ``runtimes.protocol``'s (the Python runtime answers with
them too), the child processes ``processes.py``'s, which runtime to start and how
``launch.py``'s, and how a runtime's end is told ``endings.py``'s.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time

from runtimes.agent.endings import exit_error, normalise_error, read_oom_kills
from runtimes.agent.launch import (
    IMAGE_RUNTIME,
    NODE_BOOTSTRAP,
    PYTHON_BOOTSTRAP,
    inherited,
    node_runtime,
    prestart_fits,
    python_runtime,
    runtime_kind,
    specialization_env,
    startup_vars,
)
from runtimes.agent.processes import OutputCapture, PipeWriter, SignalPipe, start_process
from runtimes.protocol.http1 import (
    Connection,
    Loop,
    Request,
    Response,
    Server,
    json_response,
    listen,
    log,
)
from runtimes.protocol.invocation import (
    DIRECT_SOCKET,
    MAX_EVENT,
    MAX_RESPONSE,
    MAX_STREAM,
    ThrottleCounter,
    accept,
    answer,
    error_body,
    stream_head,
    stream_too_large,
    stream_trailers,
    streamed_error,
    streams,
    too_large,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

UNIX_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL
RUNTIME_PREFIX = "/2018-06-01/runtime"
INVOCATION_PREFIX = RUNTIME_PREFIX + "/invocation/"
# What our Python runtime is started with (it takes them out of its environment): the
# descriptors of its private Runtime API connection, and of a second one for requests
# made while the first waits on /next; the read end of the output bell; the listening
# socket on which it may serve the platform's invokes itself (docs/container-protocol.md,
# "The direct socket"). The agent binds that socket before it signals readiness, since
# the platform seals the socket directory then: function code never creates, replaces
# or fills anything in it.
RUNTIME_FD_VAR = "FAAS_RUNTIME_FD"
CONTROL_FD_VAR = "FAAS_CONTROL_FD"
BELL_FD_VAR = "FAAS_OUTPUT_BELL_FD"
DIRECT_FD_VAR = "FAAS_DIRECT_FD"
# How long a dead runtime's streamed response is read for what it sent before dying.
UPLOAD_DRAIN_S = 0.2


# --- The agent ------------------------------------------------------------------------


def publish(path: str, *, now: bool) -> socket.socket:
    """A listening Unix socket at ``path`` (bound under ``path.tmp``, mode 0666 since the
    platform connects under another uid). With ``now`` it is renamed into place at
    once; else the caller renames it when its appearance may signal readiness."""
    try:
        os.unlink(path + ".tmp")  # a leftover from an earlier run
    except FileNotFoundError:
        pass
    sock = listen(socket.AF_UNIX, path + ".tmp")
    os.chmod(path + ".tmp", 0o666)
    if now:
        os.rename(path + ".tmp", path)
    return sock


class Invocation:
    """The one invocation in flight."""

    __slots__ = (
        "delivered",
        "event",
        "finished",
        "first",
        "headers",
        "request",
        "request_id",
        "streamed",
        "upload",
    )

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
        self.streamed = False  # the platform's answer is a stream under way
        self.upload: Request | None = None  # the runtime's streamed response, arriving


class Agent:
    """Owns the bootstrap child and the single invocation in flight."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.runtime_api = env.get("AWS_LAMBDA_RUNTIME_API") or "127.0.0.1:9001"
        self.socket_dir = env.get("FAAS_SOCKET_DIR") or "/run/faas"
        self.direct_path = os.path.join(self.socket_dir, DIRECT_SOCKET)
        # Bound by us at start, served by our Python runtime (never accepted on here).
        self.direct_listener: socket.socket | None = None
        # The socket our Python runtime serves invokes on, once it said so at its first /next.
        self.direct: str | None = None
        self.task_root = env.get("LAMBDA_TASK_ROOT") or "/var/task"
        self.generic = env.get("FAAS_GENERIC") == "1"
        self.specialized = not self.generic
        # A function's container starts its bootstrap at the platform's first request.
        self.awaiting_platform = False
        self.loop = Loop()
        self.child: int | None = None  # the bootstrap's pid (pre-started or not)
        self.prestart_fd: int | None = None  # where a pre-started runtime reads its env
        self.prestart_env: dict[str, str] = {}
        self.prestart_runtime = ""  # the FAAS_RUNTIME it was pre-started for
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
        self.throttle = ThrottleCounter()
        # The loopback port a function's SDK calls, forwarded to the server (run()).
        self.forwarder: object | None = None

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
        headers = {"X-Init-Duration-Ms": str(self.init_ms)}
        if self.direct is not None and self.fatal is None:
            headers["X-Faas-Direct"] = self.direct
        return json_response(200, {"state": self.state()}, headers)

    def break_sandbox(self, fatal: Callable[[str], bytes]) -> None:
        """Fail the pending invocation and every later one; the first cause wins."""
        if self.fatal is None:
            self.fatal = fatal
        self._init_finished()
        self.queued = None
        inv = self.current
        if inv is not None and not inv.finished:
            self.finish(inv, self.fatal(inv.request_id), error=True, broken=True)

    def _runtime_failed(self, error_type: str, reason: str) -> None:
        # Lambda names the request in these messages, so the error is built per invoke.
        log(f"{error_type}: {reason}")
        self.break_sandbox(lambda rid: error_body(error_type, f"RequestId: {rid} Error: {reason}"))

    # --- the bootstrap process

    def spawn(self, env: Mapping[str, str]) -> None:
        """Start the bootstrap for FAAS_RUNTIME; a bad entrypoint breaks the sandbox."""
        runtime = env.get("FAAS_RUNTIME", "python3.11")
        kind = runtime_kind(runtime)
        if kind == IMAGE_RUNTIME:
            return  # the function's container runs its client: it calls /next from there
        if kind == "python":
            entry = PYTHON_BOOTSTRAP
            argv, env = python_runtime(env)
        elif kind == "nodejs":
            entry = NODE_BOOTSTRAP
            node = node_runtime(env)
            if node is None:
                self._runtime_failed("Runtime.InvalidEntrypoint", "no node on PATH")
                return
            argv = node
        elif kind == "provided":
            entry = os.path.join(self.task_root, "bootstrap")
            argv = [entry]
        else:
            self._runtime_failed("Runtime.InvalidEntrypoint", f"Unsupported runtime: {runtime}")
            return
        ours = kind in ("python", "nodejs")
        access = os.R_OK if ours else os.X_OK
        if not (os.path.isfile(entry) and os.access(entry, access)):
            self._runtime_failed(
                "Runtime.InvalidEntrypoint", f"Couldn't find valid bootstrap(s): [{entry}]"
            )
            return
        cwd = self.task_root if os.path.isdir(self.task_root) else None
        passed, ends = self.python_runtime_fds() if ours else ({}, [])
        try:
            self.child = start_process(
                argv, {**env, **passed}, cwd, None, self.output.write_fd, inherited(passed)
            )
        except OSError as exc:
            self._runtime_failed(
                "Runtime.InvalidEntrypoint", f"fork/exec {argv[0]}: {exc.strerror}"
            )
            return
        finally:
            for end in ends:
                end.close()  # the child's: ours are served as Runtime API connections
        self.output.child_started()

    def runtime_channel(self) -> socket.socket:
        """A private Runtime API connection for our Python runtime: the child's end.

        A socketpair costs the container about half of what loopback TCP does per
        request (no TCP stack, no port). Custom runtimes keep AWS_LAMBDA_RUNTIME_API.
        """
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        Connection(self.loop, ours, self.runtime_route, MAX_RESPONSE, streams)
        return theirs

    def python_runtime_fds(self) -> tuple[dict[str, str], list[socket.socket]]:
        """What our Python runtime starts with: the variables naming its descriptors, and
        the socket ends to close once it has them (ours are served). The output bell's
        read end stays open here, for the next runtime a failed hand-over may start."""
        channel, control = self.runtime_channel(), self.runtime_channel()
        passed = {
            RUNTIME_FD_VAR: str(channel.fileno()),
            CONTROL_FD_VAR: str(control.fileno()),
            BELL_FD_VAR: str(self.output.bell()),
        }
        if self.direct_listener is not None:
            passed[DIRECT_FD_VAR] = str(self.direct_listener.fileno())
        return passed, [channel, control]

    def prestart(self) -> None:
        """Generic container: start our runtime of the image's FAAS_RUNTIME (Python's by
        default) now; it waits for its environment."""
        runtime = self.env.get("FAAS_RUNTIME", "python3.11")
        kind = runtime_kind(runtime)
        if kind not in ("python", "nodejs"):
            return
        passed, ends = self.python_runtime_fds()
        if kind == "python":
            argv, env = python_runtime(startup_vars(self.env) | passed, "--wait-for-env")
        else:
            env = startup_vars(self.env, kind) | passed
            node = node_runtime(self.env, "--wait-for-env")
            if node is None:
                log("cannot pre-start the Node.js runtime: no node on PATH")
                for end in ends:
                    end.close()
                return
            argv = node
        read_fd, write_fd = os.pipe()
        try:
            self.child = start_process(
                argv, env, None, read_fd, self.output.write_fd, inherited(passed)
            )
        except OSError as exc:
            log(f"cannot pre-start the Python runtime: {exc}")  # /specialize starts one
            os.close(write_fd)
            return
        finally:
            os.close(read_fd)
            for end in ends:
                end.close()
        self.prestart_fd, self.prestart_env, self.prestart_runtime = write_fd, env, runtime

    def hand_over(self, env: dict[str, str]) -> bool:
        """Give ``env`` to the pre-started runtime if it can serve it; else discard it."""
        fd, self.prestart_fd = self.prestart_fd, None
        if fd is None:
            return False
        runtime = env.get("FAAS_RUNTIME", "python3.11")
        kind = runtime_kind(runtime)
        if (
            self.child is not None
            and runtime == self.prestart_runtime
            and prestart_fits(env, self.prestart_env, kind)
        ):
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
                self._drain_upload()
                self._runtime_failed(*exit_error(status, self.oom_at_start, read_oom_kills()))
            else:
                log(f"the pre-started runtime exited ({status}); /specialize starts a new one")
                if self.prestart_fd is not None:
                    os.close(self.prestart_fd)
                    self.prestart_fd = None

    def _drain_upload(self) -> None:
        """Pass on what a dead runtime streamed before it died: its last chunks can reach
        the runtime API's socket after its exit is signalled (loopback TCP under load)."""
        inv = self.current
        upload = inv.upload if inv is not None and not inv.finished else None
        if upload is not None and upload.conn is not None:
            upload.conn.drain(UPLOAD_DRAIN_S)

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
        if self.awaiting_platform:
            # The platform has sealed our socket directory before its first request:
            # only now may function code run (docs/container-protocol.md, "Readiness").
            self.awaiting_platform = False
            self.spawned_at = time.monotonic()
            self.spawn(self.env | {"AWS_LAMBDA_RUNTIME_API": self.runtime_api})
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
        if method == "GET" and path == "/lost":
            return self.lost(request)
        if method == "POST" and path == "/bootstrap-exited":
            return self.bootstrap_exited(request)
        return json_response(404, {"error": "not found"})

    def bootstrap_exited(self, request: Request) -> Response:
        """``POST /bootstrap-exited`` ``{"exit_code": N, "oom_killed": bool}``: the
        runtime the agent did not start (an image function's container) ended; failed
        as a child of ours would be, the sandbox broken."""
        try:
            data = json.loads(request.body)
            code, oom = data["exit_code"], data.get("oom_killed", False)
        except (ValueError, KeyError, TypeError):
            data = code = oom = None
        if not isinstance(code, int) or not isinstance(oom, bool):
            message = 'the body must be {"exit_code": int, "oom_killed": bool}'
            return json_response(400, {"error": message})
        if self.fatal is None:
            if oom:
                self._runtime_failed(
                    "Runtime.OutOfMemory", "Runtime exited with error: signal: killed"
                )
            elif code == 0:
                self._runtime_failed(
                    "Runtime.ExitError", "Runtime exited without providing a reason"
                )
            else:
                self._runtime_failed(
                    "Runtime.ExitError", f"Runtime exited with error: exit status {code}"
                )
        return json_response(200, {"state": self.state()})

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
        headers = accept(request)
        if isinstance(headers, Response):
            return headers  # refused: too large, or a bad header
        if self.current is not None:
            return json_response(409, {"error": "an invocation is already in flight"})
        first, self.invoked = not self.invoked, True
        inv = Invocation(request, headers["Lambda-Runtime-Aws-Request-Id"], headers, first)
        self.current = inv
        if self.fatal is not None:
            self.finish(inv, self.fatal(inv.request_id), error=True, broken=True)
        else:
            self.queued = inv
            self.deliver()
        return None

    def lost(self, request: Request) -> Response | None:
        """``GET /lost``: the platform lost the runtime's direct socket in the middle of
        invocation ``X-Request-Id``. Answered as that invoke would have been once the
        runtime's end is known: at once if it is, else when the agent reaps it."""
        request_id = request.headers.get("x-request-id", "")
        if not request_id:
            return json_response(400, {"error": "X-Request-Id is required"})
        if self.current is not None:
            return json_response(409, {"error": "an invocation is already in flight"})
        inv = Invocation(request, request_id, {}, first=False)
        inv.delivered = True  # the runtime had it from the platform: never hand it over
        self.current = inv

        def hung_up() -> None:
            if self.current is inv:
                self.current = None

        request.on_hangup = hung_up
        if self.fatal is not None:
            self.finish(inv, self.fatal(request_id), error=True, broken=True)
        return None

    def finish(
        self, inv: Invocation, result: bytes, error: bool = False, broken: bool = False
    ) -> None:
        """Answer the platform with how ``inv`` ended, its output leading if asked."""
        inv.finished = True
        if self.current is inv:
            self.current = None
        if self.queued is inv:
            self.queued = None
        # Throttled since the last answer: while this invocation ran (an instance is idle
        # between them), or, for the first, while starting, which is not sent. The
        # platform starts another instance sooner for a throttled function.
        throttled = self.throttle.since_last()
        output: bytes | None = self.output.take()
        if inv.request.headers.get("x-faas-capture-log") != "1":
            if output:
                sys.stderr.buffer.write(output)
                sys.stderr.flush()
            output = None  # not asked for: the container's log has it
        throttled = 0 if inv.first else throttled
        if inv.streamed:  # its head is sent (with the init time): only the trailers are left
            error_json = result if error else None
            trailers = stream_trailers(
                error_json, broken=broken, throttled=throttled, output=output
            )
            inv.request.stream_end(trailers)
            return
        response = answer(
            result,
            error,
            broken=broken,
            init_ms=self.init_ms if inv.first else None,
            throttled=throttled,
            output=output,
        )
        inv.request.answer(response)

    # --- Runtime API

    def runtime_route(self, request: Request) -> Response | None:
        """The Lambda Runtime API routes the bootstrap calls."""
        method, path = request.method, request.path
        if method == "GET" and path == INVOCATION_PREFIX + "next":
            return self.next_invocation(request)
        if method == "GET" and path == RUNTIME_PREFIX + "/faas/output":
            # Our Python runtime, serving the direct socket: the output of its invocation.
            return Response(200, self.output.take(), {"Content-Type": "application/octet-stream"})
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
        if request.headers.get("faas-direct-socket") == DIRECT_SOCKET and self.direct is None:
            self.direct = DIRECT_SOCKET  # our Python runtime listens there now
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

    def post_result(self, request_id: str, kind: str, request: Request) -> Response | None:
        """``/invocation/{id}/response`` and ``/invocation/{id}/error``."""
        inv = self.current
        if inv is None or not inv.delivered or inv.request_id != request_id or inv.finished:
            return json_response(
                400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
            )
        if request.oversize:
            error = too_large(request.oversize)
            self.finish(inv, error, error=True)
            return Response(413, error, {"Content-Type": "application/json"})
        if kind == "response" and streams(request):
            return self.stream_result(inv, request)
        if kind == "response":
            self.finish(inv, request.body)
        else:
            header_type = request.headers.get("lambda-runtime-function-error-type")
            self.finish(inv, normalise_error(request.body, header_type), error=True)
        return json_response(202, {"status": "OK"})

    def stream_result(self, inv: Invocation, request: Request) -> Response | None:
        """A response the runtime streams: each piece of its body to the platform as it
        arrives (docs/container-protocol.md, "Streamed answers"); ``202`` once it ended."""
        inv.streamed = True
        inv.upload = request
        platform = inv.request
        platform.stream_start(
            stream_head(request.headers.get("content-type"), self.init_ms if inv.first else None)
        )
        sent = 0

        def on_body(piece: bytes) -> None:
            nonlocal sent
            if inv.finished:
                return  # past the limit, or the runtime died: the rest is dropped
            sent += len(piece)
            if sent > MAX_STREAM:
                self.finish(inv, stream_too_large(sent), error=True)
                return
            platform.stream_chunk(piece)

        def on_end(trailers: dict[str, str]) -> None:
            if not inv.finished:
                failed = streamed_error(trailers)
                if failed is None:
                    self.finish(inv, b"")
                else:
                    self.finish(inv, normalise_error(*failed), error=True)
            request.answer(json_response(202, {"status": "OK"}))

        request.on_body, request.on_end = on_body, on_end
        # A runtime that hangs up mid-body is dying, most likely: its reaping ends the
        # stream with the exit's error (``break_sandbox``).
        request.on_hangup = lambda: None
        return None

    # --- lifecycle

    def run(self) -> int:
        """Bind the sockets, signal readiness, serve until SIGTERM (the bootstrap starts
        at the platform's first request, or with ``/specialize``)."""
        SignalPipe(self.loop, self.on_signal)  # before any child: no exit goes unseen
        path = os.path.join(self.socket_dir, "agent.sock")
        host, _, port = self.runtime_api.rpartition(":")
        try:
            if len(os.fsencode(path)) + 4 > UNIX_PATH_MAX:
                raise ValueError(f"socket path longer than {UNIX_PATH_MAX} bytes: {path}.tmp")
            api_sock = listen(socket.AF_INET, (host or "127.0.0.1", int(port)))
            platform_sock = publish(path, now=False)
            if len(os.fsencode(self.direct_path)) + 4 <= UNIX_PATH_MAX:  # with ".tmp"
                self.direct_listener = publish(self.direct_path, now=True)
        except (OSError, ValueError) as exc:
            log(f"cannot bind: {exc}")
            return 1
        api = Server(self.loop, api_sock, self.runtime_route, MAX_RESPONSE, streams)
        platform = Server(self.loop, platform_sock, self.platform_route, MAX_EVENT)
        os.rename(path + ".tmp", path)  # the readiness signal: it appears already listening
        self.output.watch(self.loop)
        self.forwarder = _forwarder(self.loop, self.env)
        if self.generic:
            self.prestart()  # our own code only: it waits for a function
        else:
            self.awaiting_platform = True
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


def _forwarder(loop: Loop, env: Mapping[str, str]) -> object | None:
    """The loopback port a function's AWS SDK calls, forwarded to the server's socket
    (``forward.py``), when the platform mounted one (``FAAS_API_SOCKET``)."""
    target, port = env.get("FAAS_API_SOCKET"), env.get("FAAS_SDK_PORT", "")
    if not target or not port.isdigit():
        return None
    from runtimes.agent.forward import Forwarder  # only where there is a socket to reach

    try:
        return Forwarder(loop, int(port), target)
    except OSError as exc:
        log(f"cannot forward 127.0.0.1:{port} to {target}: {exc}")
        return None


def main() -> None:
    """The entry point: the image's ENTRYPOINT, and ``python3 -m runtimes.agent``."""
    sys.exit(Agent(os.environ).run())
