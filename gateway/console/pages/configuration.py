"""The Configuration tab: a function's settings, each section its own form.

Sections: general (memory, timeout, reserved concurrency, keep-warm, network,
description), environment, volumes and layers (a line each), secrets
(write-only: names listed, values never sent to the browser) and code (a new
zip, dropped or chosen, uploaded with progress; the current one downloaded).
Each form posts to ``configuration/<section>``; htmx swaps that section for the
answer, which shows "Saved" or the model's message next to the field it names
(``faas.models`` validates, as for the API). An invoke key sees the values and
no form; its posts get 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from faas.errors import FaasError, ValidationFailed
from faas.models import KEEP_WARM_MAX, MEMORY_MAX_MB, MEMORY_MIN_MB, TIMEOUT_MAX_S, FunctionSpec
from faas.platform import Platform
from gateway.api.v1.uploads import save_upload, temp_path
from gateway.console import render
from gateway.console.form_fields import form_text, typed
from gateway.console.pages.function import (
    changing,
    failure,
    function_page,
    is_htmx,
    visible,
)
from gateway.console.pages.functions import whole_number
from gateway.console.tab_page import view
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints
from gateway.errors import status_of

endpoint = Endpoints(include_in_schema=False)

SECTIONS = ("general", "environment", "volumes", "layers", "secrets", "code")
# The fields each section shows an error next to (any other error: above its form).
FIELDS = {
    "general": ("memory_mb", "timeout_s", "concurrency", "keep_warm", "description"),
    "environment": ("env",),
    "volumes": ("volumes",),
    "layers": ("layers",),
    "secrets": ("name",),
    "code": ("code",),
}
LIMITS = {
    "memory_min": MEMORY_MIN_MB,
    "memory_max": MEMORY_MAX_MB,
    "timeout_max": TIMEOUT_MAX_S,
    "keep_warm_max": KEEP_WARM_MAX,
}


@dataclass(frozen=True)
class Lines:
    """A section edited as lines of text: its title, hint, and the config field it sets."""

    title: str
    hint: str
    field: str


LINE_SECTIONS = {
    "environment": Lines(
        "Environment variables",
        "One KEY=value a line; a change starts fresh instances.",
        "env",
    ),
    "volumes": Lines(
        "Volumes", "One volume a line: name=/mnt/path (a directory of the server).", "volumes"
    ),
    "layers": Lines(
        "Layers", "One layer version ARN a line, placed under /opt in this order.", "layers"
    ),
}


def _pairs(spec: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in spec.items())


def form_of(spec: FunctionSpec) -> dict[str, Any]:
    """What each section's form shows for ``spec``."""
    c = spec.config
    return {
        "memory_mb": c.memory_mb,
        "timeout_s": c.timeout_s,
        "concurrency": "" if c.concurrency is None else c.concurrency,
        "keep_warm": c.keep_warm,
        "network": c.network,
        "description": c.description,
        "environment": _pairs(c.env),
        "volumes": _pairs(c.volumes),
        "layers": "\n".join(c.layers),
    }


def parse_pairs(text: str, field: str, what: str) -> dict[str, str]:
    """``NAME=value`` lines (blank lines and ``#`` comments skipped) as a dict."""
    pairs: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValidationFailed(f"line {number}: write {what}", field=field)
        if name in pairs:
            raise ValidationFailed(f"line {number}: {name} is set twice", field=field)
        pairs[name] = value if field == "env" else value.strip()
    return pairs


def changes_of(section: str, form: FormData, spec: FunctionSpec) -> dict[str, Any]:
    """The config changes a section's form asks for (only what differs from ``spec``)."""
    if section == "general":
        asked: dict[str, Any] = {
            "memory_mb": whole_number(form, "memory_mb", spec.config.memory_mb),
            "timeout_s": whole_number(form, "timeout_s", spec.config.timeout_s),
            "concurrency": whole_number(form, "concurrency", None),
            "keep_warm": whole_number(form, "keep_warm", 0),
            "network": form.get("network") == "on",
            "description": form_text(form, "description"),
        }
    elif section == "environment":
        asked = {"env": parse_pairs(str(form.get("env") or ""), "env", "NAME=value")}
    elif section == "volumes":
        asked = {
            "volumes": parse_pairs(str(form.get("volumes") or ""), "volumes", "name=/mnt/path")
        }
    else:
        lines = str(form.get("layers") or "").splitlines()
        asked = {"layers": tuple(line.strip() for line in lines if line.strip())}
    return {k: v for k, v in asked.items() if getattr(spec.config, k) != v}


async def _render(
    request: Request,
    platform: Platform,
    spec: FunctionSpec,
    section: str = "",
    status: int = 200,
    saved: str = "",
    errors: dict[str, str] | None = None,
    posted: dict[str, Any] | None = None,
) -> Response:
    """The tab, or (for htmx) the one section that was posted."""
    secret_names = await platform.functions.secret_names(spec.name)
    context = {
        "sections": SECTIONS,
        "section_name": section,
        "saved": saved,
        "errors": errors or {},
        "form": {**form_of(spec), **(posted or {})},
        "limits": LIMITS,
        "line_sections": LINE_SECTIONS,
        "secret_names": secret_names,
    }
    if section and is_htmx(request):
        return render.render(request, f"_config_{section}.html", status, spec=spec, **context)
    return function_page(
        request, platform, spec, "configuration.html", "configuration", status, **context
    )


@endpoint()
async def page(request: Request, platform: PlatformDep, name: str) -> Response:
    return await view(request, platform, name, _render)


@endpoint()
async def save(request: Request, platform: PlatformDep, name: str, section: str) -> Response:
    """One section's form: its change saved, or the model's refusal shown by its field."""
    return await _save(request, platform, name, section)


@endpoint()
async def save_code(request: Request, platform: PlatformDep, name: str) -> Response:
    """A new zip (a row of its own: its body may be as large as an upload)."""
    return await _save(request, platform, name, "code")


async def _save(request: Request, platform: Platform, name: str, section: str) -> Response:
    changing(request)
    spec = await visible(request, platform, name)
    if section not in SECTIONS:
        return failure(request, ValidationFailed(f"no section {section!r}", field="section"))
    form = await request.form(max_files=1 if section == "code" else 0, max_fields=20)

    async def config(form: FormData, spec: FunctionSpec) -> tuple[FunctionSpec, str]:
        changes = changes_of(section, form, spec)
        if not changes:
            return spec, "Nothing changed."
        return await platform.functions.update_config(name, changes), "Saved."

    async def secrets(form: FormData, spec: FunctionSpec) -> tuple[FunctionSpec, str]:
        doomed = str(form.get("delete") or "")
        if doomed:
            await platform.functions.delete_secret(name, doomed)
            return await platform.functions.get(name), f"Secret {doomed} deleted."
        secret = form_text(form, "name")
        if not secret:
            raise ValidationFailed("name the secret", field="name")
        current = await platform.secrets.values(name)
        values = {k: v.decode() for k, v in current.items()}
        values[secret] = str(form.get("value") or "")
        try:
            await platform.functions.put_secrets(name, values)
        except ValidationFailed as exc:
            raise ValidationFailed(exc.message, field="name") from None
        return await platform.functions.get(name), f"Secret {secret} set."

    async def code(form: FormData, spec: FunctionSpec) -> tuple[FunctionSpec, str]:
        upload = form.get("code")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed("choose a zip to upload", field="code")
        store = platform.codestore
        with temp_path(store.tmp_dir) as path:
            await save_upload(upload, path, store.limits.max_zipped_bytes)
            updated = await platform.functions.update_code(name, path)
        return updated, "New code uploaded."

    handlers: dict[str, Callable[[FormData, FunctionSpec], Awaitable[tuple[FunctionSpec, str]]]]
    handlers = {"secrets": secrets, "code": code}
    try:
        spec, saved = await handlers.get(section, config)(form, spec)
    except FaasError as exc:
        status = status_of(exc)
        if status >= 500:
            raise
        posted = _posted(section, form)
        where = exc.field if exc.field in FIELDS[section] else ""
        return await _render(
            request, platform, spec, section, status, errors={where: exc.message}, posted=posted
        )
    return await _render(request, platform, spec, section, saved=saved)


def _posted(section: str, form: FormData) -> dict[str, Any]:
    """What the visitor typed, shown again with the error."""
    if section == "general":
        keys = ("memory_mb", "timeout_s", "concurrency", "keep_warm", "description")
        posted: dict[str, Any] = typed(form, keys)
        posted["network"] = form.get("network") == "on"
        return posted
    if section in LINE_SECTIONS:
        return {section: str(form.get(LINE_SECTIONS[section].field) or "")}
    return {}


@endpoint()
async def download(request: Request, platform: PlatformDep, name: str) -> Response:
    """The function's zip, as uploaded (an admin's: the API's GET .../code needs one too)."""
    changing(request)
    await visible(request, platform, name)
    path = await platform.functions.code_path(name)
    return FileResponse(path, media_type="application/zip", filename=f"{name}.zip")
