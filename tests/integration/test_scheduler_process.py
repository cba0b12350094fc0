"""The scheduler's stories on the process backend: seconds each, no Docker.

Hand-off to the longest waiting call, the concurrency cap, a cancelled waiter
cleaned up, keep-warm and the reaping of idle instances. The functions run as
host processes, so a handler records when it ran in a file of the test's tmp
dir, and the story reads the order and the overlap of calls from it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from faas.compute.instance import InstanceState
from faas.errors import Throttled
from faas.outcomes import InvocationResult, Outcome
from faas.platform import Platform
from tests.helpers import wait_until_async

pytestmark = pytest.mark.process

# Appends when it starts and ends to the file named in the event, then sleeps.
RECORDER = """
import json, os, time
def handler(event, context):
    def note(edge):
        with open(event["log"], "a") as f:
            f.write(json.dumps({"tag": event["tag"], "edge": edge, "at": time.time(),
                                "pid": os.getpid()}) + "\\n")
    note("start")
    time.sleep(event.get("sleep", 0))
    note("end")
    return event["tag"]
"""


@pytest.fixture
def backend() -> str:
    return "process"


class Calls:
    """Calls of one recording function, and what their handlers wrote."""

    def __init__(self, platform: Platform, name: str, log: Path) -> None:
        self.platform = platform
        self.name = name
        self.log = log

    async def call(self, tag: str, sleep: float = 0.0) -> InvocationResult:
        event = {"log": str(self.log), "tag": tag, "sleep": sleep}
        return await self.platform.invoker.invoke(self.name, json.dumps(event).encode())

    def spawn(self, tag: str, sleep: float = 0.0) -> asyncio.Task[InvocationResult]:
        return asyncio.create_task(self.call(tag, sleep))

    def notes(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def started(self) -> list[str]:
        """Tags in the order their handlers started."""
        return [n["tag"] for n in self.notes() if n["edge"] == "start"]

    def most_at_once(self) -> int:
        """The most handlers that ran at the same time."""
        edges = sorted((n["at"], 1 if n["edge"] == "start" else -1) for n in self.notes())
        running = most = 0
        for _, step in edges:  # an end sorts before a start at the same instant
            running += step
            most = max(most, running)
        return most

    def waiting(self) -> int:
        return self.platform.scheduler.waiters.waiting(self.name)

    async def until_waiting(self, count: int) -> None:
        await wait_until_async(
            self.waiting, what=f"{count} calls waiting", done=lambda n: n == count, within_s=5
        )

    async def until_started(self, tag: str) -> None:
        await wait_until_async(
            lambda: tag in self.started(), what=f"the handler of {tag!r} to start", within_s=10
        )


@pytest.fixture
def recorder(platform: Platform, deploy, tmp_path: Path):  # type: ignore[no-untyped-def]
    """``await recorder(name, **config)``: the recording function deployed, its ``Calls``."""

    async def _recorder(name: str, **config: object) -> Calls:
        await deploy(name, RECORDER, **config)
        return Calls(platform, name, tmp_path / f"{name}.log")

    return _recorder


def assert_nothing_left_waiting(platform: Platform) -> None:
    """The scheduler keeps no waiter, no wait count, no start in flight."""
    scheduler = platform.scheduler
    assert scheduler.waiters.queued() == {}
    assert scheduler.waiters.counts() == {}
    assert scheduler.fleet.starts() == {}


@pytest.mark.settings(throttle_wait_s=10.0)
async def test_a_freed_instance_goes_to_the_longest_waiting_call_first(recorder) -> None:  # type: ignore[no-untyped-def]
    # Given a function capped at one instance, warm, and busy with a long call
    calls = await recorder("single", concurrency=1)
    assert (await calls.call("warm-up")).cold_start
    holder = calls.spawn("holder", sleep=1.5)
    await calls.until_started("holder")
    # and three calls that came one after another and wait for it
    waiters = []
    for order, tag in enumerate(["first", "second", "third"], start=1):
        waiters.append(calls.spawn(tag))
        await calls.until_waiting(order)
    # When the long call ends
    results = await asyncio.gather(holder, *waiters)
    # Then the instance served the waiting calls in the order they came, all warm
    assert calls.started() == ["warm-up", "holder", "first", "second", "third"]
    assert [r.outcome for r in results] == [Outcome.SUCCESS] * 4
    assert not any(r.cold_start for r in results)
    assert len({n["pid"] for n in calls.notes()}) == 1


@pytest.mark.settings(throttle_wait_s=0.5)
async def test_calls_past_the_cap_never_run_and_are_throttled_after_the_wait(  # type: ignore[no-untyped-def]
    recorder,
) -> None:
    # Given a function capped at two instances whose calls take 1.5 s
    calls = await recorder("capped", concurrency=2)
    # When six calls come at once
    outcomes = await asyncio.gather(
        *(calls.call(f"call-{i}", sleep=1.5) for i in range(6)), return_exceptions=True
    )
    # Then never more than two ran at the same time, on two instances
    assert calls.most_at_once() == 2
    assert len({n["pid"] for n in calls.notes()}) == 2
    # and the other four were throttled (429) once the 0.5 s wait was over
    served = [o for o in outcomes if isinstance(o, InvocationResult)]
    throttled = [o for o in outcomes if isinstance(o, Throttled)]
    assert [r.outcome for r in served] == [Outcome.SUCCESS] * 2
    assert len(throttled) == 4, outcomes
    assert "concurrency limit" in str(throttled[0])
    assert len(calls.platform.scheduler.instances("capped")) == 2
    assert_nothing_left_waiting(calls.platform)


@pytest.mark.settings(throttle_wait_s=3.0)
async def test_a_cancelled_waiting_call_leaves_no_trace_and_the_next_one_is_served(  # type: ignore[no-untyped-def]
    recorder,
) -> None:
    # Given a function capped at one instance, busy with a long call
    calls = await recorder("single", concurrency=1)
    await calls.call("warm-up")
    holder = calls.spawn("holder", sleep=1.5)
    await calls.until_started("holder")
    # and two calls waiting for it, the first to come then the second
    gone = calls.spawn("gone")
    await calls.until_waiting(1)
    live = calls.spawn("live")
    await calls.until_waiting(2)
    # When the first one is cancelled (its client went away) while it waits
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    # Then only the other call is left in the queue
    assert calls.waiting() == 1
    assert calls.platform.scheduler.waiters.queued().get("single", 0) == 1
    # and the instance, once free, goes to it, warm
    served = await live
    assert served.outcome is Outcome.SUCCESS and not served.cold_start
    assert (await holder).outcome is Outcome.SUCCESS
    assert calls.started() == ["warm-up", "holder", "live"]
    # and the scheduler keeps nothing of the cancelled wait: its one instance idle
    assert_nothing_left_waiting(calls.platform)
    (instance,) = calls.platform.scheduler.instances("single")
    assert instance.state is InstanceState.IDLE
    assert not (await calls.call("after")).cold_start


@pytest.mark.settings(keep_alive_s=0.5, reap_interval_s=0.2)
async def test_keep_warm_instances_stay_and_the_extra_ones_are_reaped(recorder) -> None:  # type: ignore[no-untyped-def]
    # Given a function kept warm at two instances, with a 0.5 s keep-alive
    calls = await recorder("warm", keep_warm=2)
    scheduler = calls.platform.scheduler

    def idle() -> int:
        return sum(1 for i in scheduler.instances("warm") if i.state is InstanceState.IDLE)

    # Then two instances are started ahead of any call
    await wait_until_async(idle, what="two warm instances", done=lambda n: n == 2, within_s=15)
    # When three calls come at once
    results = await asyncio.gather(*(calls.call(f"burst-{i}", sleep=0.5) for i in range(3)))
    # Then two of them found an instance warm, the third started one
    assert sorted(r.cold_start for r in results) == [False, False, True]
    assert len(scheduler.instances("warm")) == 3
    # And once idle past the keep-alive, the extra one is reaped, the two kept
    await wait_until_async(
        lambda: len(scheduler.instances("warm")), what="back to two", done=lambda n: n == 2
    )
    await asyncio.sleep(1.0)  # several keep-alives and upkeeps later
    assert idle() == 2
