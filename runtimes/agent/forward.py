"""The function's way to the platform's AWS APIs: a loopback port forwarded to a socket.

A function's AWS SDK (SQS, SNS, Lambda calls) is pointed at
``http://127.0.0.1:$FAAS_SDK_PORT``. The agent listens there and splices each
connection, byte for byte, to the server's Unix socket, mounted read-only at
``$FAAS_API_SOCKET`` (docs/container-protocol.md, "AWS SDK calls"). So the
calls work in a container without a network (``network: false``) as with one, and
never reach anything but the server's API, which checks each call's signature (the
function's own key) as it checks anyone's.

One ``End`` per socket, served by the agent's loop: what one end reads the other
writes; an end that read EOF shuts the other's write side once its bytes are out,
and both close once both are done. An end with more than ``HIGH_WATER`` bytes
waiting stops its peer's reading until they are written.
"""

from __future__ import annotations

import selectors
import socket

from runtimes.protocol.http1 import Loop, log

HIGH_WATER = 1 << 20
CHUNK = 1 << 16


class End:
    """One socket of a forwarded connection."""

    def __init__(self, loop: Loop, sock: socket.socket) -> None:
        self.loop, self.sock = loop, sock
        self.peer: End = self
        self.out = bytearray()
        self.read_eof = False  # nothing more will be read here
        self.write_shut = False
        self.closed = False
        loop.watch(sock, self)

    def on_readable(self) -> None:
        try:
            data = self.sock.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.peer.send(data)
        else:
            self.read_eof = True
            self.peer.shut_when_flushed()
        self.update()

    def on_writable(self) -> None:
        self.flush()

    def send(self, data: bytes) -> None:
        self.out += data
        self.flush()

    def flush(self) -> None:
        while self.out:
            try:
                sent = self.sock.send(self.out)
            except BlockingIOError:
                break
            except OSError:
                self.close_both()
                return
            del self.out[:sent]
        if not self.out and self.peer.read_eof and not self.write_shut:
            self.shut_when_flushed()
        self.update()
        self.peer.update()

    def shut_when_flushed(self) -> None:
        if self.out or self.write_shut or self.closed:
            return
        self.write_shut = True
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if self.peer.write_shut and self.read_eof and self.peer.read_eof:
            self.close_both()

    def update(self) -> None:
        """Watch what this end waits for: reading (unless at EOF or its peer is full),
        writing (while bytes wait); nothing left: closed."""
        if self.closed:
            return
        events = 0
        if not self.read_eof and len(self.peer.out) < HIGH_WATER:
            events |= selectors.EVENT_READ
        if self.out:
            events |= selectors.EVENT_WRITE
        if self.read_eof and self.write_shut and self.peer.read_eof and self.peer.write_shut:
            self.close_both()
            return
        selector = self.loop.selector
        registered = self.sock in selector.get_map()
        if events and registered:
            selector.modify(self.sock, events, self)
        elif events:
            selector.register(self.sock, events, self)
        elif registered:
            self.loop.forget(self.sock)  # its peer's writes register it again

    def close_both(self) -> None:
        for end in (self, self.peer):
            if not end.closed:
                end.closed = True
                self.loop.forget(end.sock)
                end.sock.close()


class Forwarder:
    """Listens on 127.0.0.1:``port``; splices each connection to the Unix socket ``target``."""

    closed = False

    def __init__(self, loop: Loop, port: int, target: str) -> None:
        self.loop, self.target = loop, target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.sock.setblocking(False)
        loop.watch(self.sock, self)

    def on_readable(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log(f"forwarder: accept failed: {exc}")
            return
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(self.target)  # local: immediate, or refused
        except OSError as exc:
            log(f"forwarder: the platform's socket {self.target} refused: {exc}")
            conn.close()
            upstream.close()
            return
        conn.setblocking(False)
        upstream.setblocking(False)
        near, far = End(self.loop, conn), End(self.loop, upstream)
        near.peer, far.peer = far, near

    def close(self) -> None:
        self.loop.forget(self.sock)
        self.sock.close()
