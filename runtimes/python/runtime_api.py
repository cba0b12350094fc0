"""The Python runtime's client of the Lambda Runtime API: a few lines over one socket.

Not http.client, which pulls in the email package: every module the runtime
imports stays in memory beside the handler. Standard library only.
"""

from __future__ import annotations

import socket

from runtimes.protocol.http1 import READ_SIZE

API_PREFIX = "/2018-06-01/runtime"


class RuntimeClient:
    """The Runtime API over one keep-alive HTTP/1.1 connection (the agent's own server).

    The agent that starts us may hand us a connected socket (``FAAS_RUNTIME_FD``), a
    socketpair that costs less per request than TCP to ``AWS_LAMBDA_RUNTIME_API``.
    """

    def __init__(self, address: str, fd: str | None = None) -> None:
        host, _, port = address.rpartition(":")
        self.address = (host, int(port))
        self.sock: socket.socket | None = None
        if fd is not None and fd.isdigit():
            self.sock = socket.socket(fileno=int(fd))
            self.sock.set_inheritable(False)  # the handler's subprocesses must not get it
        self.buffer = b""

    def call(
        self, method: str, path: str, body: bytes | None = None, error_type: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One request: status, headers (lower-case names) and body. No timeout: /next blocks."""
        self.send(self.encode(method, path, body, error_type))
        return self.reply()

    def report_and_next(
        self, path: str, body: bytes, error_type: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        """POST an invocation's result and GET the next event in one send (pipelined):
        the agent answers both at once when the event comes. Returns the event's reply."""
        self.send_report_and_next(path, body, error_type)
        self.reply()  # 202, or 400/413 the agent has already turned into the outcome
        return self.reply()

    def send_report_and_next(self, path: str, body: bytes, error_type: str | None) -> None:
        result = self.encode("POST", path, body, error_type)
        self.send(result + self.encode("GET", "/invocation/next", None, None))

    def encode(
        self,
        method: str,
        path: str,
        body: bytes | None,
        error_type: str | None = None,
        extra: str = "",
    ) -> bytes:
        """A request; ``extra`` holds more header lines, each ending in CRLF."""
        body = body or b""
        head = f"{method} {API_PREFIX}{path} HTTP/1.1\r\nHost: {self.address[0]}\r\n"
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}"
        if error_type:
            head += f"Lambda-Runtime-Function-Error-Type: {error_type}\r\n"
        return head.encode("latin-1") + b"\r\n" + body

    def send(self, data: bytes) -> None:
        if self.sock is None:
            self.sock = socket.create_connection(self.address)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buffer = b""
        self.sock.sendall(data)

    def reply(self) -> tuple[int, dict[str, str], bytes]:
        assert self.sock is not None
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        raw, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._receive()
        payload, self.buffer = self.buffer[:length], self.buffer[length:]
        if headers.get("connection", "").lower() == "close":
            self.sock.close()
            self.sock = None
        return int(lines[0].split(" ", 2)[1]), headers, payload

    def _receive(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(READ_SIZE)
        if not chunk:
            self.sock.close()
            self.sock = None
            raise ConnectionError("the Runtime API closed the connection")
        self.buffer += chunk
