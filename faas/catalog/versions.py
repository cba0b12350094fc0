"""Published versions: immutable snapshots of a function's code and configuration.

``publish`` freezes ``$LATEST`` as the next number (1, 2, ...), unless nothing
changed since the last one, which is then returned, as Lambda does. A version
keeps its code and configuration for good; the function's reserved concurrency
and tags are the function's and apply to every version. Numbers are never
reused while the function exists; deleting the function deletes its versions.

Versions are read on every invoke of one, and never change: each process keeps
those it read, keyed by the function's creation time too, so that a function
deleted and made again (whose numbers start again at 1) is never served an old
snapshot.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from faas import keys
from faas.catalog.registry import Registry
from faas.errors import FunctionNotFound, PreconditionFailed, ResourceConflict, ValidationFailed
from faas.models import DESCRIPTION_MAX, FunctionSpec
from faas.store import redis_errors

SEQ = "seq"
# What a version snapshots; the rest (reserved concurrency, tags, async and http
# config) is the function's, for every version.
FROZEN = ("code_sha256", "secrets_version")


class Versions:
    def __init__(
        self,
        client: aioredis.Redis,
        registry: Registry,
        *,
        on_delete: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._redis = client
        self._registry = registry
        # A version deleted: its code may be unreferenced now (the code sweep decides).
        self._on_delete = on_delete
        # Versions are immutable but may be deleted, by any process: cached while the
        # registry hears of every change, forgotten with the function's spec.
        self._cache: dict[tuple[str, float, str], FunctionSpec] = {}
        registry.listen(self._forget)

    def _forget(self, name: str) -> None:
        if not name:
            self._cache.clear()
        elif any(k[0] == name for k in self._cache):
            self._cache = {k: v for k, v in self._cache.items() if k[0] != name}

    async def publish(
        self,
        name: str,
        *,
        description: str | None = None,
        code_sha256: str | None = None,
        revision_id: str | None = None,
    ) -> FunctionSpec:
        """A version of ``$LATEST`` as it is now (the last one if nothing changed).

        ``code_sha256`` (hex) and ``revision_id``, when given, must be ``$LATEST``'s.
        """
        if description is not None and len(description) > DESCRIPTION_MAX:
            raise ValidationFailed(
                f"Description must be at most {DESCRIPTION_MAX} characters", field="Description"
            )
        latest = await self._registry.get(name)
        if revision_id is not None and revision_id != latest.revision_id:
            raise PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetFunction/GetAlias API to retrieve the latest Revision Id"
            )
        if code_sha256 is not None and code_sha256 != latest.code_sha256:
            raise ValidationFailed(
                "CodeSHA256 does not match the code of $LATEST", field="CodeSha256"
            )
        published = await self.published(name)
        if published and _same(published[-1], latest):
            return published[-1]
        key = keys.versions(name)
        async with redis_errors():
            number = str(await self._redis.hincrby(key, SEQ, 1))
            config = latest.config
            if description is not None:
                config = dataclasses.replace(config, description=description)
            version = dataclasses.replace(
                latest, config=config, version=number, updated_at=time.time()
            )
            await self._redis.hset(key, number, version.to_json())
        if not await self._registry.exists(name):  # deleted meanwhile: leave nothing
            await self.delete_all(name)
            raise FunctionNotFound(f"function {name!r} not found")
        return version

    async def get(self, latest: FunctionSpec, number: str) -> FunctionSpec:
        """Version ``number`` of the function whose ``$LATEST`` is ``latest``."""
        cached = self._cache.get((latest.name, latest.created_at, number))
        if cached is not None:
            return cached
        async with redis_errors():
            raw = await self._redis.hget(keys.versions(latest.name), number)
        if raw is None or number == SEQ:
            raise FunctionNotFound(f"function {latest.name!r} has no version {number}")
        version = FunctionSpec.from_json(raw)
        if self._registry.caching:
            self._cache[(latest.name, latest.created_at, number)] = version
        return version

    async def published(self, name: str) -> list[FunctionSpec]:
        """Every published version, oldest first."""
        async with redis_errors():
            raw: dict[bytes, bytes] = await self._redis.hgetall(keys.versions(name))  # type: ignore[assignment]
        found = [FunctionSpec.from_json(v) for k, v in raw.items() if k != SEQ.encode()]
        return sorted(found, key=lambda s: int(s.version))

    async def delete(self, name: str, number: str, *, used_by: list[str]) -> None:
        """Delete one version; refused while aliases (``used_by``) point at it."""
        if used_by:
            raise ResourceConflict(
                f"Unable to delete version because the following aliases reference it: {used_by}"
            )
        async with redis_errors():
            removed = await self._redis.hdel(keys.versions(name), number)
        if not removed:
            raise FunctionNotFound(f"function {name!r} has no version {number}")
        # Every process forgets it (and retires its instances: faas.platform).
        await self._registry.changed(name)
        if self._on_delete is not None:
            await self._on_delete()

    async def delete_all(self, name: str) -> None:
        async with redis_errors():
            await self._redis.delete(keys.versions(name))
        self._forget(name)


def _same(version: FunctionSpec, latest: FunctionSpec) -> bool:
    """Whether ``latest`` is what ``version`` froze (description aside)."""
    if any(getattr(version, f) != getattr(latest, f) for f in FROZEN):
        return False
    ours = dataclasses.replace(version.config, description="", concurrency=None)
    theirs = dataclasses.replace(latest.config, description="", concurrency=None)
    return ours == theirs
