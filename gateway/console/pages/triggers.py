"""The Triggers tab: what invokes a function, drawn and edited.

Four kinds of source, each read from the platform part that keeps it:

- **HTTP**: the function's http config (``/fn/NAME``): exposed or not, whether a
  key is needed, the payload format, its routes; set as ``PUT .../http`` sets it
  (``HttpConfig.from_dict``, then ``platform.functions.set_http_config``);
- **schedules**: the rules with their next fire times (``platform.schedules``,
  which computes them with ``faas.invoke.schedules.cron``); a rule is added,
  switched on or off, or removed by replacing the list, as ``PUT .../schedules``;
- **event source mappings** reading a queue into it (``platform.mappings``):
  added as CreateEventSourceMapping adds one (a queue, batch size, batching
  window, on or off), its batch size and window changed and switched on or off
  as UpdateEventSourceMapping, removed as DeleteEventSourceMapping; Lambda's
  checks (``faas.invoke.mappings.validation``) refuse by the API's field names,
  shown next to the form's;
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
    MappingNotFound,
    ResourceConflict,
    TopicNotFound,
    ValidationFailed,
)
from faas.invoke.http.config import AUTH_MODES, PAYLOAD_FORMATS, HttpConfig
from faas.invoke.mappings.model import Mapping, function_arn
from faas.invoke.schedules.store import RuleView
from faas.models import FunctionSpec
from faas.platform import Platform
from faas.topics import filters as topic_filters
from faas.topics import records
from faas.topics.arns import Place
from gateway.console import diagram
from gateway.console.tab_page import DONE, Forms, Outcome, panel_or_page, view
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints

endpoint = Endpoints(include_in_schema=False)

# Fields of the forms an error is shown next to (any other: above the panel).
FIELDS = {
    "http": ("enabled", "auth", "payload_format"),
    "schedule": ("name", "expression", "input"),
    "mapping": ("queue", "qualifier", "batch_size", "window_s"),
    "mapping-edit": ("batch_size", "window_s"),
    "subscribe": ("topic", "qualifier", "filter_policy", "filter_scope"),
    "subscription-filter": ("filter_policy",),
}
# The Lambda and SNS APIs' names of what the forms ask for: a refusal names the API's.
FORM_FIELDS = {
    "EventSourceArn": "queue",
    "FunctionName": "qualifier",
    "BatchSize": "batch_size",
    "MaximumBatchingWindowInSeconds": "window_s",
    "TopicArn": "topic",
    "Protocol": "topic",  # a FIFO topic delivers to queues only
    "Endpoint": "qualifier",
    "FilterPolicy": "filter_policy",
    "FilterPolicyScope": "filter_scope",
    "Attributes": "filter_policy",  # subscribed already, with another policy
}
# Refusals that name no field, by the one they are about.
ABOUT = {
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
    "topic",
    "filter_policy",
    "filter_scope",
    "uuid",
    "arn",
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
    drawn += [diagram.Source("Queue", _to(m.queue, m.qualifier), m.enabled) for m in mappings]
    drawn += [diagram.Source("Topic", _to(s.topic, s.qualifier)) for s in subscriptions]
    return drawn


def _to(source: str, qualifier: str | None) -> str:
    return f"{source} → {qualifier}" if qualifier else source


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


def schedule_from(form: FormData) -> dict[str, Any]:
    """A new rule from the add form: name, expression, and an optional JSON input."""
    rule: dict[str, Any] = {
        "name": str(form.get("name") or "").strip(),
        "expression": str(form.get("expression") or "").strip(),
        "enabled": form.get("enabled") == "on",
    }
    text = str(form.get("input") or "").strip()
    if text:
        try:
            rule["input"] = json.loads(text)
        except ValueError as exc:
            raise ValidationFailed(f"input is not JSON: {exc}", field="input") from None
    return rule


def _text(form: FormData, key: str) -> str:
    return str(form.get(key) or "").strip()


def _number(form: FormData, key: str) -> int | str | None:
    """A number field: empty is None (unchanged, or Lambda's default); what is not an
    integer is passed on as typed, for the model to refuse in its words."""
    text = _text(form, key)
    try:
        return int(text) if text else None
    except ValueError:
        return text


def mapping_changes(form: FormData) -> dict[str, Any]:
    """UpdateEventSourceMapping's body a mapping's form asks for: its batch size and
    batching window, those given."""
    changes: dict[str, Any] = {}
    for key, field in (("batch_size", "BatchSize"), ("window_s", "MaximumBatchingWindowInSeconds")):
        value = _number(form, key)
        if value is not None:
            changes[field] = value
    return changes


def mapping_from(form: FormData, function: str, queue_arn: Callable[[str], str]) -> dict[str, Any]:
    """CreateEventSourceMapping's body the add form asks for: the queue (by name) read
    into ``function`` (or the version or alias typed), batched so, on or off."""
    queue = _text(form, "queue")
    if not queue:
        raise ValidationFailed("choose the queue to read", field="queue")
    qualifier = _text(form, "qualifier")
    return {
        "EventSourceArn": queue_arn(queue),
        "FunctionName": f"{function}:{qualifier}" if qualifier else function,
        "Enabled": form.get("enabled") == "on",
        **mapping_changes(form),
    }


def subscribing(form: FormData, function: str, place: Place) -> Subscribing:
    """What the subscribe form asks for: ``function`` (or the version or alias typed)
    subscribed to the topic named, with the filter policy given (and its scope)."""
    topic = _text(form, "topic")
    if not topic:
        raise ValidationFailed("choose the topic to subscribe to", field="topic")
    qualifier = _text(form, "qualifier") or None
    policy = _text(form, "filter_policy")
    attributes = {}
    if policy:
        scope = _text(form, "filter_scope") or topic_filters.ATTRIBUTES
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
    field = FORM_FIELDS.get(exc.field or "", exc.field or "")
    if not field:
        field = next((f for kind, f in ABOUT.get(form_id, ()) if isinstance(exc, kind)), "")
    shown_in = form_id
    if form_id == "mapping-edit":
        shown_in = f"mapping-{_text(form, 'uuid')}"
    elif form_id == "subscription-filter":
        shown_in = f"subscription-{_text(form, 'arn')}"
    return shown_in, field if field in FIELDS.get(form_id, ()) else ""


def _typed(form: FormData) -> dict[str, str]:
    """What the forms had, to be shown again with their refusal."""
    posted = {k: str(form.get(k) or "") for k in TYPED}
    posted["enabled"] = "on" if form.get("enabled") == "on" else ""
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
        current = rules_doc(await platform.schedules.get(name))
        await platform.schedules.put(name, [*current, rule])
        return f"Schedule {rule['name']} added."

    return await FORMS.change(request, platform, name, "schedule", act)


async def _rule_change(
    platform: Platform, name: str, form: FormData, change: Callable[[dict[str, Any]], Any]
) -> str:
    """Apply ``change`` to the rule the form names (None from it: remove the rule)."""
    wanted = str(form.get("rule") or "")
    current = rules_doc(await platform.schedules.get(name))
    if not any(r["name"] == wanted for r in current):
        raise ValidationFailed(f"{name} has no schedule {wanted!r}", field="rule")
    changed = [r if r["name"] != wanted else change(dict(r)) for r in current]
    await platform.schedules.put(name, [r for r in changed if r is not None])
    return wanted


@endpoint()
async def toggle_schedule(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        on = form.get("enabled") == "on"
        rule = await _rule_change(platform, name, form, lambda r: {**r, "enabled": on})
        return f"Schedule {rule} is {'on' if on else 'off'}."

    return await FORMS.change(request, platform, name, "rules", act)


@endpoint()
async def delete_schedule(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        rule = await _rule_change(platform, name, form, lambda r: None)
        return f"Schedule {rule} removed."

    return await FORMS.change(request, platform, name, "rules", act)


async def _mapping_of(platform: Platform, name: str, form: FormData) -> Mapping:
    """The mapping the form names by its UUID, if it reads into function ``name``."""
    uuid = _text(form, "uuid")
    mapping = await platform.mappings.get(uuid)
    if mapping.function != name:
        raise MappingNotFound(f"{name} has no event source mapping {uuid}")
    return mapping


@endpoint()
async def add_mapping(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        made = await platform.mappings.create(mapping_from(form, name, platform.queues.arn))
        state = "on" if made.enabled else "off"
        return (
            f"{made.queue} is read into {_to(name, made.qualifier)} in batches of up to "
            f"{made.batch_size} ({state})."
        )

    return await FORMS.change(request, platform, name, "mapping", act)


@endpoint()
async def update_mapping(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        mapping = await _mapping_of(platform, name, form)
        changed = await platform.mappings.update(mapping.uuid, mapping_changes(form))
        return (
            f"The mapping from {changed.queue} takes batches of up to {changed.batch_size}, "
            f"waiting at most {changed.window_s} s."
        )

    return await FORMS.change(request, platform, name, "mapping-edit", act)


@endpoint()
async def toggle_mapping(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        mapping = await _mapping_of(platform, name, form)
        on = form.get("enabled") == "on"
        await platform.mappings.update(mapping.uuid, {"Enabled": on})
        return f"The mapping from {mapping.queue} is {'on' if on else 'off'}."

    return await FORMS.change(request, platform, name, "mappings", act)


@endpoint()
async def delete_mapping(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        mapping = await _mapping_of(platform, name, form)
        await platform.mappings.delete(mapping.uuid)
        return f"The mapping from {mapping.queue} is removed."

    return await FORMS.change(request, platform, name, "mappings", act)


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
            return f"{_to(name, asked.qualifier)} is subscribed to topic {topic} already."
        return f"{_to(name, asked.qualifier)} is subscribed to topic {topic}."

    return await FORMS.change(request, platform, name, "subscribe", act)


async def _subscription_of(platform: Platform, name: str, form: FormData) -> Subscription:
    """The subscription the form names by its ARN, if it delivers to function ``name``."""
    arn = _text(form, "arn")
    mine = {s.arn: s for s in await subscriptions_of(platform, name)}
    if arn not in mine:
        raise ValidationFailed(f"{name} has no subscription {arn}", field="arn")
    return mine[arn]


@endpoint()
async def save_filter(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        subscription = await _subscription_of(platform, name, form)
        policy = _text(form, "filter_policy")  # in the scope it was subscribed with
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
