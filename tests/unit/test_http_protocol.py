"""The gateway's HTTP protocol sends a response in one write, and loses nothing doing so;
it closes clients too slow to send their request, and keeps its connections within a cap."""

from __future__ import annotations

import asyncio
import json
import resource
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from faas.settings import Settings
from gateway.edge.protocol import (
    ConnectionLimits,
    HttpProtocol,
    connections_within,
    raise_fd_limit,
)

REQUEST = b"POST /v1/functions/f/invoke HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


class RecordingTransport(asyncio.Transport):
    """What a protocol writes, one entry per ``write``, and whether it closed."""

    def __init__(self, protocol: asyncio.Protocol | None = None) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.protocol = protocol

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        if not self.closed and self.protocol is not None:  # as a socket's transport does
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


async def answer(app: Any, data: bytes, protocol_class: type = HttpProtocol) -> RecordingTransport:
    """Feed ``data`` to a fresh connection of ``protocol_class``; what it wrote once done."""
    config = uvicorn.Config(app, log_config=None, access_log=False)
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(data)
    for _ in range(100):  # the app's task, then the flush at the end of the loop's turn
        await asyncio.sleep(0)
    return transport


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
    )
    await send({"type": "http.response.body", "body": b"hello"})


async def test_a_response_leaves_in_one_write() -> None:
    # uvicorn's own protocol writes the head, then the body: two sends on the socket.
    plain = await answer(hello, REQUEST, HttpToolsProtocol)
    assert len(plain.writes) == 2
    ours = await answer(hello, REQUEST)
    assert ours.writes == [b"".join(plain.writes)]
    assert ours.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert ours.writes[0].endswith(b"\r\n\r\nhello")


async def test_two_pipelined_requests_get_both_answers_in_order() -> None:
    transport = await answer(hello, REQUEST + REQUEST)
    assert [w.count(b"hello") for w in transport.writes] == [1, 1]


async def test_a_streamed_body_arrives_whole_and_in_order() -> None:
    async def stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0)  # each part waits for the loop's next turn
        await send({"type": "http.response.body", "body": b""})

    transport = await answer(stream, REQUEST)
    sent = b"".join(transport.writes)
    assert sent.endswith(b"4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n")
    assert len(transport.writes) > 1  # streamed as it came, not held to the end


async def test_100_continue_goes_out_while_the_app_waits_for_the_body() -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    transport = await answer(hello, head)  # the client sends the body only after the 100
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]


async def test_a_response_that_closes_the_connection_is_sent_before_the_close() -> None:
    request = REQUEST.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n")
    transport = await answer(hello, request)
    assert transport.closed
    assert b"".join(transport.writes).endswith(b"hello")


# Slow clients and the connection cap. Deadlines are short here; the server's are seconds.

HALF_HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
GET = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


class Server:
    """Connections of one server (one protocol class and state), as uvicorn makes them."""

    def __init__(self, app: Any, keep_alive_s: float = 5, **limits: Any) -> None:
        self.config = uvicorn.Config(
            app, log_config=None, access_log=False, timeout_keep_alive=keep_alive_s
        )
        self.state = ServerState()
        self.protocol_class = HttpProtocol.limited(ConnectionLimits(**limits))

    def connect(self, data: bytes = b"") -> RecordingTransport:
        protocol = self.protocol_class(config=self.config, server_state=self.state, app_state={})
        transport = RecordingTransport(protocol)
        protocol.connection_made(transport)
        if data:
            protocol.data_received(data)
        return transport

    @staticmethod
    def send(transport: RecordingTransport, data: bytes) -> None:
        assert isinstance(transport.protocol, asyncio.Protocol)
        transport.protocol.data_received(data)


def answered(transport: RecordingTransport) -> tuple[int, dict[str, Any]]:
    """The status and JSON body the client read."""
    sent = b"".join(transport.writes)
    head, _, body = sent.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


async def test_a_head_that_stalls_is_answered_408_and_closed() -> None:
    # Given a server whose request heads must arrive within 0.5 s
    server = Server(hello, head_timeout_s=0.5)
    # When a client sends half a head and stops
    slow = server.connect(HALF_HEAD)
    await asyncio.sleep(0.1)
    assert not slow.closed  # it has time left
    await asyncio.sleep(0.7)
    # Then it is told why, and the connection is closed
    assert slow.closed
    status, body = answered(slow)
    assert status == 408
    assert body == {
        "error": "RequestTimeout",
        "message": "the request head did not arrive within 0.5 s",
    }


async def test_a_connection_that_sends_nothing_is_closed_without_an_answer() -> None:
    server = Server(hello, head_timeout_s=0.2)
    silent = server.connect()
    await asyncio.sleep(0.5)
    assert silent.closed
    assert silent.writes == []


async def test_a_head_in_parts_within_the_deadline_is_answered() -> None:
    server = Server(hello, head_timeout_s=0.6)
    client = server.connect(GET[:10])
    for part in (GET[10:20], GET[20:]):
        await asyncio.sleep(0.1)
        server.send(client, part)
    await asyncio.sleep(0.1)
    assert b"".join(client.writes).endswith(b"hello")
    await asyncio.sleep(0.6)  # past the head deadline: the answered request is not cut
    assert not client.closed


async def test_a_slow_handler_is_not_cut_by_the_request_deadlines() -> None:
    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(0.5)
        await hello(scope, receive, send)

    server = Server(slow, head_timeout_s=0.1, body_timeout_s=0.1)
    client = server.connect(REQUEST)
    await asyncio.sleep(0.8)
    assert b"".join(client.writes).endswith(b"hello")
    assert not client.closed


async def test_a_stalled_body_closes_the_connection_and_the_handler_hears_of_it() -> None:
    # Given a handler reading a body, on a server allowing 0.5 s between two parts
    received: list[dict[str, Any]] = []

    async def reader(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            received.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break

    server = Server(reader, body_timeout_s=0.5)
    # When the client sends its head and 3 of the 10 bytes it announced, then stops
    client = server.connect(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n123")
    await asyncio.sleep(0.1)
    assert not client.closed
    await asyncio.sleep(0.8)
    # Then the connection is closed with a 408, and the handler is not left waiting
    assert client.closed
    status, body = answered(client)
    assert (status, body["error"]) == (408, "RequestTimeout")
    assert "body did not arrive within 0.5 s" in body["message"]
    assert [m["type"] for m in received] == ["http.request", "http.disconnect"]
    assert not server.state.tasks  # the handler has returned


async def test_a_body_that_keeps_coming_is_not_cut() -> None:
    # Given a server allowing 1 s between two parts of a body
    async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    server = Server(echo, body_timeout_s=1)
    # When a body comes a byte every 0.2 s, for 1.6 s in all
    client = server.connect(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n")
    for byte in b"12345678":
        await asyncio.sleep(0.2)
        server.send(client, bytes([byte]))
    await asyncio.sleep(0.1)
    # Then it arrives whole
    assert b"".join(client.writes).endswith(b"\r\n\r\n12345678")
    assert not client.closed


async def test_an_idle_connection_sending_a_stray_crlf_still_times_out() -> None:
    # uvicorn's keep-alive timer is cancelled by any byte and never armed again.
    server = Server(hello, keep_alive_s=0.2)
    client = server.connect(REQUEST)
    await asyncio.sleep(0.05)
    server.send(client, b"\r\n")
    await asyncio.sleep(0.5)
    assert client.closed
    assert b"".join(client.writes).endswith(b"hello")


async def test_at_the_cap_the_connection_waiting_longest_is_closed_first() -> None:
    # Given a server keeping 3 connections
    release = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] == "/busy":
            await release.wait()
        await hello(scope, receive, send)

    server = Server(app, max_connections=3)
    half_sent = server.connect(HALF_HEAD)
    idle = server.connect(REQUEST)  # answered, then idle
    busy = server.connect(REQUEST.replace(b" /v1/functions/f/invoke", b" /busy"))
    await asyncio.sleep(0.05)
    # When more clients connect
    fourth = server.connect()
    await asyncio.sleep(0.05)
    # Then each takes the place of the one that has waited longest on its client
    assert half_sent.closed and not idle.closed
    fifth = server.connect()
    await asyncio.sleep(0.05)
    assert idle.closed and not fourth.closed
    sixth = server.connect(GET)
    await asyncio.sleep(0.05)
    assert fourth.closed and not fifth.closed
    # And the one whose request is being handled is never closed for them
    assert not busy.closed and not sixth.closed
    assert b"".join(sixth.writes).endswith(b"hello")
    release.set()
    await asyncio.sleep(0.05)
    assert b"".join(busy.writes).endswith(b"hello")
    assert len(server.state.connections) == 3


async def test_at_the_cap_with_every_connection_busy_a_newcomer_gets_503() -> None:
    release = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await release.wait()
        await hello(scope, receive, send)

    server = Server(app, max_connections=2)
    busy = [server.connect(REQUEST), server.connect(REQUEST)]
    await asyncio.sleep(0.05)
    newcomer = server.connect(GET)
    await asyncio.sleep(0.05)
    assert newcomer.closed
    status, body = answered(newcomer)
    assert (status, body["error"]) == (503, "ServiceUnavailable")
    assert b"retry-after: 1" in newcomer.writes[0]
    release.set()
    await asyncio.sleep(0.05)
    assert all(b"".join(t.writes).endswith(b"hello") for t in busy)


@pytest.mark.parametrize(
    ("fd_limit", "connections"), [(1024, 768), (20000, 15000), (300, 44), (100, 1)]
)
def test_connections_leave_a_share_of_the_open_files_to_the_platform(
    fd_limit: int, connections: int
) -> None:
    assert connections_within(fd_limit) == connections


def test_the_cap_fits_within_the_open_file_limit() -> None:
    settings = Settings(http_max_connections=4096, http_head_timeout_s=3)
    assert ConnectionLimits.from_settings(settings, 1024) == ConnectionLimits(
        head_timeout_s=3, body_timeout_s=30, max_connections=768
    )
    assert ConnectionLimits.from_settings(settings, 1 << 20).max_connections == 4096


def test_the_soft_open_file_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        assert raise_fd_limit() == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
