"""Lambda's layer operations: publish, read, list and delete layer versions.

A layer version (``faas.catalog.layers``) is an immutable zip that functions list
in ``Layers`` and find under ``/opt``. Its ``Content.Location`` is a link to the
zip, as GetFunction's ``Code.Location`` is (``functions.code_link``). A layer is
named by its name or its ARN (``arn:aws:lambda:REGION:ACCOUNT:layer:NAME``);
one of another region or account is not found here. GetLayerVersionByArn shares
ListLayers' path (``/2018-10-31/layers?find=LayerVersion``), so ``list_layers``
answers it too.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from starlette.responses import JSONResponse, Response

from faas.catalog.layers import LayerVersion
from faas.errors import FunctionNotFound
from faas.platform import Platform
from gateway.api.aws_lambda import fields, paging, unsupported
from gateway.api.aws_lambda.configuration import code_sha256, lambda_time
from gateway.api.aws_lambda.fields import choice, json_object, refuse, required
from gateway.api.aws_lambda.functions import code_link
from gateway.api.v1.uploads import temp_path
from gateway.edge.aws import AwsRequest

# A zip of up to 50 MB, base64 in a JSON document, as CreateFunction's.
PUBLISH_BODY_LIMIT = 70_167_211
PUBLISH_FIELDS = frozenset(
    "Description Content CompatibleRuntimes CompatibleArchitectures LicenseInfo".split()
)
CONTENT_FIELDS = frozenset("S3Bucket S3Key S3ObjectVersion ZipFile".split())
RUNTIMES_MAX = 15
ARCHITECTURES = ("x86_64", "arm64")
LICENSE_MAX = 512
LIST_MAX_ITEMS = 50
# Version numbers as page keys that sort newest first (paging orders keys as strings).
_NEWEST = 10**20
NOT_FOUND = "The resource you requested does not exist."

_LAYER = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:)?"
    r"(?P<name>[A-Za-z0-9_-]{1,140})$"
)
_VERSION_ARN = re.compile(r"^(?P<layer>arn:[^:]+:lambda:[^:]+:[^:]+:layer:[^:]+):(?P<number>\d+)$")
_RUNTIME = re.compile(r"^[a-z][a-z0-9.-]{0,63}$")


async def publish_layer_version(request: AwsRequest) -> Response:
    platform = request.platform
    name = _layer_name(request, request.params["LayerName"], publishing=True)
    body = json_object(request.json(), None, PUBLISH_FIELDS, "PublishLayerVersion")
    content = json_object(
        required(body, "Content"), "Content", CONTENT_FIELDS, "LayerVersionContentInput"
    )
    unsupported.code_sources(content, "Content.")
    if "ZipFile" not in content:
        refuse("Content.ZipFile", "is required: send the zip file's bytes in base64")
    data = fields.zip_file(content["ZipFile"], "Content.ZipFile")
    description = fields.description(body.get("Description", ""))
    runtimes = _runtimes(body.get("CompatibleRuntimes", []))
    architectures = _architectures(body.get("CompatibleArchitectures", []))
    license_info = body.get("LicenseInfo", "")
    if not isinstance(license_info, str) or len(license_info) > LICENSE_MAX:
        refuse("LicenseInfo", f"must be a string of at most {LICENSE_MAX} characters")
    with temp_path(platform.codestore.tmp_dir) as path:
        await asyncio.to_thread(Path(path).write_bytes, data)
        version = await platform.layers.publish(
            name,
            path,
            description=description,
            compatible_runtimes=runtimes,
            compatible_architectures=architectures,
            license_info=license_info,
        )
    return JSONResponse(_layer_version(request, version), status_code=201)


async def get_layer_version(request: AwsRequest) -> Response:
    name = _layer_name(request, request.params["LayerName"])
    version = await request.platform.layers.get(name, _number(request.params["VersionNumber"]))
    return JSONResponse(_layer_version(request, version))


async def list_layer_versions(request: AwsRequest) -> Response:
    platform = request.platform
    name = _layer_name(request, request.params["LayerName"])
    runtime, architecture = _filters(request)
    found = [v for v in await platform.layers.versions(name) if v.matches(runtime, architecture)]
    listed, marker = paging.page(
        found,
        lambda v: f"{_NEWEST - v.number:021d}",
        request.arg("Marker"),
        _max_items(request),
    )
    return JSONResponse(
        paging.answer("LayerVersions", [_item(platform, v) for v in listed], marker)
    )


async def list_layers(request: AwsRequest) -> Response:
    """ListLayers: each layer with a version left, and its latest that matches the filters;
    with ``find=LayerVersion``, GetLayerVersionByArn."""
    if request.arg("find") == "LayerVersion":
        return await _get_layer_version_by_arn(request)
    platform = request.platform
    runtime, architecture = _filters(request)
    latest: list[LayerVersion] = []
    for name in await platform.layers.names():
        versions = await platform.layers.versions(name)
        latest += [v for v in versions if v.matches(runtime, architecture)][:1]
    listed, marker = paging.page(
        latest, lambda v: v.name, request.arg("Marker"), _max_items(request)
    )
    layers = [
        {
            "LayerName": v.name,
            "LayerArn": platform.layers.arn(v.name),
            "LatestMatchingVersion": _item(platform, v),
        }
        for v in listed
    ]
    return JSONResponse(paging.answer("Layers", layers, marker))


async def delete_layer_version(request: AwsRequest) -> Response:
    name = _layer_name(request, request.params["LayerName"])
    await request.platform.layers.delete(name, _number(request.params["VersionNumber"]))
    return Response(status_code=204)


async def _get_layer_version_by_arn(request: AwsRequest) -> Response:
    arn = request.arg("Arn")
    if arn is None:
        refuse("Arn", "is required: the layer version's ARN")
    found = _VERSION_ARN.fullmatch(arn) if len(arn) <= 2048 else None
    if found is None:
        refuse("Arn", "must be a layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:N)")
    name = _layer_name(request, found["layer"])
    version = await request.platform.layers.get(name, _number(found["number"], "Arn"))
    return JSONResponse(_layer_version(request, version))


# -- answers -----------------------------------------------------------------------


def _layer_version(request: AwsRequest, version: LayerVersion) -> dict[str, Any]:
    """Lambda's GetLayerVersionResponse (PublishLayerVersion's too)."""
    layers = request.platform.layers
    return {
        "Content": {
            "Location": code_link(request, version.code_sha256),
            "CodeSha256": code_sha256(version.code_sha256),
            "CodeSize": version.code_size,
        },
        "LayerArn": layers.arn(version.name),
        **_item(request.platform, version),
    }


def _item(platform: Platform, version: LayerVersion) -> dict[str, Any]:
    """Lambda's LayerVersionsListItem; the lists and the license only when given, as Lambda."""
    item: dict[str, Any] = {
        "LayerVersionArn": platform.layers.version_arn(version),
        "Version": version.number,
        "Description": version.description,
        "CreatedDate": lambda_time(version.created_at),
    }
    if version.compatible_runtimes:
        item["CompatibleRuntimes"] = list(version.compatible_runtimes)
    if version.license_info:
        item["LicenseInfo"] = version.license_info
    if version.compatible_architectures:
        item["CompatibleArchitectures"] = list(version.compatible_architectures)
    return item


# -- request values ----------------------------------------------------------------


def _layer_name(request: AwsRequest, raw: str, *, publishing: bool = False) -> str:
    """The layer a ``LayerName`` names: a name, or an ARN of this server's region and
    account (another's is not found here; a new version cannot go there)."""
    found = _LAYER.fullmatch(raw) if len(raw) <= 2048 else None
    if found is None:
        refuse("LayerName", "must be a name of 1-140 letters, digits, '-' and '_', or its ARN")
    settings = request.platform.settings
    if found["region"] is not None and (found["region"], found["account"]) != (
        settings.region,
        settings.account_id,
    ):
        if publishing:
            refuse("LayerName", "is an ARN of another region or account than this server's")
        raise FunctionNotFound(NOT_FOUND)
    return found["name"]


def _number(raw: str, where: str = "VersionNumber") -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        refuse(where, "must be a layer version number")
    return int(raw)


def _runtimes(value: object) -> list[str]:
    if not isinstance(value, list) or len(value) > RUNTIMES_MAX:
        refuse("CompatibleRuntimes", f"must be a list of at most {RUNTIMES_MAX} runtime names")
    for runtime in value:
        if not isinstance(runtime, str) or not _RUNTIME.fullmatch(runtime):
            refuse("CompatibleRuntimes", f"entry {fields.shown(runtime)} is not a runtime name")
    return list(dict.fromkeys(value))


def _architectures(value: object) -> list[str]:
    if not isinstance(value, list) or len(value) > len(ARCHITECTURES):
        refuse("CompatibleArchitectures", "must list at most two of x86_64 and arm64")
    return list(dict.fromkeys(choice(a, "CompatibleArchitectures", ARCHITECTURES) for a in value))


def _filters(request: AwsRequest) -> tuple[str | None, str | None]:
    """The ``CompatibleRuntime`` and ``CompatibleArchitecture`` a listing asks for."""
    runtime = request.arg("CompatibleRuntime")
    if runtime is not None and not _RUNTIME.fullmatch(runtime):
        refuse("CompatibleRuntime", "must be a runtime name such as python3.11")
    architecture = request.arg("CompatibleArchitecture")
    if architecture is not None:
        choice(architecture, "CompatibleArchitecture", ARCHITECTURES)
    return runtime, architecture


def _max_items(request: AwsRequest) -> int:
    return paging.max_items(request.arg("MaxItems"), default=LIST_MAX_ITEMS, most=LIST_MAX_ITEMS)
