"""The queues on a real Redis: visibility, redrive, FIFO groups, dedup, delays,
long polling and concurrent receivers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from faas.errors import QueueDoesNotExist, QueueNameExists
from faas.queues.queues import Queues

DLQ_ARN = "arn:aws:sqs:local-1:000000000000:{}"


@pytest.fixture
async def queues(redis_client: aioredis.Redis) -> AsyncIterator[Queues]:
    q = Queues(redis_client, region="local-1", account_id="000000000000")
    yield q
    await q.close()


async def test_a_received_message_is_invisible_until_its_timeout_then_back(queues: Queues) -> None:
    await queues.create("work", {"VisibilityTimeout": "1"})
    sent = await queues.send("work", "job")
    [first] = await queues.receive("work")
    assert (
        first.message_id == sent.message_id and first.attributes["ApproximateReceiveCount"] == "1"
    )
    assert await queues.receive("work") == []
    [again] = await queues.receive("work", wait_s=3)
    assert again.attributes["ApproximateReceiveCount"] == "2"
    assert (
        again.attributes["ApproximateFirstReceiveTimestamp"]
        == first.attributes["ApproximateFirstReceiveTimestamp"]
    )
    # The first receive's handle no longer deletes it; the latest does.
    await queues.delete_message("work", first.receipt_handle)
    assert (await queues.get("work")).attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    await queues.delete_message("work", again.receipt_handle)
    await queues.delete_message("work", again.receipt_handle)  # twice: no error, as SQS
    attrs = (await queues.get("work")).attributes
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


async def test_a_message_received_past_max_receive_count_moves_to_the_dead_letter_queue(
    queues: Queues,
) -> None:
    await queues.create("dlq")
    policy = f'{{"deadLetterTargetArn":"{DLQ_ARN.format("dlq")}","maxReceiveCount":"3"}}'
    await queues.create("src", {"RedrivePolicy": policy})
    await queues.send("src", "poison")
    for count in (1, 2, 3):
        [m] = await queues.receive("src", visibility_s=0)
        assert m.attributes["ApproximateReceiveCount"] == str(count)
    assert await queues.receive("src") == []
    [dead] = await queues.receive("dlq")
    assert dead.body == "poison"
    assert (await queues.get("src")).attributes["ApproximateNumberOfMessages"] == "0"


async def test_fifo_groups_deliver_in_order_and_hold_a_group_while_in_flight(
    queues: Queues,
) -> None:
    await queues.create("jobs.fifo", {"FifoQueue": "true", "VisibilityTimeout": "1"})
    for i in range(4):
        await queues.send("jobs.fifo", f"a{i}", group_id="a", dedup_id=f"a{i}")
    await queues.send("jobs.fifo", "b0", group_id="b", dedup_id="b0")
    got = await queues.receive("jobs.fifo", max_messages=2)
    assert [m.body for m in got] == ["a0", "a1"]
    # Group a is held while a0 and a1 are in flight; b is not.
    assert [m.body for m in await queues.receive("jobs.fifo", max_messages=10)] == ["b0"]
    # a0 and a1 fail (visibility lapses): they come back first, in order.
    got = await queues.receive("jobs.fifo", max_messages=10, wait_s=3)
    retry = [m for m in got if m.attributes["MessageGroupId"] == "a"]
    assert [m.body for m in retry] == ["a0", "a1", "a2", "a3"]
    assert retry[0].attributes["ApproximateReceiveCount"] == "2"
    seqs = [int(m.attributes["SequenceNumber"]) for m in retry]
    assert seqs == sorted(seqs)


async def test_fifo_deduplicates_within_the_window_by_id_or_content(queues: Queues) -> None:
    await queues.create("dedup.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"})
    first = await queues.send("dedup.fifo", "same", group_id="g")
    second = await queues.send("dedup.fifo", "same", group_id="g")
    assert first.message_id == second.message_id
    assert first.sequence_number == second.sequence_number
    third = await queues.send("dedup.fifo", "same", group_id="g", dedup_id="explicit")
    assert third.message_id != first.message_id
    got = await queues.receive("dedup.fifo", max_messages=10)
    assert [m.body for m in got] == ["same", "same"]


async def test_a_delayed_message_wakes_a_long_poll_when_it_becomes_visible(
    queues: Queues,
) -> None:
    await queues.create("later")
    await queues.send("later", "soon", delay_s=1)
    assert (await queues.get("later")).attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    started = time.monotonic()
    [m] = await queues.receive("later", wait_s=10)
    waited = time.monotonic() - started
    assert m.body == "soon" and 0.8 < waited < 1.5


async def test_a_long_poll_wakes_on_a_send_not_at_its_timeout(queues: Queues) -> None:
    await queues.create("idle")
    polls = [asyncio.create_task(queues.receive("idle", wait_s=20)) for _ in range(100)]
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await queues.send("idle", "ping")
    done, _ = await asyncio.wait(polls, return_when=asyncio.FIRST_COMPLETED)
    woke = time.monotonic() - started
    assert woke < 0.5
    got = [m for task in done for m in task.result()]
    assert [m.body for m in got] == ["ping"]
    for task in polls:
        task.cancel()
    await asyncio.gather(*polls, return_exceptions=True)


async def test_concurrent_receivers_never_share_a_visible_message(queues: Queues) -> None:
    await queues.create("busy", {"VisibilityTimeout": "60"})
    from faas.queues.model import BatchEntry

    for start in range(0, 500, 10):
        await queues.send_batch("busy", [BatchEntry(str(i), f"m{start + i}") for i in range(10)])
    seen: list[str] = []

    async def consumer() -> None:
        while True:
            got = await queues.receive("busy", max_messages=10)
            if not got:
                return
            seen.extend(m.message_id for m in got)

    await asyncio.gather(*(consumer() for _ in range(20)))
    assert len(seen) == 500 and len(set(seen)) == 500


async def test_queues_are_created_once_read_back_and_deleted(queues: Queues) -> None:
    await queues.create("q1", {"DelaySeconds": "5"}, tags={"team": "a"})
    await queues.create("q1", {"DelaySeconds": "5"})  # identical: fine
    with pytest.raises(QueueNameExists):
        await queues.create("q1", {"DelaySeconds": "6"})
    q = await queues.get("q1")
    assert q.attributes["DelaySeconds"] == "5" and q.tags == {"team": "a"}
    assert q.attributes["QueueArn"] == "arn:aws:sqs:local-1:000000000000:q1"
    await queues.set_attributes("q1", {"DelaySeconds": "0"})
    assert (await queues.get("q1")).attributes["DelaySeconds"] == "0"
    await queues.send("q1", "x")
    await queues.purge("q1")
    assert await queues.receive("q1") == []
    await queues.delete("q1")
    with pytest.raises(QueueDoesNotExist):
        await queues.get("q1")
    with pytest.raises(QueueDoesNotExist):
        await queues.send("q1", "x")


async def test_retention_drops_expired_messages(
    queues: Queues, redis_client: aioredis.Redis
) -> None:
    await queues.create("short", {"MessageRetentionPeriod": "60"})
    sent = await queues.send("short", "old")
    # Age the message past retention by rewriting its sent time.
    await redis_client.zadd("faas:sqs:q:short:sent", {sent.message_id: 0})
    assert await queues.receive("short") == []
    assert (await queues.get("short")).attributes["ApproximateNumberOfMessages"] == "0"
