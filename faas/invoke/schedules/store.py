"""Schedules in Redis: each function's rules, and their firing state.

The rules of a function are one JSON document; their state (the last tick
handled, fire and miss counts) a hash beside it; keys are documented in
``faas.keys``. The ``Ticker`` (``faas.invoke.schedules.ticker``) reads every
rule here, and the API shows a rule with its next fire times (``RuleView``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from faas import keys
from faas.invoke.schedules import cron
from faas.invoke.schedules.rules import Rule
from faas.store import redis_errors


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


def _texts(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}
