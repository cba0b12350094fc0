"""Stories of the warm pool: reuse, stale code, caps, keep-warm and reaping."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from faas.errors import BackendError, Throttled
from faas.outcomes import Outcome
from faas.platform import Platform
from tests.helpers import handler_zip, wait_until_async

COUNTER = """
import os, time
calls = 0

def handler(event, context):
    global calls
    calls += 1
    time.sleep(event.get("sleep", 0))
    return {"calls": calls, "host": os.uname().nodename, "version": "VERSION"}
"""


async def call(platform: Platform, name: str, event: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    result = await platform.invoker.invoke(name, json.dumps(event or {}).encode())
    return result, json.loads(result.payload)


@pytest.mark.both_backends
@pytest.mark.runc_too
async def test_second_call_reuses_the_warm_container_and_its_module_state(platform, deploy):  # type: ignore[no-untyped-def]
    # Given a function that counts its calls in a module-level variable
    await deploy("counter", COUNTER)
    # When it is invoked twice
    first, body1 = await call(platform, "counter")
    second, body2 = await call(platform, "counter")
    # Then the first call was cold, the second warm, on the same container
    assert (first.cold_start, second.cold_start) == (True, False)
    assert body1["host"] == body2["host"]
    # and the module's state survived between them
    assert (body1["calls"], body2["calls"]) == (1, 2)


@pytest.mark.runc_too
async def test_new_code_is_never_served_by_a_container_of_the_old_code(  # type: ignore[no-untyped-def]
    platform, deploy, tmp_path, containers_of
):
    # Given a warm container running version 1
    await deploy("versioned", COUNTER.replace("VERSION", "v1"))
    _, before = await call(platform, "versioned")
    assert before["version"] == "v1"
    old = containers_of("versioned")
    assert len(old) == 1
    # When new code is uploaded
    path = tmp_path / "v2.zip"
    path.write_bytes(handler_zip(COUNTER.replace("VERSION", "v2")))
    await platform.functions.update_code("versioned", path)
    # Then the next call runs the new code in a new container
    result, after = await call(platform, "versioned")
    assert after["version"] == "v2"
    assert result.cold_start
    assert after["host"] != before["host"]
    # and the old container is removed (in the background: it never serves again)
    assert old[0] not in [i.sandbox.container_id for i in platform.scheduler.instances()]
    await wait_until_async(
        lambda: containers_of("versioned"),
        what="the old container to be removed",
        done=lambda ids: old[0] not in ids,
    )


@pytest.mark.both_backends
async def test_a_config_change_that_shapes_containers_gives_fresh_ones(platform, deploy):  # type: ignore[no-untyped-def]
    # Given a warm function
    await deploy("shaped", "import os\ndef handler(e, c):\n    return os.environ.get('COLOR')")
    await call(platform, "shaped")
    # When its environment changes
    await platform.functions.update_config("shaped", {"env": {"COLOR": "blue"}})
    # Then the next call sees the new environment
    result, body = await call(platform, "shaped")
    assert body == "blue"
    assert result.cold_start


@pytest.mark.settings(throttle_wait_s=120)
async def test_twenty_concurrent_calls_never_exceed_the_concurrency_cap(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of, settings
):
    # Given a function capped at 3 concurrent instances whose calls take a while
    await deploy("capped", COUNTER, concurrency=3)
    # When 20 calls arrive at once
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, len(containers_of("capped")))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    results = await asyncio.gather(*(call(platform, "capped", {"sleep": 0.3}) for _ in range(20)))
    done.set()
    await watcher
    # Then every call succeeded
    assert all(r.outcome is Outcome.SUCCESS for r, _ in results)
    # and at no time did more than 3 containers exist, and at most 3 served
    assert 1 <= peak <= 3
    assert len({body["host"] for _, body in results}) <= 3
    assert sum(body["calls"] for _, body in results) >= 20


@pytest.mark.both_backends
@pytest.mark.settings(throttle_wait_s=0.5)
async def test_a_full_cap_throttles_after_the_bounded_wait(platform, deploy, settings):  # type: ignore[no-untyped-def]
    # Given a function capped at one instance, busy for 3 seconds, and a 0.5 s wait
    await deploy("single", COUNTER, concurrency=1, timeout_s=10)
    busy = asyncio.create_task(call(platform, "single", {"sleep": 3}))
    await asyncio.sleep(1.5)
    # When a second call arrives
    started = time.monotonic()
    with pytest.raises(Throttled) as caught:
        await call(platform, "single")
    # Then it is throttled after about the wait, with a Retry-After hint
    assert 0.4 <= time.monotonic() - started < 2.5
    assert caught.value.retry_after_s >= 1
    result, _ = await busy
    assert result.outcome is Outcome.SUCCESS


@pytest.mark.both_backends
async def test_concurrency_zero_pauses_the_function(platform, deploy):  # type: ignore[no-untyped-def]
    await deploy("paused", COUNTER, concurrency=0)
    with pytest.raises(Throttled, match="paused"):
        await call(platform, "paused")


async def test_keep_warm_instances_are_ready_before_the_first_call(platform, deploy, containers_of):  # type: ignore[no-untyped-def]
    # Given a function that asks for one warm instance
    await deploy("prewarmed", COUNTER, keep_warm=1)
    # When upkeep runs
    await platform.scheduler.upkeep_once(await platform.functions.list())
    assert len(containers_of("prewarmed")) == 1
    # Then the very first call is warm
    result, _ = await call(platform, "prewarmed")
    assert result.cold_start is False


@pytest.mark.settings(keep_alive_s=0.5)
async def test_idle_containers_are_removed_after_the_keep_alive(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of, settings
):
    # Given a keep-alive of half a second (the marker)
    await deploy("sleepy", COUNTER)
    await call(platform, "sleepy")
    assert len(containers_of("sleepy")) == 1
    # When it stays idle past it, the background upkeep removes its container
    await wait_until_async(
        lambda: containers_of("sleepy"), what="the idle container to go", done=lambda ids: not ids
    )
    # and the next call starts cold
    result, _ = await call(platform, "sleepy")
    assert result.cold_start


@pytest.mark.runc_too
async def test_delete_removes_every_container_of_the_function(platform, deploy, containers_of):  # type: ignore[no-untyped-def]
    await deploy("doomed", COUNTER)
    await call(platform, "doomed")
    assert containers_of("doomed")
    await platform.functions.delete("doomed")
    assert containers_of("doomed") == []


async def test_delete_waits_for_a_removal_upkeep_already_began(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of
):
    # Given a warm instance that upkeep is removing as its function is deleted: a round
    # that lists the functions once it is gone from the registry, before the scheduler
    # hears of the deletion, takes its idle instances out and removes them (CI saw it)
    await deploy("reaped", COUNTER)
    await call(platform, "reaped")
    reaping = asyncio.create_task(platform.scheduler.upkeep_once([]))
    await wait_until_async(
        lambda: platform.scheduler.instances("reaped"),
        what="upkeep to take it out of service",
        done=lambda found: not found,
    )
    # When the function is deleted meanwhile
    await platform.functions.delete("reaped")
    # Then delete returns once that removal is over too: no container of it is left
    assert containers_of("reaped") == []
    await reaping


async def test_a_removal_goes_on_when_whoever_began_it_is_stopped(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of, monkeypatch
):
    # Given a warm instance whose CPU quota is still being set (a slow engine), that
    # upkeep takes out of service and begins to remove
    await deploy("halted", COUNTER)
    set_quota = platform.backend.set_quota

    async def slow_set_quota(container_id: str, quota_us: int) -> None:
        await asyncio.sleep(1)
        await set_quota(container_id, quota_us)

    monkeypatch.setattr(platform.backend, "set_quota", slow_set_quota)
    await call(platform, "halted")
    reaping = asyncio.create_task(platform.scheduler.upkeep_once([]))
    await wait_until_async(
        lambda: platform.scheduler.instances("halted"),
        what="upkeep to take it out of service",
        done=lambda found: not found,
    )
    # When upkeep is stopped there (as a server stopping stops it), and the function
    # is deleted
    reaping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reaping
    await platform.functions.delete("halted")
    # Then the removal went on, and delete waited for it: no container of it is left
    assert containers_of("halted") == []


@pytest.mark.settings(prewarm_pool=0)
async def test_delete_removes_a_container_still_being_started(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of, monkeypatch
):
    # Given a call whose container exists but is not yet an instance (a slow engine)
    await deploy("late", COUNTER)
    create = platform.backend.create

    async def slow_create(spec):  # type: ignore[no-untyped-def]
        sandbox = await create(spec)
        await asyncio.sleep(1)
        return sandbox

    monkeypatch.setattr(platform.backend, "create", slow_create)
    calling = asyncio.create_task(call(platform, "late"))
    await wait_until_async(lambda: containers_of("late"), what="its container", within_s=30)
    # When the function is deleted meanwhile
    await platform.functions.delete("late")
    # Then delete returns once that container is gone too, and the call fails
    assert containers_of("late") == []
    with pytest.raises(BackendError):
        await calling
    assert platform.scheduler.instances("late") == []


async def test_concurrent_config_changes_all_land(platform, deploy):  # type: ignore[no-untyped-def]
    # Given a function, when ten config changes race each other
    await deploy("raced", COUNTER)
    results = await asyncio.gather(
        *(platform.functions.update_config("raced", {"env": {f"K{i}": "v"}}) for i in range(10))
    )
    # Then every one succeeds (optimistic locking retries the losers), the last one stands
    assert len(results) == 10
    final = await platform.functions.get("raced")
    assert final.config.env in [r.config.env for r in results]
    assert final.updated_at == max(r.updated_at for r in results)


async def test_a_cold_start_cancelled_midway_leaves_no_container(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of
):
    # Given a function slow to import (a cold start from the pool is otherwise over
    # before a test can see its container), when its first call is abandoned once
    # its container exists
    await deploy("abandoned", "import time\ntime.sleep(5)\n" + COUNTER, timeout_s=10)
    task = asyncio.create_task(call(platform, "abandoned"))
    await wait_until_async(lambda: containers_of("abandoned"), what="its container", within_s=30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Then the container Docker was creating is removed, not leaked
    await wait_until_async(
        lambda: containers_of("abandoned"),
        what="the abandoned container to go",
        done=lambda ids: not ids,
    )
    assert platform.scheduler.instances("abandoned") == []


async def test_a_prewarmed_instance_reports_no_init_on_its_first_warm_call(platform, deploy):  # type: ignore[no-untyped-def]
    await deploy("warmfirst", COUNTER, keep_warm=1)
    await platform.scheduler.upkeep_once(await platform.functions.list())
    result, _ = await call(platform, "warmfirst")
    assert result.cold_start is False
    assert result.init_duration_ms is None


async def test_a_function_whose_init_fails_is_not_kept_warm(platform, deploy):  # type: ignore[no-untyped-def]
    await deploy(
        "badinit", "import no_such_module\ndef handler(e, c):\n    return 1\n", keep_warm=1
    )
    await platform.scheduler.upkeep_once(await platform.functions.list())
    assert not any(i.idle for i in platform.scheduler.instances("badinit"))
    # and a call reports the init error as Lambda does
    result = await platform.invoker.invoke("badinit", b"{}")
    assert result.error is not None
    assert result.error["errorType"] == "Runtime.ImportModuleError"


async def test_a_call_that_started_a_container_takes_one_that_frees_first(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of
):
    # Given a function slow to start (2 s of import) with one warm instance
    await deploy("racer", "import time\ntime.sleep(2)\n" + COUNTER, timeout_s=10)
    await call(platform, "racer")
    # busy for half a second
    busy = asyncio.create_task(call(platform, "racer", {"sleep": 0.5}))
    await asyncio.sleep(0.1)
    # When another call arrives, finds no idle instance and starts one
    result, body = await call(platform, "racer")
    # Then it runs on the instance that came free first, not the one still starting
    _, first_body = await busy
    assert result.cold_start is False
    assert body["host"] == first_body["host"]
    # and the container it started joins the pool once ready, idle
    await wait_until_async(
        lambda: containers_of("racer"),
        what="two containers",
        done=lambda ids: len(ids) == 2,
        within_s=30,
    )
    await wait_until_async(
        lambda: [i.state.value for i in platform.scheduler.instances("racer")],
        what="both instances idle",
        done=lambda states: states == ["idle"] * 2,
        within_s=30,
    )


@pytest.mark.both_backends
async def test_calls_waiting_for_a_capped_function_are_served_first_come_first_served(  # type: ignore[no-untyped-def]
    platform, deploy
):
    # Given a function capped at one instance, busy for half a second
    await deploy("queue", COUNTER, concurrency=1, timeout_s=10)
    await call(platform, "queue")
    busy = asyncio.create_task(call(platform, "queue", {"sleep": 0.5}))
    await asyncio.sleep(0.1)
    # When three calls arrive one after another while it is busy
    finished: list[int] = []

    async def caller(n: int) -> None:
        await asyncio.sleep(0.05 * n)
        result, _ = await call(platform, "queue", {"sleep": 0.05})
        assert result.outcome is Outcome.SUCCESS
        finished.append(n)

    await asyncio.gather(busy, *(caller(n) for n in (1, 2, 3)))
    # Then each got the instance in turn, in the order they came
    assert finished == [1, 2, 3]


@pytest.mark.both_backends
async def test_calls_that_waited_leave_nothing_behind_for_later_calls_to_walk(  # type: ignore[no-untyped-def]
    platform, deploy
):
    # Given two functions capped at one instance each, each called by three clients at once
    names = ("left", "right")
    for name in names:
        await deploy(name, COUNTER, concurrency=1, timeout_s=10)
    calls = [call(platform, name, {"sleep": 0.1}) for name in names for _ in range(3)]
    results = await asyncio.gather(*calls)
    assert all(result.outcome is Outcome.SUCCESS for result, _ in results)
    # Then, all served, the scheduler keeps no empty queue of waiting calls and no
    # finished start for them: every release and every start walks those, so what
    # once happened to a thousand functions would slow every call after it
    scheduler = platform.scheduler
    for name in names:
        assert name not in scheduler.waiters.queued()
        assert name not in scheduler.fleet.starts()
    # and the instances it counts are the ones it has
    assert scheduler.fleet.total() == len(scheduler.instances())


BURNER = """
import os, time

def handler(event, context):
    end = time.process_time() + event.get("cpu_s", 0)
    while time.process_time() < end:
        pass
    return {"host": os.uname().nodename}
"""


@pytest.mark.settings(scale_up_wait_s=60, throttle_wait_s=60)
async def test_a_function_held_back_by_its_cpu_share_gets_another_instance_at_once(  # type: ignore[no-untyped-def]
    platform, deploy
):
    # Given a 128 MB function (a quarter of a CPU) whose calls burn 20 ms of CPU
    # each, more than its quota in a 10 ms period, and one warm instance of it
    await deploy("burner", BURNER, memory_mb=128, timeout_s=30)
    await call(platform, "burner")

    # When four clients call it, a few times each, on a node where calls would
    # otherwise wait a minute for a busy instance before starting another
    async def client() -> list[str]:
        return [(await call(platform, "burner", {"cpu_s": 0.02}))[1]["host"] for _ in range(4)]

    served = await asyncio.gather(*(client() for _ in range(4)))
    # Then the throttled instance did not serve them all: another one was started
    assert len({host for hosts in served for host in hosts}) > 1
    assert len(platform.scheduler.instances("burner")) > 1
