"""The Versions and aliases tab: publish a version, make and move aliases, split by weight.

The tab lists ``$LATEST`` and the published versions (description, code sha256,
when) and the aliases (their version and weighted split). Its forms call what
the Lambda API's PublishVersion, CreateAlias, UpdateAlias and DeleteAlias call
(``platform.versions``, ``platform.aliases``, each version checked through
``platform.qualifiers``), so the rules are the same; a refusal is the model's
message, shown next to the field it names (``FIELDS`` maps the model's field
names to the form's).

A split is a second version and its share: a slider (``<input type=range>``,
0-100 %) beside a number input that keyboard users may type into; the two are
kept equal by ``versions.js`` and the server reads the number (``weight``).
Each form posts to a path of its own under ``versions``/``aliases`` and htmx
swaps the tab's panel for the answer. An invoke key sees both lists and no form.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from faas.catalog.aliases import Alias, validate
from faas.errors import FaasError, FunctionNotFound, ValidationFailed
from faas.models import LATEST, FunctionSpec
from faas.platform import Platform
from gateway.console.form_fields import form_text, typed
from gateway.console.tab_page import DONE, Forms, Outcome, panel_or_page, view
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints
from gateway.errors import status_of

endpoint = Endpoints(include_in_schema=False)

# The model's field names (the Lambda API's) -> the form's.
FIELDS = {
    "Name": "name",
    "FunctionVersion": "version",
    "Description": "description",
    "RoutingConfig.AdditionalVersionWeights": "weight",
    "RoutingConfig": "weight",
    "split_version": "split_version",
    "weight": "weight",
    "version": "version",
}
FORM_FIELDS = ("name", "version", "description", "split_version", "weight")


@dataclass(frozen=True)
class VersionRow:
    """A line of the versions list."""

    version: str
    description: str
    code_sha256: str
    when: float
    aliases: tuple[str, ...]


def version_rows(
    latest: FunctionSpec, published: list[FunctionSpec], aliases: list[Alias]
) -> list[VersionRow]:
    """``$LATEST`` first, then the published versions, newest first, each with the
    aliases that name it (as their version or their split's)."""
    named: dict[str, list[str]] = {}
    for alias in aliases:
        for version in (alias.version, *alias.weights):
            named.setdefault(version, []).append(alias.name)
    rows = [
        VersionRow(
            spec.version,
            spec.config.description,
            spec.code_sha256,
            spec.updated_at,
            tuple(named.get(spec.version, ())),
        )
        for spec in [latest, *reversed(published)]
    ]
    return rows


def percent(weight: float) -> str:
    """A weight (0-1) as the percentage the form shows: whole where it is, else to 0.1."""
    value = round(weight * 100, 1)
    return str(int(value)) if value == int(value) else str(value)


def alias_from(form: FormData, current: Alias | None) -> Alias:
    """The alias a create or update form asks for (its name from the form or ``current``)."""
    name = current.name if current is not None else form_text(form, "name")
    version = form_text(form, "version") or LATEST
    description = form_text(form, "description")
    split = form_text(form, "split_version")
    weights: dict[str, float] = {}
    if split:
        raw = form_text(form, "weight")
        try:
            share = float(raw)
        except ValueError:
            raise ValidationFailed(
                "the split's share must be a percentage from 0 to 100", field="weight"
            ) from None
        if share != share:  # NaN
            raise ValidationFailed("the split's share must be a number", field="weight")
        weights = {split: share / 100}
    return Alias(
        name=name,
        version=version,
        description=description,
        weights=weights,
        revision_id=current.revision_id if current is not None else "",
        updated_at=current.updated_at if current is not None else 0.0,
    )


async def check_versions(platform: Platform, function: str, alias: Alias) -> Alias:
    """``alias`` if the model takes it and every version it names is published."""
    validate(alias)
    for version, field in (
        (alias.version, "version"),
        *((v, "split_version") for v in alias.weights),
    ):
        if version == LATEST:
            continue
        try:
            await platform.qualifiers.resolve(function, version, draw=False)
        except FunctionNotFound:
            raise ValidationFailed(f"version {version} is not published", field=field) from None
    return alias


async def _render(
    request: Request,
    platform: Platform,
    spec: FunctionSpec,
    outcome: Outcome = DONE,
) -> Response:
    """The tab, or (for htmx) its panel."""
    published = await platform.versions.published(spec.name)
    aliases = await platform.aliases.all(spec.name)
    return panel_or_page(
        request,
        platform,
        spec,
        "versions",
        outcome,
        rows=version_rows(spec, published, aliases),
        aliases=aliases,
        numbers=[v.version for v in reversed(published)],
        percent=percent,
        latest=LATEST,
    )


def _refused_at(form_id: str, form: FormData, exc: FaasError) -> tuple[str, str]:
    """A refusal is shown in the form posted (an alias's own), by the form's name of the
    model's field."""
    if form_id == "alias":  # one form per alias: its errors go to that one
        form_id = f"alias-{form.get('alias') or ''}"
    field = FIELDS.get(exc.field or "", "")
    if not field and form_id == "create" and status_of(exc) == 409:
        field = "name"  # the alias exists
    return form_id, field


def _typed(form: FormData) -> dict[str, str]:
    return typed(form, FORM_FIELDS)


FORMS = Forms(_render, _refused_at, _typed)


@endpoint()
async def page(request: Request, platform: PlatformDep, name: str) -> Response:
    return await view(request, platform, name, _render)


@endpoint()
async def publish(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        description = form_text(form, "description")
        before = await platform.versions.published(name)
        version = await platform.versions.publish(name, description=description or None)
        if before and before[-1].version == version.version:
            return f"Nothing changed since version {version.version}: it stays the latest."
        return f"Version {version.version} published."

    return await FORMS.change(request, platform, name, "publish", act)


@endpoint()
async def create_alias(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        alias = await check_versions(platform, name, alias_from(form, None))
        made = await platform.aliases.create(name, alias)
        return f"Alias {made.name} created."

    return await FORMS.change(request, platform, name, "create", act)


@endpoint()
async def update_alias(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        alias_name = str(form.get("alias") or "")
        current = await platform.aliases.get(name, alias_name)
        wanted = await check_versions(platform, name, alias_from(form, current))
        moved = await platform.aliases.update(name, alias_name, lambda _: wanted, None)
        split = "".join(f", {percent(w)} % to version {v}" for v, w in moved.weights.items())
        return f"Alias {moved.name} now points at {moved.version}{split}."

    return await FORMS.change(request, platform, name, "alias", act)


@endpoint()
async def delete_alias(request: Request, platform: PlatformDep, name: str) -> Response:
    async def act(form: FormData, spec: FunctionSpec) -> str:
        alias_name = str(form.get("alias") or "")
        await platform.aliases.get(name, alias_name)
        await platform.aliases.delete(name, alias_name)
        return f"Alias {alias_name} deleted."

    return await FORMS.change(request, platform, name, "alias", act)
