"""Each invocation's log: what the function wrote, framed as Lambda frames it, kept in Redis.

The container's agent captures the function's stdout and stderr per invocation
(``InvocationResult.output``). Here that output becomes one log record with
Lambda's ``START``/``END``/``REPORT`` lines around it, stored in a Redis stream
per function (``faas:logs:<name>``), bounded by count (``FAAS_LOG_MAX_ENTRIES``
per function), by age (``FAAS_LOG_RETENTION_S``) and by size (each record keeps
at most ``FAAS_LOG_MAX_BYTES``, its end). ``tail`` is the last 4 KB base64, as
Lambda's ``LogResult``.

Records are written behind the invocation (``LogStore.add`` never waits): what
piles up while one write is in flight goes in the next, as one pipeline. Under
load that is one Redis round trip per batch instead of one per invocation (it
was ~5% of the gateway's time per invoke in a py-spy profile, plus the round
trip's latency on every call); reads in the same process flush first.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import redis.asyncio as aioredis

from faas import keys
from faas.errors import StoreUnavailable, ValidationFailed
from faas.models import InvocationResult, Outcome
from faas.store import redis_errors

log = logging.getLogger(__name__)

TAIL_BYTES = 4096
# Records waiting for Redis, at most; past this (Redis down) the oldest are dropped.
MAX_PENDING = 10_000
# How long the first record of a batch waits for others: one pipeline per window.
BATCH_WINDOW_S = 0.01
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A stream entry as redis-py gives it: (id, fields).
Entry = tuple[bytes, dict[bytes, bytes]]


@dataclass(frozen=True)
class LogRecord:
    """One invocation's log."""

    request_id: str
    function: str
    kind: str
    outcome: str
    start: float  # epoch seconds
    end: float
    duration_ms: float
    text: str

    def to_fields(self) -> dict[str, str]:
        return {
            "rid": self.request_id,
            "fn": self.function,
            "kind": self.kind,
            "outcome": self.outcome,
            "start": repr(self.start),
            "end": repr(self.end),
            "dur": f"{self.duration_ms:.3f}",
            "log": self.text,
        }

    @classmethod
    def from_fields(cls, raw: dict[bytes, bytes]) -> LogRecord:
        data = {k.decode(): v.decode("utf-8", "replace") for k, v in raw.items()}
        return cls(
            request_id=data.get("rid", ""),
            function=data.get("fn", ""),
            kind=data.get("kind", ""),
            outcome=data.get("outcome", ""),
            start=float(data.get("start", 0)),
            end=float(data.get("end", 0)),
            duration_ms=float(data.get("dur", 0)),
            text=data.get("log", ""),
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "requestId": self.request_id,
            "function": self.function,
            "kind": self.kind,
            "outcome": self.outcome,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "durationMs": round(self.duration_ms, 3),
            "log": self.text,
        }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def frame(result: InvocationResult, memory_mb: int, max_bytes: int, end: float) -> str:
    """The record's text: the function's output between Lambda's START/END/REPORT lines."""
    rid = result.request_id
    output = result.output
    if len(output) > max_bytes:
        dropped = len(output) - max_bytes
        output = f"[faas: {dropped} earlier bytes dropped]\n".encode() + output[-max_bytes:]
    body = output.decode("utf-8", "replace")
    if body and not body.endswith("\n"):
        body += "\n"
    if result.outcome is Outcome.TIMEOUT or result.outcome is Outcome.OUT_OF_MEMORY:
        error = result.error or {}
        body += f"{_iso(end)} {rid} {error.get('errorMessage', '')}\n"
    report = (
        f"REPORT RequestId: {rid}\tDuration: {result.duration_ms:.2f} ms\t"
        f"Billed Duration: {max(1, math.ceil(result.duration_ms))} ms\t"
        f"Memory Size: {memory_mb} MB"
    )
    if result.init_duration_ms is not None:
        report += f"\tInit Duration: {result.init_duration_ms:.2f} ms"
    return f"START RequestId: {rid} Version: $LATEST\n{body}END RequestId: {rid}\n{report}\n"


def tail(text: str) -> str:
    """The last 4 KB of a record, base64: Lambda's ``LogResult`` (``X-Faas-Log-Result``)."""
    return base64.b64encode(text.encode()[-TAIL_BYTES:]).decode()


def parse_since(raw: str, now: float) -> float:
    """``since`` as epoch seconds: a number (epoch seconds), ISO 8601, or an age (``90s``,
    ``15m``, ``2h``, ``1d``)."""
    raw = raw.strip()
    match = _DURATION.fullmatch(raw)
    if match:
        return now - float(match[1]) * _UNITS[match[2]]
    try:
        number = float(raw)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            raise ValidationFailed("since must be a finite number of seconds", field="since")
        return number
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(
            "since must be epoch seconds, ISO 8601, or an age such as 15m", field="since"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


class LogStore:
    """Invocation logs in one Redis stream per function."""

    def __init__(
        self, client: aioredis.Redis, *, retention_s: float, max_entries: int, max_bytes: int
    ) -> None:
        self._redis = client
        self._retention_s = retention_s
        self._max_entries = max_entries
        self.max_bytes = max_bytes
        self._pending: list[LogRecord] = []
        self._dropped = 0
        self._writer: asyncio.Task[None] | None = None
        self._write_now = asyncio.Event()

    def add(self, record: LogRecord) -> None:
        """Keep ``record``: written within ``BATCH_WINDOW_S`` with whatever else came in
        meanwhile, in one pipeline (at 2,500 invokes/s, 25 records instead of 3 or 4)."""
        self._pending.append(record)
        if len(self._pending) > MAX_PENDING:
            del self._pending[0]
            self._dropped += 1
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_pending())

    async def flush(self) -> None:
        """Wait until every record added so far is written (or dropped)."""
        while self._writer is not None:
            self._write_now.set()
            await asyncio.shield(self._writer)

    async def _write_pending(self) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(BATCH_WINDOW_S):
                    await self._write_now.wait()
            self._write_now.clear()
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._write(batch)
                except StoreUnavailable as exc:
                    # The invocations happened; losing their logs must not turn them into errors.
                    log.warning("could not keep %d invocation logs: %s", len(batch), exc.message)
            if self._dropped:
                log.warning("dropped %d invocation logs while Redis lagged", self._dropped)
                self._dropped = 0
        finally:
            self._writer = None

    async def _write(self, batch: list[LogRecord]) -> None:
        oldest_ms = int((batch[-1].end - self._retention_s) * 1000)
        async with redis_errors(), self._redis.pipeline(transaction=False) as pipe:
            for record in batch:
                key = keys.logs(record.function)
                pipe.xadd(key, record.to_fields(), maxlen=self._max_entries, approximate=True)  # type: ignore[arg-type]
            for key in {keys.logs(record.function) for record in batch}:
                pipe.xtrim(key, minid=str(max(0, oldest_ms)), approximate=True)
                # A function that stops running still loses its logs after the retention.
                pipe.expire(key, int(self._retention_s) + 1)
            await pipe.execute()

    async def query(
        self, function: str, *, since: float | None, request_id: str | None, limit: int
    ) -> tuple[list[LogRecord], str]:
        """Records oldest first, and the stream id to follow from.

        With ``since``, the first ``limit`` records from then on; without, the last
        ``limit``. ``request_id`` keeps only that invocation's record.
        """
        await self.flush()
        key = keys.logs(function)
        async with redis_errors():
            last = cast(list[Entry], await self._redis.xrevrange(key, count=1))
            cursor = last[0][0].decode() if last else "0-0"
            if since is not None:
                start = str(max(0, int(since * 1000)))
                entries = await self._scan(key, start, request_id, limit)
            elif request_id is not None:
                entries = await self._scan(key, "-", request_id, limit)
            else:
                entries = cast(list[Entry], await self._redis.xrevrange(key, count=limit))
                entries.reverse()
        return [LogRecord.from_fields(fields) for _, fields in entries], cursor

    async def _scan(self, key: str, start: str, request_id: str | None, limit: int) -> list[Entry]:
        wanted = request_id.encode() if request_id is not None else None
        found: list[Entry] = []
        while len(found) < limit:
            page = cast(list[Entry], await self._redis.xrange(key, min=start, count=500))
            if not page:
                break
            found += [e for e in page if wanted is None or e[1].get(b"rid") == wanted]
            start = "(" + page[-1][0].decode()
        return found[:limit]

    async def follow(
        self, function: str, after: str, request_id: str | None, block_ms: int = 5000
    ) -> AsyncIterator[LogRecord | None]:
        """New records after stream id ``after``, forever; ``None`` each quiet ``block_ms``."""
        await self.flush()
        key = keys.logs(function)
        while True:
            async with redis_errors():
                reply = cast(
                    list[tuple[bytes, list[Entry]]],
                    await self._redis.xread({key: after}, block=block_ms, count=100),
                )
            if not reply:
                yield None
                continue
            for message_id, fields in reply[0][1]:
                after = message_id.decode()
                record = LogRecord.from_fields(fields)
                if request_id is None or record.request_id == request_id:
                    yield record

    async def delete(self, function: str) -> None:
        await self.flush()
        async with redis_errors():
            await self._redis.delete(keys.logs(function))
