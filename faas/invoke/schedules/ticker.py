"""Schedules in Redis, and the loop that fires their ticks through the async queue.

Every server process runs a ``Ticker``: it looks at all rules every
``FAAS_SCHEDULE_POLL_S`` and, for each rule with a due tick, tries to queue
it. Exactly one process queues a tick: the queue's ``enqueue_tick`` script
checks the rule's last handled tick and sets a per-tick guard key in the same
step as it queues the event. Rules and their state live in Redis (keys in
``faas.keys``), so they survive restarts, and a restart after downtime fires
one catch-up tick (``faas.invoke.schedules.rules``).

APScheduler is not used: its triggers run jobs inside one process and have
no notion of a tick claimed once across processes, nor EventBridge's syntax.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from faas import keys, metrics
from faas.invoke.asyncq.queue import Queue
from faas.invoke.asyncq.records import Invocation
from faas.invoke.schedules import cron
from faas.invoke.schedules import rules as schedules
from faas.invoke.schedules.rules import Rule
from faas.settings import Settings
from faas.store import redis_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuleView:
    """A rule with what the API shows of it: next fire times, last fire, counts."""

    rule: Rule
    next_fires: list[datetime]
    last_fire: float | None
    fires: int
    misses: int


class ScheduleStore:
    """Rules per function, and their firing state."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def get(self, function: str) -> list[Rule]:
        async with redis_errors():
            raw = await self._redis.get(keys.schedules(function))
        return [Rule.from_dict(d) for d in json.loads(raw)] if raw else []

    async def put(self, function: str, rules: list[Rule], previous: list[Rule]) -> None:
        """Replace the rules; a changed or removed rule forgets its state."""
        kept = {(r.name, r.expression, r.anchor) for r in rules}
        stale = [r.name for r in previous if (r.name, r.expression, r.anchor) not in kept]
        fields = [f for name in stale for f in (name, f"{name}:fires", f"{name}:misses")]
        if not rules:
            await self.delete(function)
            return
        async with redis_errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.schedules(function), json.dumps([r.to_dict() for r in rules]))
            pipe.sadd(keys.SCHEDULED, function)
            if fields:
                pipe.hdel(keys.schedule_state(function), *fields)
            await pipe.execute()

    async def delete(self, function: str) -> None:
        async with redis_errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.schedules(function), keys.schedule_state(function))
            pipe.srem(keys.SCHEDULED, function)
            await pipe.execute()

    async def state(self, function: str) -> dict[str, str]:
        async with redis_errors():
            raw: Any = await self._redis.hgetall(keys.schedule_state(function))
        return _texts(raw)

    async def all(self) -> list[tuple[str, list[Rule], dict[str, str]]]:
        """Every function with rules: (function, rules, state)."""
        async with redis_errors():
            members: Any = await self._redis.smembers(keys.SCHEDULED)
            names = sorted(m.decode() for m in members)
            if not names:
                return []
            async with self._redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.get(keys.schedules(name))
                    pipe.hgetall(keys.schedule_state(name))
                replies: list[Any] = await pipe.execute()
        out = []
        for i, name in enumerate(names):
            raw, state = replies[2 * i], replies[2 * i + 1]
            if raw:
                rules = [Rule.from_dict(d) for d in json.loads(raw)]
                out.append((name, rules, _texts(state)))
        return out

    async def views(
        self, function: str, *, allow_seconds: bool, now: datetime, count: int = 5
    ) -> list[RuleView]:
        rules = await self.get(function)
        state = await self.state(function)
        out = []
        for rule in rules:
            last = float(state[rule.name]) if rule.name in state else None
            after = max(now, rule.since)
            upcoming = (
                cron.next_fires(
                    rule.schedule(allow_seconds),
                    after,
                    count,
                    rule.since,
                )
                if rule.enabled
                else []
            )
            out.append(
                RuleView(
                    rule,
                    upcoming,
                    last,
                    int(state.get(f"{rule.name}:fires", 0)),
                    int(state.get(f"{rule.name}:misses", 0)),
                )
            )
        return out


class Ticker:
    """Queues due ticks of every rule; one per process, any number of processes."""

    def __init__(self, store: ScheduleStore, queue: Queue, settings: Settings) -> None:
        self._store = store
        self._queue = queue
        self._settings = settings

    async def run(self) -> None:
        while True:
            try:
                await self.tick_once(time.time())
            except Exception as exc:
                log.warning("schedules: could not fire due ticks: %s", exc)
            await asyncio.sleep(self._settings.schedule_poll_s)

    async def tick_once(self, now_s: float) -> int:
        """Queue every due tick not yet handled; returns how many this process queued."""
        now = datetime.fromtimestamp(now_s, UTC)
        fired = 0
        for function, rules, state in await self._store.all():
            for rule in rules:
                if rule.enabled and await self._fire(function, rule, state.get(rule.name, ""), now):
                    fired += 1
        return fired

    async def _fire(self, function: str, rule: Rule, last: str, now: datetime) -> bool:
        try:
            schedule = rule.schedule(self._settings.schedule_seconds)
        except cron.ExpressionInvalid:
            # Stored under FAAS_SCHEDULE_SECONDS and read by a server without it.
            return False
        due = schedules.due(schedule, rule.anchor, float(last or 0), now)
        if due is None:
            return False
        event = schedules.scheduled_event(
            function,
            rule,
            due.tick,
            region=self._settings.region,
            account=self._settings.account_id,
        )
        request_id = schedules.event_id(function, rule.name, due.tick)
        invocation = Invocation(
            request_id=request_id,
            function=function,
            payload=json.dumps(event).encode(),
            enqueued_at=time.time(),
            source="schedule",
        )
        queued = await self._queue.enqueue_tick(
            invocation,
            function=function,
            rule=rule.name,
            tick=int(due.tick.timestamp()),
            expected_last=last,
            skipped=due.skipped,
        )
        if queued:
            metrics.SCHEDULE_FIRES.labels(function).inc()
            if due.skipped:
                metrics.SCHEDULE_MISSES.labels(function).inc(due.skipped)
                log.warning(
                    "schedule %s/%s: fired the tick of %s late and skipped %d earlier tick(s)",
                    function,
                    rule.name,
                    due.tick.isoformat(),
                    due.skipped,
                )
        return queued


def _texts(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}
