"""Mappings in Redis: one hash of them, and a revision every change bumps.

``faas:mappings`` holds each mapping's JSON by UUID; ``faas:mappings-rev`` counts
the changes, so a process's pollers see a change by reading one number (and only
then the hash). A write and its bump go in one MULTI/EXEC.
"""

from __future__ import annotations

from redis.asyncio import Redis

from faas import keys, store
from faas.invoke.mappings.model import Mapping


class MappingStore:
    """Every mapping of the installation."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def put(self, mapping: Mapping) -> None:
        async with store.redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(keys.MAPPINGS, mapping.uuid, mapping.to_json())
                pipe.incr(keys.MAPPINGS_REV)
                await pipe.execute()

    async def get(self, uuid: str) -> Mapping | None:
        async with store.redis_errors():
            raw = await self._redis.hget(keys.MAPPINGS, uuid)
        return None if raw is None else Mapping.from_json(raw)

    async def all(self) -> list[Mapping]:
        async with store.redis_errors():
            raw = await self._redis.hvals(keys.MAPPINGS)
        return sorted((Mapping.from_json(r) for r in raw), key=lambda m: m.uuid)

    async def delete(self, uuid: str) -> bool:
        async with store.redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hdel(keys.MAPPINGS, uuid)
                pipe.incr(keys.MAPPINGS_REV)
                deleted, _ = await pipe.execute()
        return bool(deleted)

    async def revision(self) -> int:
        async with store.redis_errors():
            raw = await self._redis.get(keys.MAPPINGS_REV)
        return int(raw or 0)
