"""Schedule ticks through a real Redis: once per tick across racing processes, and
one catch-up after downtime, with the skipped ticks counted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from faas import keys, metrics, store
from faas.invoke.asyncq.queue import Queue
from faas.invoke.schedules.rules import Rule, event_id
from faas.invoke.schedules.store import ScheduleStore
from faas.invoke.schedules.ticker import Ticker
from faas.settings import Settings

ANCHOR = 1_800_000_000  # 2027-01-15T08:00:00Z


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[object]:
    client = store.connect(settings.redis_url)
    yield client
    await client.aclose()


def ticker(client: object, settings: Settings) -> Ticker:
    queue = Queue(client, lease_s=30, result_ttl_s=60)  # type: ignore[arg-type]
    seconds = Settings(**{**settings.__dict__, "schedule_seconds": True})
    return Ticker(ScheduleStore(client), queue, seconds)  # type: ignore[arg-type]


async def queued(client: object) -> list[dict[str, object]]:
    """The events in the queue, oldest first, as the function would get them."""
    entries = await client.xrange(keys.EVENTS)  # type: ignore[attr-defined]
    out = []
    for _, fields in entries:
        payload = await client.hget(keys.invocation(fields[b"id"].decode()), "payload")  # type: ignore[attr-defined]
        out.append(json.loads(payload))
    return out


async def test_racing_processes_queue_each_tick_exactly_once(
    redis_client: object, settings: Settings
) -> None:
    schedules = ScheduleStore(redis_client)  # type: ignore[arg-type]
    await schedules.put("report", [Rule("every", "rate(1 second)", anchor=ANCHOR)], [])
    processes = [ticker(redis_client, settings) for _ in range(4)]
    # Four processes look at the same moments, thirty times
    for step in range(1, 31):
        now = ANCHOR + step + 0.25
        await asyncio.gather(*(p.tick_once(now) for p in processes))
    events = await queued(redis_client)
    assert len(events) == 30
    assert [e["time"] for e in events] == [f"2027-01-15T08:00:{i:02d}Z" for i in range(1, 31)]
    ticks = [datetime.fromtimestamp(ANCHOR + i, UTC) for i in range(1, 31)]
    assert [e["id"] for e in events] == [event_id("report", "every", t) for t in ticks]
    state = await schedules.state("report")
    assert state["every:fires"] == "30" and state["every:misses"] == "0"


async def test_after_downtime_one_catch_up_tick_fires_and_the_rest_are_counted(
    redis_client: object, settings: Settings
) -> None:
    schedules = ScheduleStore(redis_client)  # type: ignore[arg-type]
    await schedules.put("sync", [Rule("often", "rate(2 seconds)", anchor=ANCHOR)], [])
    first, second = ticker(redis_client, settings), ticker(redis_client, settings)
    misses = metrics.SCHEDULE_MISSES.labels("sync")
    before = misses._value.get()
    assert await first.tick_once(ANCHOR + 2.5) == 1
    # Every server is down for a minute; then one comes back
    assert await second.tick_once(ANCHOR + 63) == 1
    assert await first.tick_once(ANCHOR + 63.5) == 0
    events = await queued(redis_client)
    assert [e["time"] for e in events] == ["2027-01-15T08:00:02Z", "2027-01-15T08:01:02Z"]
    state = await schedules.state("sync")
    assert state["often:fires"] == "2" and state["often:misses"] == "29"
    assert misses._value.get() - before == 29


async def test_a_changed_rule_starts_over_and_a_disabled_one_is_quiet(
    redis_client: object, settings: Settings
) -> None:
    schedules = ScheduleStore(redis_client)  # type: ignore[arg-type]
    rule = Rule("a", "rate(1 second)", anchor=ANCHOR)
    await schedules.put("f", [rule], [])
    t = ticker(redis_client, settings)
    assert await t.tick_once(ANCHOR + 1) == 1
    changed = Rule("a", "rate(5 seconds)", anchor=ANCHOR + 1)
    await schedules.put("f", [changed], [rule])
    assert "a" not in await schedules.state("f")
    assert await t.tick_once(ANCHOR + 5) == 0
    assert await t.tick_once(ANCHOR + 6) == 1
    off = Rule("a", "rate(5 seconds)", enabled=False, anchor=ANCHOR + 1)
    await schedules.put("f", [off], [changed])
    assert await t.tick_once(ANCHOR + 60) == 0
    await schedules.put("f", [], [off])
    assert await schedules.all() == []
    assert len(await queued(redis_client)) == 2
