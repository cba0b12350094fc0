"""Three nodes on one Redis, as a team runs them once one server is not enough.

Each node is its own `faas serve` (its own id, data dir and port; one Docker engine
here, as three hosts would each have theirs). Functions share one volumes dir
(``FAAS_VOLUMES_DIR`` on shared storage), where they append what they did to a
ledger: that file, outside the Redis under test, is the truth of what ran.

The story: a function deployed on node 1 runs through nodes 2 and 3 (its code
fetched); calls landing where no instance is run warm on the node that has one; a
reserved concurrency of 3 holds across the three nodes; 3,000 async events survive
a node SIGKILLed midway, while a schedule keeps firing once per tick; the node comes
back, reaps what its killed run left, and no place under any cap is lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import redis

from faas import keys
from tests.conftest import make_data_dir
from tests.helpers import Ledger, Server, free_port, handler_zip, ours, upload, wait_until

pytestmark = pytest.mark.slow

ADMIN = "cluster-story-admin-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN}"}

# Says where it ran, and when (the host's clock: every container shares it).
GREETER = """
import os, time

def handler(event, context):
    began = time.time()
    time.sleep(event.get("sleep", 0))
    return {"hello": event.get("who"), "began": began, "ended": time.time()}
"""

# Completes an event, then writes it to the ledger.
RECORDER = """
import json, time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    with open("/mnt/ledger/ledger.txt", "a") as ledger:
        kind = "tick" if event.get("source") == "aws.events" else "event"
        line = {"id": context.aws_request_id, "kind": kind, "time": event.get("time")}
        ledger.write(json.dumps(line) + "\\n")
    return {"done": True}
"""


class Cluster:
    """Three `faas serve`s on one Redis, and their shared volumes dir."""

    def __init__(self, redis_url: str, node_id: str, volumes: Path, logs: Path) -> None:
        self.redis = redis.Redis.from_url(redis_url)
        self.logs = logs
        self.ids = [f"{node_id}-c{n}" for n in (1, 2, 3)]
        self.dirs = [make_data_dir() for _ in self.ids]
        self.nodes = [
            Server(
                {
                    "FAAS_REDIS_URL": redis_url,
                    "FAAS_DATA_DIR": str(data_dir),
                    "FAAS_PORT": str(free_port()),
                    "FAAS_NODE_ID": node,
                    "FAAS_ADMIN_KEY": ADMIN,
                    "FAAS_VOLUMES_DIR": str(volumes),
                    "FAAS_THROTTLE_WAIT_S": "10",
                    "FAAS_LEASE_S": "3",
                    "FAAS_LEASE_TTL_S": "3",
                    "FAAS_REAP_INTERVAL_S": "0.5",
                    "FAAS_SCHEDULE_SECONDS": "1",
                    "FAAS_PREWARM_POOL": "1",
                    "FAAS_WORKER_CONCURRENCY": "8",
                },
                logs / f"{node}.log",
            )
            for node, data_dir in zip(self.ids, self.dirs, strict=True)
        ]

    def api(self, n: int) -> httpx.Client:
        """A client of node ``n`` (1, 2 or 3)."""
        return httpx.Client(base_url=self.nodes[n - 1].url, timeout=60, headers=AUTH)

    def bundle(self, n: int, sha: str) -> Path:
        return self.dirs[n - 1] / "code" / "zips" / f"{sha}.zip"

    def restart(self, n: int) -> None:
        """Start node ``n`` again, as it was (same id, data dir and port)."""
        node = self.nodes[n - 1]
        self.nodes[n - 1] = Server(node.env, self.logs / f"{self.ids[n - 1]}-again.log")
        self.nodes[n - 1].start()

    def close(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.stop()
        client = docker.from_env()
        try:
            for node_id in self.ids:
                for container in ours(node_id, client=client):
                    client.api.remove_container(container, force=True)
        finally:
            client.close()
        for data_dir in self.dirs:
            shutil.rmtree(data_dir, ignore_errors=True)
        self.redis.close()


@pytest.fixture
def cluster(
    redis_flushed: str, node_id: str, tmp_path: Path, runtime_image: str
) -> Iterator[Cluster]:
    volumes = tmp_path / "volumes"
    volumes.mkdir()
    made = Cluster(redis_flushed, node_id, volumes, tmp_path)
    try:
        for node in made.nodes:
            node.start()
        yield made
    finally:
        made.close()


def deploy(api: httpx.Client, name: str, source: str, **fields: str) -> str:
    code = handler_zip(source)
    made = upload(api, name, code, **fields)
    assert made.status_code == 201, made.text
    return hashlib.sha256(code).hexdigest()


def invoke(api: httpx.Client, name: str, event: dict[str, Any]) -> httpx.Response:
    reply = api.post(f"/v1/functions/{name}/invoke", json=event)
    assert reply.status_code == 200, reply.text
    return reply


def most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    running = most = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        most = max(most, running)
    return most


def client_of(url: str, headers: dict[str, str]) -> httpx.AsyncClient:
    """A client that drops idle connections before the server's 5 s keep-alive could
    close one under a request being sent."""
    limits = httpx.Limits(keepalive_expiry=2.0)
    return httpx.AsyncClient(base_url=url, timeout=60, headers=headers, limits=limits)


async def calls_at_once(urls: list[str], name: str, count: int, sleep: float) -> list[Any]:
    """``count`` calls at once, spread over the nodes in turn: each one's answer."""
    clients = [client_of(u, AUTH) for u in urls]
    try:
        replies = await asyncio.gather(
            *(
                clients[i % len(clients)].post(
                    f"/v1/functions/{name}/invoke", json={"sleep": sleep, "who": i}
                )
                for i in range(count)
            )
        )
    finally:
        for client in clients:
            await client.aclose()
    return [(r.status_code, r.json()) for r in replies]


async def enqueue(urls: list[str], name: str, events: list[dict[str, Any]]) -> list[str]:
    """Queue ``events`` as async invokes through the nodes in turn: their request ids."""
    headers = {**AUTH, "X-Faas-Invocation-Type": "Event"}
    limit = asyncio.Semaphore(24)
    clients = [client_of(u, headers) for u in urls]

    async def one(i: int, event: dict[str, Any]) -> str:
        async with limit:
            reply = await clients[i % len(clients)].post(f"/v1/functions/{name}/invoke", json=event)
        assert reply.status_code == 202, reply.text
        return str(reply.json()["requestId"])

    try:
        return list(await asyncio.gather(*(one(i, e) for i, e in enumerate(events))))
    finally:
        for client in clients:
            await client.aclose()


def test_three_nodes_share_the_work_its_limits_and_its_failures(cluster: Cluster) -> None:
    with cluster.api(1) as api1, cluster.api(2) as api2, cluster.api(3) as api3:
        story(cluster, api1, api2, api3)


def story(cluster: Cluster, api1: httpx.Client, api2: httpx.Client, api3: httpx.Client) -> None:
    # Given three nodes that see each other
    listed = api3.get("/v1/nodes").json()["nodes"]
    assert sorted(n["id"] for n in listed) == cluster.ids

    # And a function deployed through node 1
    sha = deploy(api1, "greeter", GREETER)
    # When it is first called through nodes 2 and 3 at once
    replies = asyncio.run(
        calls_at_once([cluster.nodes[1].url, cluster.nodes[2].url], "greeter", 2, 0.0)
    )
    # Then both ran it, each with the code it fetched from node 1 by its hash
    assert [status for status, _ in replies] == [200, 200]
    assert cluster.bundle(2, sha).exists() and cluster.bundle(3, sha).exists()

    # Given five more functions, each called once through node 1 (cold there)
    for n in range(5):
        deploy(api1, f"warm{n}", GREETER)
        assert invoke(api1, f"warm{n}", {}).headers["X-Faas-Cold-Start"] == "true"
    # When they are called 60 times in turn through every node
    clients = [api1, api2, api3]
    cold = [
        invoke(clients[i % 3], f"warm{i % 5}", {"who": i}).headers["X-Faas-Cold-Start"]
        for i in range(60)
    ]
    # Then every call ran warm: nodes 2 and 3 sent them where an instance was
    assert cold.count("true") == 0, cold

    # Given a function whose reserved concurrency is 3
    deploy(api1, "capped", GREETER)
    assert api2.patch("/v1/functions/capped", json={"concurrency": 3}).status_code == 200
    # When 30 calls of 0.4 s come at once, spread over the three nodes
    urls = [node.url for node in cluster.nodes]
    replies = asyncio.run(calls_at_once(urls, "capped", 30, 0.4))
    # Then all were served, never more than 3 handlers running at once cluster-wide
    assert [status for status, _ in replies] == [200] * 30, replies
    spans = [(body["began"], body["ended"]) for _, body in replies]
    assert most_at_once(spans) == 3

    # Given a recorder with a reserved concurrency of 12 (its places leased in Redis),
    # and a schedule firing every 2 seconds into the same ledger
    ledger = Ledger(Path(cluster.nodes[0].env["FAAS_VOLUMES_DIR"]) / "ledger" / "ledger.txt")
    deploy(api1, "recorder", RECORDER, volumes='{"ledger": "/mnt/ledger"}', timeout_s="30")
    assert api1.patch("/v1/functions/recorder", json={"concurrency": 12}).status_code == 200
    config = {"max_retries": 10, "backoff_base_s": 0.5, "backoff_max_s": 1}
    assert api1.put("/v1/functions/recorder/async-config", json=config).status_code == 200
    rule = {"name": "tick", "expression": "rate(2 seconds)"}
    put = api3.put("/v1/functions/recorder/schedules", json=[rule])
    assert put.status_code == 200, put.text
    # When 3,000 events are queued through all three nodes
    events = [{"sleep": 0.01, "n": i} for i in range(3000)]
    ids = asyncio.run(enqueue(urls, "recorder", events))
    assert len(set(ids)) == 3000
    # and node 2 is SIGKILLed once a third of them ran
    wait_until(
        lambda: len(ledger.ids()), what="1,000 events done", done=lambda n: n >= 1000, within_s=120
    )
    killed_at = time.time()
    cluster.nodes[1].kill()
    in_flight = in_flight_of(cluster.redis, f"{cluster.ids[1]}-serve")
    # Then every event runs at least once on the nodes left, none lost
    done = wait_until(
        lambda: set(ledger.ids()) & set(ids),
        what="all 3,000 events done",
        done=lambda found: len(found) == 3000,
        within_s=180,
    )
    assert done == set(ids)
    runs = Counter(e["id"] for e in ledger.entries() if e["kind"] == "event")
    repeats = sum(n - 1 for n in runs.values())
    print(f"3,000 events: {in_flight} in flight on the killed node, {repeats} ran twice")
    # And the schedule kept firing once per tick while node 2 was down
    time.sleep(max(0.0, killed_at + 8 - time.time()))
    ticks = [e["time"] for e in ledger.entries() if e["kind"] == "tick"]
    assert len(ticks) == len(set(ticks)), Counter(ticks).most_common(3)
    after_kill = [t for t in ticks if _epoch(t) > killed_at + 1]
    assert len(after_kill) >= 3, ticks

    # When node 2 comes back (same id, same data dir)
    left_behind = set(ours(cluster.ids[1]))
    cluster.restart(2)
    # Then it reaped every container its killed run left
    wait_until(
        lambda: left_behind & set(ours(cluster.ids[1])),
        what="the killed run's containers reaped",
        done=lambda left: not left,
        within_s=30,
    )
    # And no place under a cap leaked: the killed node's leases lapsed
    wait_until(
        lambda: cluster.redis.zcard(keys.running("recorder")),
        what="the recorder's leases given back or lapsed",
        done=lambda n: n == 0,
        within_s=15,
    )
    assert cluster.redis.zcard(keys.running("capped")) == 0
    # so the capped function runs 3 at once again, through the node that came back too
    replies = asyncio.run(calls_at_once(urls, "capped", 9, 0.4))
    assert [status for status, _ in replies] == [200] * 9
    assert most_at_once([(b["began"], b["ended"]) for _, b in replies]) == 3


def in_flight_of(client: redis.Redis, consumer: str) -> int:
    """The async events a worker had taken and not settled."""
    for found in client.xinfo_consumers(keys.EVENTS, keys.EVENTS_GROUP):
        name = found["name"].decode() if isinstance(found["name"], bytes) else found["name"]
        if name == consumer:
            return int(found["pending"])
    return 0


def _epoch(stamp: str) -> float:
    return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
