"""Async invocations: enqueue latency and end-to-end throughput, as ratios to baselines.

Starts a private redis-server (AOF on, fsync always, as docker-compose runs it)
and ``faas serve`` with its worker, deploys a no-op function, then measures in
the same run:

- enqueue latency (POST with X-Faas-Invocation-Type: Event, answered 202 once
  Redis holds the event) against a baseline of ``GET /healthz`` on the same
  server: the ratio is what durability and queueing cost over a bare request;
- async throughput (events/s from the first enqueue to the last event
  succeeded) against a baseline of sync invocations of the same function at
  the same concurrency: the ratio is what the queue costs over calling directly.

Usage: python bench/async_throughput.py [--events 2000] [--concurrency 16]
Needs Docker and redis-server; sends traffic only to 127.0.0.1 and Unix sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faas import keys
from tests.helpers import RedisServer, Server, free_port, handler_zip, upload

NOOP = "def handler(event, context):\n    return None\n"
EVENT = {"X-Faas-Invocation-Type": "Event", "Content-Type": "application/json"}


async def latencies(api: httpx.AsyncClient, n: int, call) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        started = time.perf_counter()
        reply = await call(api)
        out.append((time.perf_counter() - started) * 1000)
        assert reply.status_code in (200, 202), reply.text
    return out


async def run_concurrently(n: int, concurrency: int, one) -> None:  # type: ignore[no-untyped-def]
    limit = asyncio.Semaphore(concurrency)

    async def guarded() -> None:
        async with limit:
            await one()

    await asyncio.gather(*(guarded() for _ in range(n)))


async def measure(url: str, redis_url: str, events: int, concurrency: int) -> dict[str, float]:
    client = redis.Redis.from_url(redis_url)
    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as api:
        invoke = "/v1/functions/noop/invoke"
        # Warm up: containers up to the concurrency, connections open.
        await run_concurrently(concurrency * 4, concurrency, lambda: api.post(invoke, json={}))

        health = await latencies(api, 300, lambda a: a.get("/healthz"))
        enqueue = await latencies(api, 300, lambda a: a.post(invoke, json={}, headers=EVENT))
        wait_all_done(client)

        started = time.perf_counter()

        async def sync_one() -> None:
            reply = await api.post(invoke, json={})
            assert reply.status_code == 200

        await run_concurrently(events, concurrency, sync_one)
        sync_rate = events / (time.perf_counter() - started)

        ids: list[str] = []
        started = time.perf_counter()

        async def async_one() -> None:
            reply = await api.post(invoke, json={}, headers=EVENT)
            assert reply.status_code == 202
            ids.append(reply.json()["requestId"])

        await run_concurrently(events, concurrency, async_one)
        wait_all_done(client)
        async_rate = events / (time.perf_counter() - started)
    client.close()
    return {
        "health_p50_ms": statistics.median(health),
        "enqueue_p50_ms": statistics.median(enqueue),
        "enqueue_p99_ms": statistics.quantiles(enqueue, n=100)[98],
        "sync_per_s": sync_rate,
        "async_per_s": async_rate,
    }


def wait_all_done(client: redis.Redis) -> None:
    """Until the queue is empty: nothing in the stream, in flight or waiting to retry."""
    while client.xlen(keys.EVENTS) or client.zcard(keys.DELAYED):
        time.sleep(0.005)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="faas-bench-", dir="/tmp"))
    node = f"bench-{uuid.uuid4().hex[:8]}"
    redis_server = RedisServer(workdir, aof=True)
    redis_server.start()
    redis_url = redis_server.url
    env = {
        "FAAS_REDIS_URL": redis_url,
        "FAAS_DATA_DIR": str(workdir / "data"),
        "FAAS_PORT": str(free_port()),
        "FAAS_NODE_ID": node,
        "FAAS_WORKER_CONCURRENCY": str(args.concurrency),
    }
    server = Server(env, workdir / "server.log")
    try:
        server.start()
        with httpx.Client(base_url=server.url, timeout=60) as api:
            made = upload(api, "noop", handler_zip(NOOP), concurrency=str(args.concurrency))
            assert made.status_code == 201, made.text
        r = asyncio.run(measure(server.url, redis_url, args.events, args.concurrency))
    finally:
        server.stop()
        for c in docker.from_env().containers.list(
            all=True, filters={"label": f"faas.node={node}"}
        ):
            c.remove(force=True)
        redis_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"async invocations, {args.events} events, concurrency {args.concurrency}")
    print(f"  baseline GET /healthz p50        {r['health_p50_ms']:8.2f} ms")
    print(
        f"  enqueue (202) p50                {r['enqueue_p50_ms']:8.2f} ms"
        f"   ratio {r['enqueue_p50_ms'] / r['health_p50_ms']:.2f}x baseline"
    )
    print(f"  enqueue (202) p99                {r['enqueue_p99_ms']:8.2f} ms")
    print(f"  baseline sync invokes            {r['sync_per_s']:8.1f} /s")
    print(
        f"  async end to end                 {r['async_per_s']:8.1f} /s"
        f"   ratio {r['async_per_s'] / r['sync_per_s']:.2f}x baseline"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
