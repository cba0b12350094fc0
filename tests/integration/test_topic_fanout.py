"""Topics on a real Redis: what Publish delivers to queues (``faas.queues``, real) and to
functions (the Event invoke each function subscription asks for, recorded), and what
stays consistent when topics and subscriptions change."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from faas import keys
from faas.errors import TopicNotFound
from faas.queues.queues import Queues
from faas.topics.arns import Place
from faas.topics.topics import Draft, Topics

REGION, ACCOUNT = "local-1", "000000000000"
PLACE = Place(REGION, ACCOUNT)


class Invokes:
    """The function deliveries asked for: (name, event, qualifier)."""

    def __init__(self) -> None:
        self.made: list[tuple[str, dict[str, object], str | None]] = []

    async def __call__(self, name: str, event: bytes, qualifier: str | None) -> str:
        self.made.append((name, json.loads(event), qualifier))
        return "request-id"


@pytest.fixture
async def parts(redis_client: aioredis.Redis) -> AsyncIterator[tuple[Topics, Queues, Invokes]]:
    queues = Queues(redis_client, region=REGION, account_id=ACCOUNT)
    invokes = Invokes()
    yield (
        Topics(redis_client, PLACE, "http://127.0.0.1:1", invokes, lambda: queues),
        queues,
        invokes,
    )


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


async def test_publish_reaches_each_matching_subscriber_once(
    parts: tuple[Topics, Queues, Invokes],
) -> None:
    topics, queues, invokes = parts
    # Given a topic with an alias of a function, a queue, and a filtered raw queue
    topic = await topics.create("orders", {}, {})
    await queues.create("all")
    await queues.create("big")
    fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:handle:live"
    await topics.subscribe(topic, "lambda", fn, {})
    await topics.subscribe(topic, "sqs", queue_arn("all"), {})
    await topics.subscribe(
        topic,
        "sqs",
        queue_arn("big"),
        {"FilterPolicy": '{"amount": [{"numeric": [">=", 100]}]}', "RawMessageDelivery": "true"},
    )
    # When two messages are published
    for amount in ("5", "500"):
        await topics.publish(
            topic, Draft(f"order of {amount}", attributes={"amount": ("Number", amount)})
        )
    # Then the function's alias was invoked for each
    assert [(name, q) for name, _, q in invokes.made] == [("handle", "live"), ("handle", "live")]
    # And the plain queue holds both envelopes, the filtered one only the big order, raw
    every = await queues.receive("all", max_messages=10, wait_s=0)
    assert sorted(json.loads(m.body)["Message"] for m in every) == ["order of 5", "order of 500"]
    (big,) = await queues.receive("big", max_messages=10, wait_s=0)
    assert big.body == "order of 500"
    assert big.message_attributes["amount"].string_value == "500"


async def test_a_gone_queue_fails_its_delivery_not_the_others(
    parts: tuple[Topics, Queues, Invokes],
) -> None:
    topics, _, invokes = parts
    # Given a topic whose queue subscriber was deleted, and a function subscriber
    topic = await topics.create("t", {}, {})
    await topics.subscribe(topic, "sqs", queue_arn("never-made"), {})
    await topics.subscribe(topic, "lambda", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f", {})
    # When a message is published, then it is published, and the function still gets it
    assert await topics.publish(topic, Draft("hello"))
    assert [name for name, _, _ in invokes.made] == ["f"]


async def test_deleting_a_topic_leaves_no_subscription_behind(
    parts: tuple[Topics, Queues, Invokes], redis_client: aioredis.Redis
) -> None:
    topics, _, _ = parts
    topic = await topics.create("short-lived", {}, {})
    sub = await topics.subscribe(topic, "sqs", queue_arn("q"), {})
    # Subscribing the same endpoint again is the same subscription
    assert await topics.subscribe(topic, "sqs", queue_arn("q"), {}) == sub
    await topics.delete(topic)
    assert not await redis_client.exists(
        keys.topic_subscriptions("short-lived"), keys.topic_endpoints("short-lived")
    )
    with pytest.raises(TopicNotFound):
        await topics.subscribe(topic, "sqs", queue_arn("q"), {})
    with pytest.raises(TopicNotFound):
        await topics.publish(topic, Draft("x"))
    # An unsubscribed endpoint may subscribe again, as a new subscription
    again = await topics.create("short-lived", {}, {})
    first = await topics.subscribe(again, "sqs", queue_arn("q"), {})
    await topics.unsubscribe(first)
    assert await topics.subscribe(again, "sqs", queue_arn("q"), {}) != first
