"""What this process saw of every function's invocations, added to Redis once a second.

An invocation costs its caller a few dict operations here (``invocation``,
``throttle``, ``started``/``finished``): nothing waits for Redis. ``run`` adds
what came in meanwhile to the minutes' hashes (``faas.stats.rollup``) every
``FLUSH_S``, in one script call: for each function-minute, and again for its
block of five minutes, a HINCRBY per field that changed and an EXPIREAT,
however many invocations made them.

Concurrency is a process's highest number of handlers running at once in each
10-second slot: the peak is kept here as handlers start and end (and, at each
flush, raised to the number still running, so a long handler counts in every
slot it spans), and what it grew by since the last flush is added to the slot's
field.

While Redis is unreachable the tallies wait here (added together per
function-minute, at most ``MAX_PENDING`` of them, the oldest dropped) and are
written once it answers: an invocation never fails for its statistics.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis

from faas import keys
from faas.errors import StoreUnavailable
from faas.stats import rollup
from faas.stats.rollup import Clock, Tally
from faas.store import redis_errors

log = logging.getLogger(__name__)

# How often what came in is written to Redis.
FLUSH_S = 1.0
# Function-minutes kept in memory while Redis is away, at most.
MAX_PENDING = 100_000
# The most function-minutes one script call writes (two hashes each): Redis serves
# nothing else meanwhile.
SCRIPT_KEYS = 500
# KEYS: the minutes' hashes. ARGV, for each: when it lapses (EXPIREAT), its number of
# fields, then each field and what to add to it.
ADD = """
local i = 1
for _, key in ipairs(KEYS) do
  local at, n = ARGV[i], tonumber(ARGV[i + 1])
  for j = 1, n do
    redis.call('HINCRBY', key, ARGV[i + 2 * j], ARGV[i + 2 * j + 1])
  end
  redis.call('EXPIREAT', key, at)
  i = i + 2 + 2 * n
end
return #KEYS
"""


class Recorder:
    """This process's invocations per function and minute, written behind them."""

    def __init__(self, client: aioredis.Redis, clock: Clock = time.time) -> None:
        self._clock = clock
        self._pending: dict[tuple[str, int], Tally] = {}
        # function -> its handlers running here now
        self._running: dict[str, int] = {}
        # (function, slot start) -> [the most running at once in it, how much of that
        # is written]
        self._peaks: dict[tuple[str, int], list[int]] = {}
        self._waited = False  # a write failed, and none has succeeded since
        self._dropped = 0
        self._add = client.register_script(ADD)

    # -- on the invoke path: a few dict operations each ---------------------------

    def _tally(self, name: str, at: float) -> Tally:
        key = (name, rollup.minute_of(at))
        tally = self._pending.get(key)
        if tally is None:
            tally = self._pending[key] = Tally()
        return tally

    def invocation(self, name: str, duration_ms: float | None, *, error: bool, cold: bool) -> None:
        """An invocation of ``name`` ended (``duration_ms`` None: it never ran a handler)."""
        tally = self._tally(name, self._clock())
        tally.invocations += 1
        if error:
            tally.errors += 1
        if cold:
            tally.cold_starts += 1
        if duration_ms is not None:
            index = rollup.bucket(duration_ms)
            tally.durations[index] = tally.durations.get(index, 0) + 1

    def throttle(self, name: str) -> None:
        """A call of ``name`` was throttled."""
        self._tally(name, self._clock()).throttles += 1

    def started(self, name: str) -> None:
        """A handler of ``name`` starts running."""
        running = self._running.get(name, 0) + 1
        self._running[name] = running
        self._peak(name, rollup.slot_of(self._clock()), running)

    def finished(self, name: str) -> None:
        """A handler of ``name`` is over (it ran in this slot, even if it began before)."""
        running = self._running.get(name, 0)
        self._peak(name, rollup.slot_of(self._clock()), running)
        if running > 1:
            self._running[name] = running - 1
        else:
            self._running.pop(name, None)

    def _peak(self, name: str, slot: int, running: int) -> None:
        peak = self._peaks.get((name, slot))
        if peak is None:
            self._peaks[(name, slot)] = [running, 0]
        elif running > peak[0]:
            peak[0] = running

    # -- behind it -------------------------------------------------------------------

    async def run(self) -> None:
        """Forever: write what came in, every ``FLUSH_S``."""
        while True:
            await asyncio.sleep(FLUSH_S)
            try:
                await self.flush()
            except StoreUnavailable:
                pass  # kept, and said once (``_keep``)
            except Exception:
                log.exception("could not write invocation statistics")

    async def flush(self) -> None:
        """Write everything recorded so far now; ``StoreUnavailable`` if Redis refused it
        (then it is kept, and written with the next flush)."""
        batch = self._take()
        if not batch:
            return
        items = list(batch.items())
        for begin in range(0, len(items), SCRIPT_KEYS):
            chunk = items[begin : begin + SCRIPT_KEYS]
            try:
                await self._write(chunk)
            except StoreUnavailable as exc:
                self._keep(items[begin:], exc)
                raise
        if self._waited:
            log.info("Redis answers again: the invocation statistics kept meanwhile are written")
            self._waited = False

    def _take(self) -> dict[tuple[str, int], Tally]:
        """What to write now: the tallies, with what each slot's peak grew by."""
        now = self._clock()
        current = rollup.slot_of(now)
        for name, running in self._running.items():
            self._peak(name, current, running)  # held since the slot began
        for (name, slot), peak in list(self._peaks.items()):
            if peak[0] > peak[1]:
                tally = self._tally(name, slot)
                tally.concurrency[slot] = tally.concurrency.get(slot, 0) + peak[0] - peak[1]
                peak[1] = peak[0]
            if slot < current:
                del self._peaks[(name, slot)]
        batch, self._pending = self._pending, {}
        return batch

    async def _write(self, chunk: list[tuple[tuple[str, int], Tally]]) -> None:
        names: list[str] = []
        args: list[str | int] = []
        for (name, minute), tally in chunk:
            block = rollup.block_of(minute)
            for key, start, span_s in (
                (keys.stats(name, minute), minute, rollup.MINUTE_S),
                (keys.stats_block(name, block), block, rollup.BLOCK_S),
            ):
                increments = tally.increments(span_s)
                names.append(key)
                args += (rollup.expires_at(start, span_s), len(increments))
                for field, n in increments:
                    args += (field, n)
        async with redis_errors():
            await self._add(keys=names, args=args)

    def _keep(self, unwritten: list[tuple[tuple[str, int], Tally]], exc: StoreUnavailable) -> None:
        """Put tallies Redis refused back (added to any recorded since), within bounds."""
        if not self._waited:
            log.warning(
                "could not write invocation statistics, keeping them until Redis answers: %s",
                exc.message,
            )
            self._waited = True
        for key, tally in unwritten:
            kept = self._pending.get(key)
            if kept is None:
                self._pending[key] = tally
            else:
                kept.add(tally)
        oldest = rollup.minute_of(self._clock()) - rollup.RETENTION_S
        drop = sorted(k for k in self._pending if k[1] < oldest)
        excess = len(self._pending) - len(drop) - MAX_PENDING
        if excess > 0:
            kept_keys = sorted((k for k in self._pending if k[1] >= oldest), key=lambda k: k[1])
            drop += kept_keys[:excess]
        for key in drop:
            del self._pending[key]
        if drop:
            self._dropped += len(drop)
            log.warning(
                "dropped %d function-minutes of statistics (%d in all): Redis is away",
                len(drop),
                self._dropped,
            )
