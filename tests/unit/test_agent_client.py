"""The platform's client to a container agent, against a real server on a Unix socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from faas.compute.agent_client import (
    MAX_BODY,
    MAX_STREAM,
    AgentClient,
    AgentError,
    AgentTimeout,
    StreamTooLarge,
    parse_head,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Agent:
    """A tiny agent-like server that counts its connections."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        finally:
            writer.close()


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Callable[[Handler], Awaitable[Agent]]]:
    agents: list[Agent] = []

    async def start(handler: Handler) -> Agent:
        agent = Agent(tmp_path / f"agent{len(agents)}.sock", handler)
        agent.server = await asyncio.start_unix_server(agent._serve, str(agent.path))
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        assert agent.server is not None
        agent.server.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes] | None:
    head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
    if not head:
        return None
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return lines[0], headers, body


def echo(close_after: bool = False) -> Handler:
    """Answers every request with its request line, headers and body echoed."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                request = await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            if request is None:
                return
            line, headers, body = request
            extra = "Connection: close\r\n" if close_after else ""
            payload = f"{line}|{headers.get('x-request-id', '')}|".encode() + body
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(payload)}\r\nX-Seen: yes\r\n{extra}"
            writer.write(head.encode() + b"\r\n" + payload)
            await writer.drain()
            if close_after:
                return

    return handler


async def test_requests_share_one_kept_alive_connection(serve) -> None:  # type: ignore[no-untyped-def]
    agent = await serve(echo())
    client = AgentClient(agent.path)
    for n in range(3):
        reply = await client.request(
            "POST", "/invoke", body=b'{"n": %d}' % n, headers={"X-Request-Id": f"r{n}"}
        )
        assert reply.status == 200
        assert reply.headers["x-seen"] == "yes"
        assert reply.body == b'POST /invoke HTTP/1.1|r%d|{"n": %d}' % (n, n)
    assert agent.connections == 1
    client.close()


async def test_a_large_body_arrives_whole(serve) -> None:  # type: ignore[no-untyped-def]
    agent = await serve(echo())
    client = AgentClient(agent.path)
    event = b"x" * (3 * 1024 * 1024)
    reply = await client.request("POST", "/invoke", body=event)
    assert reply.body.endswith(event)
    client.close()


async def test_connection_close_from_the_agent_means_a_new_connection_next_time(serve) -> None:  # type: ignore[no-untyped-def]
    agent = await serve(echo(close_after=True))
    client = AgentClient(agent.path)
    for _ in range(2):
        assert (await client.request("GET", "/health")).status == 200
    assert agent.connections == 2
    client.close()


async def test_a_slow_agent_times_out_and_the_connection_is_dropped(serve) -> None:  # type: ignore[no-untyped-def]
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers

    agent = await serve(silent)
    client = AgentClient(agent.path)
    with pytest.raises(AgentTimeout):
        await client.request("POST", "/invoke", body=b"{}", timeout_s=0.2)
    with pytest.raises(AgentTimeout):
        await client.request("POST", "/invoke", body=b"{}", timeout_s=0.2)
    assert agent.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"", id="hangs up without a word"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", id="body cut short"),
        pytest.param(b"HTTP/1.1 200 OK\r\n\r\n", id="no content length"),
        pytest.param(b"SSH-2.0-OpenSSH\r\n\r\n", id="not http"),
        pytest.param(b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n", id="bad header"),
    ],
)
async def test_a_broken_agent_is_an_agent_error(serve, answer: bytes) -> None:  # type: ignore[no-untyped-def]
    async def broken(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()

    agent = await serve(broken)
    client = AgentClient(agent.path)
    with pytest.raises(AgentError):
        await client.request("POST", "/invoke", body=b"{}", timeout_s=5)


async def test_a_body_longer_than_any_answer_is_refused_before_it_is_read(serve) -> None:  # type: ignore[no-untyped-def]
    # The function's own process serves the runtime's socket: it must not make us
    # wait for, or hold, a body past the largest result with its output.
    async def boundless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\nxx" % (MAX_BODY + 1))
        await writer.drain()
        await reader.read()  # and keeps the connection open

    agent = await serve(boundless)
    client = AgentClient(agent.path)
    with pytest.raises(AgentError, match=f"over {MAX_BODY}") as raised:
        await client.request("POST", "/invoke", body=b"{}", timeout_s=5)
    assert not isinstance(raised.value, AgentTimeout)


async def test_no_agent_listening_is_an_agent_error(tmp_path: Path) -> None:
    with pytest.raises(AgentError):
        await AgentClient(tmp_path / "nobody.sock").request("GET", "/health")


def test_header_names_are_lower_cased_and_values_trimmed() -> None:
    reply = parse_head(
        b"HTTP/1.1 200 OK\r\nX-Function-Error:  Unhandled \r\nContent-Length: 2\r\n\r\n"
    )
    assert reply.status == 200
    assert reply.headers == {"x-function-error": "Unhandled", "content-length": "2"}


async def test_a_link_in_place_of_the_socket_is_never_followed(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Given a socket on the host that the platform must never talk to, and a link to it
    # where the sandbox's socket should be (as function code could put one)
    host = await serve(echo())
    link = tmp_path / "sandbox.sock"
    link.symlink_to(host.path)
    # When the platform connects there, Then it refuses, and the host socket saw nothing
    with pytest.raises(AgentError, match="not a socket"):
        await AgentClient(link).request("GET", "/health")
    await asyncio.sleep(0.05)
    assert host.connections == 0


async def test_a_socket_of_another_user_is_refused(serve) -> None:  # type: ignore[no-untyped-def]
    # Given a socket that does not belong to the sandbox's user
    agent = await serve(echo())
    stranger = agent.path.stat().st_uid + 1
    # When the platform connects, Then it refuses and sends nothing
    with pytest.raises(AgentError, match="belongs to uid"):
        await AgentClient(agent.path, owner=stranger).request("GET", "/health")
    await asyncio.sleep(0.05)
    assert agent.connections == 0
    # while the right owner is served
    client = AgentClient(agent.path, owner=agent.path.stat().st_uid)
    assert (await client.request("GET", "/health")).status == 200
    client.close()


def streamer(chunks: list[bytes], trailers: bytes = b"", sizes: list[int] | None = None) -> Handler:
    """Answers every request with a streamed answer of ``chunks`` (announced as ``sizes``)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader) is not None:
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Faas-Stream: 1\r\n"
                b"Content-Type: text/plain\r\n\r\n"
            )
            for n, chunk in enumerate(chunks):
                size = len(chunk) if sizes is None else sizes[n]
                writer.write(b"%x\r\n" % size + chunk + b"\r\n")
                await writer.drain()
            writer.write(b"0\r\n" + trailers + b"\r\n")
            await writer.drain()

    return handler


class Chunks:
    def __init__(self) -> None:
        self.content_type = ""
        self.got: list[bytes] = []

    def begin(self, content_type: str) -> None:
        self.content_type = content_type

    async def put(self, chunk: bytes) -> None:
        self.got.append(chunk)


async def test_a_streamed_answer_goes_to_the_sink_with_its_trailers(serve) -> None:  # type: ignore[no-untyped-def]
    output = b"A" * 300_000  # an output trailer longer than any head
    trailers = b"X-Function-Error: Unhandled\r\nX-Faas-Output: " + output + b"\r\n"
    agent = await serve(streamer([b"one", b"two"], trailers))
    client = AgentClient(agent.path)
    sink = Chunks()
    for _ in range(2):  # and the connection is kept for the next
        sink.got.clear()
        reply = await client.request("POST", "/invoke", sink=sink)
        assert reply.streamed and reply.body == b""
        assert sink.content_type == "text/plain" and sink.got == [b"one", b"two"]
        assert reply.headers["x-function-error"] == "Unhandled"
        assert reply.headers["x-faas-output"] == output.decode()
    assert agent.connections == 1
    # Without a sink, the chunks are collected
    collected = await client.request("POST", "/invoke")
    assert collected.streamed and collected.body == b"onetwo"
    client.close()


async def test_a_stream_announcing_more_than_20_mb_is_not_read(serve) -> None:  # type: ignore[no-untyped-def]
    agent = await serve(streamer([b"x"], sizes=[MAX_STREAM + 1]))
    client = AgentClient(agent.path)
    with pytest.raises(StreamTooLarge):
        await client.request("POST", "/invoke", sink=Chunks())
    client.close()


async def test_a_malformed_chunk_is_a_broken_protocol(serve) -> None:  # type: ignore[no-untyped-def]
    agent = await serve(streamer([b"abc"], sizes=[2]))  # the chunk is longer than it says
    client = AgentClient(agent.path)
    with pytest.raises(AgentError):
        await client.request("POST", "/invoke", sink=Chunks())
    client.close()
