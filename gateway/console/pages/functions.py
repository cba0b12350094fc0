"""The functions list (searchable, paged) and the form that creates a function.

The list reads the registry's specs (cached in the process: 1,000 functions
cost a set's members from Redis, no spec read) and filters and pages them
here; only the page's rows get statistics (``platform.stats``, per-minute
roll-ups, cluster-wide: one pipelined read for the page's names) and warm counts.

Creating uploads the zip as multipart through htmx, which reports the upload's
progress (``console.js`` moves the form's progress bar); the model's own
validation answers, its message shown next to the field it names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from faas.errors import FaasError, FunctionExists, ValidationFailed
from faas.models import (
    DEFAULT_RUNTIME,
    MEMORY_MAX_MB,
    MEMORY_MIN_MB,
    RUNTIMES,
    TIMEOUT_MAX_S,
    FunctionConfig,
)
from faas.platform import Platform
from gateway.api.v1.uploads import save_upload, temp_path
from gateway.console import render
from gateway.console.form_fields import form_text, typed
from gateway.console.pages.function import changing, go_to, visible, warm_here
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints
from gateway.errors import status_of

endpoint = Endpoints(include_in_schema=False)

PAGE_SIZE = 50
CREATE_FIELDS = ("name", "runtime", "handler", "memory_mb", "timeout_s", "code")


@dataclass
class Row:
    """One function's line in the list."""

    name: str
    runtime: str
    updated_at: float
    warm: int
    invocations: int | None = None
    errors: int | None = None
    throttles: int | None = None
    p50_ms: float | None = None
    sparkline: list[int] = field(default_factory=list)


async def rows_page(
    platform: Platform, visitor_may_see: Any, q: str, page: int
) -> tuple[list[Row], int, int]:
    """The rows of page ``page`` of the functions whose name holds ``q``, the number of
    those functions, and the number of pages."""
    needle = q.lower()
    specs = [
        s
        for s in await platform.functions.list()
        if needle in s.name.lower() and visitor_may_see(s.name)
    ]
    pages = max(1, math.ceil(len(specs) / PAGE_SIZE))
    page = min(max(1, page), pages)
    shown = specs[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    rows = [
        Row(s.name, s.config.runtime or "image", s.updated_at, warm_here(platform, s.name))
        for s in shown
    ]
    if rows:
        summaries = await platform.stats.summaries([r.name for r in rows])
        for row in rows:
            summary = summaries.get(row.name)
            if summary is not None:
                row.invocations = summary.invocations
                row.errors = summary.errors
                row.throttles = summary.throttles
                row.p50_ms = summary.p50_ms
                row.sparkline = list(summary.sparkline)
    return rows, len(specs), pages


@endpoint()
async def home() -> Response:
    return RedirectResponse("/ui/functions", status_code=303)


def _page_number(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and len(raw) < 7 else 1


@endpoint()
async def list_page(request: Request, platform: PlatformDep) -> Response:
    visitor = render.visitor_of(request)
    q = (request.query_params.get("q") or "").strip()[:64]
    page = _page_number(request.query_params.get("page"))
    rows, total, pages = await rows_page(platform, visitor.may_see, q, page)
    return render.render(
        request,
        "functions.html",
        section="functions",
        q=q,
        rows=rows,
        total=total,
        page=min(page, pages),
        pages=pages,
    )


def _create_context(values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "runtimes": RUNTIMES,
        "memory_min": MEMORY_MIN_MB,
        "memory_max": MEMORY_MAX_MB,
        "timeout_max": TIMEOUT_MAX_S,
    }


DEFAULTS = {
    "name": "",
    "runtime": DEFAULT_RUNTIME,
    "handler": "app.handler",
    "memory_mb": 128,
    "timeout_s": 3,
}


@endpoint()
async def new_page(request: Request) -> Response:
    changing(request)
    return render.render(
        request, "function_new.html", section="functions", **_create_context(DEFAULTS, {})
    )


def whole_number(form: Any, name: str, default: int | None) -> int | None:
    """A form's integer field (empty: ``default``), or ``ValidationFailed`` naming it."""
    raw = form_text(form, name)
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be a whole number", field=name) from None


@endpoint()
async def create(request: Request, platform: PlatformDep) -> Response:
    changing(request)
    form = await request.form(max_files=1, max_fields=20)
    values = typed(form, DEFAULTS)
    try:
        config = FunctionConfig(
            name=values["name"].strip(),
            runtime=values["runtime"],
            handler=values["handler"].strip(),
            memory_mb=whole_number(form, "memory_mb", 128) or 0,
            timeout_s=whole_number(form, "timeout_s", 3) or 0,
        )
        code = form.get("code")
        if not isinstance(code, UploadFile) or not code.filename:
            raise ValidationFailed("choose the function's code: a zip", field="code")
        store = platform.codestore
        with temp_path(store.tmp_dir) as path:
            await save_upload(code, path, store.limits.max_zipped_bytes)
            spec = await platform.functions.create(config, path)
    except FaasError as exc:
        status = status_of(exc)
        if status >= 500:
            raise
        where = "name" if isinstance(exc, FunctionExists) else exc.field or "code"
        where = where if where in CREATE_FIELDS else ""
        return render.render(
            request,
            "_create_form.html",
            status,
            **_create_context(values, {where: exc.message}),
        )
    await visible(request, platform, spec.name)
    return go_to(request, f"/ui/functions/{spec.name}")
