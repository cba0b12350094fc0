"""The queue's hot path under many concurrent callers, against a real Redis.

Calls made in the same turn of the event loop (enqueues from many requests,
attempts and settles from many running events) go to Redis as one script:
each caller must still get its own answer, and Redis must end up exactly as
if each had called alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
import redis.asyncio as aioredis

from faas import keys, store
from faas.errors import StoreUnavailable
from faas.invoke.asyncq.queue import Queue
from faas.invoke.asyncq.records import Invocation, State
from faas.models import FunctionConfig, FunctionSpec

CONSUMER = "batches-test"


@pytest.fixture
async def queue(redis_client: aioredis.Redis) -> Queue:
    queue = Queue(redis_client, lease_s=30, result_ttl_s=60)
    await queue.setup()
    spec = FunctionSpec(
        FunctionConfig(name="fn", runtime="python3.11", handler="app.handler"),
        "ab" * 32,
        10,
        created_at=1.0,
        updated_at=1.0,
    )
    await redis_client.set(keys.function("fn"), spec.to_json())
    return queue


def event(n: int) -> Invocation:
    return Invocation(
        request_id=f"req-{n:03d}",
        function="fn",
        payload=f'{{"n": {n}, "text": "a:b 12:34"}}'.encode(),
        enqueued_at=time.time(),
    )


async def test_many_concurrent_enqueues_each_store_their_own_event_once(
    queue: Queue, redis_client: aioredis.Redis
) -> None:
    # When a hundred requests enqueue at once (some with two events each)
    await redis_client.config_resetstat()
    await asyncio.gather(
        *(
            queue.enqueue(event(n), event(n + 500)) if n % 10 == 0 else queue.enqueue(event(n))
            for n in range(100)
        )
    )
    # Then every event is stored whole and queued once
    ids = [event(n).request_id for n in range(100)] + [
        event(n + 500).request_id for n in range(0, 100, 10)
    ]
    assert await redis_client.xlen(keys.EVENTS) == len(ids) == 110
    stored = [await queue.get(request_id) for request_id in ids]
    assert all(s.state is State.QUEUED and s.function == "fn" for s in stored)
    assert [s.payload for s in stored[:3]] == [event(n).payload for n in range(3)]
    # And they went to Redis together, not as a hundred scripts
    assert (await redis_client.info("commandstats"))["cmdstat_evalsha"]["calls"] <= 2


async def test_concurrent_attempts_and_settles_each_get_their_own_answer(
    queue: Queue, redis_client: aioredis.Redis
) -> None:
    # Given forty events taken by a worker, and twenty more waiting
    await queue.enqueue(*(event(n) for n in range(60)))
    taken = await queue.take(CONSUMER, 40)
    assert [t.invocation.request_id for t in taken] == [event(n).request_id for n in range(40)]
    assert all(t.spec is not None and t.spec.name == "fn" for t in taken)
    assert taken[0].invocation.payload == event(0).payload
    # When all forty start at once, one of them already on its second attempt
    await redis_client.hset(keys.invocation(taken[7].invocation.request_id), "attempts", 1)
    begun = await asyncio.gather(*(queue.begin_attempt(t.invocation, "cd" * 32) for t in taken))
    # Then each is told its own attempt number
    assert [b.attempts for b in begun] == [2 if i == 7 else 1 for i in range(40)]
    # When all forty settle at once, each taking the next event into its slot
    outcomes = [
        dataclasses.replace(b, state=State.SUCCEEDED, finished_at=time.time(), result=b"%d" % i)
        for i, b in enumerate(begun)
    ]
    settled = await asyncio.gather(
        *(
            queue.settle_and_take(t.delivery, o, consumer=CONSUMER, count=1)
            for t, o in zip(taken, outcomes, strict=True)
        )
    )
    # Then each recorded its own result, and the twenty waiting were taken once each
    assert all(recorded for recorded, _ in settled)
    for i, t in enumerate(taken):
        done = await queue.get(t.invocation.request_id)
        assert done.state is State.SUCCEEDED and done.result == b"%d" % i
        assert done.attempts == (2 if i == 7 else 1)
    next_ids = [n.invocation.request_id for _, more in settled for n in more]
    assert sorted(next_ids) == [event(n).request_id for n in range(40, 60)]
    assert sum(1 for _, more in settled if not more) == 20
    # And the stream holds exactly the twenty taken, all pending with this worker
    assert await redis_client.xlen(keys.EVENTS) == 20
    assert (await redis_client.xpending(keys.EVENTS, keys.EVENTS_GROUP))["pending"] == 20


async def test_a_batch_that_redis_refuses_fails_every_caller(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    # Given a queue whose Redis is not there
    gone = store.connect(f"unix://{tmp_path_factory.mktemp('gone')}/redis.sock")
    queue = Queue(gone, lease_s=30, result_ttl_s=60)
    # When many callers enqueue at once
    outcomes = await asyncio.gather(
        *(queue.enqueue(event(n)) for n in range(10)), return_exceptions=True
    )
    # Then every one of them is told, none is left waiting
    assert all(isinstance(o, StoreUnavailable) for o in outcomes), outcomes
    await gone.aclose()
