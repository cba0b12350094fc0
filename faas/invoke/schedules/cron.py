"""Schedule expressions and their next fire times: pure functions, UTC only.

Three forms are accepted, as EventBridge and crontab users write them:

- ``rate(5 minutes)``, ``rate(1 hour)``, ``rate(2 days)``: every so often from
  an anchor (the schedule's creation time), as EventBridge does. ``1`` takes the
  singular unit and more the plural, also as EventBridge insists.
- ``cron(Minutes Hours Day-of-month Month Day-of-week Year)``: EventBridge's six
  fields. Day-of-week runs 1-7 from Sunday (or ``SUN``-``SAT``); exactly one of
  the two day fields is ``?``. Beyond ``*``, lists, ranges and ``/`` steps:
  ``L`` (last day of the month), ``LW`` (its last weekday), ``15W`` (the weekday
  nearest the 15th, in the same month), ``6L`` (the month's last Friday) and
  ``5#3`` (its third Thursday).
- a plain five-field crontab line (``*/5 * * * *``): day-of-week 0-7 from
  Sunday; when both day fields are restricted either may match, as in cron.

``parse`` raises ``ExpressionInvalid`` with the 1-based position of the error.
``next_fire`` gives the first fire time strictly after a moment.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from faas.errors import ValidationFailed

YEAR_MIN, YEAR_MAX = 1970, 2199
MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
# EventBridge numbers days of the week 1-7 from Sunday; crontab 0-7 (0 and 7 are Sunday).
DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^rate\((\s*)(\S+)(\s+)(\S+)\s*\)$")


class ExpressionInvalid(ValidationFailed):
    """A schedule expression that cannot be parsed; ``position`` is 1-based."""

    def __init__(self, expression: str, position: int, why: str) -> None:
        super().__init__(
            f"invalid schedule expression {expression!r} at position {position}: {why}",
            field="expression",
        )
        self.position = position


@dataclass(frozen=True)
class Rate:
    """Every ``seconds``, counted from an anchor."""

    seconds: int


@dataclass(frozen=True)
class Cron:
    """The sets of times a cron expression allows; days as rules on a date."""

    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int] | None
    # Day-of-month rules (None: unrestricted).
    days: frozenset[int] | None = None
    last_day: bool = False
    last_weekday: bool = False
    nearest_weekday: frozenset[int] = field(default_factory=frozenset)
    # Day-of-week rules, as Python weekdays (Monday 0); None: unrestricted.
    weekdays: frozenset[int] | None = None
    last_of_weekday: frozenset[int] = field(default_factory=frozenset)
    nth_weekday: frozenset[tuple[int, int]] = field(default_factory=frozenset)
    # crontab: both day fields restricted means either may match.
    either_day: bool = False


Schedule = Rate | Cron


def parse(expression: str, *, allow_seconds: bool = False) -> Schedule:
    """Parse ``expression``; ``allow_seconds`` admits ``rate(N seconds)`` (tests only)."""
    text = expression.strip() if isinstance(expression, str) else ""
    if text.startswith("rate("):
        return _parse_rate(expression, text, allow_seconds)
    if text.startswith("cron(") and text.endswith(")"):
        offset = expression.index("cron(") + len("cron(")
        return _parse_cron(expression, offset, text[5:-1], eventbridge=True)
    if text and text[0] in "0123456789*" and len(text.split()) == 5:
        return _parse_cron(expression, expression.index(text), text, eventbridge=False)
    raise ExpressionInvalid(
        str(expression), 1, "expected rate(...), cron(...) or a five-field crontab line"
    )


def _parse_rate(expression: str, text: str, allow_seconds: bool) -> Rate:
    start = expression.index("rate(") + len("rate(")
    match = _RATE.fullmatch(text)
    if not match:
        raise ExpressionInvalid(expression, start + 1, "expected rate(VALUE UNIT)")
    value_pos = start + len(match.group(1)) + 1
    raw_value, unit = match.group(2), match.group(4)
    unit_pos = value_pos + len(raw_value) + len(match.group(3))
    if not raw_value.isdigit() or int(raw_value) < 1:
        raise ExpressionInvalid(expression, value_pos, "the value must be a positive integer")
    value = int(raw_value)
    units = dict(RATE_UNITS, **({"second": 1} if allow_seconds else {}))
    singular = unit[:-1] if unit.endswith("s") else unit
    if singular not in units:
        raise ExpressionInvalid(
            expression, unit_pos, f"the unit must be one of {', '.join(sorted(units))} (plural)"
        )
    if (value == 1) != (unit == singular):
        raise ExpressionInvalid(
            expression, unit_pos, "use the singular unit for 1 and the plural for more"
        )
    return Rate(value * units[singular])


def _parse_cron(expression: str, offset: int, body: str, *, eventbridge: bool) -> Cron:
    fields = []
    for match in re.finditer(r"\S+", body):
        fields.append((match.group(), offset + match.start() + 1))
    want = 6 if eventbridge else 5
    if len(fields) != want:
        raise ExpressionInvalid(
            expression, offset + 1, f"expected {want} fields, got {len(fields)}"
        )
    p = _FieldParser(expression)
    (minute, m_pos), (hour, h_pos), (dom, dom_pos), (month, mo_pos), (dow, dow_pos) = fields[:5]
    cron: dict[str, object] = {
        "minutes": p.numbers(minute, m_pos, 0, 59),
        "hours": p.numbers(hour, h_pos, 0, 23),
        "months": p.numbers(month, mo_pos, 1, 12, MONTHS),
        "years": None,
    }
    if eventbridge:
        year, y_pos = fields[5]
        cron["years"] = None if year == "*" else p.numbers(year, y_pos, YEAR_MIN, YEAR_MAX)
        if (dom == "?") == (dow == "?"):
            raise ExpressionInvalid(
                expression, dom_pos, "exactly one of day-of-month and day-of-week must be '?'"
            )
    elif "?" in (dom, dow):
        raise ExpressionInvalid(
            expression, dom_pos if dom == "?" else dow_pos, "'?' is cron(...) only"
        )
    cron.update(p.day_of_month(dom, dom_pos))
    cron.update(p.day_of_week(dow, dow_pos, eventbridge))
    if not eventbridge:
        cron["either_day"] = dom != "*" and dow != "*"
    return Cron(**cron)  # type: ignore[arg-type]


class _FieldParser:
    def __init__(self, expression: str) -> None:
        self.expression = expression

    def fail(self, pos: int, why: str) -> ExpressionInvalid:
        return ExpressionInvalid(self.expression, pos, why)

    def numbers(
        self, text: str, pos: int, low: int, high: int, names: dict[str, int] | None = None
    ) -> frozenset[int]:
        """``*``, ``a``, ``a-b``, ``*/n``, ``a/n``, ``a-b/n`` and comma lists of them."""
        values: set[int] = set()
        at = pos
        for part in text.split(","):
            values.update(self._part(part, at, low, high, names or {}))
            at += len(part) + 1
        return frozenset(values)

    def _part(self, part: str, pos: int, low: int, high: int, names: dict[str, int]) -> range:
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise self.fail(pos + len(base) + 1, "a step must be a positive integer")
            step = int(step_text)
        if base == "*":
            return range(low, high + 1, step)
        first_text, dash, last_text = base.partition("-")
        first = self._value(first_text, pos, low, high, names)
        if dash:
            last = self._value(last_text, pos + len(first_text) + 1, low, high, names)
            if last < first:
                raise self.fail(pos, f"the range {base} runs backwards")
        else:
            last = high if step_text else first
        return range(first, last + 1, step)

    def _value(self, text: str, pos: int, low: int, high: int, names: dict[str, int]) -> int:
        if text.upper() in names:
            return names[text.upper()]
        if not text.isdigit():
            raise self.fail(pos, f"{text!r} is not a number from {low} to {high}")
        value = int(text)
        if not low <= value <= high:
            raise self.fail(pos, f"{value} is out of range {low}-{high}")
        return value

    def day_of_month(self, text: str, pos: int) -> dict[str, object]:
        if text in ("?", "*"):
            return {"days": None}
        if text == "L":
            return {"last_day": True}
        if text == "LW":
            return {"last_weekday": True}
        if text.endswith("W"):
            return {"nearest_weekday": frozenset({self._value(text[:-1], pos, 1, 31, {})})}
        return {"days": self.numbers(text, pos, 1, 31)}

    def day_of_week(self, text: str, pos: int, eventbridge: bool) -> dict[str, object]:
        if text in ("?", "*"):
            return {"weekdays": None}
        low, high = (1, 7) if eventbridge else (0, 7)
        if eventbridge and text == "L":
            return {"weekdays": frozenset({_weekday(7, eventbridge)})}
        if eventbridge and text.endswith("L"):
            day = self._value(text[:-1], pos, low, high, DAYS)
            return {"last_of_weekday": frozenset({_weekday(day, eventbridge)})}
        if eventbridge and "#" in text:
            day_text, _, n_text = text.partition("#")
            day = self._value(day_text, pos, low, high, DAYS)
            n = self._value(n_text, pos + len(day_text) + 1, 1, 5, {})
            return {"nth_weekday": frozenset({(_weekday(day, eventbridge), n)})}
        names = DAYS if eventbridge else {k: v - 1 for k, v in DAYS.items()}
        days = self.numbers(text, pos, low, high, names)
        return {"weekdays": frozenset(_weekday(d, eventbridge) for d in days)}


def _weekday(day: int, eventbridge: bool) -> int:
    """A Python weekday (Monday 0) from EventBridge's 1-7 or crontab's 0-7, both from Sunday."""
    sunday_zero = day - 1 if eventbridge else day % 7
    return (sunday_zero - 1) % 7


# -- next fire times ------------------------------------------------------------


def next_fire(
    schedule: Schedule, after: datetime, anchor: datetime | None = None
) -> datetime | None:
    """The first fire time strictly after ``after`` (UTC), or None if there is none.

    A rate fires at ``anchor + k * period``; its anchor defaults to ``after``.
    """
    after = after.astimezone(UTC)
    if isinstance(schedule, Rate):
        start = (anchor or after).astimezone(UTC)
        if after < start:
            return start
        periods = int((after - start).total_seconds() // schedule.seconds) + 1
        return start + timedelta(seconds=periods * schedule.seconds)
    return _next_cron(schedule, after)


def next_fires(
    schedule: Schedule, after: datetime, n: int, anchor: datetime | None = None
) -> list[datetime]:
    out: list[datetime] = []
    anchor = anchor or after
    while len(out) < n:
        fire = next_fire(schedule, out[-1] if out else after, anchor)
        if fire is None:
            break
        out.append(fire)
    return out


def _next_cron(cron: Cron, after: datetime) -> datetime | None:
    start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.date()
    first = True
    while day.year <= YEAR_MAX:
        if _day_matches(cron, day):
            for hour in sorted(cron.hours):
                if first and hour < start.hour:
                    continue
                for minute in sorted(cron.minutes):
                    if first and hour == start.hour and minute < start.minute:
                        continue
                    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
        day += timedelta(days=1)
        first = False
    return None


def _day_matches(cron: Cron, day: date) -> bool:
    if day.month not in cron.months or (cron.years is not None and day.year not in cron.years):
        return False
    by_month = _month_rule(cron, day)
    by_week = _week_rule(cron, day)
    if by_month is None and by_week is None:
        return True
    if by_month is None or by_week is None:
        return bool(by_month if by_week is None else by_week)
    return (by_month or by_week) if cron.either_day else (by_month and by_week)


def _month_rule(cron: Cron, day: date) -> bool | None:
    last = calendar.monthrange(day.year, day.month)[1]
    if cron.last_day:
        return day.day == last
    if cron.last_weekday:
        return day == _nearest_weekday(day.replace(day=last))
    if cron.nearest_weekday:
        return any(
            n <= last and day == _nearest_weekday(day.replace(day=n)) for n in cron.nearest_weekday
        )
    if cron.days is not None:
        return day.day in cron.days
    return None


def _week_rule(cron: Cron, day: date) -> bool | None:
    if cron.last_of_weekday:
        last = calendar.monthrange(day.year, day.month)[1]
        return day.weekday() in cron.last_of_weekday and day.day + 7 > last
    if cron.nth_weekday:
        return (day.weekday(), (day.day - 1) // 7 + 1) in cron.nth_weekday
    if cron.weekdays is not None:
        return day.weekday() in cron.weekdays
    return None


def _nearest_weekday(target: date) -> date:
    """The weekday nearest ``target`` without leaving its month (Quartz's ``W``)."""
    if target.weekday() < 5:
        return target
    last = calendar.monthrange(target.year, target.month)[1]
    if target.weekday() == 5:  # Saturday: Friday, unless that is last month
        return target - timedelta(days=1) if target.day > 1 else target + timedelta(days=2)
    # Sunday: Monday, unless that is next month
    return target + timedelta(days=1) if target.day < last else target - timedelta(days=2)
