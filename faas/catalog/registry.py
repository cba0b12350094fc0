"""The function registry: function specs in Redis (keys in ``faas.keys``).

Redis errors are translated into ``StoreUnavailable`` (``faas.store``).

Every invocation looks its function up, so specs are cached in the process
while ``watch`` listens on a pub/sub channel where every write names the
function it changed: a change made by any process reaches every cache within
a message's latency. Before the first subscription nothing is cached.
Read-modify-write (``update``) always reads Redis.

When the subscription is lost because Redis cannot be reached, the cache is
kept but goes stale: a function looked up before is still served its last spec
(warm invokes go on while Redis restarts; nothing can change a spec meanwhile),
nothing new is cached, and a function never looked up needs Redis as before.
``watch`` tries again every ``RESUBSCRIBE_S``; the moment it is subscribed
again it forgets every spec, so a change written while it was away (whose
message it missed) is read at the next lookup. A stale spec is therefore
served at most ``RESUBSCRIBE_S`` (plus a reconnect) after Redis answers again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from faas import keys
from faas.errors import FunctionExists, FunctionNotFound, StoreUnavailable
from faas.models import FunctionSpec
from faas.store import redis_errors

log = logging.getLogger(__name__)

SpecChange = Callable[[FunctionSpec], FunctionSpec]

# How often ``watch`` tries to subscribe again: while it is not subscribed, a spec
# cached before may be stale this long after Redis is back.
RESUBSCRIBE_S = 0.5
# Redis did not answer (down, restarting, loading its data, unreachable), as opposed
# to refusing a command: only then are cached specs worth serving stale.
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class Registry:
    """Create, read, replace and delete function specs."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._cache: dict[str, FunctionSpec] = {}
        self._caching = False
        # Bumped by every invalidation: a read that raced one must not fill the cache.
        self._generation = 0
        # Told of each function changed (its name) or of all ("": start afresh), by any
        # process: caches of what hangs off a function (its versions) follow this one.
        self._listeners: list[Callable[[str], None]] = []

    def listen(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` whenever function ``name`` changes anywhere ("": any
        may have: forget everything)."""
        self._listeners.append(listener)

    @property
    def caching(self) -> bool:
        """Whether every change reaches this process now, so a cache of it can be kept."""
        return self._caching

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
                            # From here on every change reaches us: caching is safe, but a
                            # change made while we were away may be cached: start afresh.
                            self._forget_all()
                            self._caching = True
            except _UNREACHABLE as exc:
                if self._caching:
                    log.warning(
                        "Redis subscription lost (%s): serving the last spec of %d cached "
                        "functions until it is back",
                        exc,
                        len(self._cache),
                    )
            except RedisError as exc:
                # Redis answers but refused us: a stale spec could outlive a change.
                log.warning("function cache off, Redis refused the subscription: %s", exc)
                self._forget_all()
            finally:
                self._caching = False
            await asyncio.sleep(RESUBSCRIBE_S)

    def _forget(self, name: str) -> None:
        self._generation += 1
        self._cache.pop(name, None)
        for listener in self._listeners:
            listener(name)

    def _forget_all(self) -> None:
        self._generation += 1
        self._cache.clear()
        for listener in self._listeners:
            listener("")

    async def changed(self, name: str) -> None:
        """Tell every process that something of ``name`` changed (a version, say)."""
        await self._changed(name)

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
        """The function's spec: cached, or stale while Redis is away (see the module)."""
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
            # Redis answers: stale specs (cached while it was away) are read again.
            cached = self._cache if self._caching else {}
            missing = [n for n in names if n not in cached]
            raws = await self._redis.mget([keys.function(n) for n in missing]) if missing else []
        fresh = {
            n: FunctionSpec.from_json(raw) for n, raw in zip(missing, raws, strict=True) if raw
        }
        if self._caching and generation == self._generation:
            self._cache.update(fresh)
        return [spec for n in names if (spec := fresh.get(n) or cached.get(n)) is not None]
