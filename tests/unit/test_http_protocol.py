"""The gateway's HTTP protocol sends a response in one write, and loses nothing doing so."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from gateway.http_protocol import HttpProtocol

REQUEST = b"POST /v1/functions/f/invoke HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


class RecordingTransport(asyncio.Transport):
    """What a protocol writes, one entry per ``write``, and whether it closed."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
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
