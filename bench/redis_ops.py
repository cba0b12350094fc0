"""What each kind of work costs Redis: commands and Redis CPU per sync invoke (with and
without a reserved concurrency's lease), per async event, per message sent, and per
message through a mapping (docs/scaling.md).

Starts the bench's own server (a redis-server and ``faas serve``, bench/harness.py),
warms a no-op function, then for each kind of work reads Redis's ``INFO commandstats``
and ``INFO cpu`` before and after a run of it and divides by its count. What the
script itself asks Redis while it waits (the queue's depth) is measured on its own
and taken off. Prints a Markdown table; run with ``.venv/bin/python bench/redis_ops.py``.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from bench.harness import Harness, deploy_noop
from bench.scenarios.mappings import clients, remaining

N = 2000


def stats(client: redis.Redis) -> tuple[dict[str, tuple[int, int]], float]:
    """Per command (calls, usec), and Redis's CPU seconds so far (user + sys)."""
    commands = {
        name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
        for name, v in client.info("commandstats").items()
    }
    cpu = client.info("cpu")
    return commands, float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


Stats = tuple[dict[str, tuple[int, int]], float]


def diff(before: Stats, after: Stats) -> Stats:
    out = {}
    for name, (calls, usec) in after[0].items():
        was = before[0].get(name, (0, 0))
        if calls - was[0]:
            out[name] = (calls - was[0], usec - was[1])
    return out, after[1] - before[1]


def per(measured: tuple[dict[str, tuple[int, int]], float], n: int) -> dict[str, Any]:
    commands, cpu = measured
    calls = sum(c for c, _ in commands.values())
    usec = sum(u for _, u in commands.values())
    top = sorted(commands.items(), key=lambda kv: -kv[1][0])[:6]
    return {
        "commands": calls / n,
        "command_usec": usec / n,
        "redis_cpu_usec": cpu * 1e6 / n,
        "top": {name: round(c / n, 2) for name, (c, _) in top},
    }


def main() -> None:
    h = Harness(max_instances=64)
    h.start()
    try:
        deploy_noop(h)
        db = redis.Redis(unix_socket_path=str(h.redis.sock))
        results: dict[str, dict[str, Any]] = {}
        with h.gateway() as gw:
            request = h.invoke_request("noop")
            for _ in range(200):
                gw.send(request)
            before = stats(db)
            for _ in range(N):
                gw.send(request)
            results["sync invoke (/v1)"] = per(diff(before, stats(db)), N)
            # A function with a reserved concurrency: a lease taken and given per call.
            h.upload("capped")
            h.client().patch("/v1/functions/capped", json={"concurrency": 1000}).raise_for_status()
            capped = h.invoke_request("capped")
            for _ in range(200):
                gw.send(capped)
            time.sleep(0.5)
            before = stats(db)
            for _ in range(N):
                gw.send(capped)
            time.sleep(0.5)  # the last lease is given back behind its answer
            results["sync invoke, reserved concurrency (a lease)"] = per(diff(before, stats(db)), N)

        # Async events: enqueued, then run by the server's worker.
        headers = {"X-Faas-Invocation-Type": "Event"}
        api = h.client()
        before = stats(db)
        for _ in range(N):
            api.post("/v1/functions/noop/invoke", content=b"{}", headers=headers)
        polls = 0
        while db.xlen("faas:q:events") and polls < 3000:
            info = db.xpending("faas:q:events", "workers")
            polls += 2
            if not info["pending"]:
                break
            time.sleep(0.1)
        time.sleep(2)  # the last results settle
        measured = diff(before, stats(db))
        measured[0].pop("xlen", None)
        measured[0].pop("xpending", None)
        results["async event"] = per(measured, N)

        sqs_clients = clients(h, "sqs", 1)
        (lam,) = clients(h, "lambda", 1)
        sqs = sqs_clients[0]
        try:
            url = sqs.create_queue(QueueName=f"ops-{uuid.uuid4().hex[:6]}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            mapping = lam.create_event_source_mapping(
                EventSourceArn=arn, FunctionName="noop", BatchSize=10, Enabled=False
            )["UUID"]
            time.sleep(1)
            # One depth poll's own cost, to take off what the wait below asks.
            before = stats(db)
            for _ in range(50):
                remaining(sqs, url)
            poll = per(diff(before, stats(db)), 50)
            before = stats(db)
            for _ in range(0, N, 10):
                entries = [{"Id": str(i), "MessageBody": "x" * 100} for i in range(10)]
                sqs.send_message_batch(QueueUrl=url, Entries=entries)
            results["message sent (SendMessageBatch of 10)"] = per(diff(before, stats(db)), N)
            before = stats(db)
            lam.update_event_source_mapping(UUID=mapping, Enabled=True)
            polls = 0
            while remaining(sqs, url):
                polls += 1
                time.sleep(0.05)
            lam.update_event_source_mapping(UUID=mapping, Enabled=False)
            measured = diff(before, stats(db))
            through = per(measured, N)
            through["commands"] -= poll["commands"] * polls / N
            through["command_usec"] -= poll["command_usec"] * polls / N
            through["redis_cpu_usec"] -= poll["redis_cpu_usec"] * polls / N
            results["message through a mapping (batch 10, run and deleted)"] = through
        finally:
            sqs.close()
            lam.close()
        print(json.dumps(results, indent=1))
        print()
        print("| work | Redis commands | Redis command time | Redis CPU | most frequent |")
        print("|---|---|---|---|---|")
        for work, r in results.items():
            top = ", ".join(f"{k} {v:g}" for k, v in r["top"].items())
            print(
                f"| {work} | {r['commands']:.1f} | {r['command_usec']:.1f} µs | "
                f"{r['redis_cpu_usec']:.1f} µs | {top} |"
            )
    finally:
        h.close()


if __name__ == "__main__":
    main()
