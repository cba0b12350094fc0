"""Reads of the minutes' hashes: a page of functions' summaries, one function's chart.

Each read is one pipeline of HGETALLs, one per function-minute of the window
(a minute nothing ran in is an absent key, an empty answer): 3,000 for a page
of 50 functions over the last hour, 1,440 for one function's 24 hours, which
are then points of 10 minutes (``rollup.groups``).
"""

from __future__ import annotations

import time
from typing import cast

import redis.asyncio as aioredis

from faas import keys
from faas.errors import ValidationFailed
from faas.stats import rollup
from faas.stats.rollup import Clock, Minute, Point, Summary
from faas.store import redis_errors


class Reader:
    """Function statistics as the console shows them, from Redis."""

    def __init__(self, client: aioredis.Redis, clock: Clock = time.time) -> None:
        self._redis = client
        self._clock = clock

    async def summaries(self, names: list[str], minutes: int = 60) -> dict[str, Summary]:
        """Each function's summary over the last ``minutes`` (the current one included)."""
        _check_window(minutes)
        span = rollup.window(self._clock(), minutes)
        found = await self._read([(name, m) for name in names for m in span])
        n = len(span)
        return {name: rollup.summarize(found[i * n : (i + 1) * n]) for i, name in enumerate(names)}

    async def series(self, name: str, minutes: int) -> list[Point]:
        """A function's chart over the last ``minutes``, oldest point first: one a minute,
        or one per 10 minutes past 3 hours (``rollup.step_for``)."""
        _check_window(minutes)
        groups = rollup.groups(self._clock(), minutes)
        found = await self._read([(name, m) for group in groups for m in group])
        points = []
        at = 0
        for group in groups:
            points.append(rollup.point(group[0], found[at : at + len(group)]))
            at += len(group)
        return points

    async def _read(self, wanted: list[tuple[str, int]]) -> list[Minute]:
        if not wanted:
            return []
        async with redis_errors():
            pipe = self._redis.pipeline(transaction=False)
            for name, minute in wanted:
                pipe.hgetall(keys.stats(name, minute))
            answers = cast(list[dict[bytes, bytes]], await pipe.execute())
        return [Minute.from_fields(a) if a else rollup.EMPTY for a in answers]


def _check_window(minutes: object) -> None:
    if (
        not isinstance(minutes, int)
        or isinstance(minutes, bool)
        or not 1 <= minutes <= rollup.MAX_WINDOW
    ):
        raise ValidationFailed(
            f"minutes must be a whole number from 1 to {rollup.MAX_WINDOW}", field="minutes"
        )
