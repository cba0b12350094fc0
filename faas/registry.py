"""The function registry: function specs in Redis (keys in ``faas.keys``).

Redis errors are translated into ``StoreUnavailable`` (``faas.store``).

Every invocation looks its function up, so specs are cached in the process
while ``watch`` listens on a pub/sub channel where every write names the
function it changed: a change made by any process reaches every cache within
a message's latency. Without the subscription (not yet made, or lost) nothing
is cached. Read-modify-write (``update``) always reads Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from faas import keys
from faas.errors import FunctionExists, FunctionNotFound, StoreUnavailable
from faas.models import FunctionSpec
from faas.store import redis_errors

log = logging.getLogger(__name__)

SpecChange = Callable[[FunctionSpec], FunctionSpec]


class Registry:
    """Create, read, replace and delete function specs."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._cache: dict[str, FunctionSpec] = {}
        self._caching = False
        # Bumped by every invalidation: a read that raced one must not fill the cache.
        self._generation = 0

    async def watch(self) -> None:
        """Forever: keep the subscription that lets specs be cached (a task of the platform)."""
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(keys.FUNCTION_CHANGED)
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self._forget(message["data"].decode())
                        elif message["type"] == "subscribe":
                            # From here on every change reaches us: caching is safe.
                            self._forget_all()
                            self._caching = True
            except (RedisError, OSError) as exc:
                log.warning("function cache off, Redis subscription lost: %s", exc)
            finally:
                self._caching = False
                self._forget_all()
            await asyncio.sleep(1)

    def _forget(self, name: str) -> None:
        self._generation += 1
        self._cache.pop(name, None)

    def _forget_all(self) -> None:
        self._generation += 1
        self._cache.clear()

    async def _changed(self, name: str) -> None:
        """Tell every process (this one at once) that ``name`` changed."""
        self._forget(name)
        async with redis_errors():
            await self._redis.publish(keys.FUNCTION_CHANGED, name)

    async def create(self, spec: FunctionSpec) -> None:
        async with redis_errors():
            created = await self._redis.set(keys.function(spec.name), spec.to_json(), nx=True)
            if not created:
                raise FunctionExists(f"function {spec.name!r} already exists")
            await self._redis.sadd(keys.FUNCTIONS, spec.name)
        await self._changed(spec.name)

    async def exists(self, name: str) -> bool:
        async with redis_errors():
            return bool(await self._redis.exists(keys.function(name)))

    async def get(self, name: str) -> FunctionSpec:
        spec = self._cache.get(name)
        if spec is not None:
            return spec
        generation = self._generation
        spec = await self._read(name)
        if self._caching and generation == self._generation:
            self._cache[name] = spec
        return spec

    async def _read(self, name: str) -> FunctionSpec:
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
        await self._changed(spec.name)

    async def update(self, name: str, change: SpecChange) -> FunctionSpec:
        """Read-modify-write with optimistic locking; ``change`` maps old to new spec."""
        for _ in range(10):
            current = await self._read(name)
            new = change(current)
            try:
                await self.replace(new, expected_updated_at=current.updated_at)
            except WatchError:
                continue
            return new
        raise StoreUnavailable(f"function {name!r} is being changed concurrently; retry")

    async def delete(self, name: str) -> FunctionSpec:
        spec = await self._read(name)
        async with redis_errors():
            removed = await self._redis.delete(keys.function(name))
            await self._redis.srem(keys.FUNCTIONS, name)
        await self._changed(name)
        if not removed:
            raise FunctionNotFound(f"function {name!r} not found")
        return spec

    async def list(self) -> list[FunctionSpec]:
        """Every function, by name; cached specs are not read again (upkeep lists them all
        every few seconds: with 1,000 functions, reading and parsing all took ~30 ms)."""
        generation = self._generation
        async with redis_errors():
            members = await self._redis.smembers(keys.FUNCTIONS)
            names = sorted(m.decode() if isinstance(m, bytes) else m for m in members)
            missing = [n for n in names if n not in self._cache]
            raws = await self._redis.mget([keys.function(n) for n in missing]) if missing else []
        fresh = {
            n: FunctionSpec.from_json(raw) for n, raw in zip(missing, raws, strict=True) if raw
        }
        if self._caching and generation == self._generation:
            self._cache.update(fresh)
        return [spec for n in names if (spec := self._cache.get(n) or fresh.get(n)) is not None]
