"""The queue's coalescer: calls made in one turn of the event loop, sent as one.

Pure asyncio, no Redis: ``send`` here records each batch it gets.
"""

from __future__ import annotations

import asyncio

import pytest

from faas.errors import StoreUnavailable
from faas.invoke.asyncq.coalescer import Coalescer


class Recorder:
    """A ``send`` that doubles each item and remembers the batches."""

    def __init__(self, fail_when: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_when = fail_when

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await asyncio.sleep(0)  # a round trip
        if self.fail_when in items:
            raise StoreUnavailable("the store (Redis) is unavailable")
        return [2 * i for i in items]


async def test_calls_made_together_go_in_one_batch_and_each_gets_its_own_answer() -> None:
    send = Recorder()
    batch = Coalescer(send)
    answers = await asyncio.gather(*(batch(i) for i in range(5)))
    assert answers == [0, 2, 4, 6, 8]
    assert send.batches == [[0, 1, 2, 3, 4]]


async def test_calls_made_one_after_another_go_one_by_one() -> None:
    send = Recorder()
    batch = Coalescer(send)
    assert [await batch(i) for i in range(3)] == [0, 2, 4]
    assert send.batches == [[0], [1], [2]]


async def test_a_batch_never_exceeds_its_limit() -> None:
    send = Recorder()
    batch = Coalescer(send, limit=2)
    assert await asyncio.gather(*(batch(i) for i in range(5))) == [0, 2, 4, 6, 8]
    assert send.batches == [[0, 1], [2, 3], [4]]


async def test_a_failed_batch_fails_each_of_its_callers_and_no_other() -> None:
    send = Recorder(fail_when=1)
    batch = Coalescer(send)
    first = await asyncio.gather(*(batch(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(outcome, StoreUnavailable) for outcome in first)
    assert await batch(7) == 14


async def test_a_cancelled_caller_leaves_the_others_their_answers() -> None:
    send = Recorder()
    batch = Coalescer(send)
    calls = [asyncio.ensure_future(batch(i)) for i in range(3)]
    await asyncio.sleep(0)  # all three are waiting on the batch
    calls[1].cancel()
    assert await calls[0] == 0 and await calls[2] == 4
    with pytest.raises(asyncio.CancelledError):
        await calls[1]
    assert send.batches == [[0, 1, 2]]
