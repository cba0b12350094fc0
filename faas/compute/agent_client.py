"""The platform's HTTP/1.1 client for one container agent, over its Unix socket.

This is the hot path of every invocation, so it is a few dozen lines on raw
asyncio streams rather than a general HTTP client: one keep-alive connection
per instance (an instance runs one invocation at a time), a request written
in one call, a response read with one ``readuntil`` for the head and one
``readexactly`` for the body. A buffered answer always carries Content-Length;
a streamed one (``X-Faas-Stream: 1``, docs/container-protocol.md "Streamed
answers") is chunked, and only then does this client read chunks: each is
handed to the caller's ``ChunkSink`` as it arrives (or collected, for a caller
that does not stream), the trailers merged into the reply's headers. The
buffered path pays one header lookup for it.

Measured on 2 cores against the same agent: httpx.AsyncClient spent ~0.7 ms
per round trip and built an SSL context per instance; this client ~0.1 ms.

The socket's directory is mounted in the container, so the platform never lets
the path decide what it connects to: it opens the final name without following
a link (``O_PATH | O_NOFOLLOW``), checks that it is a socket of the sandbox's
user, and connects through that descriptor (``/proc/self/fd/N``). A function
that swaps the socket for a link to the Docker engine's (or anything else on
the host) gets a refused connection, not the platform's requests.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# Its body: a result of at most 6 MB (Lambda's limit, enforced in the container)
# after at most 256 KB of output. Anything longer is not an answer we trust: the
# function's own code serves the runtime's socket, and must not fill our memory.
MAX_BODY = 7 * 1024 * 1024
# A streamed answer: Lambda's limit for a streamed response's payload, and a
# collected stream's (a caller that does not stream gets what Invoke gets).
MAX_STREAM = 20 * 1024 * 1024
MAX_COLLECTED = 6 * 1024 * 1024
# The trailers of a streamed answer: the output (256 KB, base64) and the error.
MAX_TRAILERS = 512 * 1024
# A chunk is handed on in pieces of at most this: a function's one large write
# reaches the client as it arrives, not once all of it is in our memory.
PIECE = 64 * 1024


class AgentError(Exception):
    """The agent could not be reached, or broke the protocol."""


class AgentTimeout(AgentError):
    """No complete answer within the time given."""


class StreamTooLarge(AgentError):
    """A streamed answer's payload went past ``limit`` bytes; it was not read further."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the streamed payload went past {limit} bytes")
        self.limit = limit


class ChunkSink(Protocol):
    """Where a streamed answer goes as it arrives (``faas.invoke.streaming``)."""

    def begin(self, content_type: str) -> None:
        """The function started its stream; its chunks follow."""

    async def put(self, chunk: bytes) -> None:
        """One piece of the payload; waits while the reader is behind."""


@dataclass(frozen=True)
class AgentReply:
    status: int
    # Header names in lower case; a streamed answer's trailers too.
    headers: dict[str, str]
    body: bytes
    # The answer was streamed: its payload went to the sink (``body`` is empty then),
    # or was collected into ``body`` for a caller without one.
    streamed: bool = False


class AgentClient:
    """Requests to one agent, one at a time, on a kept-alive connection."""

    def __init__(self, socket_path: Path, owner: int | None = None) -> None:
        self._path = str(socket_path)
        # The uid the socket must belong to (the sandbox's user); None: any.
        self._owner = owner
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        sink: ChunkSink | None = None,
    ) -> AgentReply:
        """One request; ``AgentTimeout`` or ``AgentError`` (the connection is then dropped).

        A streamed answer's payload goes to ``sink`` as it arrives, within
        ``timeout_s`` in all (the sink's waits count).
        """
        try:
            async with asyncio.timeout(timeout_s):
                return await self._exchange(method, path, body, headers or {}, sink)
        except AgentError:
            self.close()
            raise
        except TimeoutError:
            self.close()
            raise AgentTimeout(f"no answer within {timeout_s}s") from None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            self.close()
            raise AgentError(str(exc) or type(exc).__name__) from exc

    async def connect(self) -> None:
        """Open the connection now if it is not open (``request`` would): a failure here
        means no request was sent."""
        try:
            if self._writer is None or self._writer.is_closing():
                self._reader, self._writer = await self._connect()
        except OSError as exc:
            raise AgentError(str(exc) or type(exc).__name__) from exc

    async def _exchange(
        self,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        sink: ChunkSink | None = None,
    ) -> AgentReply:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await self._connect()
        reader, writer = self._reader, self._writer
        assert reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: agent\r\nContent-Length: {len(body)}\r\n"
        for name, value in headers.items():
            head += f"{name}: {value}\r\n"
        writer.write(head.encode("latin-1") + b"\r\n" + body)
        reply = parse_head(await reader.readuntil(b"\r\n\r\n"))
        length = reply.headers.get("content-length", "")
        if not length.isdigit():
            if reply.headers.get("x-faas-stream") == "1":
                return await self._streamed(reader, reply, sink)
            raise AgentError("the agent answered without a Content-Length")
        if int(length) > MAX_BODY:
            raise AgentError(f"the agent answered with {length} bytes, over {MAX_BODY}")
        content = await reader.readexactly(int(length)) if length != "0" else b""
        if reply.headers.get("connection", "").lower() == "close":
            self.close()
        return AgentReply(reply.status, reply.headers, content)

    async def _streamed(
        self, reader: asyncio.StreamReader, reply: AgentReply, sink: ChunkSink | None
    ) -> AgentReply:
        """A streamed answer: its chunks to ``sink`` (or collected), its trailers read."""
        if reply.headers.get("transfer-encoding", "").lower() != "chunked":
            raise AgentError("a streamed answer must be chunked")
        limit = MAX_STREAM if sink is not None else MAX_COLLECTED
        if sink is not None:
            sink.begin(reply.headers.get("content-type") or "application/octet-stream")
        collected: list[bytes] = []
        total = 0
        while True:
            size = chunk_size(await reader.readuntil(b"\r\n"))
            if size == 0:
                break
            total += size
            if total > limit:
                raise StreamTooLarge(limit)
            while size:
                piece = await reader.readexactly(min(size, PIECE))
                size -= len(piece)
                if sink is not None:
                    await sink.put(piece)
                else:
                    collected.append(piece)
            if await reader.readexactly(2) != b"\r\n":
                raise AgentError("a chunk of the streamed answer did not end with CRLF")
        # Line by line: a trailer line may be longer than a head (the output, base64).
        trailers = await reader.readuntil(b"\r\n")
        while trailers[-4:] != b"\r\n\r\n" and trailers != b"\r\n":
            trailers += await reader.readuntil(b"\r\n")
            if len(trailers) > MAX_TRAILERS:
                raise AgentError(f"the streamed answer's trailers passed {MAX_TRAILERS} bytes")
        headers = dict(reply.headers)
        if trailers != b"\r\n":
            headers |= parse_head(b"HTTP/1.1 200 -\r\n" + trailers).headers
        if headers.get("connection", "").lower() == "close":
            self.close()
        return AgentReply(reply.status, headers, b"".join(collected), streamed=True)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        fd = os.open(self._path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            found = os.fstat(fd)
            if not stat.S_ISSOCK(found.st_mode):
                raise AgentError(f"{self._path} is not a socket (a link or a file put there?)")
            if self._owner is not None and found.st_uid != self._owner:
                raise AgentError(
                    f"{self._path} belongs to uid {found.st_uid}, not the sandbox's {self._owner}"
                )
            # Through the descriptor: the name cannot be swapped between check and connect.
            # The reader's limit bounds one line: a head, or a streamed answer's trailer.
            return await asyncio.open_unix_connection(f"/proc/self/fd/{fd}", limit=MAX_TRAILERS)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def chunk_size(line: bytes) -> int:
    """The size a chunk's line (``1a;ext\\r\\n``) announces."""
    digits = line.split(b";", 1)[0].strip()
    if not digits or len(digits) > 8 or digits.strip(b"0123456789abcdefABCDEF"):
        raise AgentError(f"bad chunk size line: {line[:40]!r}")
    return int(digits, 16)


def parse_head(raw: bytes) -> AgentReply:
    """A response's status and headers (the body is read separately)."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise AgentError(f"not an HTTP response: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise AgentError(f"bad header line: {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return AgentReply(int(parts[1]), headers, b"")
