"""A generic batcher: calls made in one turn of the event loop, sent as one.

The queue's hot path (enqueue, begin an attempt, settle) goes through one
``Coalescer`` each, so that a busy process sends Redis one script where it
would send many; it knows nothing of Redis and is tested alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class Coalescer(Generic[ItemT, ResultT]):
    """Calls made in one turn of the event loop, sent to Redis together.

    Each caller waits for its own result, as if it had called alone; the calls
    gathered while the loop runs its ready callbacks go in one batch (at most
    ``limit``) on the next turn, so that a busy process sends one command where
    it would send many, and an idle one still sends each call without waiting
    for others. ``send`` gets the items in order and returns one result per
    item; an error fails the whole batch.
    """

    def __init__(
        self, send: Callable[[list[ItemT]], Awaitable[list[ResultT]]], *, limit: int = 256
    ) -> None:
        self._send = send
        self._limit = limit
        self._pending: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def __call__(self, item: ItemT) -> ResultT:
        loop = asyncio.get_running_loop()
        if not self._pending:
            loop.call_soon(self._flush)
        future: asyncio.Future[ResultT] = loop.create_future()
        self._pending.append((item, future))
        return await future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for at in range(0, len(pending), self._limit):
            task = asyncio.create_task(self._send_batch(pending[at : at + self._limit]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send_batch(self, batch: list[tuple[ItemT, asyncio.Future[ResultT]]]) -> None:
        try:
            results = await self._send([item for item, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
