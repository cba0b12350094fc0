"""Reads of the statistics' hashes: a page of functions' summaries, one function's chart.

Each read is one script call that answers the HGETALL of every hash it names
(a span nothing ran in is an absent key, an empty answer): a page of 50
functions over the last hour is 650 blocks of five minutes, an hour's chart 60
minutes, a 24-hour chart 288 blocks. A pipeline of as many HGETALLs cost the
gateway ten times the CPU (about 50 us each in redis-py's asyncio pipeline:
150 ms for a page; the script, 20 ms for 3,000 minutes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

import redis.asyncio as aioredis

from faas import keys
from faas.errors import ValidationFailed
from faas.stats import rollup
from faas.stats.rollup import Clock, Figures, Point, Summary
from faas.store import redis_errors

# KEYS: hashes; the answer: for each, its fields and values (HGETALL's), in order.
READ = """
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('HGETALL', key)
end
return out
"""
# The most hashes one script call reads: Redis serves nothing else meanwhile.
SCRIPT_KEYS = 1000


class Reader:
    """Function statistics as the console shows them, from Redis."""

    def __init__(self, client: aioredis.Redis, clock: Clock = time.time) -> None:
        self._clock = clock
        self._read_script = client.register_script(READ)

    async def summaries(self, names: list[str], minutes: int = 60) -> dict[str, Summary]:
        """Each function's summary over the last ``minutes``, read as the blocks of five
        minutes that cover them (the last hour: 12, the current one under way)."""
        _check_window(minutes)
        span = rollup.blocks(self._clock(), minutes)
        found = await self._read([keys.stats_block(name, b) for name in names for b in span])
        n = len(span)
        return {name: rollup.summarize(found[i * n : (i + 1) * n]) for i, name in enumerate(names)}

    async def series(self, name: str, minutes: int) -> list[Point]:
        """A function's chart over the last ``minutes``, oldest point first: one a minute,
        or one per 10 minutes past 3 hours (``rollup.step_for``)."""
        _check_window(minutes)
        groups = rollup.groups(self._clock(), minutes)
        key: Callable[[str, int], str] = (
            keys.stats if rollup.step_for(minutes) == 1 else keys.stats_block
        )
        found = await self._read([key(name, start) for group in groups for start in group])
        points = []
        at = 0
        for group in groups:
            points.append(rollup.point(group[0], found[at : at + len(group)]))
            at += len(group)
        return points

    async def _read(self, wanted: list[str]) -> list[Figures]:
        answers: list[list[bytes]] = []
        async with redis_errors():
            for begin in range(0, len(wanted), SCRIPT_KEYS):
                chunk = wanted[begin : begin + SCRIPT_KEYS]
                answers += cast(list[list[bytes]], await self._read_script(keys=chunk))
        return [
            Figures.from_pairs(zip(a[::2], a[1::2], strict=True)) if a else rollup.EMPTY
            for a in answers
        ]


def _check_window(minutes: object) -> None:
    if (
        not isinstance(minutes, int)
        or isinstance(minutes, bool)
        or not 1 <= minutes <= rollup.MAX_WINDOW
    ):
        raise ValidationFailed(
            f"minutes must be a whole number from 1 to {rollup.MAX_WINDOW}", field="minutes"
        )
