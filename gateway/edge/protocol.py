"""uvicorn's httptools protocol: one write per response, deadlines for slow clients, a cap.

**One write per response.** uvicorn writes a response's status line and
headers, then its body, each with a ``transport.write`` of its own; on an idle
socket each is a ``send`` at once. So every invoke cost two TCP sends on
loopback, and the client often woke twice. py-spy put those two writes at ~12%
of the gateway's own time per invoke under ``wrk -c32``. Here the writes of a
response are kept and sent together when it is complete (uvicorn then calls
``on_response_complete``); anything written outside a response (``100
Continue``, a streamed body) goes out at the end of the event loop's current turn.

**Slow clients.** uvicorn only bounds the idle time between two requests (its
keep-alive timeout). A client that sent half a head, or a head and half a body,
held its connection for ever: 24,000 of them used up the process's file
descriptors, and new connections, ``/healthz`` among them, were reset. Here a
request's head must be complete within ``head_timeout_s`` of its first byte (or
of the connection, for the first request): else ``408`` and close, or just a
close when the connection never sent a byte (nginx closes in both cases; the
408 is one small write that tells a slow but honest client why). A body may pause
at most ``body_timeout_s`` between two reads: else the connection is closed,
and the handler's next ``receive`` says the client is gone. Each connection has
one timer, for the keep-alive too: a new deadline is a clock read (0.1 us), and
the timer, firing before its deadline, re-arms itself for what is left. So a
connection serving requests back to back arms a timer every few seconds, not
two per request as uvicorn's keep-alive did (a call and a cancel: 2 us with uvloop).

**The cap.** Past ``max_connections`` (kept within the open-file limit, which
``faas serve`` raises to its hard limit) a new connection first closes the one
that has waited longest on its client: idle between requests, or half-sent.
Measured with 24,000 half-sent heads and the default cap (timeouts out of play):
100 of 100 ``/healthz`` probes answered, against 0 of 100 before. nginx, too,
keeps serving by closing its idle and waiting connections when it runs out.
When every connection has a request being handled the newcomer gets ``503`` and
is closed.
"""

from __future__ import annotations

import asyncio
import enum
import json
import resource
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from faas.settings import Settings


class CoalescedWrites:
    """A transport whose writes are sent together, on ``flush`` or at the end of this turn."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending = []
        if not self._transport.is_closing():  # else the client is gone: nothing to send to
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


# The share of the open-file limit kept for the platform itself: Redis, Docker, the
# containers' sockets, files. Connections get the rest, within max_connections.
FD_RESERVE_MIN = 256
FD_RESERVE_SHARE = 4


def raise_fd_limit() -> int:
    """Lift this process's soft open-file limit to its hard limit (as Go programs do); the new one.

    Shells and systemd commonly give 1024, far below what a server needs; the hard
    limit is what the operator allows.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or hard == resource.RLIM_INFINITY or soft >= hard:
        return soft if soft != resource.RLIM_INFINITY else 1 << 20
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft
    return hard


def connections_within(fd_limit: int) -> int:
    """How many client connections fit in ``fd_limit`` open files, beside the platform's own."""
    return max(1, fd_limit - max(FD_RESERVE_MIN, fd_limit // FD_RESERVE_SHARE))


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a client may take to send a request, and how many connections are kept."""

    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 4096

    @classmethod
    def from_settings(cls, settings: Settings, fd_limit: int) -> ConnectionLimits:
        """The settings' limits, with the cap lowered to fit ``fd_limit`` open files."""
        return cls(
            head_timeout_s=settings.http_head_timeout_s,
            body_timeout_s=settings.http_body_timeout_s,
            max_connections=min(settings.http_max_connections, connections_within(fd_limit)),
        )


class Waits(enum.Enum):
    """What a connection waits for from its client."""

    NOTHING = "nothing"  # its request is being handled
    REQUEST = "request"  # a new connection that has not sent a byte
    IDLE = "idle"  # between two requests (uvicorn's keep-alive)
    HEAD = "head"
    BODY = "body"


# The states by module name, for the hot path: looking a member up on its Enum
# class costs 70 ns on Python 3.11, a global 10; a request looks up about ten.
NOTHING, REQUEST, IDLE, HEAD, BODY = Waits


class Waiting:
    """Connections waiting on their client, longest first: whom to close at the cap."""

    def __init__(self) -> None:
        self._order: OrderedDict[HttpProtocol, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._order)

    def touch(self, connection: HttpProtocol) -> None:
        self._order[connection] = None
        self._order.move_to_end(connection)

    def discard(self, connection: HttpProtocol) -> None:
        self._order.pop(connection, None)

    def pop_longest(self) -> HttpProtocol | None:
        return self._order.popitem(last=False)[0] if self._order else None


def _canned(status: bytes, error: str, message: str, *headers: bytes) -> bytes:
    body = json.dumps({"error": error, "message": message}).encode()
    head = [b"HTTP/1.1 " + status, b"content-type: application/json", *headers]
    head += [b"content-length: %d" % len(body), b"connection: close", b"", b""]
    return b"\r\n".join(head) + body


BUSY = _canned(
    b"503 Service Unavailable",
    "ServiceUnavailable",
    "the server holds as many connections as it keeps; retry",
    b"retry-after: 1",
)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over ``CoalescedWrites``, with ``limits`` on slow clients.

    ``limited`` makes the class for one server: its connections share the limits
    and one ``Waiting`` order. The keep-alive timeout stays uvicorn's setting, but
    runs on this class's timer: uvicorn's is cancelled by any byte, even a stray
    CRLF, and then never armed again.
    """

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    waiting: ClassVar[Waiting] = Waiting()

    @classmethod
    def limited(cls, limits: ConnectionLimits) -> type[HttpProtocol]:
        return type(cls.__name__, (cls,), {"limits": limits, "waiting": Waiting()})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waits = NOTHING
        # One timer, which fires at or before the deadline: moving a deadline later
        # costs no timer call; the timer re-arms itself for what is left.
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescedWrites(transport, self.loop))  # type: ignore[arg-type]
        if len(self.connections) > self.limits.max_connections and not self._make_room():
            self.transport.write(BUSY)
            self.transport.close()
            return
        self._expect(REQUEST, self.limits.head_timeout_s)
        self.waiting.touch(self)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._stop_waiting()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._waits is BODY:  # a body arriving in parts: each part moves the deadline
            self._expect(BODY, self.limits.body_timeout_s)
            self.waiting.touch(self)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._waits is REQUEST:  # the first request: timed from the connection
            self._waits = HEAD
        else:
            self._expect(HEAD, self.limits.head_timeout_s)

    def on_headers_complete(self) -> None:
        self._waits = BODY  # its deadline is set once this part is parsed, if the body is not
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._waits = NOTHING
        self.waiting.discard(self)
        cycle = self.cycle
        if cycle is not None and cycle.response_complete and not self.pipeline:
            self._idle()  # answered before its body was read: idle from now

    def on_response_complete(self) -> None:
        # uvicorn's, with the keep-alive on this class's timer.
        self.transport.flush()  # type: ignore[attr-defined]
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self._waits is NOTHING:
            self._idle()

    # Deadlines and the cap.

    def _idle(self) -> None:
        if not self.transport.is_closing():
            self._expect(IDLE, self.timeout_keep_alive)
            self.waiting.touch(self)  # first to go when a newcomer needs room

    def _expect(self, what: Waits, within_s: float) -> None:
        """Wait for ``what`` from the client for at most ``within_s`` from now."""
        self._waits = what
        self._deadline = deadline = self.loop.time() + within_s
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(deadline, self._expired)

    def _stop_waiting(self) -> None:
        self._waits = NOTHING
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.waiting.discard(self)

    def _expired(self) -> None:
        self._timer = None
        waits = self._waits
        if waits is NOTHING or self.transport.is_closing():
            return
        now = self.loop.time()
        if waits is BODY and self.flow.read_paused:  # we stopped reading, not the client
            self._deadline = now + self.limits.body_timeout_s
        if now < self._deadline:
            self._timer = self.loop.call_at(self._deadline, self._expired)
            return
        # A 408 only where no other answer is being written (a pipelined request's).
        cycle = self.cycle
        if waits is HEAD and (cycle is None or cycle.response_complete):
            self.transport.write(_timed_out("head", self.limits.head_timeout_s))
        elif waits is BODY and cycle is not None and not cycle.response_started:
            self.transport.write(_timed_out("body", self.limits.body_timeout_s))
        self._stop_waiting()
        self.transport.close()

    def _make_room(self) -> bool:
        """Close the connection waiting longest on its client; False when none is."""
        oldest = self.waiting.pop_longest()
        if oldest is None:
            return False
        oldest._stop_waiting()
        oldest.transport.close()
        return True


def _timed_out(part: str, seconds: float) -> bytes:
    message = f"the request {part} did not arrive within {seconds:g} s"
    return _canned(b"408 Request Timeout", "RequestTimeout", message)
