"""Handing events back at shutdown, against a real Redis: only what is still held.

A worker stopping past its drain budget cancels what still runs and hands it
back to the queue. A settle may have landed just as its caller was cancelled,
or the sweeper may have given the event back already: then handing it back
again would queue a second copy (and run a finished event again).
"""

from __future__ import annotations

import dataclasses
import time

import pytest
import redis.asyncio as aioredis

from faas import keys
from faas.invoke.asyncq.queue import Queue
from faas.invoke.asyncq.records import Invocation, State

CONSUMER = "leases-test"


@pytest.fixture
async def queue(redis_client: aioredis.Redis) -> Queue:
    queue = Queue(redis_client, lease_s=30, result_ttl_s=60)
    await queue.setup()
    return queue


def event(request_id: str) -> Invocation:
    return Invocation(request_id=request_id, function="fn", payload=b"{}", enqueued_at=time.time())


async def test_a_running_event_handed_back_is_queued_once_with_its_attempt_refunded(
    queue: Queue, redis_client: aioredis.Redis
) -> None:
    # Given an event taken and started (one attempt spent)
    await queue.enqueue(event("held"))
    [taken] = await queue.take(CONSUMER, 10)
    await queue.begin_attempt(taken.invocation, "ab" * 32)
    # When its worker hands it back, twice (a retry of the shutdown path)
    assert await queue.hand_back(taken.delivery, refund_attempt=True)
    assert not await queue.hand_back(taken.delivery, refund_attempt=True)
    # Then it waits in the queue once, its attempt refunded, no longer leased
    back = await queue.get("held")
    assert back.state is State.QUEUED and back.attempts == 0
    assert await redis_client.xlen(keys.EVENTS) == 1
    assert (await redis_client.xpending(keys.EVENTS, keys.EVENTS_GROUP))["pending"] == 0
    [again] = await queue.take(CONSUMER, 10)
    assert again.invocation.request_id == "held" and again.delivery != taken.delivery


async def test_an_event_settled_before_its_hand_back_is_not_queued_again(
    queue: Queue, redis_client: aioredis.Redis
) -> None:
    # Given an event that ran and settled as its caller was being cancelled
    await queue.enqueue(event("done"))
    [taken] = await queue.take(CONSUMER, 10)
    begun = await queue.begin_attempt(taken.invocation, "ab" * 32)
    finished = dataclasses.replace(begun, state=State.SUCCEEDED, finished_at=time.time())
    assert await queue.settle(taken.delivery, finished)
    # When the stopping worker hands it back anyway
    assert not await queue.hand_back(taken.delivery, refund_attempt=True)
    # Then it stays succeeded, on its one attempt, and nothing is queued
    done = await queue.get("done")
    assert done.state is State.SUCCEEDED and done.attempts == 1
    assert await redis_client.xlen(keys.EVENTS) == 0
