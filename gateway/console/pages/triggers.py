"""The Triggers tab: what invokes a function, drawn and edited.

Four kinds of source, each read from the platform part that keeps it:

- **HTTP**: the function's http config (``/fn/NAME``): exposed or not, whether a
  key is needed, the payload format, its routes; set as ``PUT .../http`` sets it
  (``HttpConfig.from_dict``, then ``platform.functions.set_http_config``);
- **schedules**: the rules with their next fire times (``platform.schedules``,
  which computes them with ``faas.invoke.schedules.cron``); a rule is added,
  switched on or off, or removed by replacing the list, as ``PUT .../schedules``;
- **event source mappings** reading a queue into it (``platform.mappings``):
  switched on or off as UpdateEventSourceMapping's ``Enabled``;
- **topic subscriptions** whose endpoint is the function (``platform.topics``):
  removed as Unsubscribe does.

``gateway.console.diagram`` draws them feeding the function. Each form posts to
a path under ``triggers/`` and htmx swaps the tab's panel for the answer, with
"Saved" or the model's refusal next to the field it names. An invoke key sees
it all and no form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from faas.errors import FaasError, MappingNotFound, ValidationFailed
from faas.invoke.http.config import AUTH_MODES, PAYLOAD_FORMATS, HttpConfig
from faas.invoke.mappings.model import Mapping
from faas.invoke.schedules.store import RuleView
from faas.models import FunctionSpec
from faas.platform import Platform
from gateway.console import diagram
from gateway.console.tab_page import DONE, Forms, Outcome, panel_or_page, view
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints

endpoint = Endpoints(include_in_schema=False)

# Fields of the forms an error is shown next to (any other: above the panel).
FIELDS = {
    "http": ("enabled", "auth", "payload_format"),
    "schedule": ("name", "expression", "input"),
}


@dataclass(frozen=True)
class Subscription:
    """A topic subscription whose endpoint is the function."""

    arn: str
    topic: str
    qualifier: str | None


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
    drawn += [diagram.Source("Queue", m.queue, m.enabled) for m in mappings]
    drawn += [diagram.Source("Topic", s.topic) for s in subscriptions]
    return drawn


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
    return found


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
    )


def _refused_at(form_id: str, form: FormData, exc: FaasError) -> tuple[str, str]:
    """A refusal is shown in the form posted, by its field if the form has it."""
    return form_id, exc.field if exc.field and exc.field in FIELDS.get(form_id, ()) else ""


def _typed(form: FormData) -> dict[str, str]:
    """What the add-schedule form had (the only form with fields to type in)."""
    posted = {k: str(form.get(k) or "") for k in ("name", "expression", "input")}
    posted["enabled"] = "on" if form.get("enabled") == "on" else ""
    return posted


FORMS = Forms(_render, _refused_at, _typed)


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


@endpoint()
async def toggle_mapping(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        uuid = str(form.get("uuid") or "")
        mapping = await platform.mappings.get(uuid)
        if mapping.function != name:
            raise MappingNotFound(f"{name} has no event source mapping {uuid}")
        on = form.get("enabled") == "on"
        await platform.mappings.update(mapping.uuid, {"Enabled": on})
        return f"The mapping from {mapping.queue} is {'on' if on else 'off'}."

    return await FORMS.change(request, platform, name, "mappings", act)


@endpoint()
async def unsubscribe(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        arn = str(form.get("arn") or "")
        mine = {s.arn: s for s in await subscriptions_of(platform, name)}
        if arn not in mine:
            raise ValidationFailed(f"{name} has no subscription {arn}", field="arn")
        await platform.topics.unsubscribe(arn)
        return f"Unsubscribed from topic {mine[arn].topic}."

    return await FORMS.change(request, platform, name, "subscriptions", act)
