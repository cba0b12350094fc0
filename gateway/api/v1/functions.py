"""Management API: create, read, update and delete functions and their code.

A function is a zip (``code``, with ``runtime`` and ``handler``) or a local
container image (``image``, with an optional ``image_config``: docs/lambda-api.md,
"Container-image functions").
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import File, Form, Request, Response, UploadFile
from fastapi.responses import FileResponse

from faas.errors import InvalidRequest, ValidationFailed
from faas.image_config import ImageConfig
from faas.invoke.http.config import HttpConfig
from faas.models import AsyncConfig, FunctionConfig, validate_name
from gateway.api.v1.schemas import (
    AsyncConfigOut,
    ErrorOut,
    FunctionList,
    FunctionOut,
    FunctionPatch,
    HttpConfigOut,
)
from gateway.api.v1.uploads import save_stream, save_upload, temp_path
from gateway.deps import PlatformDep
from gateway.edge.bodies import json_body
from gateway.edge.table import Endpoints

endpoint = Endpoints(tags=["functions"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 404, 409, 413, 422, 503)
}


def _json_object(raw: str | None, field: str) -> dict[str, str]:
    """A form field holding a JSON object of strings (``env``, ``volumes``)."""
    if raw is None or raw.strip() == "":
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise ValidationFailed(f"{field} must be a JSON object of strings", field=field)
    return value


def _image_config(raw: str | None) -> ImageConfig:
    """The ``image_config`` form field: a JSON object (``entry_point``, ``command``,
    ``working_directory``)."""
    if raw is None or raw.strip() == "":
        return ImageConfig()
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValidationFailed("image_config must be a JSON object", field="image_config") from None
    return ImageConfig.from_dict(value)


@endpoint(status_code=201, response_model=FunctionOut, responses=ERRORS)
async def create_function(
    platform: PlatformDep,
    name: Annotated[str, Form()],
    runtime: Annotated[str, Form(description="a zip function's runtime")] = "",
    handler: Annotated[str, Form(description="a zip function's handler")] = "",
    code: Annotated[UploadFile | None, File(description="the function's code as a zip")] = None,
    image: Annotated[
        str | None, Form(description="instead of a zip: a local container image")
    ] = None,
    image_config: Annotated[
        str | None,
        Form(description="JSON object: entry_point, command, working_directory"),
    ] = None,
    memory_mb: Annotated[int, Form()] = 128,
    timeout_s: Annotated[int, Form()] = 3,
    env: Annotated[str | None, Form(description="JSON object of strings")] = None,
    concurrency: Annotated[int | None, Form()] = None,
    keep_warm: Annotated[int, Form()] = 0,
    network: Annotated[bool, Form()] = True,
    description: Annotated[str, Form()] = "",
    volumes: Annotated[
        str | None, Form(description="JSON object: volume name to /mnt path")
    ] = None,
) -> FunctionOut:
    """Upload a zip, or name a local image, and register a function (409 if the name
    exists)."""
    if image is not None and code is not None:
        raise ValidationFailed("send a zip (code) or an image, not both", field="code")
    config = FunctionConfig(
        name=name,
        runtime=runtime,
        handler=handler,
        memory_mb=memory_mb,
        timeout_s=timeout_s,
        env=_json_object(env, "env"),
        concurrency=concurrency,
        keep_warm=keep_warm,
        network=network,
        volumes=_json_object(volumes, "volumes"),
        description=description,
        package_type="Image" if image is not None else "Zip",
        image=image or "",
        image_config=_image_config(image_config),
    )
    if code is None:
        return FunctionOut.of(await platform.functions.create(config, None))
    store = platform.codestore
    with temp_path(store.tmp_dir) as path:
        await save_upload(code, path, store.limits.max_zipped_bytes)
        spec = await platform.functions.create(config, path)
    return FunctionOut.of(spec)


@endpoint(response_model=FunctionList)
async def list_functions(platform: PlatformDep) -> FunctionList:
    return FunctionList(functions=[FunctionOut.of(s) for s in await platform.functions.list()])


@endpoint(response_model=FunctionOut, responses=ERRORS)
async def get_function(platform: PlatformDep, name: str) -> FunctionOut:
    return FunctionOut.of(await platform.functions.get(name))


@endpoint(response_model=FunctionOut, responses=ERRORS)
async def update_config(platform: PlatformDep, name: str, patch: FunctionPatch) -> FunctionOut:
    """Change config fields; a change that shapes containers retires the warm ones.
    ``image`` points an image function at another image (or at the one its name now
    gives, rebuilt)."""
    changes = patch.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidRequest("nothing to change: send at least one field")
    if "image_config" in changes:
        changes["image_config"] = ImageConfig.from_dict(changes["image_config"])
    image = changes.pop("image", None)
    if image is not None:
        spec = await platform.functions.update_image(name, image)
        if not changes:
            return FunctionOut.of(spec)
    return FunctionOut.of(await platform.functions.update_config(name, changes))


@endpoint(response_model=AsyncConfigOut, responses=ERRORS)
async def get_async_config(platform: PlatformDep, name: str) -> AsyncConfigOut:
    """How async invocations of the function are retried, aged out and reported."""
    return AsyncConfigOut.of(await platform.functions.get(name))


@endpoint(response_model=AsyncConfigOut, responses=ERRORS)
async def put_async_config(platform: PlatformDep, name: str, request: Request) -> AsyncConfigOut:
    """Replace the async config; absent fields take their defaults."""
    config = AsyncConfig.from_dict(await json_body(request))
    return AsyncConfigOut.of(await platform.functions.set_async_config(name, config))


@endpoint(response_model=HttpConfigOut, responses=ERRORS)
async def get_http_config(platform: PlatformDep, name: str) -> HttpConfigOut:
    """Whether and how the function is reachable over plain HTTP."""
    return HttpConfigOut.of(await platform.functions.get(name))


@endpoint(response_model=HttpConfigOut, responses=ERRORS)
async def put_http_config(platform: PlatformDep, name: str, request: Request) -> HttpConfigOut:
    """Expose the function at ``/fn/{name}/...`` (``enabled: false`` hides it again)."""
    config = HttpConfig.from_dict(await json_body(request))
    return HttpConfigOut.of(await platform.functions.set_http_config(name, config))


@endpoint(
    response_model=FunctionOut,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"code": {"type": "string", "format": "binary"}},
                    }
                },
            }
        }
    },
)
async def update_code(platform: PlatformDep, name: str, request: Request) -> FunctionOut:
    """Replace the code: a zip body, or multipart with a ``code`` file."""
    validate_name(name)
    store = platform.codestore
    with temp_path(store.tmp_dir) as path:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=10)
            upload = form.get("code")
            if upload is None or isinstance(upload, str):
                raise ValidationFailed("the form has no 'code' file", field="code")
            await save_upload(upload, path, store.limits.max_zipped_bytes)
        else:
            await save_stream(request.stream(), path, store.limits.max_zipped_bytes)
        spec = await platform.functions.update_code(name, path)
    return FunctionOut.of(spec)


@endpoint(
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}, 404: {"model": ErrorOut}},
)
async def get_code(platform: PlatformDep, name: str) -> FileResponse:
    """The function's zip, byte for byte as uploaded."""
    path = await platform.functions.code_path(name)
    return FileResponse(path, media_type="application/zip", filename=f"{name}.zip")


@endpoint(status_code=204, responses=ERRORS)
async def delete_function(platform: PlatformDep, name: str) -> Response:
    """Delete the function; its containers are removed before this answers."""
    await platform.functions.delete(name)
    return Response(status_code=204)
