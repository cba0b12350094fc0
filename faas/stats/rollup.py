"""A function's invocations per minute, as Redis keeps them, and what is read off them (pure).

One minute of one function is one Redis hash (``faas:stats:<name>:<minute>``,
``faas.keys.stats``) of counters that every process adds to with HINCRBY, so
minutes recorded by many processes and nodes add up without any of them
reading first. The same counts go to a second hash per five minutes (a
"block", ``faas:stats5m:<name>:<start>``): the functions list reads an hour of
50 functions as 650 blocks rather than 3,000 minutes, a 24-hour chart 288
blocks rather than 1,440 minutes. A minute lapses 3 hours after its end (longer
windows read blocks), a block 24 hours after. Fields:

| field     | counts                                                            |
|-----------|-------------------------------------------------------------------|
| ``inv``   | invocations that ran (an answer, or a failure of the platform)   |
| ``err``   | of those, errors: a function error, a timeout, out of memory, or |
|           | the platform's failure to run it                                  |
| ``thr``   | calls throttled (429: the function's or the node's concurrency)  |
| ``cold``  | cold starts                                                       |
| ``c<k>``  | concurrent executions in the ``k``-th 10-second slot of the hash's|
|           | span (``c0``-``c5`` a minute, ``c0``-``c29`` a block): each process|
|           | adds its own highest number of handlers running at once in the    |
|           | slot, so the figure is the sum over processes of their maxima (an |
|           | upper bound of the true cluster-wide peak, exact on one process); |
|           | the span's is the highest of its slots                            |
| ``d<i>``  | durations (the handler's, in ms) that fell in bucket ``i`` of the |
|           | histogram below                                                   |

The histogram's buckets are fixed and log-spaced, so they add up across
processes: bucket 0 holds durations under ``MIN_MS``, bucket ``i`` those in
``[MIN_MS * GROWTH**(i-1), MIN_MS * GROWTH**i)``, the last everything longer.
``GROWTH`` is 2**(1/8): a bucket is 9% wide, and a percentile read as its
bucket's geometric middle is within 4.5% of the exact one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

# What tells the time (epoch seconds): ``time.time``, or a test's.
Clock = Callable[[], float]

# Durations under this many ms share bucket 0.
MIN_MS = 0.1
GROWTH = 2 ** (1 / 8)
# Up to 15 minutes (Lambda's longest timeout) in buckets of their own; past it, the last.
MAX_MS = 15 * 60 * 1000.0
LAST = 1 + math.ceil(math.log(MAX_MS / MIN_MS, GROWTH))
_LOG_GROWTH = math.log(GROWTH)
# How long a block is kept: it lapses this long after its end.
RETENTION_S = 24 * 3600
MINUTE_S = 60
# A block: the second grain, five minutes (a sparkline's slot).
BLOCK_S = 5 * MINUTE_S
# Concurrency is kept per slot of this many seconds (fields c<k>).
SLOT_S = 10
# The longest window a read covers, in minutes.
MAX_WINDOW = RETENTION_S // MINUTE_S
# Windows longer than this many minutes are read from blocks, as points of
# ``COARSE_STEP`` minutes (two blocks each).
FINE_WINDOW = 180
COARSE_STEP = 10
# How long a minute is kept after its end: only windows up to FINE_WINDOW read minutes.
MINUTE_RETENTION_S = FINE_WINDOW * MINUTE_S

INVOCATIONS = "inv"
ERRORS = "err"
THROTTLES = "thr"
COLD_STARTS = "cold"
CONCURRENCY = "c"
DURATION = "d"


def minute_of(epoch: float) -> int:
    """The start (epoch seconds) of the minute ``epoch`` falls in."""
    return int(epoch // MINUTE_S) * MINUTE_S


def slot_of(epoch: float) -> int:
    """The start (epoch seconds) of the concurrency slot ``epoch`` falls in."""
    return int(epoch // SLOT_S) * SLOT_S


def block_of(epoch: float) -> int:
    """The start (epoch seconds) of the block (five minutes) ``epoch`` falls in."""
    return int(epoch // BLOCK_S) * BLOCK_S


def concurrency_field(slot: int, span_s: int = MINUTE_S) -> str:
    """The field of a minute's hash (or a block's: ``span_s``) that holds the concurrency
    of ``slot`` (its start)."""
    return f"{CONCURRENCY}{slot % span_s // SLOT_S}"


def expires_at(start: int, span_s: int = MINUTE_S) -> int:
    """When a minute's hash (or a block's) lapses (epoch seconds): a minute
    ``MINUTE_RETENTION_S`` after its end, as long as a read may want it; a block
    ``RETENTION_S`` after its end."""
    return start + span_s + (MINUTE_RETENTION_S if span_s == MINUTE_S else RETENTION_S)


# -- the duration histogram ------------------------------------------------------


def bucket(ms: float) -> int:
    """The histogram bucket of a duration in ms."""
    if not ms >= MIN_MS:  # NaN too
        return 0
    if ms >= MAX_MS:
        return LAST
    return min(LAST, 1 + int(math.log(ms / MIN_MS) / _LOG_GROWTH))


def bounds(index: int) -> tuple[float, float]:
    """The durations (ms) bucket ``index`` holds: ``[low, high)``."""
    if index <= 0:
        return 0.0, MIN_MS
    low = MIN_MS * GROWTH ** (index - 1)
    return low, math.inf if index >= LAST else low * GROWTH


def estimate(index: int) -> float:
    """The duration (ms) a bucket stands for: its geometric middle (its low end for the
    last, open-ended one; half of ``MIN_MS`` for bucket 0)."""
    low, high = bounds(index)
    if index <= 0:
        return MIN_MS / 2
    if math.isinf(high):
        return low
    return math.sqrt(low * high)


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """The duration (ms) at quantile ``q`` (0 < q <= 1, nearest rank) of the durations a
    histogram counts, as its bucket's estimate; None when it counts none."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return estimate(index)
    return estimate(max(histogram))  # pragma: no cover - rank <= total


# -- what is recorded ----------------------------------------------------------------


@dataclass
class Tally:
    """What one process saw of one function in one minute, not yet in Redis: the
    increments of the minute's hash."""

    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    cold_starts: int = 0
    durations: dict[int, int] = field(default_factory=dict)
    # slot (its start, epoch seconds) -> how much to add to its concurrency
    concurrency: dict[int, int] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        """Fold ``other`` (of the same function and minute) into this one."""
        self.invocations += other.invocations
        self.errors += other.errors
        self.throttles += other.throttles
        self.cold_starts += other.cold_starts
        for index, n in other.durations.items():
            self.durations[index] = self.durations.get(index, 0) + n
        for slot, n in other.concurrency.items():
            self.concurrency[slot] = self.concurrency.get(slot, 0) + n

    def increments(self, span_s: int = MINUTE_S) -> list[tuple[str, int]]:
        """The HINCRBYs that add this tally to the minute's hash, or its block's
        (``span_s``), none that add 0."""
        counts = (
            (INVOCATIONS, self.invocations),
            (ERRORS, self.errors),
            (THROTTLES, self.throttles),
            (COLD_STARTS, self.cold_starts),
        )
        out = [(name, n) for name, n in counts if n]
        out += [(f"{DURATION}{i}", n) for i, n in self.durations.items() if n]
        out += [(concurrency_field(s, span_s), n) for s, n in self.concurrency.items() if n]
        return out


# -- what is read ----------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """A function's figures over a minute or a block (or several, merged), as read from
    Redis."""

    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    cold_starts: int = 0
    # The highest concurrency of any of its 10-second slots (see the module's docstring).
    concurrency: int = 0
    durations: Mapping[int, int] = field(default_factory=dict)

    @classmethod
    def from_pairs(cls, raw: Iterable[tuple[bytes, bytes]]) -> Figures:
        """Figures from their hash's fields and values (those it does not know ignored)."""
        counts = {INVOCATIONS: 0, ERRORS: 0, THROTTLES: 0, COLD_STARTS: 0}
        concurrency = 0
        durations: dict[int, int] = {}
        for key, value in raw:
            name = key.decode()
            try:
                n = int(value)
            except ValueError:
                continue
            if name in counts:
                counts[name] = n
            elif name[:1] == DURATION and name[1:].isdigit():
                durations[int(name[1:])] = n
            elif name[:1] == CONCURRENCY and name[1:].isdigit():
                concurrency = max(concurrency, n)
        return cls(
            invocations=counts[INVOCATIONS],
            errors=counts[ERRORS],
            throttles=counts[THROTTLES],
            cold_starts=counts[COLD_STARTS],
            concurrency=concurrency,
            durations=durations,
        )


EMPTY = Figures()


def merge(minutes: Iterable[Figures]) -> Figures:
    """Several minutes or blocks as one: counts and histograms added, concurrency the
    highest."""
    invocations = errors = throttles = cold = concurrency = 0
    durations: dict[int, int] = {}
    for m in minutes:
        invocations += m.invocations
        errors += m.errors
        throttles += m.throttles
        cold += m.cold_starts
        concurrency = max(concurrency, m.concurrency)
        for index, n in m.durations.items():
            durations[index] = durations.get(index, 0) + n
    return Figures(invocations, errors, throttles, cold, concurrency, durations)


@dataclass(frozen=True)
class Summary:
    """A function over a window (the last hour, for the functions list)."""

    invocations: int
    errors: int
    throttles: int
    p50_ms: float | None
    # Invocations per 5-minute slot over the window, oldest first.
    sparkline: list[int]


@dataclass(frozen=True)
class Point:
    """A function over one minute, or ``COARSE_STEP`` minutes in a long window (a chart's
    point)."""

    minute: int  # epoch seconds of its (first) minute's start
    invocations: int
    errors: int
    throttles: int
    cold_starts: int
    concurrency: int
    p50_ms: float | None
    p99_ms: float | None


def window(now: float, minutes: int) -> list[int]:
    """The minutes (their starts) of the last ``minutes``, the current one last."""
    current = minute_of(now)
    return [current - MINUTE_S * i for i in range(minutes - 1, -1, -1)]


def blocks(now: float, minutes: int) -> list[int]:
    """The blocks (their starts) that cover the last ``minutes``, aligned to the clock's
    five minutes, the current one (under way) last: the last hour is 12 blocks."""
    current = block_of(now)
    count = math.ceil(minutes * MINUTE_S / BLOCK_S)
    return [current - BLOCK_S * i for i in range(count - 1, -1, -1)]


def summarize(blocks: list[Figures]) -> Summary:
    """A window's summary from its blocks, oldest first: its sparkline is their
    invocations."""
    total = merge(blocks)
    return Summary(
        invocations=total.invocations,
        errors=total.errors,
        throttles=total.throttles,
        p50_ms=percentile(total.durations, 0.5),
        sparkline=[b.invocations for b in blocks],
    )


def step_for(minutes: int) -> int:
    """The minutes a chart's point covers for a window: 1, or ``COARSE_STEP`` past
    ``FINE_WINDOW`` (24 hours: 144 points of 10 minutes)."""
    return 1 if minutes <= FINE_WINDOW else COARSE_STEP


def groups(now: float, minutes: int) -> list[list[int]]:
    """A chart over the last ``minutes``, oldest point first: for each point, the starts
    of the minutes it adds up (one), or past ``FINE_WINDOW`` of the blocks (two, aligned
    to the clock's 10 minutes; the newest point's one if its second is to come)."""
    if step_for(minutes) == 1:
        return [[m] for m in window(now, minutes)]
    span = COARSE_STEP * MINUTE_S
    newest = int(now // span) * span
    count = math.ceil(minutes / COARSE_STEP)
    current = block_of(now)
    starts = [newest - span * i for i in range(count - 1, -1, -1)]
    return [[b for b in (s, s + BLOCK_S) if b <= current] for s in starts]


def point(start: int, figures: Iterable[Figures]) -> Point:
    """A chart's point starting at ``start`` from its minutes or blocks."""
    total = merge(figures)
    return Point(
        minute=start,
        invocations=total.invocations,
        errors=total.errors,
        throttles=total.throttles,
        cold_starts=total.cold_starts,
        concurrency=total.concurrency,
        p50_ms=percentile(total.durations, 0.5),
        p99_ms=percentile(total.durations, 0.99),
    )
