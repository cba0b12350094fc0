"""Workers die and stop; events are not lost.

A ``faas serve`` without a worker takes the events; ``faas worker`` processes
run them and are killed (SIGKILL) or stopped (SIGTERM) mid-run. The function
appends each event it completes to a ledger file in a volume the test owns:
that file, outside the Redis under test, is the truth of what ran.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import redis

from faas import keys
from faas.invoke.asyncq.retry import MAX_WORKERS_LOST
from faas.settings import Settings
from tests.helpers import Ledger, Server, WorkerProcess, handler_zip, upload, wait_until

# Completes an event: sleeps as asked, then writes it to the ledger.
SLEEPER = """
import json, time

def handler(event, context):
    time.sleep(event.get("sleep", 0.05))
    with open("/mnt/ledger/ledger.txt", "a") as ledger:
        ledger.write(json.dumps({"id": context.aws_request_id, "attempt": context.attempt}) + "\\n")
    return {"done": True}
"""
TERMINAL = {b"succeeded", b"failed", b"dead-lettered"}


class Cluster:
    """A server taking events (no worker of its own), and the workers a story starts."""

    def __init__(self, server_env: dict[str, str], logs: Path) -> None:
        self.server = Server({**server_env, "FAAS_WORKER": "0"}, logs / "server.log")
        self.worker_env = {**server_env, "FAAS_LEASE_S": "2", "FAAS_REAP_INTERVAL_S": "0.5"}
        self.logs = logs
        self.workers: list[WorkerProcess] = []

    def worker(self, **env: str) -> WorkerProcess:
        process = WorkerProcess(
            {**self.worker_env, **env}, self.logs / f"worker-{len(self.workers)}.log"
        )
        process.start()
        self.workers.append(process)
        return process


@pytest.fixture
def cluster(server_env: dict[str, str], settings: Settings, tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(server_env, tmp_path)
    cluster.server.start()
    try:
        yield cluster
    finally:
        for worker in cluster.workers:
            if worker.proc is not None and worker.proc.poll() is None:
                worker.kill()
        cluster.server.stop()
        # Killed workers leave their containers to be reaped by live ones; reap the rest.
        client = docker.from_env()
        for container in client.containers.list(
            all=True, filters={"label": f"faas.node={settings.node_id}"}
        ):
            container.remove(force=True)


def deploy_sleeper(server: Server, max_retries: int) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as api:
        ledger = '{"ledger": "/mnt/ledger"}'
        made = upload(api, "sleeper", handler_zip(SLEEPER), volumes=ledger, timeout_s="30")
        assert made.status_code == 201, made.text
        config = {"max_retries": max_retries, "backoff_base_s": 0.5, "backoff_max_s": 1}
        assert api.put("/v1/functions/sleeper/async-config", json=config).status_code == 200


async def enqueue(url: str, events: list[bytes]) -> list[str]:
    headers = {"X-Faas-Invocation-Type": "Event", "Content-Type": "application/json"}
    limit = asyncio.Semaphore(25)
    async with httpx.AsyncClient(base_url=url, timeout=60) as api:

        async def one(event: bytes) -> str:
            async with limit:
                reply = await api.post(
                    "/v1/functions/sleeper/invoke", content=event, headers=headers
                )
            assert reply.status_code == 202, reply.text
            return str(reply.json()["requestId"])

        return list(await asyncio.gather(*(one(e) for e in events)))


def states(client: redis.Redis, ids: list[str]) -> list[bytes | None]:
    pipe = client.pipeline(transaction=False)
    for request_id in ids:
        pipe.hget(keys.invocation(request_id), "state")
    return pipe.execute()


def in_flight_of_new_consumers(client: redis.Redis, seen: set[str]) -> int:
    """Pending entries of consumers not seen before: the in-flight work of the one just killed."""
    total = 0
    for consumer in client.xinfo_consumers(keys.EVENTS, keys.EVENTS_GROUP):
        name = (
            consumer["name"].decode() if isinstance(consumer["name"], bytes) else consumer["name"]
        )
        if name not in seen:
            seen.add(name)
            total += int(consumer["pending"])
    return total


def test_killed_workers_lose_no_event(cluster: Cluster, settings: Settings) -> None:
    server = cluster.server
    deploy_sleeper(server, max_retries=10)
    ledger = Ledger(settings.volumes_root / "ledger" / "ledger.txt")
    client = redis.Redis.from_url(settings.redis_url)
    # Given 1,000 events queued while no worker runs
    ids = asyncio.run(enqueue(server.url, [b'{"sleep": 0.05}'] * 1000))
    assert len(set(ids)) == 1000
    # When a worker runs them and is SIGKILLed four times along the way
    worker = cluster.worker(FAAS_WORKER_CONCURRENCY="8")
    seen: set[str] = set()
    in_flight_at_kills = []
    for progress in (150, 350, 550, 750):
        wait_until(
            lambda: len(set(ledger.ids())),
            what=f"{progress} events done",
            done=lambda n, p=progress: n >= p,
            within_s=180,
        )
        worker.kill()
        in_flight_at_kills.append(in_flight_of_new_consumers(client, seen))
        worker = cluster.worker(FAAS_WORKER_CONCURRENCY="8")
    # Then every event reaches a terminal state
    wait_until(
        lambda: Counter(states(client, ids)),
        what="every event to end",
        done=lambda seen: set(seen) <= TERMINAL,
        within_s=240,
    )
    assert worker.stop() == 0, worker.log()
    # And every one succeeded, none is lost, and none is still queued anywhere
    assert set(states(client, ids)) == {b"succeeded"}
    ran = Counter(ledger.ids())
    assert set(ran) == set(ids)
    assert client.xlen(keys.EVENTS) == 0 and client.zcard(keys.DELAYED) == 0
    assert client.xpending(keys.EVENTS, keys.EVENTS_GROUP)["pending"] == 0
    # And duplicates are at most what was in flight at the kills
    duplicates = sum(count - 1 for count in ran.values())
    print(f"in flight at kills: {in_flight_at_kills}; duplicates: {duplicates}")
    assert all(k > 0 for k in in_flight_at_kills), in_flight_at_kills
    assert duplicates <= sum(in_flight_at_kills)
    client.close()


def test_several_workers_share_the_queue_without_running_an_event_twice(
    cluster: Cluster, settings: Settings
) -> None:
    server = cluster.server
    deploy_sleeper(server, max_retries=0)
    ledger = Ledger(settings.volumes_root / "ledger" / "ledger.txt")
    client = redis.Redis.from_url(settings.redis_url)
    ids = asyncio.run(enqueue(server.url, [b'{"sleep": 0.02}'] * 300))
    # When three workers take from the same queue at once
    workers = [cluster.worker(FAAS_WORKER_CONCURRENCY="4") for _ in range(3)]
    wait_until(
        lambda: Counter(states(client, ids)),
        what="every event to succeed",
        done=lambda seen: set(seen) == {b"succeeded"},
        within_s=180,
    )
    assert all(w.stop() == 0 for w in workers)
    # Then each event ran exactly once
    assert sorted(ledger.ids()) == sorted(ids)
    assert len(client.xinfo_consumers(keys.EVENTS, keys.EVENTS_GROUP)) == 3
    client.close()


@pytest.mark.parametrize(
    ("drain_s", "sleep_s", "finished_in_drain"),
    [(15.0, 1.0, True), (0.5, 6.0, False)],
    ids=["in-flight-finish", "past-the-budget-handed-back"],
)
def test_sigterm_drains_then_hands_back_and_loses_nothing(
    cluster: Cluster,
    settings: Settings,
    drain_s: float,
    sleep_s: float,
    finished_in_drain: bool,
) -> None:
    server = cluster.server
    deploy_sleeper(server, max_retries=0)
    ledger = Ledger(settings.volumes_root / "ledger" / "ledger.txt")
    client = redis.Redis.from_url(settings.redis_url)
    ids = asyncio.run(enqueue(server.url, [f'{{"sleep": {sleep_s}}}'.encode()] * 12))
    # Given a worker running four of twelve events
    first = cluster.worker(FAAS_WORKER_CONCURRENCY="4", FAAS_DRAIN_S=str(drain_s))
    wait_until(
        lambda: Counter(states(client, ids)),
        what="four events running",
        done=lambda seen: seen[b"running"] == 4,
        within_s=60,
    )
    # (Cold starts on a loaded machine can be staggered by more than a run: one
    # may have finished, and its warm instance taken a fifth, before four ran at once.)
    before = states(client, ids)
    running = [i for i, s in zip(ids, before, strict=True) if s in (b"running", b"succeeded")]
    # When it is told to stop
    assert first.stop() == 0, first.log()
    # Then nothing is left running: in-flight work finished, or went back to the queue
    after = states(client, ids)
    assert b"running" not in after
    finished = [i for i, s in zip(ids, after, strict=True) if s == b"succeeded"]
    if finished_in_drain:
        assert sorted(finished) == sorted(running)
    else:
        assert finished == [] and ledger.ids() == []
    # And a new worker runs everything, each exactly once, on its single attempt
    second = cluster.worker(FAAS_WORKER_CONCURRENCY="4")
    wait_until(
        lambda: Counter(states(client, ids)),
        what="every event to succeed",
        done=lambda seen: set(seen) == {b"succeeded"},
        within_s=120,
    )
    assert second.stop() == 0
    assert sorted(ledger.ids()) == sorted(ids)
    attempts = [int(client.hget(keys.invocation(i), "attempts") or 0) for i in ids]
    assert attempts == [1] * 12
    client.close()


def running_again(client: redis.Redis, request_id: str, workers_lost: int) -> bool:
    """The event runs on a new worker, after ``workers_lost`` died running it."""
    record = client.hgetall(keys.invocation(request_id))
    return record.get(b"state") == b"running" and int(record.get(b"workers_lost", 0)) == (
        workers_lost
    )


def ended(client: redis.Redis, server: Server, request_id: str) -> dict[str, Any]:
    """Once the event has ended, its record as the API shows it."""
    wait_until(
        lambda: states(client, [request_id])[0],
        what="the event to end",
        done=lambda state: state in TERMINAL,
        within_s=60,
    )
    with httpx.Client(base_url=server.url, timeout=10) as api:
        record: dict[str, Any] = api.get(f"/v1/invocations/{request_id}").json()
    return record


def test_a_worker_killed_mid_event_spends_none_of_its_retries(
    cluster: Cluster, settings: Settings
) -> None:
    server = cluster.server
    deploy_sleeper(server, max_retries=0)
    ledger = Ledger(settings.volumes_root / "ledger" / "ledger.txt")
    client = redis.Redis.from_url(settings.redis_url)
    # Given a function with no retries, and its event running on a worker
    [request_id] = asyncio.run(enqueue(server.url, [b'{"sleep": 3}']))
    worker = cluster.worker()
    wait_until(lambda: running_again(client, request_id, 0), what="the event running", within_s=60)
    # When the worker is SIGKILLed mid-run, and another worker starts
    worker.kill()
    second = cluster.worker()
    # Then the event runs again and succeeds: the dead worker spent no attempt
    record = ended(client, server, request_id)
    assert record["state"] == "succeeded", record
    assert record["attempts"] == 1
    # And the function was told attempt 1 each time it ran (the killed run's
    # container may have finished too, before it was reaped)
    assert {(e["id"], e["attempt"]) for e in ledger.entries()} == {(request_id, 1)}
    # And its record says one worker was lost running it
    assert record["workersLost"] == 1
    assert second.stop() == 0, second.log()
    client.close()


def test_an_event_that_kills_every_worker_ends_dead_lettered_as_worker_lost(
    cluster: Cluster, settings: Settings
) -> None:
    server = cluster.server
    deploy_sleeper(server, max_retries=2)
    client = redis.Redis.from_url(settings.redis_url)
    # Given an event whose worker dies whenever it runs it, three times
    [request_id] = asyncio.run(enqueue(server.url, [b'{"sleep": 25}']))
    for lost in range(MAX_WORKERS_LOST):
        worker = cluster.worker()
        wait_until(
            lambda n=lost: running_again(client, request_id, n),
            what=f"run {lost + 1} of the event",
            within_s=60,
        )
        worker.kill()
    # When a worker finds it once more
    last = cluster.worker()
    # Then it is dead-lettered with its own reason, having spent none of its attempts
    record = ended(client, server, request_id)
    with httpx.Client(base_url=server.url, timeout=10) as api:
        page = api.get("/v1/functions/sleeper/dead-letters").json()
    [letter] = page["items"]
    assert letter["requestId"] == request_id
    assert letter["reason"] == letter["errorType"] == "WorkerLost"
    assert f"died (or stalled past its lease) {MAX_WORKERS_LOST} times" in letter["errorMessage"]
    assert letter["attempts"] == 0
    assert record["state"] == "dead-lettered" and record["workersLost"] == MAX_WORKERS_LOST
    assert last.stop() == 0, last.log()
    client.close()
