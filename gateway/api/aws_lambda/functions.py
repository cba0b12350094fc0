"""Lambda's function operations: create, read, list, update code and configuration, delete.

The function is the one ``/v1`` manages: created either way, it is the same
function, seen and invoked through both APIs. ``GetFunction``'s ``Code.Location``
is a link this server serves the zip from for ten minutes, signed as an S3
presigned URL is, so that it needs no key (``code_link``); an image function's
``Code`` names its image instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

from starlette.responses import FileResponse, JSONResponse, Response

from faas.errors import Forbidden, FunctionNotFound, ValidationFailed
from faas.models import FunctionSpec
from faas.platform import Platform
from gateway.api.aws_lambda import paging, requests, versions
from gateway.api.aws_lambda.configuration import code_location, function_configuration
from gateway.api.aws_lambda.fields import in_aws_terms
from gateway.api.aws_lambda.names import LATEST, Qualified
from gateway.api.v1.uploads import temp_path
from gateway.edge.aws import AwsRequest

# A zip of up to 50 MB, base64 in a JSON document (Lambda's own request limit).
CREATE_BODY_LIMIT = 70_167_211
LIST_MAX_ITEMS = 10_000
LIST_DEFAULT_ITEMS = 50
CODE_LINK_S = 600


async def configuration(
    platform: Platform, spec: FunctionSpec, version: str = LATEST
) -> dict[str, Any]:
    settings = platform.settings
    return function_configuration(
        spec,
        region=settings.region,
        account_id=settings.account_id,
        version=version,
        layers=await platform.layers.sizes(spec.config.layers),
    )


async def create_function(request: AwsRequest) -> Response:
    platform = request.platform
    settings = platform.settings
    create = requests.parse_create(
        request.json(), region=settings.region, account_id=settings.account_id
    )
    await platform.layers.check(create.layers)
    config = dataclasses.replace(create.config, layers=create.layers)
    if create.zip_bytes is None:
        try:
            spec = await platform.functions.create(config, None, tags=create.tags)
        except ValidationFailed as exc:  # the image is not there: Code.ImageUri
            raise in_aws_terms(exc) from None
    else:
        spec = await _with_zip(
            platform,
            create.zip_bytes,
            lambda path: platform.functions.create(config, path, tags=create.tags),
        )
    if create.publish:
        spec = await platform.versions.publish(spec.name)
    return JSONResponse(await configuration(platform, spec, spec.version), status_code=201)


async def get_function(request: AwsRequest) -> Response:
    platform = request.platform
    spec, version = await versions.resolve(platform, request.function(), draw=False)
    body: dict[str, Any] = {
        "Configuration": await configuration(platform, spec, version),
        "Code": (
            code_location(spec)
            if spec.config.is_image
            else {"RepositoryType": "S3", "Location": code_link(request, spec.code_sha256)}
        ),
    }
    if spec.tags:
        body["Tags"] = spec.tags
    if spec.config.concurrency is not None:
        body["Concurrency"] = {"ReservedConcurrentExecutions": spec.config.concurrency}
    return JSONResponse(body)


async def get_function_configuration(request: AwsRequest) -> Response:
    spec, version = await versions.resolve(request.platform, request.function(), draw=False)
    return JSONResponse(await configuration(request.platform, spec, version))


async def list_functions(request: AwsRequest) -> Response:
    limit = paging.max_items(
        request.arg("MaxItems"), default=LIST_DEFAULT_ITEMS, most=LIST_MAX_ITEMS
    )
    specs = await request.platform.functions.list()
    found, next_marker = paging.page(specs, lambda s: s.name, request.arg("Marker"), limit)
    functions = [await configuration(request.platform, s) for s in found]
    return JSONResponse(paging.answer("Functions", functions, next_marker))


async def update_function_code(request: AwsRequest) -> Response:
    platform = request.platform
    named = _latest(request)
    update = requests.parse_update_code(request.json())
    if update.dry_run:
        spec = await platform.functions.get(named)
        return JSONResponse(await configuration(platform, spec))
    try:
        if update.image is not None:
            spec = await platform.functions.update_image(
                named, update.image, revision_id=update.revision_id
            )
        else:
            assert update.zip_bytes is not None
            zip_bytes = update.zip_bytes
            spec = await _with_zip(
                platform,
                zip_bytes,
                lambda path: platform.functions.update_code(
                    named, path, revision_id=update.revision_id
                ),
            )
    except ValidationFailed as exc:
        if exc.field != "image":
            raise
        # The image named, or the zip sent to an image function: this body's fields.
        field = "ImageUri" if update.image is not None else "ZipFile"
        raise ValidationFailed(f"{field}: {exc.message}", field=field) from None
    if update.publish:
        spec = await platform.versions.publish(named)
    return JSONResponse(await configuration(platform, spec, spec.version))


async def update_function_configuration(request: AwsRequest) -> Response:
    platform = request.platform
    named = _latest(request)
    changes, revision_id = requests.parse_update_configuration(request.json())
    layers = changes.get("layers")
    if isinstance(layers, tuple):  # parse_layers' ARNs
        await platform.layers.check(layers)
    current = await platform.functions.get(named)
    requests.apply_update(current.config, changes)  # refused in the Lambda API's terms
    spec = await platform.functions.update_config(named, changes, revision_id=revision_id)
    return JSONResponse(await configuration(platform, spec))


async def delete_function(request: AwsRequest) -> Response:
    named = request.function()
    if named.qualifier not in (None, LATEST):
        await versions.delete_version(request.platform, named)
        return Response(status_code=204)
    if named.qualifier == LATEST:
        raise ValidationFailed(
            "$LATEST version cannot be deleted without deleting the function.",
            field="Qualifier",
        )
    try:
        await request.platform.functions.delete(named.name)
    except FunctionNotFound:
        arn = versions.arn(request.platform, Qualified(named.name))
        raise FunctionNotFound(f"Function not found: {arn}") from None
    return Response(status_code=204)


# -- the code link -------------------------------------------------------------


def code_link(request: AwsRequest, sha: str) -> str:
    """A URL of the zip ``sha`` (a function's or a layer's), valid for ``CODE_LINK_S``,
    needing no key."""
    host = request.header("host") or "127.0.0.1"
    expires = int(time.time()) + CODE_LINK_S
    digest = _link_signature(request.platform, sha, expires)
    return f"http://{host}/lambda-code/{sha}?Expires={expires}&Signature={digest}"


async def get_code(request: AwsRequest) -> Response:
    """The zip a ``Code.Location`` names, if its link is genuine and not expired."""
    platform = request.platform
    sha = request.params["sha256"]
    try:
        expires = int(request.arg("Expires") or "")
    except ValueError:
        raise Forbidden("the code link is not valid") from None
    given = request.arg("Signature") or ""
    wanted = _link_signature(platform, sha, expires)
    if not hmac.compare_digest(given, wanted) or expires < time.time():
        raise Forbidden("the code link is not valid or has expired")
    path = await platform.functions.zip_path(sha, "this link")
    return FileResponse(path, media_type="application/zip")


def _link_signature(platform: Platform, sha: str, expires: int) -> str:
    return hmac.new(
        platform.access.ring.link_secret, f"{sha}/{expires}".encode(), hashlib.sha256
    ).hexdigest()


# -- helpers ---------------------------------------------------------------------


async def _with_zip(platform: Platform, data: bytes, use: Any) -> FunctionSpec:
    """``use(path)`` with ``data`` written to a temporary file the code store can take."""
    store = platform.codestore
    with temp_path(store.tmp_dir) as path:
        await asyncio.to_thread(Path(path).write_bytes, data)
        spec: FunctionSpec = await use(path)
    return spec


def _latest(request: AwsRequest) -> str:
    """The function an update names: only ``$LATEST`` changes."""
    named = request.function()
    if named.qualifier not in (None, LATEST):
        raise ValidationFailed(
            "only $LATEST can be changed: a published version is immutable",
            field="FunctionName",
        )
    return named.name
