"""Stories of async invocations in-process: retries, dead letters, age, throttles, destinations.

The platform runs its worker in-process against real Docker and a private
Redis. Functions append what they see to a ledger file in a volume the test
owns: that file, not Redis, is the truth of what ran.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from faas import keys
from faas.errors import InvocationNotFound, StoreUnavailable
from faas.invoke.asyncq.records import Invocation, State
from faas.invoke.asyncq.retry import MAX_WORKERS_LOST
from faas.models import AsyncConfig
from faas.platform import Platform
from faas.settings import Settings
from tests.helpers import Ledger, RedisServer, killable_redis, wait_until_async

VOLUME = {"ledger": "/mnt/ledger"}

# Appends {id, attempt, t, event} when it starts, then does what the event says.
LEDGER_FN = """
import json, time

def handler(event, context):
    with open("/mnt/ledger/ledger.txt", "a") as ledger:
        ledger.write(json.dumps({"id": context.aws_request_id, "attempt": context.attempt,
                                 "t": time.time(), "event": event}) + "\\n")
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise ValueError("always fails")
    if "x" in event:
        return {"doubled": event["x"] * 2}
    return {"ok": True}
"""


@pytest.fixture
def ledger(settings: Settings) -> Ledger:
    return Ledger(settings.volumes_root / "ledger" / "ledger.txt")


async def states(platform: Platform, ids: list[str]) -> list[State]:
    return [(await platform.invoker.get_invocation(i)).state for i in ids]


async def wait_all_in(platform: Platform, ids: list[str], state: State, within_s: float) -> None:
    await wait_until_async(
        lambda: states(platform, ids),
        what=f"all {len(ids)} to be {state.value}",
        done=lambda seen: all(s is state for s in seen),
        within_s=within_s,
    )


FAST = AsyncConfig(max_retries=2, backoff_base_s=1, backoff_max_s=2, max_event_age_s=600)


async def test_a_failing_event_runs_three_times_with_backoff_then_dead_letters(
    platform: Platform, deploy, ledger: Ledger
) -> None:  # type: ignore[no-untyped-def]
    # Given a function that always raises, with two retries a second or two apart
    spec = await deploy("flaky", LEDGER_FN, volumes=VOLUME)
    await platform.functions.set_async_config("flaky", FAST)
    # When three events are queued
    ids = [
        await platform.invoker.invoke_async("flaky", json.dumps({"fail": True, "n": n}).encode())
        for n in range(3)
    ]
    # Then each runs exactly three times, told its attempt, spaced by the backoff
    await wait_all_in(platform, ids, State.DEAD_LETTERED, within_s=30)
    for request_id in ids:
        runs = [e for e in ledger.entries() if e["id"] == request_id]
        assert [r["attempt"] for r in runs] == [1, 2, 3]
        first_gap, second_gap = runs[1]["t"] - runs[0]["t"], runs[2]["t"] - runs[1]["t"]
        assert 0.7 <= first_gap <= 2.0, first_gap  # 1 s less up to 25% jitter
        assert 1.45 <= second_gap <= 3.0, second_gap  # 2 s less up to 25% jitter
    # And each is in the function's dead letters with what the user needs
    total, letters = await platform.dead_letters.page("flaky", 0, 10)
    assert total == 3 and sorted(i.request_id for i in letters) == sorted(ids)
    letter = letters[0].to_dead_letter()
    assert letter["reason"] == "RetriesExhausted" and letter["errorType"] == "ValueError"
    assert letter["errorMessage"] == "always fails" and letter["attempts"] == 3
    assert letter["codeSha256"] == spec.code_sha256 and letter["payload"]["fail"] is True
    assert letter["firstAttemptAt"] < letter["lastAttemptAt"]

    # When one is redriven, it runs three fresh attempts again, and only it
    assert await platform.dead_letters.redrive("flaky", [ids[0], "not-a-dead-letter"]) == [ids[0]]
    await wait_until_async(
        lambda: _is(platform, ids[0], State.DEAD_LETTERED, attempts=3, runs=(ledger, 6)),
        what="the redriven event dead-lettered again after three more runs",
        within_s=30,
    )
    assert [e["attempt"] for e in ledger.entries() if e["id"] == ids[0]] == [1, 2, 3] * 2
    assert len(ledger.entries()) == 12
    # And a deleted dead letter is gone for good
    await platform.dead_letters.delete("flaky", ids[1])
    with pytest.raises(InvocationNotFound):
        await platform.invoker.get_invocation(ids[1])
    with pytest.raises(InvocationNotFound):
        await platform.dead_letters.delete("flaky", ids[1])
    assert (await platform.dead_letters.page("flaky", 0, 10))[0] == 2


async def _is(
    platform: Platform, request_id: str, state: State, attempts: int, runs: tuple[Ledger, int]
) -> bool:
    invocation = await platform.invoker.get_invocation(request_id)
    ledger, count = runs
    return (
        invocation.state is state
        and invocation.attempts == attempts
        and ledger.ids().count(request_id) == count
    )


async def test_events_of_a_paused_function_age_out_without_running(
    platform: Platform, deploy, ledger: Ledger
) -> None:  # type: ignore[no-untyped-def]
    # Given a function paused with concurrency 0 and the shortest max age Lambda allows
    await deploy("paused", LEDGER_FN, volumes=VOLUME, concurrency=0)
    config = AsyncConfig(max_retries=2, backoff_base_s=1, backoff_max_s=1, max_event_age_s=60)
    await platform.functions.set_async_config("paused", config)
    ids = [await platform.invoker.invoke_async("paused", b'{"n": 1}') for _ in range(3)]
    # While they wait, they are queued and spend no attempts
    await wait_until_async(
        lambda: _all(platform, ids, lambda i: i.free_retries >= 2 and i.attempts == 0),
        what="every event to wait twice without spending an attempt",
        within_s=15,
    )
    # Then past the max age they are dead-lettered as EventAgeExceeded, never run
    await wait_all_in(platform, ids, State.DEAD_LETTERED, within_s=60 + 15)
    for request_id in ids:
        invocation = await platform.invoker.get_invocation(request_id)
        assert invocation.reason == "EventAgeExceeded" and invocation.attempts == 0
        assert time.time() - invocation.enqueued_at >= 60
    assert ledger.entries() == []


async def _all(platform: Platform, ids: list[str], test) -> bool:  # type: ignore[no-untyped-def]
    return all([test(await platform.invoker.get_invocation(i)) for i in ids])


@pytest.mark.settings(throttle_wait_s=0.05, worker_concurrency=8)
async def test_throttled_events_wait_in_the_queue_without_spending_attempts(
    platform: Platform, deploy, ledger: Ledger
) -> None:  # type: ignore[no-untyped-def]
    # Given a function capped at two at a time and a worker that takes eight events at once
    await deploy("capped", LEDGER_FN, volumes=VOLUME, concurrency=2)
    await platform.functions.set_async_config("capped", AsyncConfig(max_retries=0, backoff_max_s=2))
    # When fifty events arrive
    ids = [await platform.invoker.invoke_async("capped", b'{"sleep": 0.1}') for _ in range(50)]
    # Then all succeed on their one attempt, though many were throttled on the way
    await wait_all_in(platform, ids, State.SUCCEEDED, within_s=90)
    records = [await platform.invoker.get_invocation(i) for i in ids]
    assert all(r.attempts == 1 for r in records)
    assert sum(r.free_retries for r in records) > 0
    assert sorted(ledger.ids()) == sorted(ids)


async def test_destinations_receive_lambdas_records(
    platform: Platform, deploy, ledger: Ledger
) -> None:  # type: ignore[no-untyped-def]
    # Given a recorder, a function reporting success to it and one reporting failure
    for name in ("recorder", "good", "bad"):
        await deploy(name, LEDGER_FN, volumes=VOLUME)
    await platform.functions.set_async_config("good", AsyncConfig(on_success="recorder"))
    await platform.functions.set_async_config(
        "bad", AsyncConfig(max_retries=0, on_failure="recorder")
    )
    # When each is invoked asynchronously
    good = await platform.invoker.invoke_async("good", b'{"x": 2}')
    bad = await platform.invoker.invoke_async("bad", b'{"fail": true}')
    # Then the recorder gets one record of each, shaped as Lambda's
    await wait_until_async(
        ledger.entries, what="four records", done=lambda found: len(found) >= 4, within_s=30
    )
    records = {
        e["event"]["requestContext"]["requestId"]: e["event"]
        for e in ledger.entries()
        if "requestContext" in e["event"]
    }
    success, failure = records[good], records[bad]
    assert success["version"] == "1.0" and success["timestamp"].endswith("Z")
    assert success["requestContext"] == {
        "requestId": good,
        "functionArn": platform.invoker.arn("good") + ":$LATEST",
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert success["requestPayload"] == {"x": 2}
    assert success["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert success["responsePayload"] == {"doubled": 4}
    assert failure["requestContext"]["condition"] == "RetriesExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 1
    assert failure["requestPayload"] == {"fail": True}
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert failure["responsePayload"]["errorType"] == "ValueError"
    assert failure["responsePayload"]["errorMessage"] == "always fails"


@pytest.mark.settings(lease_s=1)
async def test_the_sweeper_gives_back_an_event_whose_worker_died(
    platform: Platform, deploy, ledger: Ledger, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    # Given an event taken by a worker that then died (its entry is pending, unrenewed)
    await deploy("orphaned", LEDGER_FN, volumes=VOLUME)
    assert platform.worker is not None
    await platform.worker.stop(drain_s=1)  # our own worker must not take it first
    request_id = await platform.invoker.invoke_async("orphaned", b"{}")
    client = redis.Redis.from_url(settings.redis_url)
    taken = client.xreadgroup(keys.EVENTS_GROUP, "ghost", {keys.EVENTS: ">"}, count=10)
    assert len(taken[0][1]) == 1
    # When a live worker sweeps, after the lease lapsed
    platform.worker.start()
    # Then the event runs once and succeeds
    await wait_all_in(platform, [request_id], State.SUCCEEDED, within_s=15)
    assert ledger.ids() == [request_id]
    assert client.xpending(keys.EVENTS, keys.EVENTS_GROUP)["pending"] == 0
    client.close()


@pytest.mark.settings(lease_s=1)
async def test_an_event_whose_worker_died_in_its_only_attempt_runs_again_as_that_attempt(
    platform: Platform, deploy, ledger: Ledger, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    # Given a function with no retries, and its event taken by a worker that began
    # the one attempt and died during it (it never settled)
    await deploy("unlucky", LEDGER_FN, volumes=VOLUME)
    await platform.functions.set_async_config("unlucky", AsyncConfig(max_retries=0))
    assert platform.worker is not None
    await platform.worker.stop(drain_s=1)
    request_id = await platform.invoker.invoke_async("unlucky", b"{}")
    [taken] = await platform.queue.take("ghost", 10)
    begun = await platform.queue.begin_attempt(taken.invocation, "ab" * 32)
    assert begun.attempts == 1
    # When the sweeper gives it back
    platform.worker.start()
    # Then it runs again and succeeds, told it is attempt 1: the function never failed
    await wait_all_in(platform, [request_id], State.SUCCEEDED, within_s=15)
    assert [(e["id"], e["attempt"]) for e in ledger.entries()] == [(request_id, 1)]
    invocation = await platform.invoker.get_invocation(request_id)
    assert invocation.attempts == 1 and invocation.workers_lost == 1


@pytest.mark.settings(lease_s=1)
async def test_an_event_that_lost_every_worker_is_dead_lettered_as_worker_lost(
    platform: Platform, deploy, ledger: Ledger, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    # Given an event whose workers died running it, the last one as it ran (unsettled)
    await deploy("deadly", LEDGER_FN, volumes=VOLUME)
    assert platform.worker is not None
    await platform.worker.stop(drain_s=1)
    request_id = await platform.invoker.invoke_async("deadly", b"{}")
    client = redis.Redis.from_url(settings.redis_url)
    client.hset(keys.invocation(request_id), "workers_lost", MAX_WORKERS_LOST - 1)
    [taken] = await platform.queue.take("ghost", 10)
    await platform.queue.begin_attempt(taken.invocation, "ab" * 32)
    # When the sweeper gives it back
    platform.worker.start()
    # Then it is dead-lettered, saying so, not run again (no endless requeue)
    await wait_all_in(platform, [request_id], State.DEAD_LETTERED, within_s=15)
    invocation = await platform.invoker.get_invocation(request_id)
    assert invocation.reason == "WorkerLost" and invocation.attempts == 0
    assert invocation.workers_lost == MAX_WORKERS_LOST
    total, [letter] = await platform.dead_letters.page("deadly", 0, 10)
    shown = letter.to_dead_letter()
    assert total == 1 and shown["reason"] == shown["errorType"] == "WorkerLost"
    assert f"died (or stalled past its lease) {MAX_WORKERS_LOST} times" in shown["errorMessage"]
    assert ledger.entries() == []
    client.close()


async def test_events_of_a_deleted_function_fail_without_a_dead_letter(
    platform: Platform, deploy
) -> None:  # type: ignore[no-untyped-def]
    # Given an event queued for a function deleted before it ran
    await deploy("doomed", LEDGER_FN)
    assert platform.worker is not None
    await platform.worker.stop(drain_s=1)
    request_id = await platform.invoker.invoke_async("doomed", b"{}")
    await platform.functions.delete("doomed")
    # When a worker takes it
    platform.worker.start()
    # Then it ends failed, saying why, and is not dead-lettered
    await wait_all_in(platform, [request_id], State.FAILED, within_s=15)
    invocation = await platform.invoker.get_invocation(request_id)
    assert invocation.error is not None and "was deleted" in invocation.error["errorMessage"]
    assert invocation.attempts == 0 and (await platform.dead_letters.page("doomed", 0, 10))[0] == 0


async def test_only_idle_consumers_with_nothing_pending_are_forgotten(
    platform: Platform, settings: Settings
) -> None:
    # Given a dead worker holding an event, and another dead worker holding none
    assert platform.worker is not None
    await platform.worker.stop(drain_s=1)
    await platform.queue.enqueue(
        Invocation(request_id="held", function="f", payload=b"{}", enqueued_at=time.time())
    )
    client = redis.Redis.from_url(settings.redis_url)
    client.xreadgroup(keys.EVENTS_GROUP, "holder", {keys.EVENTS: ">"}, count=1)
    client.xreadgroup(keys.EVENTS_GROUP, "empty-handed", {keys.EVENTS: ">"}, count=1)
    # When idle consumers are forgotten
    await platform.queue.forget_idle_consumers(idle_s=0)
    # Then the one holding an event stays, with its event still pending
    names = {c["name"] for c in client.xinfo_consumers(keys.EVENTS, keys.EVENTS_GROUP)}
    assert b"holder" in names and b"empty-handed" not in names
    assert f"{settings.node_id}-serve".encode() not in names
    assert client.xpending(keys.EVENTS, keys.EVENTS_GROUP)["pending"] == 1
    client.close()


async def test_a_redis_that_evicts_keys_is_refused(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        platform = Platform(settings)
        with pytest.raises(StoreUnavailable, match="noeviction"):
            await platform.start()
        await platform.close()
    finally:
        client.config_set("maxmemory-policy", "noeviction")
        client.close()


@pytest.fixture
def aof_redis() -> Iterator[RedisServer]:
    with killable_redis() as server:
        yield server


async def test_queued_events_survive_a_redis_restart(
    aof_redis: RedisServer, settings: Settings, ledger: Ledger, tmp_path: Path
) -> None:
    import dataclasses

    from faas.models import FunctionConfig
    from tests.helpers import handler_zip

    settings = dataclasses.replace(settings, redis_url=aof_redis.url)
    # Given twenty events queued while no worker runs
    producer = Platform(settings, worker=False)
    await producer.start()
    zip_path = tmp_path / "fn.zip"
    zip_path.write_bytes(handler_zip(LEDGER_FN))
    config = FunctionConfig(
        name="durable", runtime="python3.11", handler="app.handler", volumes=VOLUME
    )
    await producer.functions.create(config, zip_path)
    ids = [await producer.invoker.invoke_async("durable", b'{"n": 1}') for _ in range(20)]
    # When Redis restarts (and, while it is down, enqueueing is refused, not lost)
    aof_redis.stop()
    with pytest.raises(StoreUnavailable):
        await producer.invoker.invoke_async("durable", b"{}")
    await producer.close()
    aof_redis.start()
    # Then a worker started afterwards runs every one of them
    consumer = Platform(settings, worker=True)
    await consumer.start()
    try:
        await wait_all_in(consumer, ids, State.SUCCEEDED, within_s=60)
        assert sorted(ledger.ids()) == sorted(ids)
    finally:
        await consumer.close()
