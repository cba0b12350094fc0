"""The console's statistics on a real Redis: what processes record adds up per function and
minute, is kept 24 hours, and reads back as the functions list and the charts show it.

Recorders stand for processes (each with its own connection); a clock of the
story's own moves them between minutes. The last stories run a real platform on
the process backend: invocations of every kind are counted where they ran.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from faas import keys, store
from faas.errors import StoreUnavailable, Throttled, ValidationFailed
from faas.outcomes import Outcome
from faas.platform import Platform
from faas.stats import rollup
from faas.stats.reader import Reader
from faas.stats.recorder import Recorder
from tests.helpers import RedisServer, killable_redis, wait_until_async

pytestmark = pytest.mark.process

FAILS_ON_ASK = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
"""


class Clock:
    """A clock the story moves; it starts now (minutes are kept 24 h from the real time)."""

    def __init__(self) -> None:
        # The middle of the current minute: a story's few seconds stay in it.
        self.now = rollup.minute_of(time.time()) + 30.0

    def __call__(self) -> float:
        return self.now

    def minute(self) -> int:
        return rollup.minute_of(self.now)


@pytest.fixture
def backend() -> str:
    return "process"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def connections(redis_flushed: str) -> AsyncIterator[list[aioredis.Redis]]:
    """Three clients of the private Redis (emptied), as three processes have."""
    clients = [store.connect(redis_flushed) for _ in range(3)]
    yield clients
    for client in clients:
        await client.aclose()


async def test_two_processes_recordings_add_up_per_function_and_minute(
    connections: list[aioredis.Redis], clock: Clock
) -> None:
    # Given two processes that ran the same function this minute
    a, b, console = connections
    one, two = Recorder(a, clock), Recorder(b, clock)
    one.invocation("orders", 12.0, error=False, cold=True)
    one.invocation("orders", 15.0, error=False, cold=False)
    two.invocation("orders", 14.0, error=False, cold=True)
    two.invocation("orders", 300.0, error=True, cold=False)
    two.throttle("orders")
    two.throttle("orders")
    one.invocation("billing", 2.0, error=False, cold=True)
    # When each writes what it saw
    await one.flush()
    await two.flush()
    # Then a third process reads the sums, for a page of functions at once
    summaries = await Reader(console, clock).summaries(["orders", "billing", "idle"])
    orders = summaries["orders"]
    assert (orders.invocations, orders.errors, orders.throttles) == (4, 1, 2)
    assert orders.p50_ms is not None and 13.0 < orders.p50_ms < 15.8  # 14 ms, within 4.5%
    assert orders.sparkline == [0] * 11 + [4]
    assert summaries["billing"].invocations == 1
    idle = summaries["idle"]
    assert (idle.invocations, idle.errors, idle.throttles, idle.p50_ms) == (0, 0, 0, None)
    assert idle.sparkline == [0] * 12
    # and the minute's point counts the cold starts of both
    (point,) = (await Reader(console, clock).series("orders", 60))[-1:]
    assert point.minute == clock.minute()
    assert (point.invocations, point.errors, point.throttles, point.cold_starts) == (4, 1, 2, 2)
    assert point.p99_ms is not None and 280 < point.p99_ms < 320


async def test_what_a_process_wrote_outlives_it_and_lapses_after_24_hours(
    connections: list[aioredis.Redis], clock: Clock
) -> None:
    # Given a process that recorded an invocation and flushed it, then went away
    writer, reader = connections[0], connections[1]
    gone = Recorder(writer, clock)
    gone.invocation("orders", 40.0, error=False, cold=True)
    await gone.flush()
    await writer.aclose()
    # Then another process reads it
    summary = (await Reader(reader, clock).summaries(["orders"]))["orders"]
    assert summary.invocations == 1
    # and the minute's hash lapses 3 hours after the minute ends (the longest window read
    # from minutes)
    key = keys.stats("orders", clock.minute())
    bucket = f"d{rollup.bucket(40.0)}".encode()
    assert await reader.hgetall(key) == {b"inv": b"1", b"cold": b"1", bucket: b"1"}
    ttl = await reader.ttl(key)
    assert 3 * 3600 < ttl <= 3 * 3600 + 60
    # and its block of five minutes 24 hours after the block ends
    block = rollup.block_of(clock.now)
    ttl = await reader.ttl(keys.stats_block("orders", block))
    assert ttl == pytest.approx(block + 300 + 24 * 3600 - time.time(), abs=2)
    # and a flush with nothing new writes nothing
    again = Recorder(reader, clock)
    await again.flush()
    assert await reader.hget(key, "inv") == b"1"


async def test_a_chart_reads_the_window_asked_for(
    connections: list[aioredis.Redis], clock: Clock
) -> None:
    # Given invocations 61 minutes ago, 30 minutes ago (two) and now
    recorder = Recorder(connections[0], clock)
    now = clock.now
    for ago, count in ((61, 1), (30, 2), (0, 1)):
        clock.now = now - ago * 60
        for _ in range(count):
            recorder.invocation("orders", 5.0, error=False, cold=False)
    clock.now = now
    await recorder.flush()
    reader = Reader(connections[1], clock)
    # When the last hour is charted: a point a minute, the newest now
    hour = await reader.series("orders", 60)
    assert len(hour) == 60
    assert [p.minute for p in hour] == rollup.window(now, 60)
    assert [p.invocations for p in hour] == [0] * 29 + [2] + [0] * 29 + [1]
    assert hour[0].p50_ms is None and hour[29].p50_ms is not None
    # and two hours show the older one too
    assert sum(p.invocations for p in await reader.series("orders", 120)) == 4
    # and 24 hours are 144 points of 10 minutes, aligned to the clock
    day = await reader.series("orders", 1440)
    assert len(day) == 144
    assert all(p.minute % 600 == 0 for p in day)
    assert sum(p.invocations for p in day) == 4
    # and the functions list's hour leaves out what is older than the hour
    summary = (await reader.summaries(["orders"], 60))["orders"]
    assert summary.invocations == 3
    assert sum(summary.sparkline) == 3 and len(summary.sparkline) == 12
    # and a window out of range is refused, naming the field
    for bad in (0, 1441):
        with pytest.raises(ValidationFailed) as refused:
            await reader.series("orders", bad)
        assert refused.value.field == "minutes"


async def test_concurrency_is_each_process_most_at_once_added_up(
    connections: list[aioredis.Redis], clock: Clock
) -> None:
    # Given one process that ran two handlers at once, then one, and another that ran one
    a, b, console = connections
    one, two = Recorder(a, clock), Recorder(b, clock)
    one.started("orders")
    one.started("orders")
    one.finished("orders")
    one.finished("orders")
    one.started("orders")  # still running, a long one
    two.started("orders")
    two.finished("orders")
    await one.flush()
    await two.flush()
    # When the long handler runs on into the next minute, while its process flushes
    clock.now += 45
    await one.flush()
    clock.now += 60
    one.finished("orders")
    await one.flush()
    # Then the first minute's concurrency is the two processes' peaks added: 2 + 1
    points = await Reader(console, clock).series("orders", 3)
    assert [p.concurrency for p in points] == [3, 1, 1]


async def test_a_redis_outage_loses_no_statistics(clock: Clock) -> None:
    with killable_redis() as own:
        client = store.connect(own.url)
        try:
            await _outage_story(own, client, clock)
        finally:
            await client.aclose()


async def _outage_story(own: RedisServer, client: aioredis.Redis, clock: Clock) -> None:
    # Given a process that recorded an invocation when Redis went away
    recorder = Recorder(client, clock)
    recorder.invocation("orders", 5.0, error=False, cold=True)
    own.kill()
    # When it cannot write it, and records more meanwhile
    with pytest.raises(StoreUnavailable):
        await recorder.flush()
    recorder.invocation("orders", 5.0, error=True, cold=False)
    recorder.throttle("orders")
    # Then once Redis answers again, the next flush writes them all
    own.start()
    await recorder.flush()
    summary = (await Reader(client, clock).summaries(["orders"]))["orders"]
    assert (summary.invocations, summary.errors, summary.throttles) == (2, 1, 1)


# -- through the platform ---------------------------------------------------------------


@pytest.fixture
async def platform_stats(platform: Platform, deploy) -> Platform:  # type: ignore[no-untyped-def]
    await deploy("story", FAILS_ON_ASK)
    return platform


async def test_a_functions_invocations_show_in_its_statistics(platform_stats: Platform) -> None:
    platform = platform_stats
    # Given a function invoked 5 times, the third asked to fail
    results = [
        await platform.invoker.invoke("story", json.dumps({"fail": i == 2}).encode())
        for i in range(5)
    ]
    assert [r.outcome for r in results].count(Outcome.FUNCTION_ERROR) == 1
    # When the console reads the last hour
    summary = (await platform.stats.summaries(["story"]))["story"]
    # Then it shows 5 invocations, 1 error, no throttle, a p50
    assert (summary.invocations, summary.errors, summary.throttles) == (5, 1, 0)
    assert summary.p50_ms is not None and summary.p50_ms > 0
    # and its chart one cold start and one handler at a time
    points = await platform.stats.series("story", 60)
    assert sum(p.cold_starts for p in points) == 1
    assert sum(p.invocations for p in points) == 5
    assert max(p.concurrency for p in points) == 1
    # When an async event of it runs on the worker
    await platform.invoker.invoke_async("story", b"{}")

    async def invocations() -> int:
        return (await platform.stats.summaries(["story"]))["story"].invocations

    # Then it is counted too
    await wait_until_async(invocations, what="the async event counted", done=lambda n: n == 6)


async def test_a_throttled_call_is_counted_as_a_throttle(platform_stats: Platform, deploy) -> None:  # type: ignore[no-untyped-def]
    platform = platform_stats
    # Given a function paused (its concurrency 0)
    await deploy("paused", FAILS_ON_ASK, concurrency=0)
    # When it is called twice
    for _ in range(2):
        with pytest.raises(Throttled):
            await platform.invoker.invoke("paused", b"{}")
    # Then both are throttles, and no invocation
    summary = (await platform.stats.summaries(["paused"]))["paused"]
    assert (summary.invocations, summary.throttles) == (0, 2)


async def test_a_page_of_fifty_functions_is_one_read(
    connections: list[aioredis.Redis], clock: Clock
) -> None:
    # Given 1,000 functions, each invoked now and then over the hour
    recorder = Recorder(connections[0], clock)
    now = clock.now
    for ago in range(0, 60, 7):
        clock.now = now - ago * 60
        for n in range(1000):
            recorder.invocation(f"fn-{n}", 3.0 + n % 40, error=n % 10 == 0, cold=False)
    clock.now = now
    await recorder.flush()
    reader = Reader(connections[1], clock)
    names = [f"fn-{n}" for n in range(100, 150)]
    # When a page of 50 is summarized (best of three)
    took = []
    for _ in range(3):
        began = time.perf_counter()
        summaries = await reader.summaries(names)
        took.append(time.perf_counter() - began)
    # Then each shows its 9 invocations, and it took well under the page's 200 ms
    assert {s.invocations for s in summaries.values()} == {9}
    assert min(took) < 0.1, took
    print(f"summaries of 50 functions over an hour: {min(took) * 1000:.1f} ms")
    began = time.perf_counter()
    await reader.series("fn-100", 1440)
    print(f"a 24 h chart: {(time.perf_counter() - began) * 1000:.1f} ms")
