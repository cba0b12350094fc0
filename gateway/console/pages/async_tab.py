"""The Async tab: a function's recent async events, its dead letters, its async config.

Recent events are the function's last ``RECENT_MAX`` request ids, pushed by the
queue's enqueue scripts (``platform.queue.recent``), each shown with its record:
state, attempts, times, and the error of its last attempt. A record lapses
``FAAS_RESULT_TTL_S`` after it ends and is then left out. While one is not
over, the list refreshes itself every few seconds (htmx polls the panel).

Dead letters are what ``/v1/functions/NAME/dead-letters`` lists, redriven or
deleted one at a time or all at once through ``platform.dead_letters``, as
the API does. The async config (retries, maximum age, backoff, destinations)
is shown. An invoke key sees the lists and no button; its posts get 403.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from faas.errors import InvocationNotFound, ValidationFailed
from faas.invoke.asyncq.records import Invocation, State
from faas.invoke.asyncq.scripts import RECENT_MAX
from faas.models import FunctionSpec
from faas.platform import Platform
from gateway.console.pages.function import changing, visible
from gateway.console.tab_page import DONE, Outcome, panel_or_page, view
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints

endpoint = Endpoints(include_in_schema=False)

# Dead letters shown on the tab (the oldest first, as the API pages them).
DEAD_SHOWN = 100
# How often the panel refreshes itself while an event is not over (seconds).
POLL_S = 2


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


async def _render(
    request: Request,
    platform: Platform,
    spec: FunctionSpec,
    outcome: Outcome = DONE,
) -> Response:
    recent = await platform.queue.recent(spec.name)
    total, dead = await platform.dead_letters.page(spec.name, 0, DEAD_SHOWN)
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
    chosen = str(form.get("id") or "").strip()
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
