"""Schedule rules, the tick that is due after downtime, and the event a tick sends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from faas.errors import ValidationFailed
from faas.invoke.schedules import cron
from faas.invoke.schedules.cron import ExpressionInvalid
from faas.invoke.schedules.rules import Due, Rule, due, event_id, parse_rules, scheduled_event


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def epoch(text: str) -> int:
    return int(at(text).timestamp())


ANCHOR = epoch("2026-01-31 10:00:30")


@pytest.mark.parametrize(
    ("expression", "last", "now", "expected"),
    [
        # Nothing due yet: the first rate tick is a period after the anchor
        ("rate(5 minutes)", None, "2026-01-31 10:05:29", None),
        ("rate(5 minutes)", None, "2026-01-31 10:05:30", Due(at("2026-01-31 10:05:30"), 0)),
        # Seen late but within a period: fires, nothing skipped
        ("rate(5 minutes)", None, "2026-01-31 10:09:00", Due(at("2026-01-31 10:05:30"), 0)),
        # Down for an hour: only the latest tick fires, eleven are skipped
        (
            "rate(5 minutes)",
            "2026-01-31 10:05:30",
            "2026-01-31 11:07:00",
            Due(at("2026-01-31 11:05:30"), 11),
        ),
        # Already handled the latest tick
        ("rate(5 minutes)", "2026-01-31 10:05:30", "2026-01-31 10:08:00", None),
        # Cron: noon daily, down over three noons (Jan 31 to Feb 3), one catch-up
        ("cron(0 12 * * ? *)", None, "2026-02-03 13:00:00", Due(at("2026-02-03 12:00:00"), 3)),
        # Cron: the last day of the month across a leap February
        (
            "cron(0 0 L * ? *)",
            "2028-01-31 00:00:00",
            "2028-03-01 09:00:00",
            Due(at("2028-02-29"), 0),
        ),
        (
            "cron(0 0 L * ? *)",
            "2028-01-31 00:00:00",
            "2028-04-01 00:00:00",
            Due(at("2028-03-31"), 1),
        ),
        # Crontab line, every quarter hour: 10:15 and 10:30 skipped
        ("*/15 * * * *", None, "2026-01-31 10:59:59", Due(at("2026-01-31 10:45:00"), 2)),
    ],
)
def test_the_latest_due_tick_fires_and_earlier_ones_are_skipped(
    expression: str, last: str | None, now: str, expected: Due | None
) -> None:
    schedule = cron.parse(expression)
    assert due(schedule, ANCHOR, epoch(last) if last else 0, at(now)) == expected


def test_a_years_downtime_of_a_per_minute_cron_still_gives_one_tick() -> None:
    result = due(cron.parse("cron(* * * * ? *)"), ANCHOR, 0, at("2027-01-31 10:00:00"))
    assert result is not None and result.tick == at("2027-01-31 10:00:00")
    assert not result.exact and result.skipped >= 50_000


def test_rules_keep_their_anchor_while_unchanged() -> None:
    first = parse_rules(
        [{"name": "a", "expression": "rate(1 hour)"}, {"name": "b", "expression": "rate(1 day)"}],
        1000.7,
        [],
        allow_seconds=False,
    )
    assert [r.anchor for r in first] == [1000, 1000]
    second = parse_rules(
        {
            "schedules": [
                {"name": "a", "expression": "rate(1 hour)"},
                {"name": "b", "expression": "rate(2 days)"},
            ]
        },
        5000,
        first,
        allow_seconds=False,
    )
    assert [r.anchor for r in second] == [1000, 5000]
    assert Rule.from_dict(second[0].to_dict()) == second[0]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ("rate(1 hour)", "schedules"),
        ([{"name": "a"}], "expression"),
        ([{"name": "bad name", "expression": "rate(1 hour)"}], "name"),
        ([{"name": "a", "expression": "rate(1 hour)"}] * 2, "name"),
        ([{"name": "a", "expression": "rate(1 hour)", "enabled": "no"}], "enabled"),
        ([{"name": "a", "expression": "rate(1 hour)", "target": "x"}], "target"),
        ([{"name": "a", "expression": "rate(1 hour)", "input": "x" * 9000}], "input"),
        ([{"name": f"n{i}", "expression": "rate(1 hour)"} for i in range(21)], "schedules"),
        (["rate(1 hour)"], "schedules[0]"),
    ],
)
def test_bad_rules_name_their_field(data: object, field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_rules(data, 0, [], allow_seconds=False)
    assert info.value.field == field


def test_a_bad_expression_gives_its_position() -> None:
    with pytest.raises(ExpressionInvalid) as info:
        parse_rules([{"name": "a", "expression": "cron(0 25 * * ? *)"}], 0, [], allow_seconds=False)
    assert info.value.position == 8 and "position 8" in info.value.message


def test_seconds_are_only_for_tests() -> None:
    rule = [{"name": "a", "expression": "rate(2 seconds)"}]
    with pytest.raises(ExpressionInvalid):
        parse_rules(rule, 0, [], allow_seconds=False)
    assert parse_rules(rule, 0, [], allow_seconds=True)[0].expression == "rate(2 seconds)"


def test_a_tick_sends_eventbridges_scheduled_event_with_a_stable_id() -> None:
    rule = Rule("nightly", "cron(0 3 * * ? *)")
    tick = at("2026-11-23 03:00:00")
    event = scheduled_event("report", rule, tick, region="local-1", account="000000000000")
    assert event == {
        "version": "0",
        "id": event_id("report", "nightly", tick),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": "2026-11-23T03:00:00Z",
        "region": "local-1",
        "resources": ["arn:aws:events:local-1:000000000000:rule/report-nightly"],
        "detail": {},
    }
    assert event_id("report", "nightly", tick) == event_id(
        "report", "nightly", at("2026-11-23 03:00:00")
    )
    assert event_id("report", "nightly", tick) != event_id(
        "report", "nightly", at("2026-11-24 03:00:00")
    )
    assert event_id("report", "nightly", tick) != event_id("report", "hourly", tick)


def test_a_constant_input_replaces_the_event() -> None:
    rule = parse_rules(
        [{"name": "a", "expression": "rate(1 hour)", "input": {"job": "sync", "n": [1, 2]}}],
        0,
        [],
        allow_seconds=False,
    )[0]
    assert scheduled_event("f", rule, at("2026-01-01"), region="r", account="a") == {
        "job": "sync",
        "n": [1, 2],
    }
