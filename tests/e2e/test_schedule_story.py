"""Schedules as a team runs them: two servers on one Redis, a rate schedule, one firing per tick.

The two ``faas serve`` processes only fire ticks (``--no-worker``); one ``faas
worker`` runs the events, so a tick that fired twice would show in the ledger
twice, whichever server fired it. Seconds granularity is the documented
test-only ``FAAS_SCHEDULE_SECONDS``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import docker
import httpx
import pytest

from faas.settings import Settings
from tests.helpers import (
    Ledger,
    Server,
    WorkerProcess,
    free_port,
    handler_zip,
    upload,
    wait_until,
)

TICKER = """
import json

def handler(event, context):
    with open("/mnt/ledger/ledger.txt", "a") as f:
        f.write(json.dumps({"id": event["id"], "time": event["time"],
                            "source": event["source"], "type": event["detail-type"],
                            "request": context.aws_request_id}) + "\\n")
"""


def parse(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def cluster(server_env: dict[str, str], tmp_path: Path) -> Iterator[list[Server | WorkerProcess]]:
    env = {**server_env, "FAAS_SCHEDULE_SECONDS": "1", "FAAS_SCHEDULE_POLL_S": "0.2"}
    # Two nodes: each server reaps only its own node's containers at start.
    second = {**env, "FAAS_PORT": str(free_port()), "FAAS_NODE_ID": env["FAAS_NODE_ID"] + "-b"}
    servers = [
        Server(env, tmp_path / "a.log", "--no-worker"),
        Server(second, tmp_path / "b.log", "--no-worker"),
    ]
    worker = WorkerProcess(env, tmp_path / "worker.log")
    started: list[Server | WorkerProcess] = []
    try:
        for process in (*servers, worker):
            process.start()
            started.append(process)
        yield started
    finally:
        for process in started:
            if process.proc is not None and process.proc.poll() is None:
                process.stop()
        for c in docker.from_env().containers.list(
            all=True, filters={"label": f"faas.node={second['FAAS_NODE_ID']}"}
        ):
            c.remove(force=True)


def test_a_rate_schedule_fires_once_per_tick_across_two_servers(
    cluster: list[Server], settings: Settings
) -> None:
    a, b = cluster[0], cluster[1]
    ledger = Ledger(settings.volumes_root / "ledger" / "ledger.txt")
    with (
        httpx.Client(base_url=a.url, timeout=30) as api_a,
        httpx.Client(base_url=b.url, timeout=30) as api_b,
    ):
        made = upload(api_a, "ticker", handler_zip(TICKER), volumes='{"ledger": "/mnt/ledger"}')
        assert made.status_code == 201, made.text
        # A bad expression is refused with the position of the mistake
        bad = api_b.put(
            "/v1/functions/ticker/schedules",
            json=[{"name": "every", "expression": "cron(0 25 * * ? *)"}],
        )
        assert bad.status_code == 422 and bad.json()["field"] == "expression"
        assert bad.json()["position"] == 8 and "position 8" in bad.json()["message"]
        # When I schedule it every second through one server
        put = api_b.put(
            "/v1/functions/ticker/schedules",
            json=[{"name": "every", "expression": "rate(1 second)"}],
        )
        assert put.status_code == 200, put.text
        rule = put.json()["schedules"][0]
        since = parse(rule["since"])
        fires = [parse(t) for t in rule["nextFires"]]
        assert len(fires) == 5 and fires[0] >= since + 1
        assert [y - x for x, y in pairwise(fires)] == [1.0] * 4
        # Both servers look at it; one of them dies halfway
        time.sleep(6)
        a.kill()
        killed_at = time.time()
        time.sleep(5)
        # Then I pause it
        off = api_b.put(
            "/v1/functions/ticker/schedules",
            json=[{"name": "every", "expression": "rate(1 second)", "enabled": False}],
        )
        paused_at = time.time()
        assert off.status_code == 200 and off.json()["schedules"][0]["nextFires"] == []
        view = off.json()["schedules"][0]
        # Every tick queued has run: the ledger stops growing at the count of fires
        wait_until(
            ledger.entries,
            what=f"the {view['fires']} ticks fired to run",
            done=lambda entries: len(entries) >= view["fires"],
            within_s=60,
        )
        time.sleep(1)
        entries = ledger.entries()
        metrics = api_b.get("/metrics").text
        # The schedule lives in Redis: the killed server, restarted, shows it as it is
        a.start()
        again = api_a.get("/v1/functions/ticker/schedules").json()["schedules"][0]
        assert again["enabled"] is False and again["fires"] == view["fires"]
        assert again["since"] == rule["since"]
    # Each tick from the first after the anchor to the last before the pause, exactly once
    ticks = sorted(parse(e["time"]) for e in entries)
    assert len(ticks) == len(set(ticks)) == view["fires"], entries
    assert ticks == [since + i for i in range(1, len(ticks) + 1)]
    assert paused_at - 2.5 <= ticks[-1] <= paused_at + 0.5
    assert len(ticks) >= 8 and view["misses"] == 0
    # Each carries EventBridge's shape and a stable id, which is also its request id
    assert len({e["id"] for e in entries}) == len(entries)
    assert all(e["source"] == "aws.events" and e["type"] == "Scheduled Event" for e in entries)
    assert all(e["request"] == e["id"] for e in entries)
    # The surviving server fired at least every tick due after the other died (before
    # that the two raced for each), and its metrics count no miss
    fired_by_b = _sample(metrics, 'faas_schedule_fires_total{function="ticker"}')
    after_kill = [t for t in ticks if t > killed_at]
    assert len(after_kill) >= 4, (ticks, killed_at)
    assert len(after_kill) <= fired_by_b <= len(ticks)
    assert _sample(metrics, 'faas_schedule_misses_total{function="ticker"}') == 0


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0
