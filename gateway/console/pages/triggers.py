"""The Triggers tab: what invokes a function, drawn and edited.

Four kinds of source, each read from the platform part that keeps it:

- **HTTP**: the function's http config (``/fn/NAME``): exposed or not, whether a
  key is needed, the payload format, its routes; set as ``PUT .../http`` sets it
  (``HttpConfig.from_dict``, then ``platform.functions.set_http_config``);
- **schedules**: the rules with their next fire times (``platform.schedules``,
  which computes them with ``faas.invoke.schedules.cron``); a rule is added,
  changed (its expression, input, version or alias), switched on or off, or
  removed by replacing the list, as ``PUT .../schedules``;
- **event source mappings** reading a queue into it (``platform.mappings``), with
  their batching, filters, partial batch responses and maximum concurrency; their
  forms and posts are ``triggers_mappings``'s, and Lambda's checks
  (``faas.invoke.mappings.validation``) refuse by the API's field names, shown
  next to the form's (``FORM_FIELDS``);
- **topic subscriptions** whose endpoint is the function (``platform.topics``):
  added as SNS's Subscribe with protocol ``lambda`` (an optional filter policy,
  checked as Subscribe checks it, and version or alias), the filter policy
  changed as SetSubscriptionAttributes, removed as Unsubscribe.

``gateway.console.diagram`` draws them feeding the function. Each form posts to
a path under ``triggers/`` and htmx swaps the tab's panel for the answer, with
"Saved" or the model's refusal next to the field it names. An invoke key sees
it all and no form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from faas.errors import (
    FaasError,
    FunctionNotFound,
    ResourceConflict,
    TopicNotFound,
    ValidationFailed,
)
from faas.invoke.http.config import AUTH_MODES, PAYLOAD_FORMATS, HttpConfig
from faas.invoke.mappings.model import Mapping, function_arn
from faas.invoke.schedules.store import RuleView
from faas.models import QUALIFIER_PATTERN, FunctionSpec
from faas.platform import Platform
from faas.topics import filters as topic_filters
from faas.topics import records
from faas.topics.arns import Place
from gateway.console import diagram
from gateway.console.form_fields import form_text, typed
from gateway.console.tab_page import DONE, Forms, Outcome, panel_or_page, view
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints

endpoint = Endpoints(include_in_schema=False)

# The fields of the add-a-queue-trigger form; a mapping's own form has those from batch_size on.
MAPPING_FIELDS = (
    "queue",
    "qualifier",
    "batch_size",
    "window_s",
    "filters",
    "report_failures",
    "max_concurrency",
)
# Fields of the forms an error is shown next to (any other: above the panel).
FIELDS = {
    "http": ("enabled", "auth", "payload_format"),
    "schedule": ("name", "expression", "input", "qualifier"),
    "schedule-edit": ("expression", "input", "qualifier"),
    "mapping": MAPPING_FIELDS,
    "mapping-edit": MAPPING_FIELDS[2:],
    "subscribe": ("topic", "qualifier", "filter_policy", "filter_scope"),
    "subscription-filter": ("filter_policy",),
}
# The Lambda and SNS APIs' names of what the forms ask for: a refusal names the API's.
FORM_FIELDS = {
    "EventSourceArn": "queue",
    "FunctionName": "qualifier",
    "BatchSize": "batch_size",
    "MaximumBatchingWindowInSeconds": "window_s",
    "FilterCriteria": "filters",
    "FilterCriteria.Filters": "filters",  # and each FilterCriteria.Filters[i].Pattern
    "FunctionResponseTypes": "report_failures",
    "ScalingConfig": "max_concurrency",
    "ScalingConfig.MaximumConcurrency": "max_concurrency",
    "TopicArn": "topic",
    "Protocol": "topic",  # a FIFO topic delivers to queues only
    "Endpoint": "qualifier",
    "FilterPolicy": "filter_policy",
    "FilterPolicyScope": "filter_scope",
    "Attributes": "filter_policy",  # subscribed already, with another policy
}
# Refusals that name no field, by the one they are about.
ABOUT = {
    "schedule": ((FunctionNotFound, "qualifier"),),
    "schedule-edit": ((FunctionNotFound, "qualifier"),),
    "mapping": ((FunctionNotFound, "qualifier"), (ResourceConflict, "queue")),
    "subscribe": ((FunctionNotFound, "qualifier"), (TopicNotFound, "topic")),
}
# What the forms' fields may hold, all of them (shown again with a refusal).
TYPED = (
    "name",
    "expression",
    "input",
    "queue",
    "qualifier",
    "batch_size",
    "window_s",
    "filters",
    "max_concurrency",
    "topic",
    "filter_policy",
    "filter_scope",
    "uuid",
    "arn",
    "rule",
)


@dataclass(frozen=True)
class Subscription:
    """A topic subscription whose endpoint is the function (its filter policy, if any)."""

    arn: str
    topic: str
    qualifier: str | None
    filter_policy: str = ""
    filter_scope: str = topic_filters.ATTRIBUTES


@dataclass(frozen=True)
class Subscribing:
    """What the subscribe form asks of SNS's Subscribe: a topic, the function's ARN
    (qualified or not) as the endpoint, and the attributes (a filter policy)."""

    topic_arn: str
    endpoint: str
    qualifier: str | None
    attributes: dict[str, str]


def sources_of(
    spec: FunctionSpec,
    rules: list[RuleView],
    mappings: list[Mapping],
    subscriptions: list[Subscription],
) -> list[diagram.Source]:
    """What the diagram draws: every source, in the tab's order."""
    drawn: list[diagram.Source] = []
    if spec.http.enabled or spec.http.routes:
        auth = "key" if spec.http.auth == "key" else "open"
        drawn.append(diagram.Source("HTTP", f"/fn/{spec.name} ({auth})", spec.http.enabled))
    drawn += [
        diagram.Source("Schedule", f"{v.rule.name}: {v.rule.expression}", v.rule.enabled)
        for v in rules
    ]
    drawn += [diagram.Source("Queue", shown_to(m.queue, m.qualifier), m.enabled) for m in mappings]
    drawn += [diagram.Source("Topic", shown_to(s.topic, s.qualifier)) for s in subscriptions]
    return drawn


def shown_to(source: str, qualifier: str | None) -> str:
    return f"{source} → {qualifier}" if qualifier else source


def filter_lines(mapping: Mapping) -> str:
    """A mapping's filter patterns as its form's filters field holds them: one a line
    (a pattern given over several lines, as the API may store it, on one)."""
    return "\n".join(_one_line(p) for p in mapping.filters)


def _one_line(pattern: str) -> str:
    try:
        return json.dumps(json.loads(pattern), ensure_ascii=False)
    except ValueError:  # the model stores only JSON; kept as it is
        return " ".join(pattern.split())


async def subscriptions_of(platform: Platform, name: str) -> list[Subscription]:
    """The topic subscriptions that deliver to function ``name`` (any qualifier)."""
    place = platform.topics.place
    found = []
    for listed in await platform.topics.subscriptions():
        if listed.protocol != "lambda":
            continue
        target = place.function(listed.endpoint)
        if target is not None and target[0] == name:
            topic = listed.topic_arn.rsplit(":", 1)[-1]
            found.append(Subscription(listed.arn, topic, target[1]))
    return [await _with_policy(platform, s) for s in found]


async def _with_policy(platform: Platform, subscription: Subscription) -> Subscription:
    try:
        shown = await platform.topics.subscription_attributes(subscription.arn)
    except FaasError:  # unsubscribed while listed
        return subscription
    return replace(
        subscription,
        filter_policy=shown.get("FilterPolicy", ""),
        filter_scope=shown.get("FilterPolicyScope", topic_filters.ATTRIBUTES),
    )


def rules_doc(views: list[RuleView]) -> list[dict[str, Any]]:
    """The function's rules as ``PUT .../schedules`` takes them (anchors kept by the store
    for the rules left unchanged)."""
    return [{k: v for k, v in view.rule.to_dict().items() if k != "anchor"} for view in views]


def rule_settings(form: FormData) -> dict[str, Any]:
    """What a rule's form asks of it besides its name: the expression, the constant input
    (JSON; None: the scheduled event) and the version or alias run (None: $LATEST)."""
    settings: dict[str, Any] = {
        "expression": form_text(form, "expression"),
        "input": None,
        "qualifier": form_text(form, "qualifier") or None,
    }
    text = form_text(form, "input")
    if text:
        try:
            settings["input"] = json.loads(text)
        except ValueError as exc:
            raise ValidationFailed(f"input is not JSON: {exc}", field="input") from None
    return settings


def schedule_from(form: FormData) -> dict[str, Any]:
    """A new rule from the add form: name, expression, an optional JSON input and
    version or alias, on or off."""
    given = {k: v for k, v in rule_settings(form).items() if v is not None}
    return {"name": form_text(form, "name"), **given, "enabled": form.get("enabled") == "on"}


def next_fire(view: RuleView) -> str:
    """When a rule fires next, in words."""
    if not view.rule.enabled:
        return "it is off, and fires once switched on"
    if not view.next_fires:
        return "it never fires again"
    return f"it fires next at {view.next_fires[0].strftime('%Y-%m-%d %H:%M:%S')} UTC"


def subscribing(form: FormData, function: str, place: Place) -> Subscribing:
    """What the subscribe form asks for: ``function`` (or the version or alias typed)
    subscribed to the topic named, with the filter policy given (and its scope)."""
    topic = form_text(form, "topic")
    if not topic:
        raise ValidationFailed("choose the topic to subscribe to", field="topic")
    qualifier = form_text(form, "qualifier") or None
    policy = form_text(form, "filter_policy")
    attributes = {}
    if policy:
        scope = form_text(form, "filter_scope") or topic_filters.ATTRIBUTES
        attributes = {"FilterPolicyScope": scope, "FilterPolicy": policy}
    endpoint = function_arn(place.region, place.account_id, function, qualifier)
    records.check_endpoint(place, records.LAMBDA, endpoint)  # before the qualifier is looked up
    return Subscribing(place.topic(topic), endpoint, qualifier, attributes)


def http_from(form: FormData, current: HttpConfig) -> HttpConfig:
    """The http config the form asks for: the current one with its three fields changed."""
    data = current.to_dict()
    data["enabled"] = form.get("enabled") == "on"
    data["auth"] = str(form.get("auth") or current.auth)
    data["payload_format"] = str(form.get("payload_format") or current.payload_format)
    return HttpConfig.from_dict(data)


async def _render(
    request: Request,
    platform: Platform,
    spec: FunctionSpec,
    outcome: Outcome = DONE,
) -> Response:
    rules = await platform.schedules.get(spec.name)
    mappings = await platform.mappings.list(function_name=spec.name)
    subscriptions = await subscriptions_of(platform, spec.name)
    topics = [arn.rsplit(":", 1)[-1] for arn in await platform.topics.arns()]
    return panel_or_page(
        request,
        platform,
        spec,
        "triggers",
        outcome,
        rules=rules,
        mappings=mappings,
        filter_lines={m.uuid: filter_lines(m) for m in mappings},
        subscriptions=subscriptions,
        feeds=diagram.feeds(spec.name, sources_of(spec, rules, mappings, subscriptions)),
        auth_modes=AUTH_MODES,
        payload_formats=PAYLOAD_FORMATS,
        queues=await platform.queues.names(),
        # A FIFO topic delivers to queues only: not offered.
        topics=sorted(t for t in topics if not t.endswith(".fifo")),
        filter_scopes=topic_filters.SCOPES,
    )


def refused_at(form_id: str, form: FormData, exc: FaasError) -> tuple[str, str]:
    """A refusal is shown in the form posted (a mapping's or subscription's own, by its
    UUID or ARN), next to the field it is about if the form has it."""
    named = exc.field or ""
    field = FORM_FIELDS.get(named.split("[", 1)[0], named)
    if not field:
        field = next((f for kind, f in ABOUT.get(form_id, ()) if isinstance(exc, kind)), "")
    shown_in = form_id
    if form_id == "schedule-edit":
        shown_in = f"schedule-{form_text(form, 'rule')}"
    elif form_id == "mapping-edit":
        shown_in = f"mapping-{form_text(form, 'uuid')}"
    elif form_id == "subscription-filter":
        shown_in = f"subscription-{form_text(form, 'arn')}"
    return shown_in, field if field in FIELDS.get(form_id, ()) else ""


def _typed(form: FormData) -> dict[str, str]:
    """What the forms had, to be shown again with their refusal."""
    posted = typed(form, TYPED)
    for box in ("enabled", "report_failures"):
        posted[box] = "on" if form.get(box) == "on" else ""
    return posted


FORMS = Forms(_render, refused_at, _typed)


@endpoint()
async def page(request: Request, platform: PlatformDep, name: str) -> Response:
    return await view(request, platform, name, _render)


@endpoint()
async def save_http(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        config = http_from(form, spec.http)
        await platform.functions.set_http_config(name, config)
        if not config.enabled:
            return "HTTP access is off."
        needs = "needs a key" if config.auth == "key" else "is open"
        return f"HTTP access is on: /fn/{name} {needs}."

    return await FORMS.change(request, platform, name, "http", act)


@endpoint()
async def add_schedule(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        rule = schedule_from(form)
        await _runs(platform, name, rule.get("qualifier"))
        current = rules_doc(await platform.schedules.get(name))
        views = await platform.schedules.put(name, [*current, rule])
        added = next(v for v in views if v.rule.name == rule["name"])
        when = next_fire(added)
        return f"Schedule {added.rule.name} added. {when[0].upper()}{when[1:]}."

    return await FORMS.change(request, platform, name, "schedule", act)


async def _runs(platform: Platform, name: str, qualifier: str | None) -> None:
    """A rule's version or alias must exist (the API stores any, and a tick would fail);
    one that is no qualifier at all is the rules' check to refuse."""
    if qualifier is not None and QUALIFIER_PATTERN.fullmatch(qualifier):
        await platform.qualifiers.resolve(name, qualifier, draw=False)


async def _rule_change(
    platform: Platform, name: str, form: FormData, change: Callable[[dict[str, Any]], Any]
) -> tuple[str, list[RuleView]]:
    """Apply ``change`` to the rule the form names (None from it: remove the rule); the
    rule's name and the rules now."""
    wanted = str(form.get("rule") or "")
    current = rules_doc(await platform.schedules.get(name))
    if not any(r["name"] == wanted for r in current):
        raise ValidationFailed(f"{name} has no schedule {wanted!r}", field="rule")
    changed = [r if r["name"] != wanted else change(dict(r)) for r in current]
    return wanted, await platform.schedules.put(name, [r for r in changed if r is not None])


@endpoint()
async def edit_schedule(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        settings = rule_settings(form)
        await _runs(platform, name, settings["qualifier"])
        rule, views = await _rule_change(platform, name, form, lambda r: {**r, **settings})
        (now,) = (v for v in views if v.rule.name == rule)
        runs = shown_to(now.rule.expression, now.rule.qualifier)
        return f"Schedule {rule} runs {runs}: {next_fire(now)}."

    return await FORMS.change(request, platform, name, "schedule-edit", act)


@endpoint()
async def toggle_schedule(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        on = form.get("enabled") == "on"
        rule, _ = await _rule_change(platform, name, form, lambda r: {**r, "enabled": on})
        return f"Schedule {rule} is {'on' if on else 'off'}."

    return await FORMS.change(request, platform, name, "rules", act)


@endpoint()
async def delete_schedule(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        rule, _ = await _rule_change(platform, name, form, lambda r: None)
        return f"Schedule {rule} removed."

    return await FORMS.change(request, platform, name, "rules", act)


@endpoint()
async def subscribe(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        asked = subscribing(form, name, platform.topics.place)
        if asked.qualifier is not None:  # SNS takes any; a delivery to none would fail
            await platform.qualifiers.resolve(name, asked.qualifier, draw=False)
        before = {s.arn for s in await subscriptions_of(platform, name)}
        arn = await platform.topics.subscribe(
            asked.topic_arn, records.LAMBDA, asked.endpoint, asked.attributes
        )
        topic = asked.topic_arn.rsplit(":", 1)[-1]
        if arn in before:
            return f"{shown_to(name, asked.qualifier)} is subscribed to topic {topic} already."
        return f"{shown_to(name, asked.qualifier)} is subscribed to topic {topic}."

    return await FORMS.change(request, platform, name, "subscribe", act)


async def _subscription_of(platform: Platform, name: str, form: FormData) -> Subscription:
    """The subscription the form names by its ARN, if it delivers to function ``name``."""
    arn = form_text(form, "arn")
    mine = {s.arn: s for s in await subscriptions_of(platform, name)}
    if arn not in mine:
        raise ValidationFailed(f"{name} has no subscription {arn}", field="arn")
    return mine[arn]


@endpoint()
async def save_filter(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        subscription = await _subscription_of(platform, name, form)
        policy = form_text(form, "filter_policy")  # in the scope it was subscribed with
        await platform.topics.set_subscription_attribute(subscription.arn, "FilterPolicy", policy)
        if not policy:
            return f"Every message of topic {subscription.topic} is delivered."
        return f"Only the messages of topic {subscription.topic} that match are delivered."

    return await FORMS.change(request, platform, name, "subscription-filter", act)


@endpoint()
async def unsubscribe(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        subscription = await _subscription_of(platform, name, form)
        await platform.topics.unsubscribe(subscription.arn)
        return f"Unsubscribed from topic {subscription.topic}."

    return await FORMS.change(request, platform, name, "subscriptions", act)
