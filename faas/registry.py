"""The function registry: function specs in Redis (keys in ``faas.keys``).

Redis errors are translated into ``StoreUnavailable`` (``faas.store``).
"""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from faas import keys
from faas.errors import FunctionExists, FunctionNotFound, StoreUnavailable
from faas.models import FunctionSpec
from faas.store import redis_errors

SpecChange = Callable[[FunctionSpec], FunctionSpec]


class Registry:
    """Create, read, replace and delete function specs."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def create(self, spec: FunctionSpec) -> None:
        async with redis_errors():
            created = await self._redis.set(keys.function(spec.name), spec.to_json(), nx=True)
            if not created:
                raise FunctionExists(f"function {spec.name!r} already exists")
            await self._redis.sadd(keys.FUNCTIONS, spec.name)

    async def exists(self, name: str) -> bool:
        async with redis_errors():
            return bool(await self._redis.exists(keys.function(name)))

    async def get(self, name: str) -> FunctionSpec:
        async with redis_errors():
            raw = await self._redis.get(keys.function(name))
        if raw is None:
            raise FunctionNotFound(f"function {name!r} not found")
        return FunctionSpec.from_json(raw)

    async def replace(self, spec: FunctionSpec, *, expected_updated_at: float) -> None:
        """Store ``spec`` if the stored one is still at ``expected_updated_at``.

        Raises ``WatchError`` when another writer got there first, so that
        :meth:`update` can redo its read-modify-write.
        """
        key = keys.function(spec.name)
        async with redis_errors(), self._redis.pipeline(transaction=True) as pipe:
            await pipe.watch(key)
            raw = await pipe.get(key)
            if raw is None:
                raise FunctionNotFound(f"function {spec.name!r} not found")
            if FunctionSpec.from_json(raw).updated_at != expected_updated_at:
                raise WatchError("changed")
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(key, spec.to_json())
            await pipe.execute()

    async def update(self, name: str, change: SpecChange) -> FunctionSpec:
        """Read-modify-write with optimistic locking; ``change`` maps old to new spec."""
        for _ in range(10):
            current = await self.get(name)
            new = change(current)
            try:
                await self.replace(new, expected_updated_at=current.updated_at)
            except WatchError:
                continue
            return new
        raise StoreUnavailable(f"function {name!r} is being changed concurrently; retry")

    async def delete(self, name: str) -> FunctionSpec:
        spec = await self.get(name)
        async with redis_errors():
            removed = await self._redis.delete(keys.function(name))
            await self._redis.srem(keys.FUNCTIONS, name)
        if not removed:
            raise FunctionNotFound(f"function {name!r} not found")
        return spec

    async def list(self) -> list[FunctionSpec]:
        async with redis_errors():
            members = await self._redis.smembers(keys.FUNCTIONS)
            names = sorted(m.decode() if isinstance(m, bytes) else m for m in members)
            if not names:
                return []
            raws = await self._redis.mget([keys.function(n) for n in names])
        return [FunctionSpec.from_json(raw) for raw in raws if raw is not None]
