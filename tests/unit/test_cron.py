"""Schedule expressions and their next fire times, against literal UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from faas.invoke.schedules.cron import ExpressionInvalid, Rate, next_fire, next_fires, parse


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # Every 5 minutes, on the minute mark, strictly after.
        ("cron(0/5 * * * ? *)", "2026-01-01T10:02:30", ["2026-01-01T10:05", "2026-01-01T10:10"]),
        ("cron(0/5 * * * ? *)", "2026-01-01T10:05:00", ["2026-01-01T10:10", "2026-01-01T10:15"]),
        # Noon every day (the AWS docs' example), across a year end.
        ("cron(0 12 * * ? *)", "2026-12-31T12:00", ["2027-01-01T12:00", "2027-01-02T12:00"]),
        # 10:15 Monday to Friday; Friday to Monday.
        ("cron(15 10 ? * MON-FRI *)", "2026-11-20T10:15", ["2026-11-23T10:15", "2026-11-24T10:15"]),
        ("cron(15 10 ? * 2-6 *)", "2026-11-20T10:15", ["2026-11-23T10:15", "2026-11-24T10:15"]),
        # The last day of the month: February in a leap year, then March.
        ("cron(0 0 L * ? *)", "2028-02-01T00:00", ["2028-02-29T00:00", "2028-03-31T00:00"]),
        ("cron(0 0 L * ? *)", "2026-02-01T00:00", ["2026-02-28T00:00", "2026-03-31T00:00"]),
        # Feb 29 only: four years apart.
        ("cron(0 0 29 2 ? *)", "2024-03-01T00:00", ["2028-02-29T00:00", "2032-02-29T00:00"]),
        # The last weekday: May 2026 ends on a Sunday, so Friday the 29th.
        ("cron(0 9 LW * ? *)", "2026-05-01T00:00", ["2026-05-29T09:00", "2026-06-30T09:00"]),
        # The weekday nearest the 1st: Aug 1 2026 is a Saturday -> Monday the 3rd (not July).
        ("cron(0 9 1W * ? *)", "2026-07-31T00:00", ["2026-08-03T09:00", "2026-09-01T09:00"]),
        # Nearest the 31st in a 30-day month never fires there (no such day).
        ("cron(0 9 31W * ? *)", "2026-04-01T00:00", ["2026-05-29T09:00", "2026-07-31T09:00"]),
        # The last Friday, the third Thursday.
        ("cron(0 18 ? * 6L *)", "2026-11-01T00:00", ["2026-11-27T18:00", "2026-12-25T18:00"]),
        ("cron(0 18 ? * 5#3 *)", "2026-11-01T00:00", ["2026-11-19T18:00", "2026-12-17T18:00"]),
        ("cron(0 18 ? * L *)", "2026-11-22T00:00", ["2026-11-28T18:00", "2026-12-05T18:00"]),
        # Lists, month names, a year range that ends.
        (
            "cron(0,30 8 1 JAN,JUL ? 2026-2027)",
            "2026-06-01T00:00",
            ["2026-07-01T08:00", "2026-07-01T08:30"],
        ),
        ("cron(0 8 1 1 ? 2026-2027)", "2027-01-01T08:00", []),
        # crontab: every 15 minutes; Sunday as 0 and as 7; both day fields means either.
        ("*/15 * * * *", "2026-01-01T00:14", ["2026-01-01T00:15", "2026-01-01T00:30"]),
        ("0 0 * * 0", "2026-11-22T00:00", ["2026-11-29T00:00", "2026-12-06T00:00"]),
        ("0 0 * * 7", "2026-11-22T00:00", ["2026-11-29T00:00", "2026-12-06T00:00"]),
        ("0 0 13 * 5", "2026-11-01T00:00", ["2026-11-06T00:00", "2026-11-13T00:00"]),
    ],
)
def test_next_fire_times(expression: str, after: str, expected: list[str]) -> None:
    fires = next_fires(parse(expression), at(after), len(expected) or 1)
    assert fires == [at(e) for e in expected]


def test_a_rate_counts_from_its_anchor() -> None:
    schedule = parse("rate(5 minutes)")
    assert schedule == Rate(300)
    anchor = at("2026-01-01T00:00:10")
    assert next_fire(schedule, at("2026-01-01T00:07"), anchor) == at("2026-01-01T00:10:10")
    assert next_fire(schedule, at("2026-01-01T00:10:10"), anchor) == at("2026-01-01T00:15:10")
    assert next_fire(schedule, at("2025-12-31T00:00"), anchor) == anchor
    assert parse("rate(1 hour)") == Rate(3600) and parse("rate(2 days)") == Rate(172800)
    assert parse("rate(2 seconds)", allow_seconds=True) == Rate(2)


@pytest.mark.parametrize(
    ("expression", "position", "words"),
    [
        ("every minute", 1, "expected rate"),
        ("rate(5 minute)", 8, "plural"),
        ("rate(1 minutes)", 8, "singular"),
        ("rate(0 minutes)", 6, "positive"),
        ("rate(5 weeks)", 8, "unit"),
        ("rate(5 seconds)", 8, "unit"),
        ("cron(0 12 * * *)", 6, "expected 6 fields"),
        ("cron(0 12 * * * *)", 11, "exactly one"),
        ("cron(0 12 ? * ? *)", 11, "exactly one"),
        ("cron(60 12 * * ? *)", 6, "out of range"),
        ("cron(0 24 * * ? *)", 8, "out of range"),
        ("cron(0 12 * FOO ? *)", 13, "not a number"),
        ("cron(0 12 ? * 8 *)", 15, "out of range"),
        ("cron(0 12 ? * 5#6 *)", 17, "out of range"),
        ("cron(0/0 12 * * ? *)", 8, "step"),
        ("cron(0 12 20-10 * ? *)", 11, "backwards"),
        ("cron(0 12 * * ? 1969)", 17, "out of range"),
        ("0 12 * * ?", 10, "cron(...) only"),
        ("61 * * * *", 1, "out of range"),
    ],
)
def test_a_bad_expression_says_where(expression: str, position: int, words: str) -> None:
    with pytest.raises(ExpressionInvalid) as caught:
        parse(expression)
    assert caught.value.position == position, caught.value.message
    assert words in caught.value.message and caught.value.field == "expression"
