"""Schedules as plain data: rules, which tick is due, and the event a tick sends.

A function has up to ``SCHEDULES_MAX`` named rules, each an expression
(``faas.invoke.schedules.cron``), an optional constant ``input`` and an ``enabled`` flag. A
rule's anchor is the whole second its expression was set: rate ticks count
from it, and no tick at or before it ever fires.

Missed ticks (the servers were down, or busy past a tick): at each look only
the latest due tick fires, once, late; the ticks before it since the last
firing are skipped and counted. So a downtime gives one catch-up run, never a
storm. A tick's event id is derived from (function, rule, tick time), so the
same tick always carries the same id and a duplicate is detectable.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from faas.errors import ValidationFailed
from faas.invoke.schedules import cron
from faas.models import QUALIFIER_PATTERN, validate_name

SCHEDULES_MAX = 20
# EventBridge's limit on a target's constant input.
INPUT_MAX_BYTES = 8192
# Counting skipped ticks walks them one by one; past this many it counts from a day ago.
COUNT_MAX = 50_000
_EVENT_NAMESPACE = uuid.UUID("6f1f7a58-3a55-4a8e-9d2c-2f1c1d4b9e0a")


@dataclass(frozen=True)
class Rule:
    name: str
    expression: str
    input: str | None = None  # JSON text
    enabled: bool = True
    anchor: int = 0  # epoch seconds
    # A version or an alias of the function to run instead of $LATEST.
    qualifier: str | None = None

    @property
    def since(self) -> datetime:
        """The anchor as a UTC datetime."""
        return datetime.fromtimestamp(self.anchor, UTC)

    def schedule(self, allow_seconds: bool) -> cron.Schedule:
        return cron.parse(self.expression, allow_seconds=allow_seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expression": self.expression,
            "input": None if self.input is None else json.loads(self.input),
            "enabled": self.enabled,
            "anchor": self.anchor,
            "qualifier": self.qualifier,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        raw = data.get("input")
        return cls(
            name=data["name"],
            expression=data["expression"],
            input=None if raw is None else json.dumps(raw),
            enabled=data.get("enabled", True),
            anchor=int(data.get("anchor", 0)),
            qualifier=data.get("qualifier"),
        )


def parse_rules(
    data: object, now: float, previous: list[Rule], *, allow_seconds: bool
) -> list[Rule]:
    """Validate a ``PUT`` body (a list, or ``{"schedules": [...]}``) into rules.

    A rule whose name and expression are unchanged keeps its anchor (and so
    its ticks); any other starts counting from ``now``.
    """
    if isinstance(data, dict) and set(data) == {"schedules"}:
        data = data["schedules"]
    if not isinstance(data, list):
        raise ValidationFailed(
            "schedules must be a list of {name, expression, input?, enabled?, qualifier?}",
            field="schedules",
        )
    if len(data) > SCHEDULES_MAX:
        raise ValidationFailed(f"at most {SCHEDULES_MAX} schedules", field="schedules")
    kept = {(r.name, r.expression): r.anchor for r in previous}
    rules: list[Rule] = []
    for i, item in enumerate(data):
        where = f"schedules[{i}]"
        if not isinstance(item, dict):
            raise ValidationFailed(f"{where} must be an object", field=where)
        unknown = sorted(set(item) - {"name", "expression", "input", "enabled", "qualifier"})
        if unknown:
            raise ValidationFailed(f"{where}: unknown field {unknown[0]!r}", field=unknown[0])
        name = validate_name(item.get("name"), field="name")
        if any(r.name == name for r in rules):
            raise ValidationFailed(f"two schedules are named {name!r}", field="name")
        expression = item.get("expression")
        if not isinstance(expression, str):
            raise ValidationFailed(f"{where}: expression must be a string", field="expression")
        cron.parse(expression, allow_seconds=allow_seconds)
        enabled = item.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ValidationFailed(f"{where}: enabled must be true or false", field="enabled")
        text = None
        if item.get("input") is not None:
            text = json.dumps(item["input"])
            if len(text.encode()) > INPUT_MAX_BYTES:
                raise ValidationFailed(
                    f"{where}: input is over {INPUT_MAX_BYTES} bytes as JSON", field="input"
                )
        qualifier = item.get("qualifier")
        if qualifier is not None and (
            not isinstance(qualifier, str) or not QUALIFIER_PATTERN.fullmatch(qualifier)
        ):
            raise ValidationFailed(
                f"{where}: qualifier must be $LATEST, a version number or an alias name",
                field="qualifier",
            )
        anchor = kept.get((name, expression), int(now))
        rules.append(Rule(name, expression, text, enabled, anchor, qualifier))
    return rules


@dataclass(frozen=True)
class Due:
    """The tick to fire now, and how many earlier unfired ticks it skips."""

    tick: datetime
    skipped: int
    # False when there were too many skipped ticks to count them all.
    exact: bool = True


def due(schedule: cron.Schedule, anchor: int, last: float, now: datetime) -> Due | None:
    """The latest tick in (``last``, ``now``] of a rule anchored at ``anchor``, if any."""
    start = datetime.fromtimestamp(max(last, anchor), UTC)
    first = cron.next_fire(schedule, start, datetime.fromtimestamp(anchor, UTC))
    if first is None or first > now:
        return None
    if isinstance(schedule, cron.Rate):
        behind = int((now - first).total_seconds()) // schedule.seconds
        return Due(first + timedelta(seconds=behind * schedule.seconds), behind)
    tick, count, exact = first, 0, True
    while True:
        nxt = cron.next_fire(schedule, tick)
        if nxt is None or nxt > now:
            return Due(tick, count, exact)
        count += 1
        tick = nxt
        if count >= COUNT_MAX and exact:
            # Very long downtime: stop counting one by one, find the latest tick from a day ago.
            exact = False
            restart = cron.next_fire(schedule, max(tick, now - timedelta(days=1)))
            if restart is None or restart > now:
                return Due(tick, count, exact)
            tick = restart


def event_id(function: str, rule: str, tick: datetime) -> str:
    """The same id for the same (function, rule, tick), on every server."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{function}/{rule}/{int(tick.timestamp())}"))


def scheduled_event(function: str, rule: Rule, tick: datetime, *, region: str, account: str) -> Any:
    """EventBridge's Scheduled Event for ``tick`` (or the rule's constant input)."""
    if rule.input is not None:
        return json.loads(rule.input)
    return {
        "version": "0",
        "id": event_id(function, rule.name, tick),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": tick.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{function}-{rule.name}"],
        "detail": {},
    }
