"""Dead-letter administration: list a function's dead letters, redrive them, delete them.

An event that runs out of attempts (or of age) is settled into its function's
dead-letter set by the queue (``faas.invoke.asyncq.queue``); this module is
what an operator does with it afterwards, over the API or ``faas dead-letters``.
Redrive and delete are scripts (``faas.invoke.asyncq.scripts``), so an event
is never both a dead letter and queued. Keys are documented in ``faas.keys``.

A deleted function's dead letters go with it (``delete_all``, one of the
platform's ``on_delete``): they are named by the function's name only, so a
function made again under that name would otherwise show the old one's failures.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

from faas import keys
from faas.errors import InvalidRequest, InvocationNotFound
from faas.invoke.asyncq import packing, scripts
from faas.invoke.asyncq.records import Invocation
from faas.store import redis_errors

# Dead letters dropped by one script call when their function is deleted.
DROP_BATCH = 500


class DeadLetters:
    """The dead letters of every function."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._redrive = client.register_script(scripts.REDRIVE)
        self._drop = client.register_script(scripts.DROP_DEAD)
        self._drop_all = client.register_script(scripts.DROP_ALL_DEAD)

    async def page(self, function: str, offset: int, limit: int) -> tuple[int, list[Invocation]]:
        """A page of a function's dead letters, oldest first, and how many there are."""
        key = keys.dead_letters(function)
        async with redis_errors():
            total = int(await self._redis.zcard(key))
            found: Any = await self._redis.zrange(key, offset, offset + limit - 1)
            ids = [packing.text(i) for i in found]
            async with self._redis.pipeline(transaction=False) as pipe:
                for request_id in ids:
                    pipe.hgetall(keys.invocation(request_id))
                raws = await pipe.execute()
        return total, [Invocation.from_fields(raw) for raw in raws if raw]

    async def redrive(self, function: str, request_ids: list[str] | None) -> list[str]:
        """Queue dead letters again (all, or the chosen ones); return those queued."""
        if request_ids is not None and not request_ids:
            raise InvalidRequest("ids is empty; leave it out to redrive every dead letter")
        key = keys.dead_letters(function)
        async with redis_errors():
            if request_ids is None:
                every: Any = await self._redis.zrange(key, 0, -1)
                request_ids = [packing.text(i) for i in every]
            now = repr(time.time())
            done = []
            for request_id in request_ids:
                moved = await self._redrive(
                    keys=[key, keys.invocation(request_id), keys.EVENTS], args=[request_id, now]
                )
                if moved:
                    done.append(request_id)
        return done

    async def delete(self, function: str, request_id: str) -> None:
        async with redis_errors():
            dropped = await self._drop(
                keys=[keys.dead_letters(function), keys.invocation(request_id)], args=[request_id]
            )
        if not dropped:
            raise InvocationNotFound(f"function {function!r} has no dead letter {request_id!r}")

    async def delete_all(self, function: str) -> None:
        """Drop every dead letter of ``function`` and its record (it is being deleted)."""
        left = 1
        async with redis_errors():
            while left:
                left = int(
                    await self._drop_all(
                        keys=[keys.dead_letters(function)],
                        args=[keys.INVOCATION_PREFIX, DROP_BATCH],
                    )
                )
