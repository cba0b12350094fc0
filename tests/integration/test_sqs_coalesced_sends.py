"""Sends made together go to Redis as one pipeline: each caller still gets its own
answer, its own error, and Redis holds every message once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from faas import keys
from faas.errors import QueueDoesNotExist, StoreUnavailable
from faas.queues.model import BatchEntry
from faas.queues.queues import Queues
from faas.store import connect


@pytest.fixture
async def queues(redis_client: aioredis.Redis) -> AsyncIterator[Queues]:
    q = Queues(redis_client, region="local-1", account_id="000000000000")
    yield q
    await q.close()


def batch(tag: str) -> list[BatchEntry]:
    return [BatchEntry(str(i), f"{tag}-{i}") for i in range(10)]


async def test_concurrent_batches_each_get_their_own_answer(
    queues: Queues, redis_client: aioredis.Redis
) -> None:
    # Given two queues, and a name that is no queue
    await queues.create("left")
    await queues.create("right.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"})
    # When 30 batches are sent at once: to each queue, and to the missing one
    fifo = [BatchEntry(str(i), f"f-{i}", group_id="g") for i in range(10)]
    calls = [queues.send_batch("left", batch(f"l{n}")) for n in range(20)]
    calls += [queues.send_batch("right.fifo", fifo) for _ in range(5)]
    calls += [queues.send_batch("gone", batch("x")) for _ in range(5)]
    answers = await asyncio.gather(*calls, return_exceptions=True)
    # Then each standard batch has its ten ids, the missing queue's calls fail alone
    left = answers[:20]
    assert all(not isinstance(a, BaseException) and len(a[0]) == 10 for a in left)
    ids = {sent.message_id for a in left if not isinstance(a, BaseException) for _, sent in a[0]}
    assert len(ids) == 200
    assert all(isinstance(a, QueueDoesNotExist) for a in answers[25:])
    # And the FIFO batches, the same bodies five times, were deduplicated to one set
    fifo_ids = [
        [sent.message_id for _, sent in a[0]]
        for a in answers[20:25]
        if not isinstance(a, BaseException)
    ]
    assert len(fifo_ids) == 5 and all(f == fifo_ids[0] for f in fifo_ids)
    # And Redis holds each message once
    assert await redis_client.zcard(keys.sqs_queue("left") + ":sent") == 200
    assert await redis_client.zcard(keys.sqs_queue("right.fifo") + ":sent") == 10


async def test_sends_after_redis_lost_its_scripts_load_them_again(
    queues: Queues, redis_client: aioredis.Redis
) -> None:
    # Given a queue, used once, and then Redis restarted without its scripts
    await queues.create("work")
    await queues.send_batch("work", batch("a"))
    await redis_client.script_flush()
    # When several batches are sent at once
    answers = await asyncio.gather(*(queues.send_batch("work", batch(str(n))) for n in range(4)))
    # Then all of them went in
    assert [len(ok) for ok, _ in answers] == [10, 10, 10, 10]
    assert await redis_client.zcard(keys.sqs_queue("work") + ":sent") == 50


async def test_sends_to_a_redis_that_is_gone_fail_as_the_store_unavailable() -> None:
    # Given a client of a Redis that does not answer
    client = connect("redis://127.0.0.1:9/0")
    queues = Queues(client, region="local-1", account_id="000000000000")
    try:
        # When batches are sent at once
        answers = await asyncio.gather(
            *(queues.send_batch("work", batch(str(n))) for n in range(3)), return_exceptions=True
        )
        # Then each caller is told the store is unavailable
        assert all(isinstance(a, StoreUnavailable) for a in answers), answers
    finally:
        await queues.close()
        await client.aclose()
