"""The agent's child processes: starting the bootstrap, its output, signals, pipes.

Standard library only; used by the agent alone.
"""

from __future__ import annotations

import os
import selectors
import signal

from runtimes.protocol.http1 import Loop

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

# The most of a function's output kept for one invocation; older output is dropped first.
MAX_LOG = 256 * 1024


def _prefer_oom_kill() -> None:
    # In the child before exec: make the kernel's OOM killer choose the bootstrap,
    # so the agent survives to report Runtime.OutOfMemory.
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def start_process(
    argv: list[str],
    env: Mapping[str, str],
    cwd: str | None,
    stdin: int | None,
    output: int,
    keep: Sequence[int] = (),
) -> int:
    """fork/exec ``argv`` in a session of its own, stdout and stderr on ``output``.

    Raises OSError if the fork or the exec failed (reported through a close-on-exec
    pipe, as subprocess does). Every other descriptor of ours is non-inheritable,
    except those in ``keep``, which the child inherits under the same numbers.
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
            for fd in keep:
                os.set_inheritable(fd, True)
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


class OutputCapture:
    """The bootstrap's stdout and stderr, through one pipe, kept for the current invocation.

    The bootstrap flushes before it posts a result, so everything it wrote is in
    the pipe by then: ``take`` drains what is left without waiting.

    The bell tells our Python runtime, when it serves invokes on its own socket,
    whether an invocation wrote anything without asking us: a byte is written to
    it before each read of the pipe the loop makes. Output is then still in the
    pipe (the runtime sees it with FIONREAD) or has been read here, after the bell
    rang; with neither, there is none and the runtime answers alone.
    """

    def __init__(self) -> None:
        self._read_fd, self.write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self._buffer = bytearray()
        self._dropped = 0
        self._loop: Loop | None = None
        self._bell: tuple[int, int] | None = None

    def watch(self, loop: Loop) -> None:
        self._loop = loop
        loop.watch(self._read_fd, self)

    def bell(self) -> int:
        """The bell's read end (made on first use): the runtime drains it."""
        if self._bell is None:
            self._bell = os.pipe()
            os.set_blocking(self._bell[1], False)
        return self._bell[0]

    def child_started(self) -> None:
        # Only the child writes now: at its exit the pipe reads as closed.
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def on_readable(self) -> None:
        if self._bell is not None:
            try:
                os.write(self._bell[1], b"\0")
            except OSError:
                pass  # full: it rang already, and nobody drained it
        self._drain()

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
            self._drain()
        output = bytes(self._buffer)
        if self._dropped:
            output = f"[faas: {self._dropped} earlier bytes of output dropped]\n".encode() + output
        self._buffer.clear()
        self._dropped = 0
        return output


class SignalPipe:
    """Signals as bytes on a pipe the loop watches (``signal.set_wakeup_fd``)."""

    # Handled after whatever else is ready at the same time (``Loop.run``): a child's
    # last bytes on its sockets are read before its exit fails the invocation.
    last = True

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
