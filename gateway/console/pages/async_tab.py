"""The Async tab: a function's recent async events, its dead letters, its async config.

Recent events are the function's last ``RECENT_MAX`` request ids, pushed by the
queue's enqueue scripts (``platform.queue.recent``), each shown with its record:
state, attempts, times, and the error of its last attempt. A record lapses
``FAAS_RESULT_TTL_S`` after it ends and is then left out. While one is not
over, the lists refresh themselves every few seconds (htmx polls the panel and
swaps in its lists alone, so that the config form keeps what is being typed).

Dead letters are what ``/v1/functions/NAME/dead-letters`` lists, redriven or
deleted one at a time or all at once through ``platform.dead_letters``, as
the API does.

The async config (retries, maximum age, backoff, destinations) is shown, and an
admin edits it as the AWS console's "Asynchronous invocation" form does: retry
attempts, maximum event age, a function on success and one on failure. The form
is read into ``PUT /v1/functions/NAME/async-config``'s body and parsed by what
parses that (``AsyncConfig.from_dict``), then stored by what both that and the
Lambda API's PutFunctionEventInvokeConfig call
(``platform.functions.set_async_config``, which checks that a destination
exists): the same values are taken and refused, by the same field names, and
boto3's get_function_event_invoke_config reads what was saved. The backoffs,
which the form has not (nor has Lambda), are kept. **Remove** does what
DeleteFunctionEventInvokeConfig does: Lambda's defaults again, marked as never set.

An invoke key sees the lists and the config and no form; its posts get 403.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from faas.errors import FaasError, InvocationNotFound, ValidationFailed
from faas.invoke.asyncq.records import Invocation, State
from faas.invoke.asyncq.scripts import RECENT_MAX
from faas.models import AsyncConfig, FunctionSpec
from faas.platform import Platform
from gateway.api.aws_lambda.event_invoke import has_event_invoke_config
from gateway.api.aws_lambda.requests import without_event_invoke_config
from gateway.console import render
from gateway.console.form_fields import form_text, typed
from gateway.console.pages.function import changing, visible
from gateway.console.pages.functions import whole_number
from gateway.console.tab_page import DONE, Forms, Outcome, panel_or_page, view
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints

endpoint = Endpoints(include_in_schema=False)

# Dead letters shown on the tab (the oldest first, as the API pages them).
DEAD_SHOWN = 100
# How often the panel refreshes itself while an event is not over (seconds).
POLL_S = 2
# The config form's fields: the model's names (its refusals name them), as /v1 spells them.
CONFIG_FIELDS = ("max_retries", "max_event_age_s", "on_success", "on_failure")


def error_line(invocation: Invocation) -> str:
    """An event's last error as one line: its type and message (or why it ended)."""
    error = invocation.error or {}
    kind = str(error.get("errorType") or invocation.reason or "")
    message = str(error.get("errorMessage") or "")
    return f"{kind}: {message}" if kind and message else kind or message


def payload_text(raw: bytes | None, limit: int = 2000) -> str:
    """An event's JSON as text for a <pre>, cut at ``limit`` characters."""
    if raw is None:
        return ""
    text = raw.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + " …"


def config_from(form: FormData, current: AsyncConfig) -> AsyncConfig:
    """The config the form asks for, as ``PUT /v1/functions/NAME/async-config`` would get
    it (a destination ``{"function": NAME}``, none if blank) and parsed by the same
    ``AsyncConfig.from_dict``; ``current``'s backoffs kept. Raises ``ValidationFailed``
    naming the field."""
    asked: dict[str, object] = {
        "max_retries": whole_number(form, "max_retries", None),
        "max_event_age_s": whole_number(form, "max_event_age_s", None),
        "backoff_base_s": current.backoff_base_s,
        "backoff_max_s": current.backoff_max_s,
    }
    for key in ("on_success", "on_failure"):
        target = form_text(form, key)
        asked[key] = {"function": target} if target else None
    return AsyncConfig.from_dict(asked)


def destinations(names: list[str], spec: FunctionSpec) -> list[str]:
    """The functions a destination may be chosen from, by name: ``names`` but the function
    itself (its own destination would invoke it again after every event); and what its
    config names now (set through the API, or deleted since), so that the form shows what is."""
    current = {spec.async_config.on_success, spec.async_config.on_failure} - {None}
    return sorted({n for n in names if n != spec.name} | {str(n) for n in current})


async def _render(
    request: Request,
    platform: Platform,
    spec: FunctionSpec,
    outcome: Outcome = DONE,
) -> Response:
    recent = await platform.queue.recent(spec.name)
    total, dead = await platform.dead_letters.page(spec.name, 0, DEAD_SHOWN)
    visitor = render.visitor_of(request)
    targets: list[str] = []
    if visitor.may_change:
        names = [s.name for s in await platform.functions.list() if visitor.may_see(s.name)]
        targets = destinations(names, spec)
    return panel_or_page(
        request,
        platform,
        spec,
        "async",
        outcome,
        recent=recent,
        recent_max=RECENT_MAX,
        dead=dead,
        dead_total=total,
        config=spec.async_config,
        configured=has_event_invoke_config(spec.async_config),
        targets=targets,
        busy=any(not i.terminal for i in recent),
        poll_s=POLL_S,
        error_line=error_line,
        payload_text=payload_text,
        dead_lettered=State.DEAD_LETTERED.value,
    )


@endpoint()
async def page(request: Request, platform: PlatformDep, name: str) -> Response:
    return await view(request, platform, name, _render)


async def _chosen(request: Request) -> str | None:
    """The dead letter a form names (``id``), or None for every one (``all``)."""
    form = await request.form(max_files=0, max_fields=5)
    if form.get("all"):
        return None
    chosen = form_text(form, "id")
    if not chosen:
        raise ValidationFailed("choose a dead letter, or all of them", field="id")
    return chosen


@endpoint()
async def redrive(request: Request, platform: PlatformDep, name: str) -> Response:
    """Queue one dead letter again, or all, with fresh attempts."""
    changing(request)
    spec = await visible(request, platform, name)
    chosen = await _chosen(request)
    queued = await platform.dead_letters.redrive(name, None if chosen is None else [chosen])
    if chosen is not None and not queued:
        return await _render(request, platform, spec, _gone(chosen))
    saved = f"Redriven: {len(queued)} event{'s' if len(queued) != 1 else ''} queued again."
    return await _render(request, platform, spec, Outcome(saved=saved))


@endpoint()
async def delete(request: Request, platform: PlatformDep, name: str) -> Response:
    """Drop one dead letter for good, or all of them."""
    changing(request)
    spec = await visible(request, platform, name)
    chosen = await _chosen(request)
    if chosen is not None:
        doomed = [chosen]
    else:
        total, _ = await platform.dead_letters.page(name, 0, 1)
        _, every = await platform.dead_letters.page(name, 0, max(total, 1))
        doomed = [i.request_id for i in every]
    deleted = 0
    for request_id in doomed:
        try:
            await platform.dead_letters.delete(name, request_id)
            deleted += 1
        except InvocationNotFound:
            if chosen is not None:
                return await _render(request, platform, spec, _gone(chosen))
    saved = f"Deleted {deleted} dead letter{'s' if deleted != 1 else ''}."
    return await _render(request, platform, spec, Outcome(saved=saved))


def _gone(chosen: str) -> Outcome:
    """A dead letter redriven or deleted meanwhile (by another tab or the API): 404."""
    return Outcome(404, errors={"": f"{chosen} is no longer a dead letter."})


def _refused_at(form_id: str, form: FormData, exc: FaasError) -> tuple[str, str]:
    """A refusal of the config form is shown by the field it names (else above the panel)."""
    return form_id, exc.field if exc.field in CONFIG_FIELDS else ""


def _typed(form: FormData) -> dict[str, str]:
    return typed(form, CONFIG_FIELDS)


FORMS = Forms(_render, _refused_at, _typed)


@endpoint()
async def save_config(request: Request, platform: PlatformDep, name: str) -> Response:
    """Put the config the form asks for, as ``PUT /v1/.../async-config`` puts it."""

    async def act(form: FormData, spec: FunctionSpec) -> str:
        await platform.functions.set_async_config(name, config_from(form, spec.async_config))
        return "Saved."

    return await FORMS.change(request, platform, name, "config", act)


@endpoint()
async def remove_config(request: Request, platform: PlatformDep, name: str) -> Response:
    """Back to Lambda's defaults, as DeleteFunctionEventInvokeConfig does."""

    async def act(form: FormData, spec: FunctionSpec) -> str:
        if not has_event_invoke_config(spec.async_config):
            return "No async configuration was set: the defaults apply."
        reset = without_event_invoke_config(spec.async_config)
        await platform.functions.set_async_config(name, reset, configured=False)
        return "Removed: the defaults apply again."

    return await FORMS.change(request, platform, name, "config", act)
