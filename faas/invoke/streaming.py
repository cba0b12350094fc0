"""A streamed invocation: its payload as the function writes it, then how it ended.

``InvokeWithResponseStream`` and a function URL in ``RESPONSE_STREAM`` mode
call ``Invoker.stream``. The invocation itself is the one every call takes
(``Invoker.run``: the scheduler, an instance, the log record, the metrics, the
instance's release), run as a task of its own; ``Stream`` is the sink it writes
a streamed answer into (``faas.compute.agent_client.ChunkSink``) and what the
gateway reads:

1. ``await started()``: the function began to stream, or the invocation is over
   (a function that does not stream, or one that failed first). Errors that
   come before any byte (unknown function, throttled, the platform's own)
   are raised here, so the caller can still answer with a status.
2. ``chunks()``: the payload, each chunk as it arrived; a function that did not
   stream gives its whole payload as one chunk, as Lambda does.
3. ``await result()``: the ``InvocationResult`` (the error after a stream, the log).

A few chunks wait between the two sides, then the sandbox waits for the
reader: a slow client slows the function's writes rather than fill our
memory, within the function's timeout. A reader that leaves (``close``) lets
the invocation run on to its end, its chunks dropped, so its instance is
released as after any call.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import ClassVar

from faas.compute.agent_client import ChunkSink
from faas.outcomes import InvocationResult, Outcome


def _forget(task: asyncio.Task[InvocationResult]) -> None:
    Stream._running.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a reader that left is told nothing, and needs not be


# Chunks held between the sandbox and a reader that is behind.
DEPTH = 8

Run = Callable[[ChunkSink], Awaitable[InvocationResult]]


class Stream:
    """One invocation whose response may stream (``faas.compute.agent_client.ChunkSink``)."""

    # Invocations whose reader may have left: held here until they end.
    _running: ClassVar[set[asyncio.Task[InvocationResult]]] = set()

    def __init__(self, run: Run, request_id: str) -> None:
        self.request_id = request_id
        # The function's stream's content type, once it began; None: not (yet) streamed.
        self.content_type: str | None = None
        # Chunks on their way, and room for more: the end (None) never waits for room.
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._room = asyncio.Semaphore(DEPTH)
        self._began = asyncio.Event()
        self._dropped = False
        self._task = asyncio.get_running_loop().create_task(self._run(run))
        self._running.add(self._task)
        self._task.add_done_callback(_forget)

    async def _run(self, run: Run) -> InvocationResult:
        try:
            return await run(self)
        finally:
            self._began.set()
            if self.content_type is not None and not self._dropped:
                self._queue.put_nowait(None)  # the end, after the last chunk

    # The sink, written by the instance.

    def begin(self, content_type: str) -> None:
        self.content_type = content_type
        self._began.set()

    async def put(self, chunk: bytes) -> None:
        if self._dropped:
            return
        await self._room.acquire()
        if not self._dropped:
            self._queue.put_nowait(chunk)

    # The reader's side.

    @property
    def streamed(self) -> bool:
        """Whether the function streamed its response (known once ``started``)."""
        return self.content_type is not None

    async def started(self) -> None:
        """Wait until the function streams or the invocation ended; raise what failed it first."""
        await self._began.wait()
        if not self.streamed:
            await self.result()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The payload as it arrives; a function that did not stream: its payload, once."""
        await self.started()
        if not self.streamed:
            result = await self.result()
            if result.outcome is Outcome.SUCCESS and result.payload:
                yield result.payload
            return
        while (chunk := await self._queue.get()) is not None:
            self._room.release()
            yield chunk

    async def result(self) -> InvocationResult:
        """How the invocation ended (a reader cancelled here leaves it running)."""
        return await asyncio.shield(self._task)

    def closing(self, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``body`` (a generator over ``chunks``, closing this stream when it ends), closing
        it too if it is dropped unread: a server whose client left before the response
        began never starts it, so its ``finally`` would never run."""
        weakref.finalize(body, self.close)
        return body

    def close(self) -> None:
        """The reader is gone: the invocation runs on to its end, its chunks dropped."""
        if self._dropped:
            return
        self._dropped = True
        while not self._queue.empty():
            self._queue.get_nowait()
        for _ in range(DEPTH):
            self._room.release()  # wakes a put waiting for room; later ones return at once
