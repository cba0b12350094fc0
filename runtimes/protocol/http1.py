"""An event loop and an HTTP/1.1 server: just enough for the agent's two sockets and
the Python runtime's own.

One ``selectors`` loop, no threads (the agent forks its bootstrap). A connection
serves its requests in order; a route may answer later (a parked ``/next``
long-poll, an invocation in flight). Answers written while a batch of pipelined
requests is being processed leave together, in one send, when the batch is done,
or with the answer to a long-poll parked behind them: every send wakes the peer,
and in a container that costs more than the rest of the request.

Standard library only; imported as ``runtimes.protocol.http1`` by the agent and the
Python runtime.
"""

from __future__ import annotations

import json
import selectors
import socket
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

MAX_HEADERS = 100
MAX_HEAD = 64 * 1024  # request line and headers together
# The most one read takes. Not more: glibc serves an allocation above 128 KiB with
# mmap, so each recv(256 KiB) cost an mmap, a page fault, an mremap and a munmap:
# ~15 us, against ~2.4 us for recv(64 KiB); an invoke takes two reads in the agent.
READ_SIZE = 1 << 16
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
            data = self.sock.recv(READ_SIZE)
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
            self._process()
        finally:
            self.processing = False
        active = self.active
        if active is None or active.on_hangup is None:
            self.flush()
        # else: a parked long-poll (/next) was pipelined behind what we just answered;
        # its client is waiting for it anyway, so the answers leave together, in one send.

    def _process(self) -> None:
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
        self.close_after = self.close_after or close
        self.write(encode_response(response, close))
        if not (close or self.processing):
            self.process()  # a request that arrived while this one waited

    def refuse(self, status: int) -> None:
        self.close_after = True
        self.write(encode_response(Response(status), close=True))

    def write(self, data: bytes) -> None:
        """Queue ``data``; it is sent at once, or when the batch being processed is done."""
        if self.closed:
            return
        self.out.append(memoryview(data))
        if not self.processing:
            self.flush()

    def flush(self) -> None:
        """Send what is queued (as one send if it can), then close if that was asked."""
        if len(self.out) > 1:
            self.out = [memoryview(b"".join(self.out))]
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
        if not self.out and self.close_after:
            self.close()
            return
        if bool(self.out) != self.writing:
            self.writing = bool(self.out)
            self.loop.want_write(self.sock, self, self.writing)

    def on_writable(self) -> None:
        self.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.forget(self.sock)
        self.sock.close()
        request, self.active = self.active, None
        if request is not None and request.on_hangup is not None:
            request.on_hangup()


def listen(family: socket.AddressFamily, address: str | tuple[str, int]) -> socket.socket:
    """A listening, non-blocking stream socket bound to ``address``."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(64)
    sock.setblocking(False)
    return sock
