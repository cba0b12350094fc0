"""The statistics' pure parts: the duration histogram, its percentiles, a minute's fields
and the windows a read covers (``faas.stats.rollup``)."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from faas.stats import rollup
from faas.stats.rollup import Figures, Tally

# 2026-12-07 12:34:56 UTC
NOW = 1796646896.0
THIS_MINUTE = 1796646840
THIS_BLOCK = 1796646600  # 12:30
# The buckets of a 2 ms and an 800 ms call.
FAST = rollup.bucket(2.0)
SLOW = rollup.bucket(800.0)


@pytest.mark.parametrize(
    ("ms", "index"),
    [
        (0.0, 0),
        (0.05, 0),
        (float("nan"), 0),
        (0.1, 1),
        (0.105, 1),
        (0.11, 2),  # past 0.1 * 2**(1/8) = 0.109
        (1.0, 27),  # 0.1 * 2**(26.6/8)
        (1000.0, 107),
        (rollup.MAX_MS * 0.99, rollup.LAST - 1),
        (rollup.MAX_MS * 2, rollup.LAST),
        (math.inf, rollup.LAST),
    ],
)
def test_a_duration_falls_in_its_log_spaced_bucket(ms: float, index: int) -> None:
    assert rollup.bucket(ms) == index
    low, high = rollup.bounds(index)
    if math.isfinite(ms):
        assert low <= ms < high


def test_buckets_are_nine_percent_wide_and_cover_fifteen_minutes() -> None:
    for index in range(1, rollup.LAST):
        low, high = rollup.bounds(index)
        assert high / low == pytest.approx(2 ** (1 / 8))
        assert low <= rollup.estimate(index) < high
    assert rollup.bounds(rollup.LAST - 1)[1] >= rollup.MAX_MS
    assert rollup.bounds(rollup.LAST)[1] == math.inf
    assert rollup.LAST < 200  # a minute's hash stays small


@pytest.mark.parametrize(
    ("histogram", "q", "expected"),
    [
        ({}, 0.5, None),
        ({rollup.bucket(10.0): 1}, 0.5, rollup.estimate(rollup.bucket(10.0))),
        # 99 fast calls and one slow: the p50 is fast, the p99 still fast, the max slow
        ({FAST: 99, SLOW: 1}, 0.5, rollup.estimate(FAST)),
        ({FAST: 99, SLOW: 1}, 0.99, rollup.estimate(FAST)),
        ({FAST: 99, SLOW: 1}, 1.0, rollup.estimate(SLOW)),
        ({FAST: 98, SLOW: 2}, 0.99, rollup.estimate(SLOW)),
        ({0: 3}, 0.5, rollup.MIN_MS / 2),
        ({rollup.LAST: 1}, 0.5, rollup.bounds(rollup.LAST)[0]),
    ],
)
def test_a_percentile_is_read_off_the_histogram_by_nearest_rank(
    histogram: dict[int, int], q: float, expected: float | None
) -> None:
    assert rollup.percentile(histogram, q) == expected


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_percentiles_are_within_a_bucket_of_the_exact_answer(seed: int, q: float) -> None:
    # Given durations as a function has them: most fast, a tail of slow ones
    rng = random.Random(seed)
    durations = [rng.lognormvariate(math.log(20), 1.2) for _ in range(rng.randint(1, 3000))]
    histogram: dict[int, int] = {}
    for ms in durations:
        histogram[rollup.bucket(ms)] = histogram.get(rollup.bucket(ms), 0) + 1
    # When the percentile is read off the histogram
    estimate = rollup.percentile(histogram, q)
    # Then it is within the width of the bucket of the sorted list's exact answer
    exact = sorted(durations)[max(1, math.ceil(q * len(durations))) - 1]
    low, high = rollup.bounds(rollup.bucket(exact))
    assert estimate is not None
    assert abs(estimate - exact) <= high - low
    assert abs(estimate - exact) / exact < 0.045


def test_a_tally_becomes_the_increments_of_its_minute_and_block_and_reads_back() -> None:
    # Given a process saw two invocations, one failed and cold, and a throttle, and ran
    # three handlers at once in the slot 20 s into the minute
    tally = Tally(invocations=2, errors=1, throttles=1, cold_starts=1)
    tally.durations = {rollup.bucket(3.0): 1, rollup.bucket(250.0): 1}
    tally.concurrency = {THIS_MINUTE + 20: 3}
    # Then it writes only the fields that grow, to the minute's hash
    increments = dict(tally.increments())
    assert increments == {
        "inv": 2,
        "err": 1,
        "thr": 1,
        "cold": 1,
        f"d{rollup.bucket(3.0)}": 1,
        f"d{rollup.bucket(250.0)}": 1,
        "c2": 3,
    }
    # and to its block's, where 12:34:20 is the 26th slot of the block from 12:30
    block = dict(tally.increments(rollup.BLOCK_S))
    assert block["c26"] == 3 and "c2" not in block
    assert dict(Tally(throttles=4).increments()) == {"thr": 4}
    # and the hash they make reads back as the minute
    raw = {k.encode(): str(v).encode() for k, v in increments.items()}
    raw[b"c5"] = b"1"
    raw[b"unknown"] = b"7"
    raw[b"dx"] = b"7"
    minute = Figures.from_pairs(raw.items())
    assert (minute.invocations, minute.errors, minute.throttles, minute.cold_starts) == (2, 1, 1, 1)
    assert minute.concurrency == 3  # the highest slot's
    assert minute.durations == tally.durations


def test_two_processes_tallies_add_up() -> None:
    one = Tally(invocations=3, durations={5: 2, 9: 1}, concurrency={0: 1})
    two = Tally(invocations=1, errors=1, durations={9: 1}, concurrency={0: 2, 1: 1})
    one.add(two)
    assert one == Tally(invocations=4, errors=1, durations={5: 2, 9: 2}, concurrency={0: 3, 1: 1})


def test_minutes_merge_by_adding_counts_and_keeping_the_highest_concurrency() -> None:
    merged = rollup.merge(
        [
            Figures(invocations=2, errors=1, cold_starts=1, concurrency=2, durations={4: 2}),
            rollup.EMPTY,
            Figures(invocations=5, throttles=3, concurrency=1, durations={4: 1, 8: 4}),
        ]
    )
    assert merged == Figures(
        invocations=7, errors=1, throttles=3, cold_starts=1, concurrency=2, durations={4: 3, 8: 4}
    )


@pytest.mark.parametrize(
    ("epoch", "minute", "slot", "field", "block", "block_field"),
    [
        (NOW, THIS_MINUTE, THIS_MINUTE + 50, "c5", THIS_BLOCK, "c29"),
        (THIS_MINUTE, THIS_MINUTE, THIS_MINUTE, "c0", THIS_BLOCK, "c24"),
        (THIS_MINUTE + 19.99, THIS_MINUTE, THIS_MINUTE + 10, "c1", THIS_BLOCK, "c25"),
        (THIS_BLOCK, THIS_BLOCK, THIS_BLOCK, "c0", THIS_BLOCK, "c0"),
    ],
)
def test_an_instant_falls_in_its_minute_block_and_concurrency_slot(
    epoch: float, minute: int, slot: int, field: str, block: int, block_field: str
) -> None:
    assert rollup.minute_of(epoch) == minute
    assert rollup.block_of(epoch) == block
    assert rollup.slot_of(epoch) == slot
    assert rollup.concurrency_field(slot) == field
    assert rollup.concurrency_field(slot, rollup.BLOCK_S) == block_field
    assert rollup.expires_at(minute) == minute + 60 + 3 * 3600
    assert rollup.expires_at(block, rollup.BLOCK_S) == block + 300 + 24 * 3600


def test_the_last_hour_is_sixty_minutes_ending_with_this_one() -> None:
    span = rollup.window(NOW, 60)
    assert len(span) == 60
    assert span[-1] == THIS_MINUTE
    assert span[0] == THIS_MINUTE - 59 * 60
    assert span == sorted(span)


@pytest.mark.parametrize(("minutes", "count"), [(60, 12), (5, 1), (1, 1), (7, 2), (1440, 288)])
def test_a_summary_reads_the_blocks_of_five_minutes_that_cover_its_window(
    minutes: int, count: int
) -> None:
    span = rollup.blocks(NOW, minutes)
    assert len(span) == count
    assert span[-1] == THIS_BLOCK  # 12:30, under way
    assert all(b % 300 == 0 for b in span)
    assert all(b - a == 300 for a, b in itertools.pairwise(span))


def test_a_summary_of_an_hour() -> None:
    blocks = [rollup.EMPTY] * 12
    blocks[0] = Figures(invocations=4, errors=1, durations={rollup.bucket(10.0): 4})
    blocks[11] = Figures(invocations=2, throttles=5, durations={rollup.bucket(30.0): 2})
    summary = rollup.summarize(blocks)
    assert (summary.invocations, summary.errors, summary.throttles) == (6, 1, 5)
    assert summary.p50_ms == rollup.estimate(rollup.bucket(10.0))
    assert summary.sparkline == [4] + [0] * 10 + [2]
    assert rollup.summarize([rollup.EMPTY] * 12).p50_ms is None


@pytest.mark.parametrize("minutes", [60, 1, 180])
def test_a_chart_has_a_point_a_minute_up_to_three_hours(minutes: int) -> None:
    groups = rollup.groups(NOW, minutes)
    assert groups == [[m] for m in rollup.window(NOW, minutes)]
    assert groups[-1] == [THIS_MINUTE]  # the newest point is the current minute


@pytest.mark.parametrize(("minutes", "points"), [(1440, 144), (181, 19)])
def test_a_longer_chart_has_a_point_per_ten_minutes_of_two_blocks(
    minutes: int, points: int
) -> None:
    groups = rollup.groups(NOW, minutes)
    assert len(groups) == points
    assert all(g[0] % 600 == 0 for g in groups)  # aligned to the clock's 10 minutes
    assert all(len(g) == 2 for g in groups[:-1])
    assert groups[-1] == [THIS_BLOCK]  # 12:30 to 12:34, under way; 12:35's to come
    flat = [b for g in groups for b in g]
    assert all(b - a == 300 for a, b in itertools.pairwise(flat))


def test_a_point_has_p50_and_p99_of_its_minutes() -> None:
    fast, slow = rollup.bucket(5.0), rollup.bucket(900.0)
    point = rollup.point(
        THIS_MINUTE,
        [
            Figures(invocations=99, cold_starts=1, concurrency=3, durations={fast: 99}),
            Figures(invocations=2, errors=2, concurrency=5, durations={slow: 2}),
        ],
    )
    assert point.minute == THIS_MINUTE
    assert (point.invocations, point.errors, point.cold_starts, point.concurrency) == (101, 2, 1, 5)
    assert point.p50_ms == rollup.estimate(fast)
    assert point.p99_ms == rollup.estimate(slow)
    assert rollup.point(THIS_MINUTE, []).p99_ms is None
