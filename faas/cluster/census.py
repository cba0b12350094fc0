"""Who is in the cluster now, as Redis holds it: nodes, their processes, warm instances.

What the console's Cluster page reads, in a few pipelined reads and nothing
written: each node's row (``keys.NODES``: its URL and heartbeat, lapsed ones too
until they are forgotten), each process's heartbeat (``keys.OWNERS``), the URL
each process is reached at (``keys.MEMBERS``), and the warm-routing directory
(``keys.warm``: per pool key, how many instances each process has), and each
process's instances by state, which its heartbeat writes (``keys.OWNER_INSTANCES``;
as fresh as its last beat). Redis's
own health (a ping's round trip, its version and memory from ``INFO``) is here
too. ``assemble`` is the pure part: rows of Redis in, nodes out.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from faas import keys, store

# The warm directory holds a key per pool key; the page reads at most this many.
WARM_KEYS_MAX = 5000


@dataclass(frozen=True)
class Process:
    """A server or worker process: ``node/owner``, whether its heartbeat holds, its URL."""

    member: str
    owner: str
    live: bool
    lapses_in_s: float
    url: str | None
    warm: int
    # Its instances by state at its last heartbeat (empty: it writes none, e.g. lapsed).
    states: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeSeen:
    """A node: its row (None: processes without a ``faas serve`` row), its processes."""

    node_id: str
    url: str | None
    heartbeat: float | None
    live: bool
    processes: list[Process] = field(default_factory=list)

    @property
    def warm(self) -> int:
        return sum(p.warm for p in self.processes)

    @property
    def states(self) -> dict[str, int]:
        """Its live processes' instances by state, added up."""
        total: dict[str, int] = defaultdict(int)
        for process in self.processes:
            if process.live:
                for state, n in process.states.items():
                    total[state] += n
        return dict(total)


@dataclass(frozen=True)
class RedisHealth:
    """Redis as ``PING`` and ``INFO`` show it."""

    ping_ms: float
    version: str
    used_memory: int
    maxmemory: int
    maxmemory_policy: str
    clients: int
    uptime_s: int
    keys: int


def assemble(
    rows: dict[str, str],
    owners: dict[str, float],
    members: dict[str, str],
    warm: dict[str, int],
    now: float,
    states: dict[str, str] | None = None,
) -> list[NodeSeen]:
    """Nodes by id from their rows (JSON ``{url, heartbeat, lapses}``), the processes'
    heartbeats (member -> when it lapses), their URLs, warm instance counts and
    instances by state (member -> JSON ``{state: n}``)."""
    by_node: dict[str, list[Process]] = defaultdict(list)
    for member in sorted(set(owners) | set(warm)):
        node, _, owner = member.partition("/")
        lapses = owners.get(member, 0.0)
        raw_states = (states or {}).get(member)
        by_state = {str(k): int(v) for k, v in json.loads(raw_states).items()} if raw_states else {}
        by_node[node].append(
            Process(
                member,
                owner,
                lapses > now,
                lapses - now,
                members.get(member),
                warm.get(member, 0),
                by_state,
            )
        )
    seen = []
    for node_id in sorted(set(rows) | set(by_node)):
        raw = rows.get(node_id)
        row: dict[str, Any] = json.loads(raw) if raw else {}
        processes = by_node.get(node_id, [])
        live = row["lapses"] > now if row else any(p.live for p in processes)
        seen.append(NodeSeen(node_id, row.get("url"), row.get("heartbeat"), live, processes))
    return seen


class Census:
    """Reads the cluster's state from Redis for the console."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def nodes(self) -> list[NodeSeen]:
        async with store.redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(keys.NODES)
                pipe.zrange(keys.OWNERS, 0, -1, withscores=True)
                pipe.hgetall(keys.MEMBERS)
                pipe.hgetall(keys.OWNER_INSTANCES)
                rows, owners, members, states = await pipe.execute()
            warm = await self._warm()
        return assemble(
            {_text(k): _text(v) for k, v in rows.items()},
            {_text(m): float(s) for m, s in owners},
            {_text(k): _text(v) for k, v in members.items()},
            warm,
            time.time(),
            {_text(k): _text(v) for k, v in states.items()},
        )

    async def _warm(self) -> dict[str, int]:
        """Instances per process, summed over the warm directory's pool keys."""
        found: list[str] = []
        async for key in self._redis.scan_iter(match=keys.warm("*"), count=1000):
            found.append(_text(key))
            if len(found) >= WARM_KEYS_MAX:
                break
        if not found:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in found:
                pipe.hgetall(key)
            held: list[dict[bytes, bytes]] = await pipe.execute()
        counts: dict[str, int] = defaultdict(int)
        for hash_ in held:
            for member, count in hash_.items():
                counts[_text(member)] += max(0, int(count))
        return dict(counts)

    async def redis(self) -> RedisHealth:
        async with store.redis_errors():
            started = time.perf_counter()
            await self._redis.ping()
            ping_ms = (time.perf_counter() - started) * 1000
            info: dict[str, Any] = await self._redis.info()
            size = int(await self._redis.dbsize())
        return RedisHealth(
            ping_ms=ping_ms,
            version=str(info.get("redis_version", "?")),
            used_memory=int(info.get("used_memory", 0)),
            maxmemory=int(info.get("maxmemory", 0)),
            maxmemory_policy=str(info.get("maxmemory_policy", "")),
            clients=int(info.get("connected_clients", 0)),
            uptime_s=int(info.get("uptime_in_seconds", 0)),
            keys=size,
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
