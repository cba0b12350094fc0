"""The Test tab: write an event (or load a template or a saved one), invoke, see what happened.

The editor is a textarea checked as JSON in the browser before anything is sent
(``static/test_tab.js``) and again here; a fault is shown next to it. Templates
are ``faas.invoke.samples``' events, as the triggers build them. An invocation
is sync (the result, its status, duration, cold start, and the log lines of
that very invocation: its stored record, ``InvocationResult.log``) or async
(accepted with its request id; its state is polled until it ends, then its
result and log lines are shown).

Saved test events (``faas.catalog.saved_events``) are the function's, shared
by everyone who may see it: an invoke key loads and invokes them; saving and
deleting them is a change, an admin key's. An invoke key may invoke its own
functions here, within its rate, as it may through the API.

The forms post ``multipart/form-data``: an event is sent as typed, not
percent-encoded three times over, so the rows' body limits are the events'.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from faas.catalog.saved_events import MAX_BYTES as SAVED_MAX_BYTES
from faas.catalog.saved_events import MAX_EVENTS, SavedEvents, parse_event
from faas.errors import FaasError, InvocationNotFound, ValidationFailed
from faas.invoke import samples
from faas.invoke.asyncq.records import TERMINAL, Invocation
from faas.models import ASYNC_INVOKE_MAX_BYTES, INVOKE_MAX_BYTES, QUALIFIER_PATTERN
from faas.outcomes import InvocationResult, Outcome
from faas.platform import Platform
from faas.settings import Settings
from gateway.console import render
from gateway.console.form_fields import form_text
from gateway.console.pages.function import changing, failure, function_page, visible
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints
from gateway.errors import status_of

endpoint = Endpoints(include_in_schema=False)

LABELS = {
    "apigw-v2": "API Gateway HTTP API (v2)",
    "apigw-v1": "API Gateway REST API (v1)",
    "sqs": "SQS message batch",
    "sns": "SNS notification",
    "schedule": "EventBridge schedule",
    "custom": "Custom (hello world)",
}
# The templates offered, in the samples' order (a sample without a label fails at import).
TEMPLATES = {kind: LABELS[kind] for kind in samples.EVENTS}
DEFAULT_TEMPLATE = "custom"
# What the result shows of a response, at most (the rest is cut, and said so).
SHOWN_BYTES = 256 * 1024
# A finished async invocation whose log is not in yet is asked again for this long.
LOG_GRACE_S = 5.0
# The fields each form shows an error next to (any other: in the result).
FORM_FIELDS = ("event", "qualifier")
SAVE_FIELDS = ("event", "event_name")
# A posted form: an event and a few short fields, and its body at most (the rows' limits).
FORM_FIELDS_MAX = 8
INVOKE_BODY = INVOKE_MAX_BYTES + 64 * 1024
SAVE_BODY = SAVED_MAX_BYTES + 64 * 1024


def saved_events(platform: Platform) -> SavedEvents:
    """The saved test events, in the platform's Redis (a wrapper of its client: no state)."""
    return SavedEvents(platform.redis)


def template_text(kind: str, settings: Settings) -> str:
    """Sample ``kind`` as the editor shows it (indented JSON), for this server's region."""
    event = samples.event(kind, region=settings.region, account_id=settings.account_id)
    return json.dumps(event, indent=2)


# -- what a result shows (pure) -------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """A document as the page shows it: pretty JSON, or text; cut at ``SHOWN_BYTES``."""

    text: str
    is_json: bool
    cut_bytes: int = 0


def shown(payload: bytes) -> Shown:
    cut = max(0, len(payload) - SHOWN_BYTES)
    try:
        document = json.loads(payload) if not cut else None
    except (ValueError, RecursionError):
        document = None
    else:
        if not cut:
            return Shown(json.dumps(document, indent=2, ensure_ascii=False), True)
    return Shown(payload[:SHOWN_BYTES].decode("utf-8", "replace"), False, cut)


@dataclass(frozen=True)
class SyncResult:
    """A sync invocation as the result panel shows it."""

    request_id: str
    status: str  # "success", "error", "timeout"
    title: str
    error_type: str
    duration_ms: float
    billed_ms: int
    cold_start: bool
    init_ms: float | None
    response: Shown
    log: str


TITLES = {
    Outcome.SUCCESS: ("success", "Succeeded"),
    Outcome.FUNCTION_ERROR: ("error", "Function error"),
    Outcome.TIMEOUT: ("timeout", "Timed out"),
    Outcome.OUT_OF_MEMORY: ("error", "Out of memory"),
}


def sync_result(result: InvocationResult) -> SyncResult:
    status, title = TITLES[result.outcome]
    error = result.error or {}
    payload = result.payload
    if result.outcome is not Outcome.SUCCESS:
        payload = json.dumps(result.error_document()).encode()
    return SyncResult(
        request_id=result.request_id,
        status=status,
        title=title,
        error_type=str(error.get("errorType", "")) if result.outcome is not Outcome.SUCCESS else "",
        duration_ms=result.duration_ms,
        billed_ms=max(1, math.ceil(result.duration_ms)),
        cold_start=result.cold_start,
        init_ms=result.init_duration_ms,
        response=shown(payload),
        log=result.log,
    )


def async_state(invocation: Invocation, log: str | None, now: float) -> dict[str, Any]:
    """What the async panel shows of an invocation, and whether to ask again."""
    done = invocation.state in TERMINAL
    waiting_for_log = (
        done
        and log is None
        and now - (invocation.finished_at or invocation.enqueued_at) < LOG_GRACE_S
    )
    response = None
    if invocation.result is not None:
        response = shown(invocation.result)
    elif invocation.error is not None:
        response = shown(json.dumps(invocation.error).encode())
    return {
        "invocation": invocation,
        "done": done,
        "again": not done or waiting_for_log,
        "succeeded": invocation.state.value == "succeeded",
        "error_type": str((invocation.error or {}).get("errorType", "")),
        "response": response,
        "log": log,
    }


# -- the form -------------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    """The Test form as posted: the event's text, sync or async, a qualifier."""

    event: str
    asynchronous: bool
    qualifier: str | None

    @classmethod
    def of(cls, form: FormData) -> Posted:
        qualifier = form_text(form, "qualifier")
        return cls(
            event=str(form.get("event") or ""),
            asynchronous=form.get("type") == "Event",
            qualifier=qualifier or None,
        )

    def checked(self) -> bytes:
        """The event's bytes, once it is JSON within the invocation type's limit."""
        if self.qualifier is not None and not QUALIFIER_PATTERN.fullmatch(self.qualifier):
            raise ValidationFailed(
                "a qualifier is $LATEST, a version number or an alias name", field="qualifier"
            )
        parse_event(self.event)
        body = self.event.encode()
        limit = ASYNC_INVOKE_MAX_BYTES if self.asynchronous else INVOKE_MAX_BYTES
        if len(body) > limit:
            kind = "an async" if self.asynchronous else "a sync"
            raise ValidationFailed(
                f"the event is {len(body)} bytes; {kind} invocation takes at most {limit}",
                field="event",
            )
        return body


def form_context(
    settings: Settings,
    *,
    event: str | None = None,
    template: str = DEFAULT_TEMPLATE,
    asynchronous: bool = False,
    qualifier: str = "",
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "templates": TEMPLATES,
        "chosen_template": template,
        "event": template_text(template, settings) if event is None else event,
        "asynchronous": asynchronous,
        "qualifier": qualifier,
        "errors": errors or {},
        "loaded": "",
    }


async def saved_context(
    platform: Platform,
    name: str,
    saved: str = "",
    errors: dict[str, str] | None = None,
    event_name: str = "",
) -> dict[str, Any]:
    return {
        "saved_events": await saved_events(platform).list(name),
        "saved_max": MAX_EVENTS,
        "saved_message": saved,
        "saved_errors": errors or {},
        "event_name": event_name,
    }


async def _form(request: Request, max_part: int) -> FormData:
    return await request.form(max_files=0, max_fields=FORM_FIELDS_MAX, max_part_size=max_part)


def _retarget(response: Response, target: str) -> Response:
    """An htmx answer that replaces ``target`` (the form) instead of the result."""
    response.headers["HX-Retarget"] = target
    response.headers["HX-Reswap"] = "outerHTML"
    return response


# -- the endpoints ----------------------------------------------------------------------


@endpoint()
async def page(request: Request, platform: PlatformDep, name: str) -> Response:
    try:
        spec = await visible(request, platform, name)
    except FaasError as exc:
        return failure(request, exc)
    context = {**form_context(platform.settings), **await saved_context(platform, name)}
    return function_page(request, platform, spec, "test.html", "test", **context)


@endpoint()
async def template(
    request: Request,
    platform: PlatformDep,
    name: str,
    template: str = DEFAULT_TEMPLATE,
    saved: str = "",
) -> Response:
    """The editor holding a template (``template``) or a saved event (``saved``)."""
    spec = await visible(request, platform, name)
    errors: dict[str, str] = {}
    if saved:
        found = await saved_events(platform).get(name, saved)
        if found is None:
            errors["event"] = f"no saved event {saved!r}: it was deleted"
            event = ""
        else:
            event = found.event
    elif template in TEMPLATES:
        event = template_text(template, platform.settings)
    else:
        raise ValidationFailed(f"no template {template!r}", field="template")
    return render.render(
        request,
        "_test_editor.html",
        spec=spec,
        event=event,
        errors=errors,
        loaded=saved or TEMPLATES.get(template, ""),
    )


@endpoint()
async def invoke(request: Request, platform: PlatformDep, name: str) -> Response:
    """Invoke with the posted event: the result panel (sync), or its acceptance (async).
    A fault of the event or qualifier answers the form again, the error by its field."""
    visitor = render.visitor_of(request)
    context: dict[str, Any] = {"result": None, "accepted": None, "refused": None}
    posted = Posted.of(await _form(request, INVOKE_MAX_BYTES))
    try:
        spec = await visible(request, platform, name)
        event = posted.checked()
        await platform.access.limit(visitor.key)  # the key's rate, as the API's invoke
        if posted.asynchronous:
            request_id = await platform.invoker.invoke_async(name, event, posted.qualifier)
            invocation = await platform.invoker.get_invocation(request_id)
            context["accepted"] = async_state(invocation, None, time.time())
        else:
            result = await platform.invoker.invoke(name, event, str(uuid.uuid4()), posted.qualifier)
            context["result"] = sync_result(result)
    except FaasError as exc:
        if exc.field not in FORM_FIELDS:
            context["refused"] = {"status": status_of(exc), "message": exc.message}
            return render.render(request, "_test_result.html", status_of(exc), **context)
        fields = form_context(
            platform.settings,
            event=posted.event,
            asynchronous=posted.asynchronous,
            qualifier=posted.qualifier or "",
            errors={str(exc.field): exc.message},
        )
        answer = render.render(request, "_test_form.html", 422, spec=spec, **fields)
        return _retarget(answer, "#test-form")
    return render.render(request, "_test_result.html", spec=spec, **context)


@endpoint()
async def invocation(
    request: Request, platform: PlatformDep, name: str, request_id: str = ""
) -> Response:
    """An async invocation's state (htmx asks again until it is over and its log is in)."""
    spec = await visible(request, platform, name)
    try:
        found = await platform.invoker.get_invocation(request_id)
        if found.function != name:
            raise InvocationNotFound(f"no async invocation with id {request_id!r}")
    except InvocationNotFound:
        return render.render(
            request, "_test_invocation.html", 404, spec=spec, state=None, request_id=request_id
        )
    log = None
    if found.state in TERMINAL:
        records, _ = await platform.functions.logs(
            name, since=found.enqueued_at - 1, request_id=found.request_id, limit=20
        )
        if records:
            log = "".join(r.text for r in records)
    state = async_state(found, log, time.time())
    return render.render(
        request, "_test_invocation.html", spec=spec, state=state, request_id=found.request_id
    )


@endpoint()
async def save_event(request: Request, platform: PlatformDep, name: str) -> Response:
    """Save the editor's event under a name (an admin's change)."""
    changing(request)
    spec = await visible(request, platform, name)
    form = await _form(request, SAVED_MAX_BYTES * 2)  # over it: the store says so
    event_name = form_text(form, "event_name")
    try:
        saved = await saved_events(platform).save(name, event_name, str(form.get("event") or ""))
    except ValidationFailed as exc:
        where = exc.field if exc.field in SAVE_FIELDS else ""
        context = await saved_context(
            platform, name, errors={str(where): exc.message}, event_name=event_name
        )
        return render.render(request, "_test_saved.html", 422, spec=spec, **context)
    context = await saved_context(platform, name, saved=f"Saved {saved.name}.")
    return render.render(request, "_test_saved.html", spec=spec, **context)


@endpoint()
async def delete_event(request: Request, platform: PlatformDep, name: str) -> Response:
    """Delete a saved event (an admin's change)."""
    changing(request)
    spec = await visible(request, platform, name)
    form = await request.form(max_files=0, max_fields=FORM_FIELDS_MAX)
    event_name = str(form.get("event_name") or "")
    gone = await saved_events(platform).delete(name, event_name)
    message = f"Deleted {event_name}." if gone else f"{event_name} was deleted already."
    context = await saved_context(platform, name, saved=message)
    return render.render(request, "_test_saved.html", spec=spec, **context)
