"""Versions and aliases through the Lambda API, and what a qualifier resolves to.

PublishVersion freezes ``$LATEST`` (``faas.catalog.versions``); an alias names a
version and may split invocations with one other by weight
(``faas.catalog.aliases``). Every operation that takes a ``Qualifier`` finds its
spec through ``resolve``, which answers Lambda's "Function not found: ARN".
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.responses import JSONResponse, Response

from faas.catalog.aliases import Alias
from faas.errors import FunctionNotFound, ValidationFailed
from faas.models import LATEST, FunctionSpec
from faas.platform import Platform
from gateway.api.aws_lambda import fields, paging
from gateway.api.aws_lambda.configuration import function_arn_for, function_configuration
from gateway.api.aws_lambda.names import Qualified
from gateway.edge.aws import AwsRequest

LIST_MAX_ITEMS = 10_000
LIST_DEFAULT_ITEMS = 50


async def resolve(
    platform: Platform, named: Qualified, *, draw: bool = True
) -> tuple[FunctionSpec, str]:
    """The spec ``named`` runs, and the version it is; ``FunctionNotFound`` with Lambda's
    message (the ARN asked for) if there is none."""
    try:
        return await platform.qualifiers.resolve(named.name, named.qualifier, draw=draw)
    except FunctionNotFound:
        raise FunctionNotFound(f"Function not found: {arn(platform, named)}") from None


def arn(platform: Platform, named: Qualified) -> str:
    """The ARN of ``named`` on this server (qualified if it is)."""
    settings = platform.settings
    return function_arn_for(
        named.name,
        region=settings.region,
        account_id=settings.account_id,
        qualifier=named.qualifier,
    )


async def version_configuration(platform: Platform, spec: FunctionSpec) -> dict[str, Any]:
    settings = platform.settings
    return function_configuration(
        spec,
        region=settings.region,
        account_id=settings.account_id,
        version=spec.version,
        layers=await platform.layers.sizes(spec.config.layers),
    )


# -- versions ----------------------------------------------------------------------


async def publish_version(request: AwsRequest) -> Response:
    platform = request.platform
    name = _unqualified(request)
    body = _body(
        request, {"CodeSha256", "Description", "RevisionId", "PublishTo"}, "PublishVersion"
    )
    description = _optional_str(body, "Description")
    sha = _optional_str(body, "CodeSha256")
    try:
        version = await platform.versions.publish(
            name,
            description=description,
            code_sha256=_hex(sha) if sha is not None else None,
            revision_id=_optional_str(body, "RevisionId"),
        )
    except FunctionNotFound:
        raise FunctionNotFound(f"Function not found: {arn(platform, Qualified(name))}") from None
    return JSONResponse(await version_configuration(platform, version), status_code=201)


async def list_versions_by_function(request: AwsRequest) -> Response:
    platform = request.platform
    name = _unqualified(request)
    latest, _ = await resolve(platform, Qualified(name))
    settings = platform.settings
    found, next_marker = paging.page(
        [latest, *await platform.versions.published(name)],
        _version_order,
        request.arg("Marker"),
        _max_items(request),
    )
    versions = [
        function_configuration(
            spec,
            region=settings.region,
            account_id=settings.account_id,
            qualify_latest=True,
            layers=await platform.layers.sizes(spec.config.layers),
        )
        if spec.version == LATEST
        else await version_configuration(platform, spec)
        for spec in found
    ]
    return JSONResponse(paging.answer("Versions", versions, next_marker))


# -- aliases -----------------------------------------------------------------------


def alias_configuration(platform: Platform, function: str, alias: Alias) -> dict[str, Any]:
    settings = platform.settings
    out: dict[str, Any] = {
        "AliasArn": function_arn_for(
            function, region=settings.region, account_id=settings.account_id, qualifier=alias.name
        ),
        "Name": alias.name,
        "FunctionVersion": alias.version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.weights:
        out["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.weights)}
    return out


async def create_alias(request: AwsRequest) -> Response:
    platform = request.platform
    name = _unqualified(request)
    body = _body(
        request, {"Name", "FunctionVersion", "Description", "RoutingConfig"}, "CreateAlias"
    )
    alias = Alias(
        name=_required_str(body, "Name"),
        version=_required_str(body, "FunctionVersion"),
        description=_optional_str(body, "Description") or "",
        weights=_weights(body.get("RoutingConfig")),
    )
    await _versions_exist(platform, name, alias)
    made = await platform.aliases.create(name, alias)
    return JSONResponse(alias_configuration(platform, name, made), status_code=201)


async def get_alias(request: AwsRequest) -> Response:
    platform = request.platform
    name = _unqualified(request)
    await resolve(platform, Qualified(name))
    alias = await _alias(platform, name, request.params["Name"])
    return JSONResponse(alias_configuration(platform, name, alias))


async def update_alias(request: AwsRequest) -> Response:
    platform = request.platform
    name = _unqualified(request)
    body = _body(
        request, {"FunctionVersion", "Description", "RoutingConfig", "RevisionId"}, "UpdateAlias"
    )
    version = _optional_str(body, "FunctionVersion")
    description = _optional_str(body, "Description")
    routing = "RoutingConfig" in body and body["RoutingConfig"] is not None
    weights = _weights(body.get("RoutingConfig")) if routing else None
    current = await _alias(platform, name, request.params["Name"])

    def change(alias: Alias) -> Alias:
        return Alias(
            name=alias.name,
            version=version if version is not None else alias.version,
            description=description if description is not None else alias.description,
            weights=weights if weights is not None else alias.weights,
            revision_id=alias.revision_id,
            updated_at=alias.updated_at,
        )

    await _versions_exist(platform, name, change(current))
    updated = await platform.aliases.update(
        name, current.name, change, _optional_str(body, "RevisionId")
    )
    return JSONResponse(alias_configuration(platform, name, updated))


async def delete_alias(request: AwsRequest) -> Response:
    platform = request.platform
    name = _unqualified(request)
    await resolve(platform, Qualified(name))
    await platform.aliases.delete(name, request.params["Name"])
    return Response(status_code=204)


async def list_aliases(request: AwsRequest) -> Response:
    platform = request.platform
    name = _unqualified(request)
    await resolve(platform, Qualified(name))
    wanted = request.arg("FunctionVersion")
    found, next_marker = paging.page(
        [a for a in await platform.aliases.all(name) if wanted is None or a.version == wanted],
        lambda a: a.name,
        request.arg("Marker"),
        _max_items(request),
    )
    aliases = [alias_configuration(platform, name, a) for a in found]
    return JSONResponse(paging.answer("Aliases", aliases, next_marker))


async def delete_version(platform: Platform, named: Qualified) -> None:
    """DeleteFunction with a version number as its qualifier."""
    if not (named.qualifier or "").isdigit():
        raise ValidationFailed(
            "Qualifier of DeleteFunction must be a version number", field="Qualifier"
        )
    await resolve(platform, named, draw=False)
    used_by = [
        a.name
        for a in await platform.aliases.all(named.name)
        if a.version == named.qualifier or named.qualifier in a.weights
    ]
    await platform.versions.delete(named.name, named.qualifier or "", used_by=used_by)


# -- helpers -----------------------------------------------------------------------


async def _alias(platform: Platform, function: str, name: str) -> Alias:
    try:
        return await platform.aliases.get(function, name)
    except FunctionNotFound:
        named = arn(platform, Qualified(function, name))
        raise FunctionNotFound(f"Cannot find alias arn: {named}") from None


async def _versions_exist(platform: Platform, function: str, alias: Alias) -> None:
    """Each version ``alias`` names is published (or ``$LATEST``)."""
    for version in (alias.version, *alias.weights):
        if version != LATEST and version.isdigit():
            await resolve(platform, Qualified(function, version))
        elif version != LATEST:
            raise ValidationFailed(
                "FunctionVersion must be $LATEST or a version number", field="FunctionVersion"
            )
    if not alias.weights:
        await resolve(platform, Qualified(function))


def _unqualified(request: AwsRequest) -> str:
    named = request.function()
    if named.qualifier is not None:
        raise ValidationFailed(
            "this operation takes the function's unqualified name or ARN", field="FunctionName"
        )
    return named.name


def _body(request: AwsRequest, known: set[str], operation: str) -> dict[str, Any]:
    """The request's body: ``known`` fields only (nulls taken as left out)."""
    return fields.json_object(request.json(), None, known, operation)


def _required_str(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise ValidationFailed(f"{field} is required and must be a string", field=field)
    return value


def _optional_str(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a string", field=field)
    return value


def _hex(sha_base64: str) -> str:
    """Lambda's CodeSha256 (base64 of the digest) as our code store's hex."""
    try:
        digest = base64.b64decode(sha_base64, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("CodeSha256 must be base64", field="CodeSha256") from None
    return digest.hex()


def _weights(routing: object) -> dict[str, float]:
    where = "RoutingConfig.AdditionalVersionWeights"
    if routing is None:
        return {}
    if not isinstance(routing, dict) or set(routing) - {"AdditionalVersionWeights"}:
        raise ValidationFailed(
            "RoutingConfig must be {AdditionalVersionWeights: {...}}", field="RoutingConfig"
        )
    weights = routing.get("AdditionalVersionWeights") or {}
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
        for k, v in weights.items()
    ):
        raise ValidationFailed(f"{where} must map a version to a weight", field=where)
    return {k: float(v) for k, v in weights.items()}


def _max_items(request: AwsRequest) -> int:
    return paging.max_items(
        request.arg("MaxItems"), default=LIST_DEFAULT_ITEMS, most=LIST_MAX_ITEMS
    )


def _version_order(spec: FunctionSpec) -> str:
    """A key that sorts $LATEST first, then versions by number (as strings sort)."""
    return f"{0 if spec.version == LATEST else int(spec.version):020d}"
