"""The async queue in Redis: an event's life from enqueue to a terminal state.

Durable enqueue (a schedule's tick too), leased delivery, attempts, retries and
the settle that ends in success, failure or a dead letter; and the upkeep every
worker runs (promote due retries, sweep lapsed leases). What an operator does
with dead letters afterwards is in ``faas.invoke.asyncq.deadletters``.

Keys are documented in ``faas.keys``. Events wait in a stream read through one
consumer group: ``XREADGROUP`` moves an entry atomically into the group's
pending list, which is the in-flight work, and the entry's idle time is its
lease. A worker renews the leases of what it runs (``XCLAIM`` resets the idle
time); a sweeper run by every worker gives entries whose lease lapsed (their
worker died) back to the queue: in one script it acknowledges and deletes the
old entry and appends a new one, refunding the attempt a dead worker had begun
(counted as a lost worker instead). Retries wait in a sorted set by due time and
are promoted into the stream when due. Every move of an event is one
MULTI/EXEC or one script, so a crash anywhere leaves it in exactly one place.

Round trips are what an event costs the worker (redis-py spends tens of
microseconds of CPU on each command), so the hot path is three scripts: enqueue
stores and queues; take reads a batch (``XREADGROUP`` inside the script) and
hands each event over with its record and its function's spec; settle records
the outcome and takes the next event into the slot it frees. With the attempt
counted in between, a busy worker sends two commands per event. The scripts
are in ``faas.invoke.asyncq.scripts``; calls made in one turn of the event loop
go as one script (``faas.invoke.asyncq.coalescer``).

Each event keeps the ``created_at`` of the function it was queued for: the
worker compares it with the taken spec's, and the settle script with the
stored spec's before it files a dead letter, so that a function deleted and
made again under its name neither runs nor shows the old one's events.

The queue parses the specs that come with taken events itself rather than ask
the registry: the take script's spec is the one stored as the event is taken,
at no extra round trip, where the registry's cache (by name, cleared by
pub/sub) may be a message late and costs a round trip on a miss.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, ResponseError

from faas import keys
from faas.errors import InvocationNotFound, StoreUnavailable
from faas.invoke.asyncq import packing, scripts
from faas.invoke.asyncq.coalescer import Coalescer
from faas.invoke.asyncq.records import TERMINAL, Invocation, State
from faas.models import FunctionSpec
from faas.store import check_no_eviction, redis_errors

# Specs parsed from the JSON the take script hands over, by that JSON (so never
# stale: a changed spec is other bytes); forgotten all at once past this many.
_SPECS_KEPT = 256

# How long an enqueue waits for replicas to have it (FAAS_REDIS_WAIT_REPLICAS): they
# answer within a round trip (~1 ms here); past this one is down or far behind.
REPLICA_WAIT_MS = 1000

# Fields a settle writes. The rest are either fixed at enqueue (the payload, up
# to 1 MB, is never rewritten) or written by the attempt's own script.
_SETTLED = frozenset(
    ("state", "attempts", "free_retries", "finished_at", "result", "error", "reason")
)

# Fields an outcome may clear: a retry after an error forgets no error, but a
# redrive or a success after a failed attempt must not show a stale one.
_CLEARABLE = ("result", "error", "reason", "finished_at")


# How a settle recorded its outcome (the settle script's answer, docs in scripts.SETTLE).
NOT_RECORDED, RECORDED, FUNCTION_GONE = 0, 1, 2


@dataclass(frozen=True)
class QueueStats:
    """How much async work waits: for ``/metrics``."""

    queued: int  # in the stream, not yet taken by a worker
    running: int  # taken by a worker (its lease held)
    delayed: int  # waiting for a retry's backoff
    oldest_age_s: float  # age of the oldest event in the stream (0 when empty)


@dataclass(frozen=True)
class Delivery:
    """One stream entry handed to one consumer: the lease on one event."""

    message_id: str
    request_id: str


@dataclass(frozen=True)
class Taken:
    """An event handed to a consumer: its lease, its record, its function (None if gone)."""

    delivery: Delivery
    invocation: Invocation
    spec: FunctionSpec | None


class Queue:
    """Async events from enqueue to a terminal state."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        lease_s: float,
        result_ttl_s: int,
        wait_replicas: int = 0,
    ) -> None:
        self._redis = client
        # An enqueue is acknowledged once this many replicas have it too (docs/operations.md,
        # "Redis with a replica and Sentinel"): a failover then cannot lose it.
        self._wait_replicas = wait_replicas
        self.lease_s = lease_s
        self._result_ttl_s = result_ttl_s
        self._specs: dict[bytes, FunctionSpec] = {}
        # The hot path's calls made in one turn of the event loop go to Redis as one.
        self._enqueue_batch = Coalescer(self._enqueue_many)
        self._begin_batch = Coalescer(self._begin_many)
        self._settle_batch = Coalescer(self._settle_many)
        self._enqueue = client.register_script(scripts.ENQUEUE)
        self._take = client.register_script(scripts.TAKE)
        self._begin = client.register_script(scripts.BEGIN)
        self._settle = client.register_script(scripts.SETTLE)
        self._hand_back = client.register_script(scripts.HAND_BACK)
        self._sweep = client.register_script(scripts.SWEEP)
        self._promote = client.register_script(scripts.PROMOTE)
        self._forget = client.register_script(scripts.FORGET)
        self._enqueue_tick = client.register_script(scripts.ENQUEUE_TICK)

    async def setup(self) -> None:
        """Check that Redis keeps what it is given, and create the consumer group."""
        await check_no_eviction(self._redis)
        await self._ensure_group()

    async def _ensure_group(self) -> None:
        async with redis_errors():
            try:
                await self._redis.xgroup_create(
                    keys.EVENTS, keys.EVENTS_GROUP, id="0", mkstream=True
                )
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def stats(self, now_s: float) -> QueueStats:
        async with redis_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.xlen(keys.EVENTS)
            pipe.xpending(keys.EVENTS, keys.EVENTS_GROUP)
            pipe.zcard(keys.DELAYED)
            pipe.xrange(keys.EVENTS, count=1)
            length, pending, delayed, first = await pipe.execute()
        running = int(pending["pending"]) if pending else 0
        oldest = 0.0
        if first:
            # Entries are XDELed when done: the first one left is the oldest waiting.
            entry_ms = int(first[0][0].decode().split("-")[0])
            oldest = max(0.0, now_s - entry_ms / 1000)
        return QueueStats(
            queued=max(0, int(length) - running),
            running=running,
            delayed=int(delayed),
            oldest_age_s=oldest,
        )

    # -- producing ------------------------------------------------------------

    async def enqueue(self, *invocations: Invocation) -> None:
        """Store the events and queue them, all or none; returns once Redis has them."""
        await self._enqueue_batch(packing.events(invocations))

    async def _enqueue_many(
        self, items: list[tuple[list[str], list[str | bytes | int]]]
    ) -> list[None]:
        event_keys = [keys.EVENTS, *(key for event_keys, _ in items for key in event_keys)]
        args = [arg for _, args in items for arg in args]
        async with redis_errors():
            if self._wait_replicas:
                await self._enqueue_replicated(event_keys, args)
            else:
                await self._enqueue(keys=event_keys, args=args)
        return [None] * len(items)

    async def _enqueue_replicated(self, event_keys: list[str], args: list[Any]) -> None:
        # WAIT counts the writes of its own connection: it goes in one pipeline with the
        # script, in the same round trip. A new master (a failover) lacks the script.
        for _ in range(2):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.evalsha(self._enqueue.sha, len(event_keys), *event_keys, *args)
                pipe.wait(self._wait_replicas, REPLICA_WAIT_MS)
                stored, replicas = await pipe.execute(raise_on_error=False)
            if not isinstance(stored, NoScriptError):
                break
            await self._redis.script_load(scripts.ENQUEUE)
        if isinstance(stored, Exception):
            raise stored
        if int(replicas) < self._wait_replicas:
            raise StoreUnavailable(
                f"the store (Redis) took the event but {replicas} of the "
                f"{self._wait_replicas} replicas asked for (FAAS_REDIS_WAIT_REPLICAS) had it "
                f"within {REPLICA_WAIT_MS} ms: a failover could lose it, so it is not "
                "acknowledged (it may still run)"
            )

    async def enqueue_tick(
        self,
        invocation: Invocation,
        *,
        function: str,
        rule: str,
        tick: int,
        expected_last: str,
        skipped: int,
        guard_ttl_s: int = 86400,
    ) -> bool:
        """Queue a schedule's tick unless another process already handled it (or a later one).

        ``expected_last`` is the rule's last handled tick as the caller read it
        ('' for none): if it moved meanwhile, nothing happens and the caller looks again.
        """
        fields: list[str | bytes] = []
        for name, value in invocation.to_fields().items():
            fields += [name, value]
        async with redis_errors():
            done = await self._enqueue_tick(
                keys=[
                    keys.tick(function, rule, tick),
                    keys.schedule_state(function),
                    keys.invocation(invocation.request_id),
                    keys.EVENTS,
                    keys.function(function),
                ],
                args=[
                    guard_ttl_s,
                    tick,
                    rule,
                    expected_last,
                    skipped,
                    invocation.request_id,
                    *fields,
                ],
            )
        return bool(done)

    async def get(self, request_id: str) -> Invocation:
        async with redis_errors():
            raw: Any = await self._redis.hgetall(keys.invocation(request_id))
        if not raw:
            raise InvocationNotFound(f"no async invocation with request id {request_id!r}")
        return Invocation.from_fields(raw)

    async def recent(self, function: str, limit: int = scripts.RECENT_MAX) -> list[Invocation]:
        """The function's latest async events, newest first (those whose record lapsed
        are left out): the ids the enqueue scripts push, read in one pipeline."""
        async with redis_errors():
            found: Any = await self._redis.lrange(keys.recent_invocations(function), 0, limit - 1)
            if not found:
                return []
            async with self._redis.pipeline(transaction=False) as pipe:
                for request_id in found:
                    pipe.hgetall(keys.invocation(packing.text(request_id)))
                raws = await pipe.execute()
        return [Invocation.from_fields(raw) for raw in raws if raw]

    async def forget_recent(self, function: str) -> None:
        """Drop a deleted function's list of recent events."""
        async with redis_errors():
            await self._redis.delete(keys.recent_invocations(function))

    # -- consuming ------------------------------------------------------------

    async def read(self, consumer: str, count: int, block_ms: int) -> list[Delivery]:
        """Up to ``count`` new entries for ``consumer``, waiting up to ``block_ms`` for one."""
        async with redis_errors():
            try:
                reply: Any = await self._redis.xreadgroup(
                    keys.EVENTS_GROUP, consumer, {keys.EVENTS: ">"}, count=count, block=block_ms
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # Redis lost the group (flushed, or restarted without persistence).
                await self._ensure_group()
                return []
        return [
            Delivery(packing.text(message_id), packing.text(fields.get(b"id", b"")))
            for _stream, entries in reply or []
            for message_id, fields in entries
        ]

    async def take(
        self, consumer: str, count: int, deliveries: Iterable[Delivery] = ()
    ) -> list[Taken]:
        """Hand events over to ``consumer``, with their specs, in one round trip.

        Takes the given ``deliveries`` (from :meth:`read`), or else up to
        ``count`` new entries without waiting. Entries with nothing left to do
        are dropped and not returned.
        """
        pairs = [part for d in deliveries for part in (d.message_id, d.request_id)]
        async with redis_errors():
            raw: Any = await self._take(
                keys=[keys.EVENTS],
                args=[
                    keys.EVENTS_GROUP,
                    consumer,
                    count,
                    keys.INVOCATION_PREFIX,
                    keys.function(""),
                    *pairs,
                ],
            )
        return self._taken(raw)

    def _taken(self, raw: Any) -> list[Taken]:
        return [
            Taken(
                Delivery(packing.text(message_id), packing.text(request_id)),
                Invocation.from_fields(packing.unpacked(fields)),
                self._spec(spec),
            )
            for message_id, request_id, fields, spec in raw
        ]

    def _spec(self, raw: bytes | None) -> FunctionSpec | None:
        # Most events are of a few functions: parse each stored version once.
        if raw is None:
            return None
        spec = self._specs.get(raw)
        if spec is None:
            if len(self._specs) >= _SPECS_KEPT:
                self._specs.clear()
            spec = self._specs[raw] = FunctionSpec.from_json(raw)
        return spec

    async def begin_attempt(self, invocation: Invocation, code_sha256: str) -> Invocation:
        """Spend an attempt, before the run: a crash during it has then spent it too."""
        now = time.time()
        attempts = await self._begin_batch(
            (keys.invocation(invocation.request_id), repr(now), code_sha256)
        )
        return dataclasses.replace(
            invocation,
            attempts=attempts,
            state=State.RUNNING,
            last_attempt_at=now,
            first_attempt_at=invocation.first_attempt_at or now,
            code_sha256=code_sha256,
        )

    async def _begin_many(self, items: list[tuple[str, str, str]]) -> list[int]:
        async with redis_errors():
            reply: Any = await self._begin(
                keys=[key for key, _, _ in items],
                args=[part for _, now, sha in items for part in (now, sha)],
            )
        return [int(attempts) for attempts in reply]

    async def renew(self, consumer: str, deliveries: Iterable[Delivery]) -> set[Delivery]:
        """Renew leases; return the deliveries whose lease was lost (given back meanwhile)."""
        held = {d.message_id: d for d in deliveries}
        if not held:
            return set()
        async with redis_errors():
            kept: Any = await self._redis.xclaim(
                keys.EVENTS, keys.EVENTS_GROUP, consumer, 0, list(held), justid=True
            )
        kept_ids = {packing.text(m) for m in kept}
        return {d for mid, d in held.items() if mid not in kept_ids}

    async def settle(
        self,
        delivery: Delivery,
        outcome: Invocation,
        *,
        retry_in_s: float | None = None,
        then: Iterable[Invocation] = (),
    ) -> bool:
        """Record how a delivery ended and move the event on, in one script.

        ``outcome`` is the event's new state: terminal, or ``retrying``/``queued``
        with ``retry_in_s``. ``then`` are events to enqueue with it (destination
        records). A delivery whose lease was lost (the sweeper gave the event back
        and another copy runs) records only a terminal outcome and never schedules
        a retry, so the event is never queued twice. Returns whether it recorded.
        """
        recorded, _ = await self.settle_and_take(
            delivery, outcome, retry_in_s=retry_in_s, then=then, consumer="", count=0
        )
        return recorded != NOT_RECORDED

    async def settle_and_take(
        self,
        delivery: Delivery,
        outcome: Invocation,
        *,
        consumer: str,
        count: int,
        retry_in_s: float | None = None,
        then: Iterable[Invocation] = (),
    ) -> tuple[int, list[Taken]]:
        """:meth:`settle`, then :meth:`take` up to ``count`` new events for
        ``consumer``, in the same round trip: a busy worker refills the slot it
        frees without another call.

        Says how it recorded: ``NOT_RECORDED``, ``RECORDED``, or ``FUNCTION_GONE``
        (a dead letter whose function was deleted meanwhile, recorded ``failed``)."""
        now = time.time()
        target = keys.DELAYED
        if outcome.state is State.DEAD_LETTERED:
            mode, score = "dead", repr(now)
            target = keys.dead_letters(outcome.function)
        elif outcome.state in TERMINAL:
            mode, score = "done", str(self._result_ttl_s)
        else:
            mode, score = "retry", repr((now + (retry_in_s or 0.0)) * 1000)
        fields = {k: v for k, v in outcome.to_fields().items() if k in _SETTLED}
        cleared = [name for name in _CLEARABLE if getattr(outcome, name) is None]
        then = list(then)
        then_keys, then_args = packing.events(then)
        args: list[str | bytes | int] = [
            delivery.message_id,
            mode,
            score,
            outcome.request_id,
            consumer,
            count,
            *packing.counted(fields),
            len(cleared),
            *cleared,
            len(then),
            *then_args,
        ]
        item_keys = [keys.invocation(outcome.request_id), target, *then_keys]
        return await self._settle_batch((item_keys, args))

    async def _settle_many(
        self, items: list[tuple[list[str], list[str | bytes | int]]]
    ) -> list[tuple[int, list[Taken]]]:
        async with redis_errors():
            reply: Any = await self._settle(
                keys=[keys.EVENTS, *(key for item_keys, _ in items for key in item_keys)],
                args=[
                    keys.EVENTS_GROUP,
                    keys.INVOCATION_PREFIX,
                    keys.function(""),
                    self._result_ttl_s,
                    *(arg for _, args in items for arg in args),
                ],
            )
        return [(int(recorded), self._taken(taken)) for recorded, taken in reply]

    async def hand_back(self, delivery: Delivery, *, refund_attempt: bool) -> bool:
        """Return a delivery to the queue now (shutdown); ``refund_attempt`` un-spends it.

        Only while its lease is still this delivery's: one already settled (a
        settle that landed as its caller was cancelled) or given back by the
        sweeper is not queued a second time. Returns whether it was handed back.
        """
        async with redis_errors():
            done = await self._hand_back(
                keys=[keys.invocation(delivery.request_id), keys.EVENTS],
                args=[
                    keys.EVENTS_GROUP,
                    delivery.message_id,
                    delivery.request_id,
                    int(refund_attempt),
                ],
            )
        return bool(done)

    # -- upkeep ----------------------------------------------------------------

    async def promote_due(self, limit: int = 1000) -> int:
        async with redis_errors():
            return int(
                await self._promote(
                    keys=[keys.DELAYED, keys.EVENTS], args=[int(time.time() * 1000), limit]
                )
            )

    async def sweep(self, consumer: str, limit: int = 1000) -> int:
        """Give back entries whose lease lapsed (their worker stopped renewing); an
        attempt begun is refunded and counted in the record's ``workers_lost``."""
        async with redis_errors():
            try:
                return int(
                    await self._sweep(
                        keys=[keys.EVENTS],
                        args=[
                            keys.EVENTS_GROUP,
                            consumer,
                            int(self.lease_s * 1000),
                            limit,
                            keys.INVOCATION_PREFIX,
                        ],
                    )
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self._ensure_group()
                return 0

    async def forget_idle_consumers(self, idle_s: float) -> int:
        """Drop the group's record of consumers idle for ``idle_s`` with nothing pending.

        Every worker process is a new consumer; without this, the group would
        keep the name of every worker that ever ran. A live worker dropped by
        mistake is only re-created by its next read.
        """
        async with redis_errors():
            return int(
                await self._forget(keys=[keys.EVENTS], args=[keys.EVENTS_GROUP, int(idle_s * 1000)])
            )
