"""What ``/readyz`` and ``/metrics`` read rather than count: readiness and gauges.

Readiness asks each dependency (Redis, and the backend's own: Docker, the
runtime image) with a short timeout and says "ok" or what is wrong. The
gauges (instances by state, the async queue's depth) are set from the
scheduler and the queue when ``/metrics`` is rendered; counters and
histograms are counted as things happen (``faas.metrics``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from faas import metrics, store
from faas.catalog.registry import Registry
from faas.compute.backend import Backend
from faas.compute.instance import InstanceState
from faas.compute.scheduler import Scheduler
from faas.errors import FaasError
from faas.invoke.asyncq.queue import Queue


class Health:
    """Readiness of the dependencies, and the gauges read at ``/metrics``."""

    def __init__(
        self,
        client: aioredis.Redis,
        backend: Backend,
        registry: Registry,
        scheduler: Scheduler,
        queue: Queue,
    ) -> None:
        self._redis = client
        self._backend = backend
        self._registry = registry
        self._scheduler = scheduler
        self._queue = queue
        # More gauges read at scrape time (the SQS queues' depths: faas.queues).
        self.gauges: list[Callable[[], Awaitable[None]]] = []

    async def readiness(self) -> dict[str, str]:
        """Each dependency: "ok" or what is wrong with it."""
        return {"redis": await _probe(self._ping_redis()), **await self._backend.readiness()}

    async def _ping_redis(self) -> None:
        async with store.redis_errors():
            await self._redis.ping()

    async def refresh_gauges(self) -> None:
        """Set the gauges ``/metrics`` shows that are read rather than counted."""
        counts: Counter[tuple[str, str]] = Counter(
            (i.function, i.state.value)
            for i in self._scheduler.instances()
            if i.state is not InstanceState.DEAD
        )
        metrics.set_instances(counts, {s.name for s in await self._registry.list()})
        stats = await self._queue.stats(time.time())
        metrics.set_queue(stats.queued, stats.running, stats.delayed, stats.oldest_age_s)
        for refresh in self.gauges:
            await refresh()


async def _probe(check: Awaitable[None], timeout_s: float = 2.0) -> str:
    """ "ok", or why ``check`` failed."""
    try:
        await asyncio.wait_for(check, timeout_s)
    except FaasError as exc:
        return exc.message
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    return "ok"
