"""``faas.invoke.streaming.Stream``: between an invocation writing chunks and a reader."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

from faas.compute.agent_client import ChunkSink
from faas.invoke.streaming import DEPTH, Stream
from faas.outcomes import InvocationResult, Outcome


def result(payload: bytes = b"", outcome: Outcome = Outcome.SUCCESS) -> InvocationResult:
    return InvocationResult("rid", outcome, payload, cold_start=False, duration_ms=1.0)


def writer(chunks: int, wrote: list[int]):  # type: ignore[no-untyped-def]
    async def run(sink: ChunkSink) -> InvocationResult:
        sink.begin("text/plain")
        for n in range(chunks):
            await sink.put(b"%d," % n)
            wrote.append(n)
        return result()

    return run


async def test_a_reader_gets_every_chunk_in_order_then_the_result() -> None:
    stream = Stream(writer(20, []), "rid")
    await stream.started()
    assert stream.streamed and stream.content_type == "text/plain"
    got = [chunk async for chunk in stream.chunks()]
    assert b"".join(got) == b"".join(b"%d," % n for n in range(20))
    assert (await stream.result()).outcome is Outcome.SUCCESS


async def test_a_reader_that_is_behind_holds_the_writer_back() -> None:
    wrote: list[int] = []
    stream = Stream(writer(DEPTH * 3, wrote), "rid")
    await asyncio.sleep(0.05)
    assert len(wrote) == DEPTH  # then it waits for the reader
    chunks = stream.chunks()
    await anext(chunks)
    await asyncio.sleep(0.01)
    assert len(wrote) == DEPTH + 1
    stream.close()  # the reader leaves: the invocation runs on to its end
    async with asyncio.timeout(2):
        assert (await stream.result()).outcome is Outcome.SUCCESS
    assert len(wrote) == DEPTH * 3


async def test_a_body_dropped_unread_lets_the_invocation_end() -> None:
    wrote: list[int] = []
    stream = Stream(writer(DEPTH * 2, wrote), "rid")
    await stream.started()

    async def body() -> AsyncIterator[bytes]:
        async for chunk in stream.chunks():
            yield chunk

    unread = stream.closing(body())
    del unread  # a server whose client left before the response began
    gc.collect()
    async with asyncio.timeout(2):  # else the writer would wait for room for ever
        assert (await stream.result()).outcome is Outcome.SUCCESS
    assert len(wrote) == DEPTH * 2


async def test_a_function_that_did_not_stream_gives_its_payload_as_one_chunk() -> None:
    async def buffered(sink: ChunkSink) -> InvocationResult:
        return result(b'{"ok": true}')

    stream = Stream(buffered, "rid")
    await stream.started()
    assert not stream.streamed
    assert [chunk async for chunk in stream.chunks()] == [b'{"ok": true}']

    async def failed(sink: ChunkSink) -> InvocationResult:
        return result(b'{"errorType": "E"}', Outcome.FUNCTION_ERROR)

    stream = Stream(failed, "rid")
    assert [chunk async for chunk in stream.chunks()] == []
