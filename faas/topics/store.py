"""Topics and subscriptions in Redis (``faas.keys``: ``faas:topics``, ``faas:topic-subs:*``,
``faas:topic-ends:*``).

A topic is a field of one hash (ListTopics is one read); its subscriptions are a
hash of their own, read whole at each Publish (one round trip with the topic's
check). Subscribing checks the topic exists and the endpoint is not subscribed
already in one script, so a topic deleted meanwhile keeps no orphan subscription;
deleting a topic removes its subscriptions in the same transaction.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from faas import keys
from faas.errors import SubscriptionNotFound, TopicNotFound
from faas.store import redis_errors
from faas.topics.records import Subscription, Topic

# KEYS: topics, subs, ends; ARGV: topic, id, subscription JSON, "<protocol> <endpoint>".
# {0}: no topic; {1}: subscribed; {2, JSON}: that endpoint's subscription already.
SUBSCRIBE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {0} end
local existing = redis.call('HGET', KEYS[3], ARGV[4])
if existing then
  local held = redis.call('HGET', KEYS[2], existing)
  if held then return {2, held} end
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[2])
return {1}
"""
# KEYS: subs, ends; ARGV: id. The subscription's JSON (nil: none).
UNSUBSCRIBE = """
local held = redis.call('HGET', KEYS[1], ARGV[1])
if not held then return nil end
local sub = cjson.decode(held)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], sub['protocol'] .. ' ' .. sub['endpoint'])
return held
"""
# KEYS: hash; ARGV: field, JSON. Sets a field that exists (0: it does not).
REPLACE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


DEDUP_MS = 5 * 60 * 1000


def endpoint_key(subscription: Subscription) -> str:
    return f"{subscription.protocol} {subscription.endpoint}"


class TopicStore:
    """Topics and their subscriptions, read and changed in Redis."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._subscribe = redis.register_script(SUBSCRIBE)
        self._unsubscribe = redis.register_script(UNSUBSCRIBE)
        self._replace = redis.register_script(REPLACE)

    async def create(self, topic: Topic) -> Topic | None:
        """Add ``topic``; None if it was added, else the topic of that name."""
        async with redis_errors():
            if await self._redis.hsetnx(keys.TOPICS, topic.name, topic.to_json()):
                return None
            raw = await self._redis.hget(keys.TOPICS, topic.name)
        return Topic.from_json(raw) if raw is not None else None

    async def get(self, name: str) -> Topic:
        async with redis_errors():
            raw = await self._redis.hget(keys.TOPICS, name)
        if raw is None:
            raise TopicNotFound("Topic does not exist")
        return Topic.from_json(raw)

    async def replace(self, topic: Topic) -> None:
        """Store a changed topic (``TopicNotFound`` if it was deleted meanwhile)."""
        async with redis_errors():
            done = await self._replace(keys=[keys.TOPICS], args=[topic.name, topic.to_json()])
        if not done:
            raise TopicNotFound("Topic does not exist")

    async def all(self) -> list[Topic]:
        async with redis_errors():
            raw = await self._redis.hvals(keys.TOPICS)
        return sorted((Topic.from_json(r) for r in raw), key=lambda t: t.name)

    async def delete(self, name: str) -> None:
        """Remove a topic and its subscriptions (deleting none is no error, as in SNS)."""
        async with redis_errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.TOPICS, name)
            pipe.delete(
                keys.topic_subscriptions(name),
                keys.topic_endpoints(name),
                keys.topic_sequence(name),
            )
            await pipe.execute()

    async def subscribe(self, subscription: Subscription) -> Subscription | None:
        """Add ``subscription``; None if added, else the one already at its endpoint."""
        topic = subscription.topic
        async with redis_errors():
            answer = await self._subscribe(
                keys=[keys.TOPICS, keys.topic_subscriptions(topic), keys.topic_endpoints(topic)],
                args=[topic, subscription.id, subscription.to_json(), endpoint_key(subscription)],
            )
        if answer[0] == 0:
            raise TopicNotFound("Topic does not exist")
        return Subscription.from_json(answer[1]) if answer[0] == 2 else None

    async def subscription(self, topic: str, subscription_id: str) -> Subscription:
        async with redis_errors():
            raw = await self._redis.hget(keys.topic_subscriptions(topic), subscription_id)
        if raw is None:
            raise SubscriptionNotFound("Subscription does not exist")
        return Subscription.from_json(raw)

    async def replace_subscription(self, subscription: Subscription) -> None:
        async with redis_errors():
            done = await self._replace(
                keys=[keys.topic_subscriptions(subscription.topic)],
                args=[subscription.id, subscription.to_json()],
            )
        if not done:
            raise SubscriptionNotFound("Subscription does not exist")

    async def unsubscribe(self, topic: str, subscription_id: str) -> bool:
        """Remove a subscription; whether there was one."""
        async with redis_errors():
            held = await self._unsubscribe(
                keys=[keys.topic_subscriptions(topic), keys.topic_endpoints(topic)],
                args=[subscription_id],
            )
        return held is not None

    async def subscriptions(self, topic: str) -> list[Subscription]:
        """The topic's subscriptions, oldest first (``TopicNotFound`` if no topic)."""
        return (await self.publishing(topic))[1]

    async def publishing(self, topic: str) -> tuple[Topic, list[Subscription]]:
        """The topic and its subscriptions, oldest first, in one round trip."""
        async with redis_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.TOPICS, topic)
            pipe.hvals(keys.topic_subscriptions(topic))
            held, raw = await pipe.execute()
        if held is None:
            raise TopicNotFound("Topic does not exist")
        found = [Subscription.from_json(r) for r in raw]
        return Topic.from_json(held), sorted(found, key=lambda s: (s.created_at, s.id))

    async def published(self, topic: str, dedup_id: str) -> str | None:
        """FIFO: ``"<MessageId> <SequenceNumber>"`` of the message published with this
        deduplication id in the last 5 minutes (None: none)."""
        async with redis_errors():
            held = await self._redis.get(keys.topic_dedup(topic, dedup_id))
        return held.decode() if isinstance(held, bytes) else held

    async def sequence(self, topic: str) -> int:
        """FIFO: the next sequence number of the topic."""
        async with redis_errors():
            return int(await self._redis.incr(keys.topic_sequence(topic)))

    async def remember(self, topic: str, dedup_id: str, message_id: str, sequence: str) -> None:
        """FIFO: a message delivered, kept 5 minutes against its deduplication id."""
        async with redis_errors():
            await self._redis.set(
                keys.topic_dedup(topic, dedup_id), f"{message_id} {sequence}", px=DEDUP_MS
            )

    async def count(self, topic: str) -> int:
        async with redis_errors():
            return int(await self._redis.hlen(keys.topic_subscriptions(topic)))
