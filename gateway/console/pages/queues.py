"""The Queues and topics page: every SQS-compatible queue and SNS-compatible topic.

A queue's line: its messages visible, in flight and delayed, the age of its
oldest (``platform.queues.depths``, one pipeline for all, what ``/metrics``
reads), its dead-letter queue and after how many receives (its RedrivePolicy),
the queues that send their dead letters to it, and the event source mappings
reading it into functions (``platform.mappings``). A topic's line: its
subscriptions, by protocol (``platform.topics``). A form sends a test message to
a queue, as SendMessage does (a FIFO queue needs a group id).

Only an admin key sees this page (an invoke key gets 403 and no link to it):
queues and topics are the account's, not a function's.
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from faas.errors import FaasError, Forbidden, ValidationFailed
from faas.platform import Platform
from faas.queues import attributes
from faas.queues.model import is_fifo
from gateway.console import render
from gateway.console.form_fields import typed
from gateway.console.pages.function import changing, failure, is_htmx
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints
from gateway.errors import status_of

endpoint = Endpoints(include_in_schema=False)

SEND_FIELDS = ("queue", "body", "group_id")
BODY_MAX = 262144
# The send form's post: a body of BODY_MAX bytes, form-encoded (up to 3 bytes each), and more.
SEND_BODY = 3 * BODY_MAX + (1 << 16)


@dataclass(frozen=True)
class QueueRow:
    """A queue as the page shows it."""

    name: str
    fifo: bool
    visible: int
    in_flight: int
    delayed: int
    oldest_age_s: float
    dead_letter_queue: str | None = None
    max_receives: int | None = None
    dead_letter_sources: tuple[str, ...] = ()
    mapped_to: tuple[tuple[str, bool], ...] = ()  # (function, enabled)


@dataclass(frozen=True)
class TopicRow:
    name: str
    subscriptions: int
    by_protocol: dict[str, int] = field(default_factory=dict)


def age(seconds: float) -> str:
    """An age as its largest whole unit ("3 min", "45 s"; "—" for none)."""
    if seconds <= 0:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


async def queue_rows(platform: Platform) -> list[QueueRow]:
    depths = await platform.queues.depths()
    mapped: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for mapping in await platform.mappings.list():
        mapped[mapping.queue].append((mapping.function, mapping.enabled))
    redrives: dict[str, attributes.Redrive | None] = {}
    for queue in await platform.queues.list():
        try:
            redrives[queue.name] = attributes.parse_redrive(
                queue.attributes.get(attributes.REDRIVE, "")
            )
        except FaasError:
            redrives[queue.name] = None
    sources: dict[str, list[str]] = defaultdict(list)
    for name, redrive in redrives.items():
        if redrive is not None:
            sources[redrive.dead_letter_queue].append(name)
    rows = []
    for name, (visible, in_flight, delayed, oldest) in sorted(depths.items()):
        redrive = redrives.get(name)
        rows.append(
            QueueRow(
                name,
                is_fifo(name),
                visible,
                in_flight,
                delayed,
                oldest,
                redrive.dead_letter_queue if redrive else None,
                redrive.max_receive_count if redrive else None,
                tuple(sorted(sources.get(name, ()))),
                tuple(sorted(mapped.get(name, ()))),
            )
        )
    return rows


async def topic_rows(platform: Platform) -> list[TopicRow]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for listed in await platform.topics.subscriptions():
        counts[listed.topic_arn][listed.protocol] += 1
    rows = []
    for arn in await platform.topics.arns():
        by_protocol = counts.get(arn, Counter())
        rows.append(
            TopicRow(
                arn.rsplit(":", 1)[-1], sum(by_protocol.values()), dict(sorted(by_protocol.items()))
            )
        )
    return rows


def admin_only(request: Request) -> None:
    """The page is the account's: an invoke key gets 403 (``changing`` refuses it)."""
    changing(request)


async def _render(
    request: Request,
    platform: Platform,
    *,
    status: int = 200,
    saved: str = "",
    errors: dict[str, str] | None = None,
    posted: dict[str, str] | None = None,
) -> Response:
    queues = await queue_rows(platform)
    context: dict[str, Any] = {
        "queues": queues,
        "topics": await topic_rows(platform),
        "age": age,
        "saved": saved,
        "errors": errors or {},
        "posted": posted or {},
    }
    if is_htmx(request):
        return render.render(request, "_queues_panel.html", status, **context)
    return render.render(request, "queues.html", status, section="queues", **context)


@endpoint()
async def page(request: Request, platform: PlatformDep) -> Response:
    try:
        admin_only(request)
    except Forbidden as exc:
        return failure(request, exc)
    return await _render(request, platform)


@endpoint()
async def send(request: Request, platform: PlatformDep) -> Response:
    """A test message, as SendMessage sends it; its id shown, or the refusal by its field."""
    admin_only(request)
    form = await request.form(max_files=0, max_fields=6)
    posted = typed(form, SEND_FIELDS)
    try:
        name = posted["queue"].strip()
        if not name:
            raise ValidationFailed("choose a queue", field="queue")
        body = posted["body"]
        if not body:
            raise ValidationFailed("the message body may not be empty", field="body")
        if len(body.encode()) > BODY_MAX:
            raise ValidationFailed(f"the message body is over {BODY_MAX} bytes", field="body")
        fifo = is_fifo(name)
        group = posted["group_id"].strip() or None
        if fifo and group is None:
            raise ValidationFailed("a FIFO queue needs a message group id", field="group_id")
        sent = await platform.queues.send(
            name,
            body,
            group_id=group if fifo else None,
            dedup_id=_dedup_id() if fifo else None,
        )
    except FaasError as exc:
        status = status_of(exc)
        if status >= 500:
            raise
        where = {"QueueUrl": "queue", "QueueName": "queue", "MessageBody": "body"}.get(
            exc.field or "", exc.field or ""
        )
        where = where if where in SEND_FIELDS else ""
        return await _render(
            request, platform, status=status, errors={where: exc.message}, posted=posted
        )
    return await _render(
        request,
        platform,
        saved=f"Sent to {name}: message {sent.message_id}.",
        posted={"queue": name, "body": "", "group_id": posted["group_id"]},
    )


def _dedup_id() -> str:
    """A FIFO test message's deduplication id: a fresh one, so each send is a new message."""
    return secrets.token_hex(16)
