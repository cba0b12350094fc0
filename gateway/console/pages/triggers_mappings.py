"""The Triggers tab's queue triggers: their forms read into Lambda's bodies, and their posts.

A queue trigger (an event source mapping) is added as CreateEventSourceMapping
adds one and changed as UpdateEventSourceMapping changes it, through
``platform.mappings``: the forms only translate what was typed into the API's
fields (``BatchSize``, ``MaximumBatchingWindowInSeconds``, ``FilterCriteria``,
``FunctionResponseTypes``, ``ScalingConfig``), and ``faas.invoke.mappings.validation``
refuses by those names, which the tab shows by its own (``triggers.FORM_FIELDS``).

Filter patterns are typed one a line (a pattern is one JSON object), as the panel
shows a mapping's (``triggers.filter_lines``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from faas.errors import MappingNotFound, ValidationFailed
from faas.invoke.mappings.model import REPORT_BATCH_ITEM_FAILURES, Mapping
from faas.models import FunctionSpec
from faas.platform import Platform
from gateway.console.form_fields import form_text
from gateway.console.pages.triggers import FORMS, shown_to
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints

endpoint = Endpoints(include_in_schema=False)


def _number(form: FormData, key: str) -> int | str | None:
    """A number field: empty is None (unchanged, or Lambda's default); what is not an
    integer is passed on as typed, for the model to refuse in its words."""
    text = form_text(form, key)
    try:
        return int(text) if text else None
    except ValueError:
        return text


def patterns_typed(text: str) -> list[str]:
    """The filter patterns in the filters field: one a line, blank lines skipped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def mapping_changes(form: FormData) -> dict[str, Any]:
    """UpdateEventSourceMapping's body a mapping's form asks for: its batch size and
    batching window (those given), its filters and maximum concurrency (when the form
    has those fields; empty: none) and whether it reports batch item failures."""
    changes: dict[str, Any] = {}
    for key, field in (("batch_size", "BatchSize"), ("window_s", "MaximumBatchingWindowInSeconds")):
        value = _number(form, key)
        if value is not None:
            changes[field] = value
    if "filters" in form:
        patterns = patterns_typed(str(form.get("filters") or ""))
        changes["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in patterns]}
    report = form.get("report_failures") == "on"
    changes["FunctionResponseTypes"] = [REPORT_BATCH_ITEM_FAILURES] if report else []
    if "max_concurrency" in form:
        most = _number(form, "max_concurrency")
        changes["ScalingConfig"] = {} if most is None else {"MaximumConcurrency": most}
    return changes


def mapping_from(form: FormData, function: str, queue_arn: Callable[[str], str]) -> dict[str, Any]:
    """CreateEventSourceMapping's body the add form asks for: the queue (by name) read
    into ``function`` (or the version or alias typed), batched, filtered and capped so,
    on or off."""
    queue = form_text(form, "queue")
    if not queue:
        raise ValidationFailed("choose the queue to read", field="queue")
    qualifier = form_text(form, "qualifier")
    body = {
        "EventSourceArn": queue_arn(queue),
        "FunctionName": f"{function}:{qualifier}" if qualifier else function,
        "Enabled": form.get("enabled") == "on",
        **mapping_changes(form),
    }
    # Lambda's defaults need not be asked for: no filter, no cap, no partial batches.
    if body.get("FilterCriteria") == {"Filters": []}:
        del body["FilterCriteria"]
    if body.get("ScalingConfig") == {}:
        del body["ScalingConfig"]
    if body["FunctionResponseTypes"] == []:
        del body["FunctionResponseTypes"]
    return body


def settled(mapping: Mapping) -> str:
    """What a mapping does besides batching, in words ("" when nothing)."""
    said = []
    if mapping.filters:
        count = len(mapping.filters)
        said.append(f"{count} filter{'s' if count > 1 else ''}")
    if mapping.report_failures:
        said.append("batch item failures reported")
    if mapping.max_concurrency is not None:
        said.append(f"at most {mapping.max_concurrency} at once")
    return f" ({', '.join(said)})" if said else ""


async def _mapping_of(platform: Platform, name: str, form: FormData) -> Mapping:
    """The mapping the form names by its UUID, if it reads into function ``name``."""
    uuid = form_text(form, "uuid")
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
            f"{made.queue} is read into {shown_to(name, made.qualifier)} in batches of up to "
            f"{made.batch_size}{settled(made)} ({state})."
        )

    return await FORMS.change(request, platform, name, "mapping", act)


@endpoint()
async def update_mapping(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        mapping = await _mapping_of(platform, name, form)
        changed = await platform.mappings.update(mapping.uuid, mapping_changes(form))
        return (
            f"The mapping from {changed.queue} takes batches of up to {changed.batch_size}, "
            f"waiting at most {changed.window_s} s{settled(changed)}."
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
