"""Each invocation's log: what the function wrote, framed as Lambda frames it, kept in Redis.

The container's agent captures the function's stdout and stderr per invocation
(``InvocationResult.output``). Here that output becomes one log record with
Lambda's ``START``/``END``/``REPORT`` lines around it, stored in a Redis stream
per function (``faas:logs:<name>``), bounded by count (``FAAS_LOG_MAX_ENTRIES``
per function), by age (``FAAS_LOG_RETENTION_S``) and by size (each record keeps
at most ``FAAS_LOG_MAX_BYTES``, its end). ``tail`` is the last 4 KB base64, as
Lambda's ``LogResult``.

Records are written behind the invocation (``LogStore.add`` never waits): what
comes in during a 10 ms window goes to Redis together, as one call of a Lua
script that appends every record and trims each stream once. Under load that
is one command per batch instead of a round trip per invocation; reads in the
same process flush first. While Redis is unreachable the records wait in memory
(the newest ``MAX_PENDING``, at most ``MAX_PENDING_BYTES`` of text; older ones are
dropped and counted in a warning) and are written once it answers, tried again
every ``RETRY_S``: an invocation never fails for its log.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
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
from faas.models import LATEST
from faas.outcomes import InvocationResult, Outcome
from faas.store import redis_errors

log = logging.getLogger(__name__)

TAIL_BYTES = 4096
# Records waiting for Redis, at most; past this (Redis down) the oldest are dropped.
MAX_PENDING = 10_000
# And their text, at most (records of chatty functions hold up to FAAS_LOG_MAX_BYTES).
MAX_PENDING_BYTES = 32 * 1024 * 1024
# How long records wait after Redis refused them before they are tried again.
RETRY_S = 1.0
# A follow's longest blocking read: how long an open tail can hold up a stopping server.
FOLLOW_SLICE_MS = 500
# How long the first record of a batch waits for others: one write per window.
BATCH_WINDOW_S = 0.01
# A record's stream entry: these names, with ``LogRecord.field_values`` in this order.
FIELDS = ("rid", "fn", "kind", "outcome", "start", "end", "dur", "log")
# The most records one script call appends: Redis serves nothing else while it runs.
SCRIPT_RECORDS = 500
# A batch of records in one command: KEYS are the batch's streams; ARGV holds the
# count bound, the oldest id to keep, the streams' TTL, the number of fields and
# their names, then each record: the index of its stream in KEYS and its values.
# A pipeline of one XADD per record cost the gateway 19 us of CPU per record
# (building, packing and parsing each command in redis-py); this costs it 7.5.
APPEND = """
local maxlen, minid, ttl, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local entry = {}
local i = 5 + n
while i <= #ARGV do
  for j = 1, n do
    entry[2 * j - 1] = ARGV[4 + j]
    entry[2 * j] = ARGV[i + j]
  end
  redis.call('XADD', KEYS[tonumber(ARGV[i])], 'MAXLEN', '~', maxlen, '*', unpack(entry))
  i = i + n + 1
end
for _, key in ipairs(KEYS) do
  redis.call('XTRIM', key, 'MINID', '~', minid)
  -- A function that stops running still loses its logs after the retention.
  redis.call('EXPIRE', key, ttl)
end
return #KEYS
"""
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
        return dict(zip(FIELDS, self.field_values(), strict=True))

    def field_values(self) -> tuple[str, ...]:
        """The stream entry's values, in the order of ``FIELDS``."""
        return (
            self.request_id,
            self.function,
            self.kind,
            self.outcome,
            repr(self.start),
            repr(self.end),
            f"{self.duration_ms:.3f}",
            self.text,
        )

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


def frame(
    result: InvocationResult, memory_mb: int, max_bytes: int, end: float, version: str = LATEST
) -> str:
    """The record's text: the function's output between Lambda's START/END/REPORT lines
    (START names the version that ran)."""
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
    return f"START RequestId: {rid} Version: {version}\n{body}END RequestId: {rid}\n{report}\n"


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
        self._pending_bytes = 0
        self._dropped = 0
        self._writer: asyncio.Task[None] | None = None
        # Set while records wait out a failed write (Redis away).
        self._retry: asyncio.TimerHandle | None = None
        self._waited = False  # a write failed, and none has succeeded since
        self._write_now = asyncio.Event()
        self._stopping = False  # the server stops: follows end (``stop_following``)
        self._append = client.register_script(APPEND)

    def add(self, record: LogRecord) -> None:
        """Keep ``record``: written within ``BATCH_WINDOW_S`` with whatever else came in
        meanwhile, in one command (~48 records at 4,000 invokes/s)."""
        self._pending.append(record)
        self._pending_bytes += len(record.text)
        self._trim()
        self._start()

    def _start(self) -> None:
        if self._writer is None and self._retry is None and self._pending:
            # A context of its own: the writer's lines are no one invocation's.
            self._writer = asyncio.get_running_loop().create_task(
                self._write_pending(), context=contextvars.Context()
            )

    def _trim(self) -> None:
        """Drop the oldest records past the bounds."""
        drop = 0
        while drop < len(self._pending) and (
            len(self._pending) - drop > MAX_PENDING or self._pending_bytes > MAX_PENDING_BYTES
        ):
            self._pending_bytes -= len(self._pending[drop].text)
            drop += 1
        if drop:
            del self._pending[:drop]
            self._dropped += drop

    def _retried(self) -> None:
        self._retry = None
        self._start()

    async def flush(self) -> None:
        """Write every record added so far now. Returns once they are written, or Redis
        refused them (they are kept, and tried again later)."""
        if self._retry is not None:
            self._retry.cancel()
            self._retried()
        while self._writer is not None:
            self._write_now.set()
            await asyncio.shield(self._writer)

    async def _write_pending(self) -> None:
        try:
            while self._pending:
                # Every batch waits out its window (not only the first: a busy server would
                # otherwise write whatever came during the last round trip, 7 records a
                # pipeline at 4,000 invokes/s), unless a flush wants it written now.
                if not self._write_now.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(BATCH_WINDOW_S):
                            await self._write_now.wait()
                batch, self._pending, self._pending_bytes = self._pending, [], 0
                for start in range(0, len(batch), SCRIPT_RECORDS):
                    try:
                        await self._write(batch[start : start + SCRIPT_RECORDS])
                    except StoreUnavailable as exc:
                        # The invocations happened; losing Redis must not turn them into
                        # errors: their logs wait for it.
                        self._keep(batch[start:], exc)
                        return
                if self._waited:
                    log.info("Redis answers again: invocation logs kept meanwhile are written")
                    self._waited = False
            if self._dropped:
                log.warning("dropped %d invocation logs: Redis lagged or was away", self._dropped)
                self._dropped = 0
        finally:
            self._write_now.clear()
            self._writer = None

    def _keep(self, unwritten: list[LogRecord], exc: StoreUnavailable) -> None:
        """Put records Redis refused back in front, and try again in ``RETRY_S``."""
        if not self._waited:
            log.warning(
                "could not write invocation logs, keeping up to %d until Redis answers: %s",
                MAX_PENDING,
                exc.message,
            )
            self._waited = True
        self._pending[:0] = unwritten
        self._pending_bytes += sum(len(r.text) for r in unwritten)
        self._trim()
        self._retry = asyncio.get_running_loop().call_later(RETRY_S, self._retried)

    async def _write(self, batch: list[LogRecord]) -> None:
        """Append ``batch`` (at most ``SCRIPT_RECORDS``) in one script call."""
        oldest_ms = int((batch[-1].end - self._retention_s) * 1000)
        streams: dict[str, int] = {}
        args: list[str | int] = [
            self._max_entries,
            max(0, oldest_ms),
            int(self._retention_s) + 1,
            len(FIELDS),
            *FIELDS,
        ]
        for record in batch:
            index = streams.setdefault(keys.logs(record.function), len(streams) + 1)
            args.append(index)
            args += record.field_values()
        async with redis_errors():
            await self._append(keys=list(streams), args=args)

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
        """New records after stream id ``after`` until the server stops; ``None`` each
        quiet ``block_ms``. Each blocking read waits ``FOLLOW_SLICE_MS`` at most, so a
        stopping server is not held up by an open follow for longer."""
        await self.flush()
        key = keys.logs(function)
        quiet_ms = 0
        while not self._stopping:
            wait_ms = min(block_ms, FOLLOW_SLICE_MS)
            async with redis_errors():
                reply = cast(
                    list[tuple[bytes, list[Entry]]],
                    await self._redis.xread({key: after}, block=wait_ms, count=100),
                )
            if not reply:
                quiet_ms += wait_ms
                if quiet_ms >= block_ms:
                    quiet_ms = 0
                    yield None
                continue
            quiet_ms = 0
            for message_id, fields in reply[0][1]:
                after = message_id.decode()
                record = LogRecord.from_fields(fields)
                if request_id is None or record.request_id == request_id:
                    yield record

    def stop_following(self) -> None:
        """The server stops: every follow ends within ``FOLLOW_SLICE_MS``, so the client
        connections it streams to can close."""
        self._stopping = True

    async def delete(self, function: str) -> None:
        await self.flush()
        async with redis_errors():
            await self._redis.delete(keys.logs(function))
