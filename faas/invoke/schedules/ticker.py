"""The loop that fires schedules' ticks through the async queue.

Every server process runs a ``Ticker``: it looks at all rules every
``FAAS_SCHEDULE_POLL_S`` and, for each rule with a due tick, tries to queue
it. Exactly one process queues a tick: the queue's ``enqueue_tick`` script
checks the rule's last handled tick and sets a per-tick guard key in the same
step as it queues the event. Rules and their state live in Redis
(``faas.invoke.schedules.store``), so they survive restarts, and a restart
after downtime fires one catch-up tick (``faas.invoke.schedules.rules``).

APScheduler is not used: its triggers run jobs inside one process and have
no notion of a tick claimed once across processes, nor EventBridge's syntax.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime

from faas import metrics
from faas.invoke.asyncq.queue import Queue
from faas.invoke.asyncq.records import Invocation
from faas.invoke.schedules import cron
from faas.invoke.schedules import rules as schedules
from faas.invoke.schedules.rules import Rule
from faas.invoke.schedules.store import ScheduleStore
from faas.settings import Settings

log = logging.getLogger(__name__)


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
            qualifier=rule.qualifier,
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
