"""A minimal blocking HTTP/1.1 keep-alive client over TCP or a Unix socket.

The warm-overhead scenario times the same request through the gateway and
straight to a container's agent. Both sides use this one client, so its own
cost (a few microseconds: one ``sendall``, one or two ``recv``) is equal and
small; httpx would add about half a millisecond to each side and blur the
difference being measured.
"""

from __future__ import annotations

import select
import socket
from dataclasses import dataclass


class _Stale(ConnectionError):
    """The server closed the connection before a byte of the reply."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def build(
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    host: str = "localhost",
) -> bytes:
    """The bytes of one request; ``Host`` and ``Content-Length`` are added.

    ``host`` is what a signed request must carry: the ``Host`` its signature covers.
    """
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class RawClient:
    """One keep-alive connection, opened on first use and reopened if the server closes it."""

    def __init__(self, *, tcp: tuple[str, int] | None = None, unix: str | None = None) -> None:
        if (tcp is None) == (unix is None):
            raise ValueError("give exactly one of tcp= or unix=")
        self._tcp = tcp
        self._unix = unix
        self._sock: socket.socket | None = None
        self._buf = b""

    def connect(self) -> None:
        if self._sock is not None:
            return
        if self._unix is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self._unix)
        else:
            assert self._tcp is not None
            sock = socket.create_connection(self._tcp)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(120)
        self._sock = sock
        self._buf = b""

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def fresh(self) -> None:
        """Be connected, on a connection the server has not closed while it sat idle.

        Servers close idle keep-alive connections (uvicorn after 5 s): a timed
        loop calls this before starting its clock, so neither a reconnect nor a
        request lost on a closed connection lands in a sample.
        """
        if self._sock is not None and select.select([self._sock], [], [], 0)[0]:
            # Readable while no request is out: the server's FIN (or junk): start over.
            self.close()
        self.connect()

    def send(self, raw: bytes) -> Reply:
        """Send one prepared request (``build``) and read its reply.

        A kept-alive connection the server closed before answering (a race with
        its idle timeout) is reopened and the request sent once more.
        """
        reused = self._sock is not None
        self.connect()
        try:
            return self._exchange(raw)
        except (_Stale, BrokenPipeError, ConnectionResetError):
            self.close()
            if not reused:
                raise
        self.connect()
        return self._exchange(raw)

    def _exchange(self, raw: bytes) -> Reply:
        assert self._sock is not None
        try:
            self._sock.sendall(raw)
            reply, keep = self._read()
        except OSError:
            self.close()
            raise
        if not keep:
            self.close()
        return reply

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Reply:
        return self.send(build(method, path, headers, body))

    def _recv(self) -> bytes:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def _read(self) -> tuple[Reply, bool]:
        buf = self._buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            try:
                buf += self._recv()
            except ConnectionError:
                if not buf:
                    raise _Stale from None
                raise
        status, headers = parse_head(buf[:end])
        rest = buf[end + 4 :]
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body, rest = self._chunked(rest)
        else:
            length = int(headers.get("content-length", "0"))
            while len(rest) < length:
                rest += self._recv()
            body, rest = rest[:length], rest[length:]
        self._buf = rest
        return Reply(status, headers, body), headers.get("connection", "").lower() != "close"

    def _chunked(self, rest: bytes) -> tuple[bytes, bytes]:
        body = b""
        while True:
            while (eol := rest.find(b"\r\n")) < 0:
                rest += self._recv()
            size = int(rest[:eol].split(b";")[0], 16)
            rest = rest[eol + 2 :]
            while len(rest) < size + 2:
                rest += self._recv()
            body += rest[:size]
            rest = rest[size + 2 :]
            if size == 0:
                return body, rest


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and headers (names lower-cased) of a response head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"not an HTTP response: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers
