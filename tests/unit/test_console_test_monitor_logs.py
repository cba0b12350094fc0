"""The console's Monitor, Test and Logs tabs, their pure parts: what a result, a chart and a
log line show, the checks of an event and a filter, and the pages as each key sees them.

Pages are rendered from their templates with a visitor and a spec, no server
(``tests/unit/test_console_pages.py`` does the same for the shell).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from starlette.datastructures import FormData

from faas.catalog.logs import LogRecord
from faas.catalog.saved_events import SavedEvent, check_event, check_name, parse_event
from faas.errors import ValidationFailed
from faas.invoke import samples
from faas.invoke.asyncq.records import Invocation, State
from faas.models import ASYNC_INVOKE_MAX_BYTES
from faas.outcomes import InvocationResult, Outcome
from faas.settings import Settings
from faas.stats import Point
from gateway.console import monitor_charts, tabs
from gateway.console.gate import Visitor
from gateway.console.log_lines import LineFilter, level_of, lines_of
from gateway.console.pages import monitor
from gateway.console.pages import test as test_tab
from gateway.edge.table import Role
from gateway.routes import CONSOLE_ROWS, ROUTES
from tests.unit.console_visitors import ADMIN, INVOKER, page, spec

RID = "8f5f0b1e-3c59-4a6e-9b7e-0d6b7c1d2e3f"


def record(text: str, outcome: str = "success", request_id: str = RID) -> LogRecord:
    return LogRecord(request_id, "resize", "sync", outcome, 1.0, 2.0, 1.0, text)


def framed(*lines: str, outcome: str = "success") -> LogRecord:
    body = "".join(line + "\n" for line in lines)
    text = (
        f"START RequestId: {RID} Version: $LATEST\n{body}END RequestId: {RID}\n"
        f"REPORT RequestId: {RID}\tDuration: 1.00 ms\n"
    )
    return record(text, outcome)


# -- the rows and the tabs ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/ui/functions/resize/monitor"),
        ("GET", "/ui/functions/resize/monitor/charts"),
        ("GET", "/ui/functions/resize/test"),
        ("GET", "/ui/functions/resize/test/template"),
        ("POST", "/ui/functions/resize/test/invoke"),
        ("GET", "/ui/functions/resize/test/invocation"),
        ("POST", "/ui/functions/resize/test/events"),
        ("POST", "/ui/functions/resize/test/events/delete"),
        ("GET", "/ui/functions/resize/logs"),
        ("GET", "/ui/functions/resize/logs/tail"),
    ],
)
def test_each_tab_row_is_a_sessions_and_not_the_catch_all(method: str, path: str) -> None:
    found = ROUTES.match(method, path)
    assert found.role is Role.CONSOLE
    assert found.route is not None and "{path:path}" not in found.route.path


def test_the_catch_all_stays_the_last_console_row() -> None:
    assert CONSOLE_ROWS[-1].path == "/ui/{path:path}"


def test_the_three_tabs_are_shown() -> None:
    shown = [t.slug for t in tabs.shown()]
    assert {"monitor", "test", "logs"} <= set(shown)


def test_an_invoke_may_carry_a_whole_event_and_a_saved_one_less() -> None:
    invoke = ROUTES.match("POST", "/ui/functions/resize/test/invoke").route
    save = ROUTES.match("POST", "/ui/functions/resize/test/events").route
    assert invoke is not None and invoke.body_limit > 6 * 1024 * 1024
    assert save is not None and 256 * 1024 < save.body_limit < 1024 * 1024


# -- Test: the event and its result ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "write an event"),
        ("   ", "write an event"),
        ('{"a": 1,}', "line 1, column 9"),
        ('{\n  "a": tru\n}', "line 2"),
    ],
)
def test_an_event_that_is_not_json_is_refused_by_its_field(text: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_event(text)
    assert refused.value.field == "event" and message in refused.value.message


def test_the_form_says_sync_or_async_and_checks_the_size_of_each() -> None:
    big = json.dumps({"blob": "x" * ASYNC_INVOKE_MAX_BYTES})
    sync = test_tab.Posted.of(FormData([("event", big), ("type", "RequestResponse")]))
    assert not sync.asynchronous and sync.checked() == big.encode()
    queued = test_tab.Posted.of(FormData([("event", big), ("type", "Event")]))
    with pytest.raises(ValidationFailed) as refused:
        queued.checked()
    assert refused.value.field == "event" and "at most 1048576" in refused.value.message


def test_a_qualifier_is_checked_before_anything_runs() -> None:
    posted = test_tab.Posted.of(FormData([("event", "{}"), ("qualifier", "no spaces")]))
    with pytest.raises(ValidationFailed) as refused:
        posted.checked()
    assert refused.value.field == "qualifier"
    assert test_tab.Posted.of(FormData([("event", "{}"), ("qualifier", " ")])).qualifier is None


def test_every_sample_is_offered_with_a_label_as_indented_json() -> None:
    assert tuple(test_tab.TEMPLATES) == samples.EVENTS
    settings = Settings(region="eu-test-1", account_id="123456789012")
    sqs = test_tab.template_text("sqs", settings)
    assert sqs.startswith('{\n  "Records"') and "eu-test-1" in sqs


def test_a_success_shows_its_pretty_result_duration_and_cold_start() -> None:
    result = InvocationResult(
        RID, Outcome.SUCCESS, b'{"hello":"world"}', True, 12.3, 80.0, log="START\nEND\n"
    )
    shown = test_tab.sync_result(result)
    assert shown.status == "success" and shown.title == "Succeeded" and not shown.error_type
    assert shown.response.text == '{\n  "hello": "world"\n}' and shown.response.is_json
    assert shown.billed_ms == 13 and shown.cold_start and shown.init_ms == 80.0
    assert shown.log == "START\nEND\n"


def test_a_function_error_shows_its_type_and_a_timeout_says_so() -> None:
    error = json.dumps({"errorType": "ValueError", "errorMessage": "boom", "stackTrace": []})
    failed = test_tab.sync_result(
        InvocationResult(RID, Outcome.FUNCTION_ERROR, error.encode(), False, 3.0)
    )
    assert (failed.status, failed.title, failed.error_type) == (
        "error",
        "Function error",
        "ValueError",
    )
    assert json.loads(failed.response.text)["errorMessage"] == "boom"
    late = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out"})
    timed_out = test_tab.sync_result(
        InvocationResult(RID, Outcome.TIMEOUT, late.encode(), False, 3000)
    )
    assert (timed_out.status, timed_out.title) == ("timeout", "Timed out")


def test_a_text_or_huge_response_is_shown_as_text_and_cut() -> None:
    assert test_tab.shown(b"plain words") == test_tab.Shown("plain words", False)
    huge = test_tab.shown(b'"' + b"x" * (test_tab.SHOWN_BYTES + 10) + b'"')
    assert not huge.is_json and huge.cut_bytes == 12 and len(huge.text) == test_tab.SHOWN_BYTES


def test_an_async_invocation_is_asked_again_until_it_ends_and_its_log_is_in() -> None:
    queued = Invocation(RID, "resize", b"{}", enqueued_at=100.0)
    assert test_tab.async_state(queued, None, 101.0)["again"]
    done = Invocation(
        RID,
        "resize",
        b"{}",
        state=State.SUCCEEDED,
        enqueued_at=100.0,
        finished_at=101.0,
        result=b'{"ok": true}',
    )
    waiting = test_tab.async_state(done, None, 102.0)
    assert waiting["done"] and waiting["again"]  # its log may be 10 ms behind
    shown = test_tab.async_state(done, "START ...", 102.0)
    assert not shown["again"] and shown["succeeded"] and shown["response"].is_json
    assert not test_tab.async_state(done, None, 101.0 + test_tab.LOG_GRACE_S + 1)["again"]


# -- saved events ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "has space", "x" * 26, "slash/es", "ünïcode"])
def test_a_saved_events_name_is_short_and_plain(name: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_name(name)
    assert refused.value.field == "event_name"


def test_a_saved_event_is_json_within_its_size() -> None:
    assert check_name(" order-7.v2 ") == "order-7.v2"
    assert check_event('{"a": 1}') == '{"a": 1}'
    with pytest.raises(ValidationFailed):
        check_event(json.dumps({"x": "y" * 300 * 1024}))


def render_tab(visitor: Visitor, template: str, **context: Any) -> str:
    tab = template.removesuffix(".html")
    return page(
        visitor, template, section="functions", spec=spec(), tab=tab, tab_title="Test", warm=0,
        **context,
    )  # fmt: skip


def tab_context(**more: object) -> dict[str, Any]:
    saved = [SavedEvent("order", '{"order": 7}', 1_700_000_000.0)]
    context: dict[str, Any] = {
        **test_tab.form_context(Settings()),
        "saved_events": saved,
        "saved_max": 10,
        "saved_message": "",
        "saved_errors": {},
        "event_name": "",
    }
    return {**context, **more}


def test_an_admin_may_save_and_delete_events_an_invoke_key_only_load_them() -> None:
    admin = render_tab(ADMIN, "test.html", **tab_context())
    assert "Save event" in admin and 'hx-post="/ui/functions/resize/test/events/delete"' in admin
    assert 'aria-label="Load order"' in admin and "Invoke</button>" in admin
    invoker = render_tab(INVOKER, "test.html", **tab_context())
    assert "Invoke</button>" in invoker and 'aria-label="Load order"' in invoker
    assert "Save event" not in invoker and "events/delete" not in invoker
    # The custom sample is in the editor, as text.
    assert "&#34;key1&#34;: &#34;value1&#34;" in admin


def test_an_events_fault_is_shown_by_the_editor() -> None:
    html = render_tab(
        ADMIN,
        "_test_form.html",
        **tab_context(event="{oops", errors={"event": "the event is not JSON: here"}),
    )
    assert re.search(r'<textarea id="test-event"[^>]*aria-invalid="true"', html)
    assert '<p id="event-error" class="error" aria-live="polite">the event is not JSON' in html


def test_a_result_shows_status_duration_cold_start_and_log_lines_as_text() -> None:
    result = test_tab.sync_result(
        InvocationResult(
            RID, Outcome.SUCCESS, b'"<b>hi</b>"', True, 5.0, 40.0, log="START\n<script>x\n"
        )
    )
    html = render_tab(ADMIN, "_test_result.html", result=result, accepted=None, refused=None)
    assert 'data-status="success"' in html and "Succeeded" in html
    assert "5.00 ms" in html and "Yes, init 40.00 ms" in html
    assert f'href="/ui/functions/resize/logs?request_id={RID}"' in html
    assert "&lt;script&gt;x" in html and "<script>x" not in html


# -- Monitor: the charts -----------------------------------------------------------------


def point(minute: int, invocations: int = 0, p50: float | None = None) -> Point:
    return Point(minute, invocations, 0, 0, 0, 0, p50, p50)


def test_a_chart_dots_each_point_with_a_value_and_says_its_latest() -> None:
    points = [point(60 * i) for i in range(59)] + [point(60 * 59, 3, 12.5)]
    invocations = monitor_charts.CHARTS[0]
    html = str(monitor_charts.chart(invocations, monitor_charts.series_of(invocations, points), 60))
    assert 'data-dots="1"' in html and 'data-latest="3"' in html
    assert html.count("<circle") == 1 and "Invocations 00:59: 3" in html
    assert (
        '<p class="latest" id="chart-invocations-latest">Latest (00:59, 1 min): 3; '
        "3 in the window</p>" in html
    )
    assert 'aria-labelledby="chart-invocations-title"' in html
    assert 'aria-describedby="chart-invocations-latest"' in html


def test_a_lone_duration_is_a_dot_and_the_minutes_without_one_are_gaps() -> None:
    points = [point(0), point(60, 1, 20.0), point(120)]
    duration = next(c for c in monitor_charts.CHARTS if c.slug == "duration")
    series = monitor_charts.series_of(duration, points)
    html = str(monitor_charts.chart(duration, series, 60))
    assert "<polyline" not in html  # one point: no line to draw
    assert html.count("<circle") == 2  # p50 and p99
    assert "p50 (00:02, 1 min): none; p99 (00:02, 1 min): none" in html


def test_an_empty_window_says_so() -> None:
    chart = monitor_charts.chart(monitor_charts.CHARTS[0], [], 60)
    assert "No data yet." in str(chart) and 'data-dots="0"' in str(chart)


@pytest.mark.parametrize(("slug", "minutes"), [("", 60), ("1h", 60), ("24h", 1440)])
def test_the_windows_are_an_hour_and_a_day(slug: str, minutes: int) -> None:
    assert monitor.window_of(slug).minutes == minutes


def test_another_window_is_refused_by_its_field() -> None:
    with pytest.raises(ValidationFailed) as refused:
        monitor.window_of("7d")
    assert refused.value.field == "window"


def test_the_charts_block_polls_itself() -> None:
    html = render_tab(
        INVOKER,
        "_monitor_charts.html",
        charts=[],
        window=monitor.WINDOWS["1h"],
        windows=monitor.WINDOWS.values(),
    )
    assert 'hx-get="/ui/functions/resize/monitor/charts?window=1h"' in html
    assert 'hx-trigger="every 5s"' in html and 'hx-swap="outerHTML"' in html


# -- Logs: levels and filters -------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("[ERROR]\t2026-01-01T00:00:00.000Z\trid\tboom", "ERROR"),
        ("[WARNING]\t2026-01-01T00:00:00.000Z\trid\tcareful", "WARN"),
        ("[ERROR] ValueError: boom", "ERROR"),
        ("2026-01-01T00:00:00.000Z\trid\tWARN\tslow", "WARN"),
        ("2026-01-01T00:00:00.000Z\trid\tDEBUG\tdetail", "DEBUG"),
        ("CRITICAL:root:down", "FATAL"),
        ('{"level": "error", "msg": "x"}', "ERROR"),
        ('{"levelname": "INFO"}', "INFO"),
        ("an ERROR in the middle says nothing", None),
        ("hello from print", None),
        ("{not json}", None),
    ],
)
def test_a_lines_level_is_read_from_the_runtimes_shapes(line: str, level: str | None) -> None:
    assert level_of(line) == level


def test_a_traceback_takes_its_error_lines_level_and_print_is_info() -> None:
    levels = [
        (line.text.split(" ")[0], line.level)
        for line in lines_of(
            framed("hello", "[ERROR] ValueError: boom", "Traceback (most recent call last):")
        )
    ]
    assert levels == [
        ("START", "INFO"),
        ("hello", "INFO"),
        ("[ERROR]", "ERROR"),
        ("Traceback", "ERROR"),
        ("END", "INFO"),
        ("REPORT", "INFO"),
    ]


def test_the_platforms_timeout_line_is_an_error() -> None:
    timed_out = framed(f"2026-01-01T00:00:03.000Z {RID} Task timed out", outcome="timeout")
    assert [line.level for line in lines_of(timed_out)][1] == "ERROR"


def test_a_filter_keeps_lines_at_or_above_its_level_holding_its_text() -> None:
    logs = framed(
        "[INFO]\tt\tr\tstarting", "[WARNING]\tt\tr\tslow disk", "[ERROR]\tt\tr\tdisk full"
    )
    assert [line.text for line in LineFilter(level="WARN").lines(logs)] == [
        "[WARNING]\tt\tr\tslow disk",
        "[ERROR]\tt\tr\tdisk full",
    ]
    assert [line.text for line in LineFilter(text="DISK").lines(logs)] == [
        "[WARNING]\tt\tr\tslow disk",
        "[ERROR]\tt\tr\tdisk full",
    ]
    assert LineFilter(request_id="another").lines(logs) == []
    assert len(LineFilter().lines(logs)) == 6


@pytest.mark.parametrize(
    ("request_id", "level", "text", "field"),
    [
        ("x" * 129, "", "", "request_id"),
        ("", "LOUD", "", "level"),
        ("", "", "y" * 201, "text"),
    ],
)
def test_a_bad_filter_is_refused_by_its_field(
    request_id: str, level: str, text: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        LineFilter.parse(request_id, level, text)
    assert refused.value.field == field


def test_a_filters_level_is_named_as_the_list_names_it() -> None:
    assert LineFilter.parse(" r1 ", "warning", " x ") == LineFilter("r1", "WARN", "x")
    assert LineFilter.parse(None, None, None).empty
