"""An image function's output: its container's stdout and stderr, followed, and cut
into invocations by fences.

An image function's process is not the agent's child, so the agent cannot read
its output (docs/container-protocol.md, "Image functions"). Docker can: the
backend attaches to the function's container before it starts (one hijacked
connection to the engine per sandbox, read on the event loop, no thread) and
keeps what arrives, at most ``MAX_OUTPUT`` bytes (the oldest dropped first, as
the agent does).

What an invocation wrote reaches the engine's stream a little after its result
reaches the agent: the two travel different paths. So before an invocation's
output is taken, it is **fenced**: the backend writes a marker of its own into
the function's stdout and stderr (their pipes, opened as
``/proc/<pid>/fd/{1,2}`` on the host), and waits until each marker comes back
on the stream. A pipe keeps its order, so everything the function wrote before
its result is in by then; the markers are cut out. Measured on the development
machine (2 cores, loaded): 0.34 ms per fence at the median, 0.42 ms p90,
1.4 ms at most (both pipes; the engine, the server and the function on one host).

Fencing needs the engine's processes in this host's view (a server in a
container of its own, or a remote engine, has not): then an invocation's output
is what arrived until the stream was quiet for ``QUIET_S`` (at most
``QUIET_MAX_S``), which costs that wait on every invoke, and a line written
just before the result may land in the next invocation's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import stat
import struct
import time

log = logging.getLogger(__name__)

# What one invocation's output keeps at most (the agent's capture limit).
MAX_OUTPUT = 256 * 1024
# How long a fence may take before fencing is given up for the sandbox.
FENCE_WAIT_S = 1.0
# Without fences: an invocation's output ends when the stream has been quiet this long.
QUIET_S = 0.02
QUIET_MAX_S = 0.2
# A marker: NUL, the sandbox's token, the pipe's fd and a sequence number, NUL.
MARKER = re.compile(rb"\x00faas-fence:([0-9a-f]+):([12]):([0-9]+)\x00")
# The longest tail of a frame that may be the start of a marker split across frames.
_MARKER_MAX = 64


class Output:
    """The followed output of one function container."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self._pending = bytearray()
        self._dropped = 0
        # Per stream (1 stdout, 2 stderr): bytes held back that may start a marker.
        self._carry = {1: b"", 2: b""}
        self._fences_seen: set[tuple[int, int]] = set()
        self._arrived = asyncio.Event()
        self._last_arrival = 0.0
        self.ended = asyncio.Event()
        # Set when the platform removes the container: its end is then no news.
        self.closing = False
        self._pid: int | None = None
        # (st_dev, st_ino) of each pipe as first seen: a marker goes to no other file.
        self._pipes: dict[int, tuple[int, int]] = {}
        self._fencing = False
        self._seq = 0
        self._task: asyncio.Task[None] | None = None
        # What tells the agent of the process's end (``image_sandbox``), kept alive here.
        self.watcher: asyncio.Future[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def follow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read the engine's attach stream (8-byte frame heads: stream, size) until it ends."""
        self._writer = writer
        try:
            while True:
                head = await reader.readexactly(8)
                kind, size = head[0], struct.unpack(">I", head[4:])[0]
                data = await reader.readexactly(size) if size else b""
                if kind in (1, 2):
                    self._arrive(kind, data)
        except (asyncio.IncompleteReadError, OSError):
            pass
        finally:
            for kind in (1, 2):
                carry, self._carry[kind] = self._carry[kind], b""
                self._keep(carry)
            self.ended.set()
            self._arrived.set()
            writer.close()

    def start(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._task = asyncio.ensure_future(self.follow(reader, writer))

    def watch_pipes(self, pid: int) -> None:
        """Fence through the pipes of process ``pid`` (the container's, in this host's
        view); without them (another PID namespace, no permission) fall back to quiet."""
        pipes = {}
        try:
            for fd in (1, 2):
                found = os.stat(f"/proc/{pid}/fd/{fd}")
                if not stat.S_ISFIFO(found.st_mode):
                    raise OSError(f"fd {fd} is not a pipe")
                pipes[fd] = (found.st_dev, found.st_ino)
        except OSError as exc:
            log.info("output of pid %s cannot be fenced (%s): waiting for quiet instead", pid, exc)
            return
        self._pid, self._pipes, self._fencing = pid, pipes, True

    def _arrive(self, kind: int, data: bytes) -> None:
        data = self._carry[kind] + data
        self._carry[kind] = b""
        kept = bytearray()
        at = 0
        for found in MARKER.finditer(data):
            kept += data[at : found.start()]
            at = found.end()
            if found[1] == self._token:
                self._fences_seen.add((int(found[2]), int(found[3])))
            else:  # not ours: the function's own bytes
                kept += found[0]
        rest = data[at:]
        cut = rest.rfind(b"\x00", max(0, len(rest) - _MARKER_MAX))
        if cut >= 0 and _may_start_marker(rest[cut:]):
            self._carry[kind] = rest[cut:]
            rest = rest[:cut]
        kept += rest
        self._keep(bytes(kept))
        self._last_arrival = time.monotonic()
        self._arrived.set()

    def _keep(self, data: bytes) -> None:
        if not data:
            return
        self._pending += data
        over = len(self._pending) - MAX_OUTPUT
        if over > 0:
            del self._pending[:over]
            self._dropped += over

    def pending(self) -> bytes:
        """What arrived so far, unfenced, and forget it (the sandbox is going away)."""
        out = bytes(self._pending)
        self._pending.clear()
        return out

    async def take(self) -> bytes:
        """Everything the function wrote up to now (fenced), and forget it."""
        if not self.ended.is_set():
            if self._fencing:
                await self._fence()
            if not self._fencing:
                await self._quiet()
        out = bytes(self._pending)
        self._pending.clear()
        if self._dropped:
            note = f"[faas] {self._dropped} earlier bytes of output were dropped\n"
            out, self._dropped = note.encode() + out, 0
        return out

    async def _fence(self) -> None:
        self._seq += 1
        seq = self._seq
        wanted = set()
        for fd in (1, 2):
            if self._write_marker(fd, seq):
                wanted.add((fd, seq))
            else:
                self._fencing = False
                return
        deadline = time.monotonic() + FENCE_WAIT_S
        while not wanted <= self._fences_seen and not self.ended.is_set():
            self._arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("output fence %s of %s did not come back", seq, self._token.decode())
                self._fencing = False
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        self._fences_seen = {f for f in self._fences_seen if f[1] > seq}

    def _write_marker(self, fd: int, seq: int) -> bool:
        """Write the marker into the pipe the function's ``fd`` was at start; False if it
        is not that pipe any more, or is full."""
        path = f"/proc/{self._pid}/fd/{fd}"
        try:
            handle = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            found = os.fstat(handle)
            if (found.st_dev, found.st_ino) != self._pipes[fd] or not stat.S_ISFIFO(found.st_mode):
                return False
            pipe = os.open(f"/proc/self/fd/{handle}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return False
        finally:
            os.close(handle)
        try:
            marker = b"\x00faas-fence:%s:%d:%d\x00" % (self._token, fd, seq)
            return os.write(pipe, marker) == len(marker)
        except OSError:  # full: the function floods it
            return False
        finally:
            os.close(pipe)

    async def _quiet(self) -> None:
        """Wait until nothing arrived for ``QUIET_S`` (counted from this call at the
        earliest), at most ``QUIET_MAX_S``."""
        started = time.monotonic()
        while not self.ended.is_set():
            now = time.monotonic()
            # From the call on: what arrived before it was the previous invocation's.
            quiet_for = now - max(self._last_arrival, started)
            if quiet_for >= QUIET_S or now - started >= QUIET_MAX_S:
                return
            await asyncio.sleep(QUIET_S - quiet_for)

    async def close(self) -> None:
        self.closing = True
        if self._writer is not None:
            self._writer.close()
        for task in (self._task, self.watcher):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def _may_start_marker(tail: bytes) -> bool:
    """Whether ``tail`` (starting with NUL) could be the start of a marker."""
    probe = b"\x00faas-fence:"
    if len(tail) <= len(probe):
        return probe.startswith(tail)
    return (
        tail.startswith(probe)
        and re.fullmatch(rb"[0-9a-f]*(:[12]?(:[0-9]*)?)?", tail[12:]) is not None
    )
