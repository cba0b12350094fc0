"""The Triggers tab: its diagram of what feeds a function, the rules, http config, mappings
and subscriptions its forms ask for, where a refusal is shown, and who gets a form.
Rendered from its templates, no server."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.datastructures import FormData

from faas.errors import (
    FaasError,
    FunctionNotFound,
    MappingNotFound,
    ResourceConflict,
    TopicNotFound,
    ValidationFailed,
)
from faas.invoke.http.config import AUTH_MODES, PAYLOAD_FORMATS, HttpConfig
from faas.invoke.mappings import validation
from faas.invoke.mappings.model import Mapping
from faas.invoke.schedules.rules import Rule, parse_rules
from faas.invoke.schedules.store import RuleView
from faas.topics.arns import Place
from faas.topics.filters import SCOPES
from gateway.console import diagram
from gateway.console.pages.triggers import (
    Subscription,
    filter_lines,
    http_from,
    next_fire,
    refused_at,
    rule_settings,
    rules_doc,
    schedule_from,
    sources_of,
    subscribing,
)
from gateway.console.pages.triggers_mappings import mapping_changes, mapping_from
from gateway.edge.table import Role
from gateway.routes import ROUTES
from tests.unit.console_visitors import ADMIN, INVOKER, main_part, page, spec

REGION, ACCOUNT = "us-east-1", "000000000000"
PLACE = Place(REGION, ACCOUNT)
NEXT = [datetime(2026, 12, 7, 13, 5, tzinfo=UTC), datetime(2026, 12, 7, 13, 10, tzinfo=UTC)]


def rule_view(name: str = "tick", enabled: bool = True) -> RuleView:
    rule = Rule(name, "rate(5 minutes)", None, enabled, 1_700_000_000)
    return RuleView(rule, NEXT if enabled else [], None, 3, 1)


UUID = "0b5e6f9e-1111-4222-8333-444455556666"
SUBSCRIPTION = "arn:aws:sns:us-east-1:000000000000:news:0b5e6f9e-1111-4222-8333-444455556666"


def mapping(enabled: bool = True) -> Mapping:
    arn = "arn:aws:sqs:us-east-1:000000000000:orders"
    return Mapping(UUID, arn, "orders", "resize", enabled=enabled)


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


CHANGES = [
    "triggers/http", "triggers/schedules", "triggers/schedules/toggle",
    "triggers/schedules/delete", "triggers/schedules/edit", "triggers/mappings",
    "triggers/mappings/add", "triggers/mappings/update", "triggers/mappings/delete",
    "triggers/subscriptions", "triggers/subscriptions/add", "triggers/subscriptions/filter",
]  # fmt: skip


@pytest.mark.parametrize("path", CHANGES)
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


def test_a_new_mapping_or_subscription_is_drawn_with_the_alias_it_invokes() -> None:
    live = dataclasses.replace(mapping(), qualifier="live")
    drawn = sources_of(spec(), [], [live], [Subscription(SUBSCRIPTION, "news", "2")])
    assert [(s.kind, s.label) for s in drawn] == [("Queue", "orders → live"), ("Topic", "news → 2")]
    svg = str(diagram.feeds("resize", drawn))
    assert svg.count("<line") == 2 and "orders → live" in svg


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


def test_a_queue_trigger_is_lambdas_create_body_for_the_queue_chosen() -> None:
    form = FormData(
        {"queue": "orders", "batch_size": "25", "window_s": "5", "enabled": "on", "qualifier": ""}
    )
    assert mapping_from(form, "resize", queue_arn) == {
        "EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:orders",
        "FunctionName": "resize",
        "Enabled": True,
        "BatchSize": 25,
        "MaximumBatchingWindowInSeconds": 5,
    }
    live = mapping_from(FormData({"queue": "orders", "qualifier": "live"}), "resize", queue_arn)
    assert live["FunctionName"] == "resize:live" and live["Enabled"] is False
    assert "BatchSize" not in live  # Lambda's default, 10
    made = validation.create(live, mapping_uuid=UUID, now=0.0, region=REGION, account_id=ACCOUNT)
    assert (made.queue, made.qualifier, made.batch_size, made.window_s) == ("orders", "live", 10, 0)


def test_a_queue_trigger_needs_a_queue() -> None:
    with pytest.raises(ValidationFailed) as refused:
        mapping_from(FormData({"queue": " ", "batch_size": "10"}), "resize", queue_arn)
    assert refused.value.field == "queue"


def test_a_mappings_batching_form_changes_only_what_it_was_given() -> None:
    off = {"FunctionResponseTypes": []}  # a checkbox: unticked is off
    assert mapping_changes(FormData({"batch_size": "100", "window_s": "2", "uuid": UUID})) == {
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 2,
        **off,
    }
    assert mapping_changes(FormData({"batch_size": "", "window_s": "7"})) == {
        "MaximumBatchingWindowInSeconds": 7,
        **off,
    }
    # What is not an integer goes on as typed, for Lambda's check to refuse in its words.
    assert mapping_changes(FormData({"batch_size": "2.5"})) == {"BatchSize": "2.5", **off}


# Lambda's refusals of a queue trigger (CreateEventSourceMapping's checks), by form field.
LAMBDA_REFUSALS = [
    ({"queue": "orders", "batch_size": "0"}, "batch_size", "BatchSize must be an integer from 1"),
    ({"queue": "orders", "batch_size": "10001", "window_s": "1"}, "batch_size", "from 1 to 10000"),
    ({"queue": "orders", "batch_size": "ten"}, "batch_size", "must be an integer"),
    ({"queue": "orders", "window_s": "301"}, "window_s", "from 0 to 300"),
    ({"queue": "orders", "window_s": "-1"}, "window_s", "from 0 to 300"),
    ({"queue": "orders", "batch_size": "50", "window_s": "0"}, "window_s",
     "must be at least 1 when BatchSize is greater than 10"),
    ({"queue": "jobs.fifo", "batch_size": "11", "window_s": "1"}, "batch_size",
     "at most 10 for a FIFO queue"),
    ({"queue": "jobs.fifo", "window_s": "5"}, "window_s", "not supported for a FIFO queue"),
    ({"queue": "no such!"}, "queue", "must be an SQS queue ARN"),
    ({"queue": "orders", "qualifier": "not/one"}, "qualifier", "must be a function name"),
]  # fmt: skip


@pytest.mark.parametrize(("typed", "field", "says"), LAMBDA_REFUSALS)
def test_lambdas_refusal_of_a_queue_trigger_is_shown_by_the_field_it_is_about(
    typed: dict[str, str], field: str, says: str
) -> None:
    form = FormData(typed)
    with pytest.raises(ValidationFailed) as refused:
        validation.create(
            mapping_from(form, "resize", queue_arn),
            mapping_uuid=UUID,
            now=0.0,
            region=REGION,
            account_id=ACCOUNT,
        )
    assert says in refused.value.message
    assert refused_at("mapping", form, refused.value) == ("mapping", field)


def test_lambdas_refusal_of_new_batching_is_shown_in_that_mappings_form() -> None:
    form = FormData({"uuid": UUID, "batch_size": "20", "window_s": "0"})
    with pytest.raises(ValidationFailed) as refused:
        validation.update(
            mapping(), mapping_changes(form), now=1.0, region=REGION, account_id=ACCOUNT
        )
    assert refused_at("mapping-edit", form, refused.value) == (f"mapping-{UUID}", "window_s")


@pytest.mark.parametrize(
    ("form_id", "error", "field"),
    [
        ("mapping", FunctionNotFound("Function not found: ...:resize:live"), "qualifier"),
        ("mapping", ResourceConflict("An event source mapping ... already exists"), "queue"),
        ("mapping", MappingNotFound("gone"), ""),
        ("subscribe", TopicNotFound("Topic does not exist"), "topic"),
        ("subscribe", FunctionNotFound("Cannot find alias live of function resize"), "qualifier"),
        ("subscribe", ValidationFailed("Invalid parameter: Invalid protocol type: lambda",
                                       field="Protocol"), "topic"),
        ("subscribe", ValidationFailed("...: FilterPolicy: failed to parse JSON.",
                                       field="FilterPolicy"), "filter_policy"),
        ("subscribe", ValidationFailed("...with different attributes", field="Attributes"),
         "filter_policy"),
        ("subscribe", ValidationFailed("Invalid parameter: Lambda endpoint ARN",
                                       field="Endpoint"), "qualifier"),
        ("subscription-filter", ValidationFailed("Filter policy can not have more than 5 keys",
                                                 field="FilterPolicy"), "filter_policy"),
        ("mappings", ValidationFailed("BatchSize ...", field="BatchSize"), ""),
    ],
)  # fmt: skip
def test_a_refusal_naming_no_field_is_shown_by_the_one_it_is_about(
    form_id: str, error: FaasError, field: str
) -> None:
    form = FormData({"uuid": UUID, "arn": SUBSCRIPTION})
    shown_in, where = refused_at(form_id, form, error)
    assert where == field
    assert shown_in == (
        f"subscription-{SUBSCRIPTION}" if form_id == "subscription-filter" else form_id
    )


def test_subscribing_is_sns_subscribe_of_the_functions_arn_with_its_filter() -> None:
    plain = subscribing(FormData({"topic": "news", "filter_policy": " "}), "resize", PLACE)
    assert plain.topic_arn == "arn:aws:sns:us-east-1:000000000000:news"
    assert plain.endpoint == "arn:aws:lambda:us-east-1:000000000000:function:resize"
    assert (plain.qualifier, plain.attributes) == (None, {})
    policy = '{"kind": ["order"]}'
    form = FormData(
        {"topic": "news", "qualifier": "live", "filter_policy": policy, "filter_scope": SCOPES[1]}
    )
    filtered = subscribing(form, "resize", PLACE)
    assert filtered.endpoint.endswith(":function:resize:live") and filtered.qualifier == "live"
    assert filtered.attributes == {"FilterPolicyScope": "MessageBody", "FilterPolicy": policy}
    with pytest.raises(ValidationFailed) as refused:
        subscribing(FormData({"topic": ""}), "resize", PLACE)
    assert refused.value.field == "topic"


# -- a mapping's filters, partial batch responses and maximum concurrency ---------------

ORDERS = '{"body": {"kind": ["order"]}}'
LARGE = '{"body": {"total": [{"numeric": [">", 100]}]}}'


def test_a_queue_trigger_may_filter_report_failures_and_cap_its_concurrency() -> None:
    form = FormData(
        {
            "queue": "orders",
            "filters": f"{ORDERS}\n\n  {LARGE}  \n",
            "report_failures": "on",
            "max_concurrency": "5",
        }
    )
    body = mapping_from(form, "resize", queue_arn)
    assert body["FilterCriteria"] == {"Filters": [{"Pattern": ORDERS}, {"Pattern": LARGE}]}
    assert body["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert body["ScalingConfig"] == {"MaximumConcurrency": 5}
    made = validation.create(body, mapping_uuid=UUID, now=0.0, region=REGION, account_id=ACCOUNT)
    assert (made.filters, made.report_failures, made.max_concurrency) == ((ORDERS, LARGE), True, 5)
    # Left empty: none of them is asked for (Lambda's defaults)
    plain = mapping_from(
        FormData({"queue": "orders", "filters": " ", "max_concurrency": ""}), "resize", queue_arn
    )
    assert not {"FilterCriteria", "FunctionResponseTypes", "ScalingConfig"} & set(plain)


def test_a_mappings_form_emptied_takes_its_filters_cap_and_partial_batches_away() -> None:
    current = dataclasses.replace(
        mapping(), filters=(ORDERS,), report_failures=True, max_concurrency=5
    )
    form = FormData({"uuid": UUID, "batch_size": "10", "filters": "", "max_concurrency": ""})
    changes = mapping_changes(form)
    assert changes["FilterCriteria"] == {"Filters": []} and changes["ScalingConfig"] == {}
    changed = validation.update(current, changes, now=1.0, region=REGION, account_id=ACCOUNT)
    assert (changed.filters, changed.report_failures, changed.max_concurrency) == ((), False, None)
    # A post without those fields leaves the filters and the cap as they are
    kept = validation.update(
        current, mapping_changes(FormData({"uuid": UUID, "report_failures": "on"})),
        now=1.0, region=REGION, account_id=ACCOUNT,
    )  # fmt: skip
    assert (kept.filters, kept.report_failures, kept.max_concurrency) == ((ORDERS,), True, 5)


def test_a_stored_pattern_is_shown_on_one_line_and_saved_back_the_same() -> None:
    spread = '{\n  "body": {\n    "kind": ["order"]\n  }\n}'
    shown = filter_lines(dataclasses.replace(mapping(), filters=(spread, LARGE)))
    assert shown.splitlines() == ['{"body": {"kind": ["order"]}}', LARGE]
    again = mapping_changes(FormData({"filters": shown}))["FilterCriteria"]["Filters"]
    assert [json.loads(f["Pattern"]) for f in again] == [json.loads(spread), json.loads(LARGE)]


SIX = "\n".join(f'{{"body": {{"n": [{i}]}}}}' for i in range(6))
# Lambda's refusals of a mapping's filters, partial batches and cap, by form field.
OPTION_REFUSALS = [
    ({"filters": "{nope"}, "filters", "FilterCriteria.Filters[0].Pattern is an invalid filter"),
    ({"filters": f"{ORDERS}\n[1, 2]"}, "filters", "must be a non-empty JSON object"),
    ({"filters": '{"body": {"n": []}}'}, "filters", "may not be empty"),
    ({"filters": SIX}, "filters", "must be a list of at most 5 filters"),
    ({"max_concurrency": "1"}, "max_concurrency",
     "ScalingConfig.MaximumConcurrency must be an integer from 2 to 1000"),
    ({"max_concurrency": "1001"}, "max_concurrency", "from 2 to 1000"),
    ({"max_concurrency": "many"}, "max_concurrency", "must be an integer"),
]  # fmt: skip


@pytest.mark.parametrize(("typed", "field", "says"), OPTION_REFUSALS)
def test_lambdas_refusal_of_a_filter_or_cap_is_shown_by_its_field_when_adding_or_changing(
    typed: dict[str, str], field: str, says: str
) -> None:
    added = FormData({"queue": "orders", **typed})
    with pytest.raises(ValidationFailed) as refused:
        validation.create(
            mapping_from(added, "resize", queue_arn),
            mapping_uuid=UUID, now=0.0, region=REGION, account_id=ACCOUNT,
        )  # fmt: skip
    assert says in refused.value.message
    assert refused_at("mapping", added, refused.value) == ("mapping", field)
    changed = FormData({"uuid": UUID, **typed})
    with pytest.raises(ValidationFailed) as refused:
        validation.update(
            mapping(), mapping_changes(changed), now=1.0, region=REGION, account_id=ACCOUNT
        )
    assert refused_at("mapping-edit", changed, refused.value) == (f"mapping-{UUID}", field)


def test_a_refusal_of_the_partial_batch_setting_is_shown_by_its_checkbox() -> None:
    error = ValidationFailed("FunctionResponseTypes must be ...", field="FunctionResponseTypes")
    assert refused_at("mapping", FormData({}), error) == ("mapping", "report_failures")


# -- a schedule's edit ----------------------------------------------------------------


def test_a_schedules_form_asks_for_its_expression_input_and_qualifier() -> None:
    form = FormData(
        {"expression": " cron(0 12 * * ? *) ", "input": '{"a": 1}', "qualifier": "live"}
    )
    assert rule_settings(form) == {
        "expression": "cron(0 12 * * ? *)",
        "input": {"a": 1},
        "qualifier": "live",
    }
    # Emptied: the scheduled event again, on $LATEST
    emptied = rule_settings(FormData({"expression": "rate(1 hour)", "input": "", "qualifier": ""}))
    assert emptied == {"expression": "rate(1 hour)", "input": None, "qualifier": None}
    # The add form asks for the same (its empty fields left out)
    added = schedule_from(FormData({"name": "t", "expression": "rate(1 hour)", "qualifier": "7"}))
    assert added == {"name": "t", "expression": "rate(1 hour)", "qualifier": "7", "enabled": False}


def test_an_edited_rule_replaces_the_list_as_put_schedules_takes_it() -> None:
    (doc,) = rules_doc([rule_view()])
    edited = {**doc, **rule_settings(FormData({"expression": "rate(10 minutes)", "input": "[1]"}))}
    (rule,) = parse_rules([edited], 1_800_000_000, [rule_view().rule], allow_seconds=False)
    assert (rule.name, rule.expression, rule.input, rule.qualifier) == (
        "tick", "rate(10 minutes)", "[1]", None,
    )  # fmt: skip
    assert rule.anchor == 1_800_000_000  # a new expression counts from now


@pytest.mark.parametrize(
    ("typed", "field", "says"),
    [
        ({"expression": "cron(0 12 * * ?)"}, "expression", "at position"),
        ({"expression": "cron(0 25 * * ? *)"}, "expression", "at position 8"),
        ({"expression": "rate(5 parsecs)"}, "expression", "invalid schedule expression"),
        ({"expression": "rate(1 hour)", "qualifier": "not/one"}, "qualifier",
         "qualifier must be $LATEST, a version number or an alias name"),
    ],
)  # fmt: skip
def test_a_refused_schedule_edit_is_shown_in_that_schedules_form_by_its_field(
    typed: dict[str, str], field: str, says: str
) -> None:
    form = FormData({"rule": "tick", **typed})
    (doc,) = rules_doc([rule_view()])
    with pytest.raises(ValidationFailed) as refused:
        parse_rules([{**doc, **rule_settings(form)}], 0, [], allow_seconds=False)
    assert says in refused.value.message
    assert refused_at("schedule-edit", form, refused.value) == ("schedule-tick", field)


def test_a_schedules_input_that_is_not_json_or_a_missing_alias_is_named() -> None:
    form = FormData({"rule": "tick", "expression": "rate(1 hour)", "input": "{"})
    with pytest.raises(ValidationFailed) as refused:
        rule_settings(form)
    assert refused_at("schedule-edit", form, refused.value) == ("schedule-tick", "input")
    missing = FunctionNotFound("Cannot find alias live of function resize")
    assert refused_at("schedule-edit", form, missing) == ("schedule-tick", "qualifier")
    assert refused_at("schedule", form, missing) == ("schedule", "qualifier")


def test_a_saved_schedule_says_when_it_fires_next() -> None:
    assert next_fire(rule_view()) == "it fires next at 2026-12-07 13:05:00 UTC"
    assert next_fire(rule_view(enabled=False)) == "it is off, and fires once switched on"


# -- the page ------------------------------------------------------------------------


def triggers_page(visitor: Any, **shown: Any) -> str:
    current = spec()
    rules = shown.pop("rules", [rule_view()])
    mappings = shown.pop("mappings", [mapping()])
    subscriptions = [Subscription(SUBSCRIPTION, "news", None, '{"kind": ["order"]}')]
    context: dict[str, Any] = {
        "saved": "",
        "form_id": "",
        "errors": {},
        "posted": {},
        "queues": ["jobs.fifo", "orders"],
        "topics": ["alerts", "news"],
        "filter_scopes": SCOPES,
        **shown,
    }
    return page(
        visitor,
        "triggers.html",
        spec=current,
        tab="triggers",
        tab_title="Triggers",
        warm=0,
        rules=rules,
        mappings=mappings,
        filter_lines={m.uuid: filter_lines(m) for m in mappings},
        subscriptions=subscriptions,
        feeds=diagram.feeds(current.name, sources_of(current, rules, mappings, subscriptions)),
        auth_modes=AUTH_MODES,
        payload_formats=PAYLOAD_FORMATS,
        **context,
    )


def test_an_admin_may_change_each_kind_of_trigger() -> None:
    html = triggers_page(ADMIN)
    for path in CHANGES:
        assert f'action="/ui/functions/resize/{path}"' in html, path
    assert "2026-12-07 13:05:00" in html and "2026-12-07 13:10:00" in html
    assert '<svg class="feeds"' in html


def test_an_invoke_key_sees_the_triggers_and_no_form() -> None:
    html = main_part(triggers_page(INVOKER))
    assert "<form" not in html
    assert "rate(5 minutes)" in html and "orders" in html and "news" in html


def test_an_admin_picks_an_existing_queue_and_topic_to_add() -> None:
    html = main_part(triggers_page(ADMIN))
    assert '<option value="orders">orders</option>' in html
    assert '<option value="news">news</option>' in html
    assert 'id="mapping-batch" name="batch_size" type="number" min="1" max="10000"' in html
    assert "Add queue trigger" in html and ">Subscribe<" in html
    # The mapping's batching and the subscription's filter are edited in place.
    assert f'id="mapping-{UUID}-batch"' in html and 'value="10"' in html
    assert "Filter on message attributes:</span> <code>{&#34;kind&#34;: [&#34;order&#34;]}" in html


def test_with_no_queue_or_topic_the_tab_says_how_to_make_one() -> None:
    html = main_part(triggers_page(ADMIN, queues=[], topics=[]))
    assert "No queue exists yet: create one with <code>faas queues create NAME</code>" in html
    assert "No standard topic exists yet" in html
    assert "triggers/mappings/add" not in html and "triggers/subscriptions/add" not in html


def test_a_refused_queue_trigger_shows_the_refusal_by_its_field_with_what_was_typed() -> None:
    html = main_part(
        triggers_page(
            ADMIN,
            form_id="mapping",
            errors={"window_s": "MaximumBatchingWindowInSeconds must be at least 1 when ..."},
            posted={"queue": "orders", "batch_size": "50", "window_s": "0", "qualifier": ""},
        )
    )
    assert 'id="window_s-error" class="error">MaximumBatchingWindowInSeconds must be' in html
    assert (
        'id="mapping-window" name="window_s" type="number" min="0" max="300" required '
        'value="0" aria-invalid="true" aria-describedby="window_s-error"' in html
    )
    assert (
        'id="mapping-batch" name="batch_size" type="number" min="1" max="10000" required '
        'value="50"' in html
    )
    assert '<option value="orders" selected>orders</option>' in html


def test_a_refused_batching_opens_that_mappings_form_with_the_refusal() -> None:
    html = main_part(
        triggers_page(
            ADMIN,
            form_id=f"mapping-{UUID}",
            errors={"batch_size": "BatchSize must be an integer from 1 to 10000"},
            posted={"uuid": UUID, "batch_size": "20000", "window_s": "1"},
        )
    )
    assert "<details open>" in html
    assert (
        f'id="mapping-{UUID}-batch" name="batch_size" type="number" min="1" max="10000" '
        'required value="20000" aria-invalid="true"' in html
    )
    assert 'id="batch_size-error" class="error">BatchSize must be an integer' in html


def test_a_refused_filter_policy_is_shown_under_it() -> None:
    html = main_part(
        triggers_page(
            ADMIN,
            form_id="subscribe",
            errors={"filter_policy": "Invalid parameter: ...: failed to parse JSON."},
            posted={"topic": "alerts", "filter_policy": "{nope"},
        )
    )
    assert 'id="filter_policy-error" class="error">Invalid parameter' in html
    assert ">{nope</textarea>" in html and '<option value="alerts" selected>' in html


def optioned() -> Mapping:
    return dataclasses.replace(
        mapping(), filters=(ORDERS, LARGE), report_failures=True, max_concurrency=5
    )


def test_a_mappings_filters_partial_batches_and_cap_are_shown_to_everyone() -> None:
    for visitor in (ADMIN, INVOKER):
        html = main_part(triggers_page(visitor, mappings=[optioned()]))
        assert "<code>{&#34;body&#34;: {&#34;kind&#34;: [&#34;order&#34;]}}</code><br>" in html
        assert "<td>reported</td>" in html and '<td class="num">5</td>' in html
    plain = main_part(triggers_page(INVOKER))
    assert "none: every message" in plain and "<td>not reported</td>" in plain
    assert '<td class="num">no cap</td>' in plain


def test_a_mappings_form_holds_its_filters_partial_batches_and_cap() -> None:
    html = main_part(triggers_page(ADMIN, mappings=[optioned()]))
    lines = "{&#34;body&#34;: {&#34;kind&#34;: [&#34;order&#34;]}}\n{&#34;body&#34;: {&#34;total"
    assert f'id="mapping-{UUID}-filters" name="filters" rows="2">{lines}' in html
    assert (
        f'id="mapping-{UUID}-concurrency" name="max_concurrency" type="number" min="2" '
        'max="1000" value="5"' in html
    )
    assert 'name="report_failures" value="on" checked> Report batch item failures' in html
    # The add form offers them too, empty
    assert 'id="mapping-filters" name="filters" rows="2"></textarea>' in html
    assert 'id="mapping-concurrency" name="max_concurrency"' in html


def test_a_refused_filter_opens_that_mappings_form_with_what_was_typed() -> None:
    html = main_part(
        triggers_page(
            ADMIN,
            mappings=[optioned()],
            form_id=f"mapping-{UUID}",
            errors={"filters": "FilterCriteria.Filters[0].Pattern is an invalid filter pattern"},
            posted={"uuid": UUID, "filters": "{nope", "max_concurrency": "", "report_failures": ""},
        )
    )
    assert "<details open>" in html
    assert f'id="mapping-{UUID}-filters" name="filters" rows="2" aria-invalid="true"' in html
    assert ">{nope</textarea>" in html
    assert 'id="filters-error" class="error">FilterCriteria.Filters[0]' in html
    # What was typed is shown, not what is stored: no cap, no partial batches
    assert 'max="1000" value=""' in html and 'value="on" checked> Report' not in html


def test_each_schedule_has_its_edit_form_with_what_it_holds() -> None:
    rule = Rule("nightly", "cron(0 2 * * ? *)", '{"a": 1}', True, 1_700_000_000, "live")
    html = main_part(triggers_page(ADMIN, rules=[RuleView(rule, NEXT, None, 0, 0)]))
    assert 'action="/ui/functions/resize/triggers/schedules/edit"' in html
    assert '<input type="hidden" name="rule" value="nightly">' in html
    assert (
        'id="schedule-nightly-expression" name="expression" required autocomplete="off" '
        'value="cron(0 2 * * ? *)"' in html
    )
    assert 'id="schedule-nightly-input" name="input" rows="2">{&#34;a&#34;: 1}</textarea>' in html
    assert (
        'id="schedule-nightly-qualifier" name="qualifier" maxlength="128" autocomplete="off" '
        'value="live"' in html
    )
    assert 'id="schedule-qualifier" name="qualifier"' in html  # and the add form asks for one


def test_a_refused_expression_opens_that_schedules_form_with_the_refusal() -> None:
    says = "invalid schedule expression 'cron(0 25 * * ? *)' at position 8: 25 is out of range"
    html = main_part(
        triggers_page(
            ADMIN,
            form_id="schedule-tick",
            errors={"expression": says},
            posted={"rule": "tick", "expression": "cron(0 25 * * ? *)", "input": ""},
        )
    )
    assert "<details open>" in html
    assert (
        'value="cron(0 25 * * ? *)" aria-invalid="true" aria-describedby="expression-error"' in html
    )
    assert "at position 8: 25 is out of range</p>" in html
