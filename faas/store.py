"""The Redis connection every store module shares, and the translation of its errors.

Redis exceptions become ``StoreUnavailable`` here; nothing above the modules
that talk to Redis (``registry``, ``queue``) sees a redis exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from faas.errors import StoreUnavailable


def connect(url: str) -> aioredis.Redis:
    # A short connect timeout: a Redis that is down must give a 503 fast, not a hang.
    return aioredis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


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
