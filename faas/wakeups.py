"""Wake-ups through Redis pub/sub: a waiter waits for a publish, not on a sleep loop.

Long polling is the first user: every script that makes a message receivable
publishes on the queue's wake channel (``faas.keys.sqs_wake``); a lease of a
capped function freed while others wait publishes on the function's
(``faas.cluster.leases``). A process holds one pub/sub connection for all
its waiters, subscribed to the channels of the queues someone waits on; each
channel has one ``asyncio.Event``, set (and replaced) when a wake arrives. A
waiter takes the current event *before* it tries to receive, so a wake that
lands between its empty receive and its wait is never missed. A hundred long
polls on one queue are one subscription and a hundred awaits, no connection each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from faas import keys

log = logging.getLogger(__name__)


@dataclass
class Channel:
    name: str
    event: asyncio.Event = field(default_factory=asyncio.Event)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        event, self.event = self.event, asyncio.Event()
        event.set()


class Waiters:
    """One pub/sub connection per process (per kind of wake-up), a channel per thing
    waited on; ``channel_of`` names its Redis channel."""

    def __init__(
        self, client: aioredis.Redis, channel_of: Callable[[str], str] = keys.sqs_wake
    ) -> None:
        self._redis = client
        self._channel_of = channel_of
        self._pubsub: aioredis.client.PubSub | None = None
        self._channels: dict[bytes, Channel] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def channel(self, queue: str) -> Channel:
        """The queue's (or other thing's) channel, subscribed (wakes from now on reach it)."""
        key = self._channel_of(queue).encode()
        found = self._channels.get(key)
        if found is None:
            async with self._lock:
                found = self._channels.get(key)
                if found is None:
                    found = self._channels[key] = Channel(queue)
                    if self._pubsub is None:
                        self._pubsub = self._redis.pubsub()
                    await self._pubsub.subscribe(key)
                    if self._task is None or self._task.done():
                        self._task = asyncio.create_task(self._listen())
        if not found.subscribed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(found.subscribed.wait(), 2.0)
        return found

    async def wait(self, event: asyncio.Event, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(0.0, timeout_s))

    def forget(self, queue: str) -> None:
        """A deleted queue: wake its waiters (they find it gone)."""
        found = self._channels.get(self._channel_of(queue).encode())
        if found is not None:
            found.wake()

    async def _listen(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("wake-ups: pub/sub failed (%s); reconnecting", exc)
                for channel in self._channels.values():
                    channel.subscribed.clear()
                    channel.wake()  # waiters look again rather than wait out a lost wake
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            found = self._channels.get(message["channel"])
            if found is None:
                continue
            if message["type"] == "subscribe":
                found.subscribed.set()
            elif message["type"] == "message":
                found.wake()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._task
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
