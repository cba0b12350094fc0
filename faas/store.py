"""The Redis connection every store module shares, and the translation of its errors.

One builder, ``connect``, makes every client a process has, straight to one Redis
or through Sentinel to whichever server is the master (docs/operations.md, "Redis
with a replica and Sentinel").

Redis exceptions become ``StoreUnavailable`` here; nothing above the modules
that talk to Redis (``registry``, ``queue``) sees a redis exception.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.connection import HiredisRespSerializer
from redis.exceptions import RedisError, WatchError

from faas.errors import StoreUnavailable
from faas.settings import SentinelUrl, sentinel_url

# A short connect timeout: a Redis that is down must give a 503 fast, not a hang.
# Connections: redis-py 7 and later allow a pool 100 by default and refuse the 101st
# command in flight ("Too many connections", a 503): a burst of 100 first calls did.
# Redis itself takes 10,000 clients; one process's share here is bounded by its own
# concurrency (its connections, waiters and pub/sub), not by a pool's guess.
MAX_CONNECTIONS = 4096
_CONNECTION = {
    "socket_connect_timeout": 5,
    "health_check_interval": 30,
    "max_connections": MAX_CONNECTIONS,
}
# A sentinel that neither answers nor refuses must not hold up finding the master:
# the next one is asked.
SENTINEL_TIMEOUT_S = 2.0


def connect(url: str) -> aioredis.Redis:
    """The one client every part of a process shares (pub/sub too), for a Redis URL or a
    ``redis+sentinel://`` one (``faas.settings.sentinel_url``)."""
    target = sentinel_url(url)
    pool: aioredis.ConnectionPool
    if target is None:
        pool = aioredis.ConnectionPool.from_url(url, **_CONNECTION)
    else:
        pool = _sentinel_pool(target)
    pool.connection_class = hiredis_packing(pool.connection_class)
    return aioredis.Redis.from_pool(pool)


class _MasterPool(SentinelConnectionPool):
    """Connections to whichever server the sentinels call master, asked at each connect.

    After a failover, a connection to the old master fails (refused, or READONLY once
    it is back as a replica) and is dropped; the next one asks the sentinels again.
    While they have no master (between its loss and the promotion) a connect fails
    with ``MasterNotFoundError``, a Redis error: a 503 at once, not a wait.
    """

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await self.sentinel_manager.aclose()  # the sentinels' own connections


def _sentinel_pool(target: SentinelUrl) -> SentinelConnectionPool:
    options: dict[str, Any] = {**_CONNECTION, **parse_url(target.options_url)}
    del options["host"]
    asked = {
        "socket_connect_timeout": SENTINEL_TIMEOUT_S,
        "socket_timeout": SENTINEL_TIMEOUT_S,
        "username": options.pop("sentinel_username", None),
        "password": options.pop("sentinel_password", None),
    }
    sentinels = Sentinel(target.sentinels, sentinel_kwargs=asked)
    # Through Any: redis-py leaves the pool's __init__ unannotated (see _HiredisPacking).
    return cast(SentinelConnectionPool, cast(Any, _MasterPool)(target.master, sentinels, **options))


class _HiredisPacking:
    """Commands packed by hiredis (C), as redis-py's own sync connections pack them.

    redis-py's asyncio connections pack every command in Python, argument by
    argument: ~14 us for the XADD of one invocation log record, ~1.7 us with
    hiredis. That was ~4% of the gateway's CPU per invoke under load (py-spy),
    more on the async path, where each event is several commands.
    """

    # Called through Any: redis 8.2 leaves its __init__ unannotated, which strict mypy
    # refuses in a typed module; an ignore comment would be "unused" with other releases.
    _packer = cast(Any, HiredisRespSerializer)()

    def pack_command(self, *args: Any) -> list[bytes]:
        # A one-word command of plain values goes to hiredis as it is: the serializer's
        # own pass over every argument (for command names of two words, bytearrays)
        # cost more than the packing, ~0.1 us an argument, and a batch of logs or
        # queue events is hundreds of arguments.
        name = args[0]
        if isinstance(name, str | bytes) and name.isalnum():
            try:
                return [hiredis.pack_command(args)]
            except TypeError:
                pass  # a bytearray, or a value Redis cannot take: the serializer decides
        return self._packer.pack(*args)  # type: ignore[no-any-return]


_PACKING: dict[type[Any], type[Any]] = {}


def hiredis_packing(connection_class: type[Any]) -> type[Any]:
    """``connection_class`` (TCP, TLS or Unix socket) with hiredis packing its commands."""
    if connection_class not in _PACKING:
        name = f"Hiredis{connection_class.__name__}"
        _PACKING[connection_class] = type(name, (_HiredisPacking, connection_class), {})
    return _PACKING[connection_class]


@asynccontextmanager
async def redis_errors() -> AsyncIterator[None]:
    try:
        yield
    except WatchError:
        raise  # a lost optimistic-lock race: the caller retries
    except RedisError as exc:
        _restore_cancellation()
        raise StoreUnavailable(f"the store (Redis) is unavailable: {exc}") from exc
    _restore_cancellation()


def _restore_cancellation() -> None:
    # redis-py can swallow a CancelledError that lands mid-command, leaving a
    # cancelled task running on (a worker that never stops). The task still
    # counts the request: raise it again at this edge.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def reach(client: aioredis.Redis, timeout_s: float) -> None:
    """Wait up to ``timeout_s`` for Redis to answer: started together (compose, a swarm
    stack, a pod), it may answer, or its name resolve, a moment after the server.
    ``StoreUnavailable`` once the time is up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pause = 0.25
    while True:
        try:
            async with redis_errors():
                await client.ping()
            return
        except StoreUnavailable as exc:
            if loop.time() + pause > deadline:
                raise
            logging.getLogger("faas").warning("waiting for Redis: %s", exc.message)
            await asyncio.sleep(pause)
            pause = min(2.0, pause * 2)


async def check_no_eviction(client: aioredis.Redis) -> None:
    """Refuse a Redis that may evict keys: it would silently drop queued events."""
    async with redis_errors():
        info = await client.info("memory")
    policy = str(info.get("maxmemory_policy", "noeviction"))
    if policy != "noeviction":
        raise StoreUnavailable(
            f"Redis evicts keys (maxmemory-policy {policy}), which would lose queued events "
            "and functions; set maxmemory-policy noeviction on it"
        )
