"""Invocation logs are written behind the invocation, in batches, against a real Redis."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import redis.asyncio as aioredis

from faas.function_logs import LogRecord, LogStore


def record(function: str, n: int) -> LogRecord:
    now = time.time()
    return LogRecord(
        request_id=f"req-{n}",
        function=function,
        kind="sync",
        outcome="success",
        start=now,
        end=now,
        duration_ms=1.0,
        text=f"line {n}\n",
    )


@pytest.fixture
async def store(redis_flushed: str):  # type: ignore[no-untyped-def]
    client = aioredis.Redis.from_url(redis_flushed)
    yield LogStore(client, retention_s=3600, max_entries=10_000, max_bytes=65536), client
    await client.aclose()


async def test_a_burst_of_records_is_all_kept_in_order_in_few_round_trips(store) -> None:  # type: ignore[no-untyped-def]
    logs, client = store
    before = (await client.info("stats"))["total_commands_processed"]
    for n in range(300):
        logs.add(record("burst", n))
    await logs.flush()
    after = (await client.info("stats"))["total_commands_processed"]
    found, _ = await logs.query("burst", since=None, request_id=None, limit=1000)
    assert [r.request_id for r in found] == [f"req-{n}" for n in range(300)]
    # One XADD per record, but the trim and expiry once per batch (one INFO call between).
    assert after - before < 300 + 2 * 10


async def test_a_record_is_readable_at_once_in_the_same_process(store) -> None:  # type: ignore[no-untyped-def]
    logs, _ = store
    logs.add(record("fresh", 1))
    found, _ = await logs.query("fresh", since=None, request_id="req-1", limit=10)
    assert [r.text for r in found] == ["line 1\n"]


async def test_records_of_a_deleted_function_do_not_come_back(store) -> None:  # type: ignore[no-untyped-def]
    logs, client = store
    logs.add(record("gone", 1))
    await logs.delete("gone")
    await asyncio.sleep(0.05)
    assert await client.exists("faas:logs:gone") == 0


async def test_without_redis_records_are_dropped_with_a_warning_not_an_error(
    caplog: pytest.LogCaptureFixture, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    client = aioredis.Redis.from_url(f"unix://{tmp_path}/nobody.sock")
    logs = LogStore(client, retention_s=60, max_entries=10, max_bytes=1024)
    with caplog.at_level(logging.WARNING, logger="faas.function_logs"):
        logs.add(record("lost", 1))
        await logs.flush()
    assert "could not keep 1 invocation logs" in caplog.text
    await client.aclose()
