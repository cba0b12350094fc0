"""Invocation logs are written behind the invocation, in batches, against a real Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

import pytest
import redis.asyncio as aioredis

from faas.catalog.logs import BATCH_WINDOW_S, LogRecord, LogStore
from tests.helpers import wait_until_async


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


async def script_calls(client: aioredis.Redis) -> int:
    """Batches written so far: each is one call of the append script."""
    stats = await client.info("commandstats")
    calls = 0
    for name in ("evalsha", "eval"):
        entry = stats.get(f"cmdstat_{name}", {})
        # Not the first EVALSHA, refused until the script is loaded (redis-py then loads it).
        calls += entry.get("calls", 0) - entry.get("failed_calls", 0)
    return calls


async def test_a_burst_of_records_is_all_kept_in_order_in_one_command(store) -> None:  # type: ignore[no-untyped-def]
    logs, client = store
    before = await script_calls(client)
    for n in range(300):
        logs.add(record("burst", n))
    await logs.flush()
    found, _ = await logs.query("burst", since=None, request_id=None, limit=1000)
    assert [r.request_id for r in found] == [f"req-{n}" for n in range(300)]
    assert await script_calls(client) - before == 1


async def test_a_large_backlog_goes_in_bounded_commands_and_keeps_every_function_apart(
    store,
) -> None:  # type: ignore[no-untyped-def]
    logs, client = store
    before = await script_calls(client)
    for n in range(1200):
        logs.add(record("even" if n % 2 == 0 else "odd", n))
    await logs.flush()
    for name, first in (("even", 0), ("odd", 1)):
        found, _ = await logs.query(name, since=None, request_id=None, limit=1000)
        assert [r.request_id for r in found] == [f"req-{n}" for n in range(first, 1200, 2)]
        assert {r.function for r in found} == {name}
    # At most SCRIPT_RECORDS (500) records per command: Redis serves nothing else meanwhile.
    assert await script_calls(client) - before == 3


async def batches(client: aioredis.Redis) -> int:
    """Batches of one function's records written so far: each sets the stream's expiry."""
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_expire", {}).get("calls", 0))


async def test_under_a_steady_trickle_each_batch_waits_out_its_window(store) -> None:  # type: ignore[no-untyped-def]
    """One record every half millisecond for 100 ms: a write per window (10 ms), not
    one per Redis round trip, which is what a busy server got before."""
    logs, client = store
    before = await batches(client)
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < 0.1:
        logs.add(record("trickle", n))
        n += 1
        await asyncio.sleep(0.0005)
    elapsed = time.monotonic() - started
    await logs.flush()
    written = await batches(client) - before
    assert written <= elapsed / BATCH_WINDOW_S + 2, (written, n, elapsed)
    found, _ = await logs.query("trickle", since=None, request_id=None, limit=n + 10)
    assert len(found) == n


async def test_the_count_bound_holds_for_records_written_together(redis_flushed: str) -> None:
    client = aioredis.Redis.from_url(redis_flushed)
    logs = LogStore(client, retention_s=3600, max_entries=10, max_bytes=1024)
    for n in range(2000):
        logs.add(record("bounded", n))
    await logs.flush()
    # XADD's MAXLEN ~ trims whole stream nodes: about the bound, far below what was added.
    assert 10 <= await client.xlen("faas:logs:bounded") < 500
    found, _ = await logs.query("bounded", since=None, request_id=None, limit=1)
    assert [r.request_id for r in found] == ["req-1999"]
    assert 0 < await client.ttl("faas:logs:bounded") <= 3601
    await client.aclose()


async def test_output_of_any_kind_is_kept_byte_for_byte(store) -> None:  # type: ignore[no-untyped-def]
    logs, _ = store
    text = 'tab\there, ünïcödé, emoji 🐍, CRLF\r\n, NUL \x00, quote " and ]]--\n'
    logs.add(dataclasses.replace(record("odd-text", 1), text=text))
    found, _ = await logs.query("odd-text", since=None, request_id=None, limit=10)
    assert [r.text for r in found] == [text]


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


async def test_without_redis_records_wait_with_a_warning_and_are_written_when_it_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import shutil
    import tempfile
    from pathlib import Path

    from tests.helpers import RedisServer

    # Given a log store whose Redis is not running (yet)
    server = RedisServer(Path(tempfile.mkdtemp(prefix="faas-logs-", dir="/tmp")))
    client = aioredis.Redis.from_url(server.url)
    logs = LogStore(client, retention_s=60, max_entries=10, max_bytes=1024)
    try:
        # When an invocation's record is kept: no error, a warning says it waits
        with caplog.at_level(logging.WARNING, logger="faas.catalog.logs"):
            logs.add(record("patient", 1))
            await logs.flush()
        assert "keeping up to 10000 until Redis answers" in caplog.text
        # When Redis starts, then the record is written within a retry, unasked
        server.start()
        written = await wait_until_async(
            lambda: client.xlen("faas:logs:patient"), what="the kept record written", within_s=3
        )
        assert written == 1
        found, _ = await logs.query("patient", since=None, request_id=None, limit=10)
        assert [r.request_id for r in found] == ["req-1"]
    finally:
        await client.aclose()
        if server.proc is not None:
            server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)
