"""Every function's invocations per minute, cluster-wide: what the console's charts read.

Per function and minute (and per five minutes, which lists and long charts
read), Redis keeps invocations, errors, throttles, cold starts, concurrent
executions and a histogram of durations (``rollup``), for 24 hours (minutes for
3 hours, the windows that read them; five minutes for 24). Each
process records on the invoke path in memory and adds to Redis once a second
(``recorder``); reads take a page of functions or one function's window
(``reader``). ``/metrics`` (Prometheus, ``faas.metrics``) is apart.

A deleted function's minutes are left to lapse (24 hours at most): a function
made again under its name shows them until then.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from faas.errors import StoreUnavailable
from faas.stats.reader import Reader
from faas.stats.recorder import Recorder
from faas.stats.rollup import Clock, Point, Summary

__all__ = ["Point", "Recorder", "Stats", "Summary"]


class Stats:
    """The platform's statistics: the recorder the invoke path feeds, and the reads."""

    def __init__(self, client: aioredis.Redis, clock: Clock = time.time) -> None:
        self.recorder = Recorder(client, clock)
        self._reader = Reader(client, clock)

    async def summaries(self, names: list[str], minutes: int = 60) -> dict[str, Summary]:
        """Each function's invocations, errors, throttles and p50 over the last
        ``minutes``, and its sparkline (invocations per 5 minutes, oldest first): the
        blocks of five minutes of the clock that cover the window (the last hour: 12,
        the current one under way), one read for them all. This process's latest
        figures are written first, so its own invocations show at once."""
        await self._flush()
        return await self._reader.summaries(names, minutes)

    async def series(self, name: str, minutes: int) -> list[Point]:
        """A function's chart over the last ``minutes`` (1 to 1440): a point a minute, or
        per 10 minutes (aligned to the clock) for windows past 3 hours."""
        await self._flush()
        return await self._reader.series(name, minutes)

    async def run(self) -> None:
        """Forever: write what this process recorded, every second."""
        await self.recorder.run()

    async def close(self) -> None:
        """Write what is left (at shutdown); Redis away, it is lost."""
        await self._flush()

    async def _flush(self) -> None:
        try:
            await self.recorder.flush()
        except StoreUnavailable:
            pass  # kept for the next flush; the read says whether Redis is away
