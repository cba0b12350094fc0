"""The Triggers tab: its diagram of what feeds a function, the rules and http config its
forms ask for, and who gets a form. Rendered from its templates, no server."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.datastructures import FormData

from faas.errors import ValidationFailed
from faas.invoke.http.config import AUTH_MODES, PAYLOAD_FORMATS, HttpConfig
from faas.invoke.mappings.model import Mapping
from faas.invoke.schedules.rules import Rule
from faas.invoke.schedules.store import RuleView
from gateway.console import diagram
from gateway.console.pages.triggers import (
    Subscription,
    http_from,
    rules_doc,
    schedule_from,
    sources_of,
)
from gateway.edge.table import Role
from gateway.routes import ROUTES
from tests.unit.console_visitors import ADMIN, INVOKER, main_part, page, spec

NEXT = [datetime(2026, 12, 7, 13, 5, tzinfo=UTC), datetime(2026, 12, 7, 13, 10, tzinfo=UTC)]


def rule_view(name: str = "tick", enabled: bool = True) -> RuleView:
    rule = Rule(name, "rate(5 minutes)", None, enabled, 1_700_000_000)
    return RuleView(rule, NEXT if enabled else [], None, 3, 1)


def mapping(enabled: bool = True) -> Mapping:
    arn = "arn:aws:sqs:us-east-1:000000000000:orders"
    return Mapping("0b5e6f9e-1111-4222-8333-444455556666", arn, "orders", "resize", enabled=enabled)


@pytest.mark.parametrize(
    "path",
    ["triggers/http", "triggers/schedules", "triggers/schedules/toggle",
     "triggers/schedules/delete", "triggers/mappings", "triggers/subscriptions"],
)  # fmt: skip
def test_every_change_is_a_post_of_a_console_session(path: str) -> None:
    found = ROUTES.match("POST", f"/ui/functions/resize/{path}")
    assert found.role is Role.CONSOLE and found.route is not None
    assert found.route.path.endswith(path)


# -- the diagram --------------------------------------------------------------------


def test_each_source_is_a_box_with_an_arrow_to_the_function() -> None:
    sources = [
        diagram.Source("HTTP", "/fn/resize (open)"),
        diagram.Source("Schedule", "tick: rate(5 minutes)", on=False),
        diagram.Source("Queue", "orders"),
    ]
    svg = str(diagram.feeds("resize", sources))
    assert svg.count("<line") == 3 and svg.count('marker-end="url(#arrow)"') == 3
    assert svg.count('class="source off"') == 1 and svg.count('class="link off"') == 1
    assert ">Function<" in svg and ">resize<" in svg
    assert 'aria-label="resize is invoked by HTTP /fn/resize (open), Schedule tick' in svg


def test_a_function_nothing_invokes_is_drawn_alone_and_labels_are_escaped() -> None:
    alone = str(diagram.feeds("resize", []))
    assert "<line" not in alone and "nothing invokes resize yet" in alone
    svg = str(diagram.feeds("resize", [diagram.Source("Topic", "<b>x</b>")]))
    assert "&lt;b&gt;x&lt;/b&gt;" in svg and "<b>x</b>" not in svg


def test_the_sources_are_the_http_route_rules_mappings_and_topics() -> None:
    exposed = dataclasses.replace(spec(), http=HttpConfig(auth="key"))
    drawn = sources_of(
        exposed,
        [rule_view(), rule_view("nightly", enabled=False)],
        [mapping(enabled=False)],
        [Subscription("arn", "news", None)],
    )
    assert [(s.kind, s.on) for s in drawn] == [
        ("HTTP", True),
        ("Schedule", True),
        ("Schedule", False),
        ("Queue", False),
        ("Topic", True),
    ]
    assert drawn[0].label == "/fn/resize (key)"
    assert [s.kind for s in sources_of(spec(), [], [], [])] == []


# -- the forms -----------------------------------------------------------------------


def test_a_new_schedule_is_the_apis_rule_with_its_json_input() -> None:
    form = FormData(
        {"name": "tick", "expression": "rate(1 hour)", "input": '{"a": 1}', "enabled": "on"}
    )
    assert schedule_from(form) == {
        "name": "tick",
        "expression": "rate(1 hour)",
        "enabled": True,
        "input": {"a": 1},
    }
    off = schedule_from(FormData({"name": "t", "expression": "rate(1 hour)"}))
    assert off["enabled"] is False and "input" not in off


def test_an_input_that_is_not_json_names_the_input_field() -> None:
    with pytest.raises(ValidationFailed) as refused:
        schedule_from(FormData({"name": "t", "expression": "rate(1 hour)", "input": "{"}))
    assert refused.value.field == "input"


def test_the_rules_are_replaced_as_the_api_takes_them_without_their_anchor() -> None:
    (doc,) = rules_doc([rule_view()])
    assert "anchor" not in doc and doc["expression"] == "rate(5 minutes)"
    json.dumps(doc)


def test_the_http_form_changes_only_exposure_auth_and_payload_format() -> None:
    current = HttpConfig(routes=("GET /items",), auth="none")
    changed = http_from(
        FormData({"enabled": "on", "auth": "key", "payload_format": "1.0"}), current
    )
    assert (changed.enabled, changed.auth, changed.payload_format) == (True, "key", "1.0")
    assert changed.routes == ("GET /items",)
    assert not http_from(FormData({"auth": "none"}), current).enabled
    with pytest.raises(ValidationFailed) as refused:
        http_from(FormData({"enabled": "on", "auth": "oauth"}), current)
    assert refused.value.field == "auth"


# -- the page ------------------------------------------------------------------------


def triggers_page(visitor: Any) -> str:
    current = spec()
    rules = [rule_view()]
    mappings = [mapping()]
    subscriptions = [Subscription("arn:aws:sns:us-east-1:000000000000:news:1", "news", None)]
    return page(
        visitor,
        "triggers.html",
        spec=current,
        tab="triggers",
        tab_title="Triggers",
        warm=0,
        rules=rules,
        mappings=mappings,
        subscriptions=subscriptions,
        feeds=diagram.feeds(current.name, sources_of(current, rules, mappings, subscriptions)),
        auth_modes=AUTH_MODES,
        payload_formats=PAYLOAD_FORMATS,
        saved="",
        form_id="",
        errors={},
        posted={},
    )


def test_an_admin_may_change_each_kind_of_trigger() -> None:
    html = triggers_page(ADMIN)
    for path in (
        "http",
        "schedules",
        "schedules/toggle",
        "schedules/delete",
        "mappings",
        "subscriptions",
    ):
        assert f'action="/ui/functions/resize/triggers/{path}"' in html, path
    assert "2026-12-07 13:05:00" in html and "2026-12-07 13:10:00" in html
    assert '<svg class="feeds"' in html


def test_an_invoke_key_sees_the_triggers_and_no_form() -> None:
    html = main_part(triggers_page(INVOKER))
    assert "<form" not in html
    assert "rate(5 minutes)" in html and "orders" in html and "news" in html
