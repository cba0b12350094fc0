"""Owners of sandboxes: which processes of this node are alive, so the dead's can be reaped.

Each process (``faas serve``, each ``faas worker``) has an owner id, written on
its sandboxes and kept alive in Redis by a heartbeat (``keys.OWNERS``, a zset
of ``<node>/<owner>`` scored by when the heartbeat lapses). Any live process
of the node reaps the sandboxes of a process whose heartbeat lapsed (it was
killed), and a restarted ``faas serve`` reaps its own earlier run's at once.

The heartbeat has a loop of its own (``Owners.run``), apart from the
scheduler's upkeep on purpose: keep-warm starts can take tens of seconds, and
a heartbeat waiting behind them would lapse and let other processes reap this
one's sandboxes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping

import redis.asyncio as aioredis

from faas import keys, store
from faas.cluster import nodes
from faas.compute.backend import Backend

log = logging.getLogger(__name__)

# Reap sandboxes of dead processes every this many heartbeats.
ORPHAN_REAP_EVERY = 5


def may_reap(beating_since: float, now: float, heartbeat_ttl_s: float) -> bool:
    """Whether a process may take a lapsed heartbeat for a dead process: only once its own
    heartbeats have reached Redis for a whole heartbeat lifetime. After Redis was away,
    every live process's heartbeat has lapsed, and each needs a turn to renew it before
    its containers may be taken for orphans."""
    return now - beating_since >= heartbeat_ttl_s


async def installation(client: aioredis.Redis) -> str:
    """This installation's id, made by its first process and kept in its Redis."""
    async with store.redis_errors():
        await client.set(keys.INSTALLATION, secrets.token_hex(8), nx=True)
        found: bytes = await client.get(keys.INSTALLATION)  # type: ignore[assignment]
    return found.decode()


class Owners:
    """This process's heartbeat, and the reaping of the sandboxes of this node's dead ones."""

    def __init__(
        self,
        client: aioredis.Redis,
        backend: Backend,
        *,
        node_id: str,
        owner_id: str,
        heartbeat_ttl_s: float,
        interval_s: float,
        advertise_url: str | None = None,
        instances: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        self._redis = client
        self._backend = backend
        self._node_id = node_id
        self.owner_id = owner_id
        self._ttl_s = heartbeat_ttl_s
        self._interval_s = interval_s
        # A server's heartbeat also keeps its node's row (faas.cluster.nodes) alive.
        self._advertise_url = advertise_url
        # This process's instances by state, written with each beat (the console's
        # Cluster page shows every process's; only the process itself knows them).
        self._instances = instances

    @property
    def _member(self) -> str:
        return f"{self._node_id}/{self.owner_id}"

    async def join(self) -> None:
        """Beat once, then reap what dead processes (or this owner's earlier run) left."""
        await self.beat()
        reaped = await self._backend.reap(await self.live(exclude=self.owner_id))
        if reaped:
            log.info("removed %d containers left by an earlier or dead process", reaped)

    async def beat(self) -> None:
        now = time.time()
        async with store.redis_errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.OWNERS, {self._member: now + self._ttl_s})
            pipe.zremrangebyscore(keys.OWNERS, "-inf", now - 86400)
            if self._advertise_url is not None:
                row = nodes.record(self._advertise_url, now, self._ttl_s)
                pipe.hset(keys.NODES, self._node_id, row)
            if self._instances is not None:
                counts = json.dumps(dict(self._instances()), separators=(",", ":"))
                pipe.hset(keys.OWNER_INSTANCES, self._member, counts)
            await pipe.execute()

    async def live(self, exclude: str | None = None) -> set[str]:
        """Owner ids of this node whose heartbeat has not lapsed."""
        async with store.redis_errors():
            live: list[bytes] = await self._redis.zrangebyscore(keys.OWNERS, time.time(), "+inf")  # type: ignore[assignment]
        # Owners are per node: another node's "serve" says nothing of this one's.
        prefix = f"{self._node_id}/"
        mine = {m.decode()[len(prefix) :] for m in live if m.decode().startswith(prefix)}
        return mine - {exclude or ""}

    async def leave(self) -> None:
        """Drop this process's heartbeat (at shut-down, after its sandboxes are gone)."""
        await self._redis.zrem(keys.OWNERS, self._member)
        await self._redis.hdel(keys.OWNER_INSTANCES, self._member)
        if self._advertise_url is not None:
            await self._redis.hdel(keys.NODES, self._node_id)

    async def run(self) -> None:
        """Forever: beat, and now and then reap the sandboxes of dead processes."""
        tick = 0
        # Since when this process's heartbeats reach Redis (always, until one fails).
        beating_since: float | None = float("-inf")
        while True:
            await asyncio.sleep(self._interval_s)
            tick += 1
            try:
                await self.beat()
            except Exception as exc:
                log.warning("housekeeping failed: %s", exc)
                beating_since = None
                continue
            now = time.monotonic()
            if beating_since is None:
                beating_since = now
            if tick % ORPHAN_REAP_EVERY or not may_reap(beating_since, now, self._ttl_s):
                continue
            try:
                reaped = await self._backend.reap(await self.live())
                if reaped:
                    log.info("removed %d containers of dead processes", reaped)
                await self._forget_counts()
            except Exception as exc:
                log.warning("housekeeping failed: %s", exc)

    async def _forget_counts(self) -> None:
        """Drop the instance counts of processes the heartbeats forgot (a day after)."""
        async with store.redis_errors():
            counted = list(await self._redis.hkeys(keys.OWNER_INSTANCES))
            known = set(await self._redis.zrange(keys.OWNERS, 0, -1))
            gone = [m for m in counted if m not in known]
            if gone:
                await self._redis.hdel(keys.OWNER_INSTANCES, *gone)
