"""An event loop and an HTTP/1.1 server: just enough for the agent's two sockets and
the Python runtime's own.

One ``selectors`` loop, no threads (the agent forks its bootstrap). A connection
serves its requests in order; a route may answer later (a parked ``/next``
long-poll, an invocation in flight). Answers written while a batch of pipelined
requests is being processed leave together, in one send, when the batch is done,
or with the answer to a long-poll parked behind them: every send wakes the peer,
and in a container that costs more than the rest of the request.

Chunked bodies both ways, for response streaming (docs/container-protocol.md,
"Streamed answers"): a request whose server ``streams`` it is routed at its
head and its body handed over as it arrives (``Request.on_body``, then
``on_end`` with its trailers); any other chunked request is collected, then
routed as usual. A route answers with a chunked body through
``Request.stream_start``, ``stream_chunk`` and ``stream_end``.

Standard library only; imported as ``runtimes.protocol.http1`` by the agent and the
Python runtime.
"""

from __future__ import annotations

import json
import select
import selectors
import socket
import sys
import time

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


class ChunkedBody:
    """A chunked body decoded as it arrives (RFC 9112, 7.1): ``feed`` takes what a buffer
    holds and gives back the data in it; the trailers once the body ended."""

    __slots__ = ("left", "state", "total", "trailers")

    SIZE, DATA, DATA_END, TRAILERS, DONE = range(5)

    def __init__(self) -> None:
        self.state = self.SIZE
        self.left = 0  # bytes of the current chunk still to come
        self.total = 0  # data bytes so far
        self.trailers: dict[str, str] = {}

    def feed(self, buf: bytearray) -> tuple[list[bytes], bool]:
        """Consume what ``buf`` holds of the body: (the data in it, whether the body ended).

        ``HttpError(400)`` for a malformed body."""
        pieces: list[bytes] = []
        while True:
            state = self.state
            if state == self.DATA:
                if not buf:
                    return pieces, False
                n = min(self.left, len(buf))
                pieces.append(bytes(buf[:n]))
                del buf[:n]
                self.left -= n
                if not self.left:
                    self.state = self.DATA_END
            elif state == self.DATA_END:
                if len(buf) < 2:
                    return pieces, False
                if buf[:2] != b"\r\n":
                    raise HttpError(400)
                del buf[:2]
                self.state = self.SIZE
            elif state == self.DONE:
                return pieces, True
            else:
                end = buf.find(b"\n")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise HttpError(400)
                    return pieces, False
                line = bytes(buf[:end]).rstrip(b"\r")
                del buf[: end + 1]
                if state == self.SIZE:
                    digits = line.split(b";", 1)[0].strip()
                    if not digits or len(digits) > 8 or digits.strip(b"0123456789abcdefABCDEF"):
                        raise HttpError(400)
                    self.left = int(digits, 16)
                    self.total += self.left
                    self.state = self.DATA if self.left else self.TRAILERS
                elif not line:
                    self.state = self.DONE
                else:
                    name, sep, value = line.decode("latin-1").partition(":")
                    if not sep or not name or len(self.trailers) >= MAX_HEADERS:
                        raise HttpError(400)
                    self.trailers[name.strip().lower()] = value.strip()


class Request:
    """One parsed request. ``oversize`` is the length of a body we discard.

    A route that cannot answer at once returns None and later calls ``answer``;
    ``on_hangup`` (if set) runs when the client goes away first. A chunked request
    its server streams is routed at its head: ``on_body`` gets each piece of its
    body as it arrives, ``on_end`` the trailers once it ended.
    """

    __slots__ = (
        "body",
        "chunked",
        "conn",
        "headers",
        "keep_alive",
        "method",
        "on_body",
        "on_end",
        "on_hangup",
        "oversize",
        "parts",
        "path",
    )

    def __init__(self, method: str, path: str, headers: dict[str, str], keep_alive: bool) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = b""
        self.keep_alive = keep_alive
        self.oversize = 0
        self.conn: Connection | None = None
        self.on_hangup: Callable[[], None] | None = None
        self.chunked: ChunkedBody | None = None
        self.parts: list[bytes] = []  # a chunked body being collected
        self.on_body: Callable[[bytes], None] | None = None
        self.on_end: Callable[[dict[str, str]], None] | None = None

    def answer(self, response: Response) -> None:
        if self.conn is not None:
            self.conn.answer(self, response)

    def stream_start(self, head: Response) -> None:
        """Answer with ``head``'s status and headers and a chunked body (``stream_chunk``)."""
        if self.conn is not None:
            self.conn.stream_start(self, head)

    def stream_chunk(self, data: bytes) -> None:
        """One chunk of a streamed answer, sent at once."""
        if self.conn is not None and data:
            self.conn.stream_chunk(self, data)

    def stream_end(self, trailers: dict[str, str]) -> None:
        """End a streamed answer with ``trailers``."""
        if self.conn is not None:
            self.conn.stream_end(self, trailers)


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
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
    request = Request(method, target.split("?", 1)[0], headers, keep_alive)
    expect = headers.get("expect", "").lower() == "100-continue"
    coding = headers.get("transfer-encoding")
    if coding is not None:
        # Only chunked alone: we cannot find the end of any other body (nor with a length).
        if coding.lower() != "chunked" or "content-length" in headers:
            raise HttpError(411)
        request.chunked = ChunkedBody()
        return request, 0, expect
    declared = headers.get("content-length", "0")
    if not (declared.isascii() and declared.isdigit()):
        raise HttpError(400)
    return request, int(declared), expect


def encode_response(response: Response, close: bool, chunked: bool = False) -> bytes:
    """Serialise a response: with Content-Length, or only the head of a chunked one."""
    status = response.status
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {len(response.body)}")
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if chunked else head + response.body


def encode_trailers(trailers: dict[str, str]) -> bytes:
    """The end of a chunked body: the last chunk and ``trailers``."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in trailers.items())
    return b"0\r\n" + lines.encode("latin-1") + b"\r\n"


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
            ready = self.selector.select()
            if len(ready) > 1:
                # A handler marked ``last`` (the agent's signals) runs after the rest of
                # its batch: what a child sent before it died is read before its death.
                ready.sort(key=lambda item: getattr(item[0].data, "last", False))
            for key, mask in ready:
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
        streams: Callable[[Request], bool] | None = None,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.route = route
        self.max_body = max_body
        self.streams = streams  # which chunked requests are routed at their head
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
            Connection(self.loop, conn, self.route, self.max_body, self.streams)

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
        streams: Callable[[Request], bool] | None = None,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.route = route
        self.max_body = max_body
        self.streams = streams
        self.inbuf = bytearray()
        self.out: list[memoryview] = []
        self.writing = False
        self.reading: Request | None = None  # head parsed, body still arriving
        self.streaming: Request | None = None  # routed at its head, body still arriving
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
        if active is not None and active.on_hangup is not None and active is not self.reading:
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
        while not (self.closed or self.close_after):
            request = self.reading
            if request is not None and request is self.streaming:
                if not self._feed(request):  # the body of a request routed at its head
                    return
                continue
            if self.active is not None:
                return
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
                if request.chunked is not None and self.streams and self.streams(request):
                    self.streaming = request
                    self.dispatch(request)  # routed now: its body follows to on_body
                    continue
            if request.chunked is not None:
                if not self._feed(request):
                    return
                continue
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

    def _feed(self, request: Request) -> bool:
        """Take what the buffer holds of ``request``'s chunked body; True once it ended.

        A streamed body goes to ``on_body`` piece by piece; any other is collected (past
        ``max_body`` only counted, for the 413) and routed once whole."""
        body = request.chunked
        assert body is not None
        streamed = request is self.streaming
        try:
            pieces, ended = body.feed(self.inbuf)
        except HttpError as exc:
            if streamed:
                self.close()  # its route hears of it as a hang-up
            else:
                self.refuse(exc.args[0])
            return False
        if streamed:
            if request is self.active and request.on_body is not None:  # else: answered early
                for piece in pieces:
                    request.on_body(piece)
        elif body.total <= self.max_body:
            request.parts += pieces
        if not ended:
            return False
        self.reading = None
        if streamed:
            self.streaming = None
            if request is self.active and request.on_end is not None:
                request.on_end(body.trailers)
            return True
        if body.total > self.max_body:
            request.oversize = body.total
        request.body = b"".join(request.parts)
        request.parts = []
        self.dispatch(request)
        return True

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

    def stream_start(self, request: Request, head: Response) -> None:
        if request is self.active and not self.closed:
            self.write(encode_response(head, close=False, chunked=True))

    def stream_chunk(self, request: Request, data: bytes) -> None:
        if request is self.active and not self.closed:
            self.write(b"%x\r\n" % len(data) + data + b"\r\n")

    def stream_end(self, request: Request, trailers: dict[str, str]) -> None:
        """The last chunk and the trailers: the answer to ``request`` is complete."""
        if request is not self.active or self.closed:
            return
        self.active = None
        self.close_after = self.close_after or not request.keep_alive
        self.write(encode_trailers(trailers))
        if not (self.close_after or self.processing):
            self.process()

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

    def drain(self, within_s: float) -> None:
        """Read and process what the peer sent until it hangs up, or for ``within_s`` at
        most: a peer known dead may have bytes still on their way over loopback TCP."""
        deadline = time.monotonic() + within_s
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return
            self.on_readable()

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
