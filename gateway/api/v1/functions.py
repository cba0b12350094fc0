"""Management API: create, read, update and delete functions and their code."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import File, Form, Request, Response, UploadFile
from fastapi.responses import FileResponse

from faas.errors import InvalidRequest, ValidationFailed
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


@endpoint(status_code=201, response_model=FunctionOut, responses=ERRORS)
async def create_function(
    platform: PlatformDep,
    name: Annotated[str, Form()],
    runtime: Annotated[str, Form()],
    handler: Annotated[str, Form()],
    code: Annotated[UploadFile, File(description="the function's code as a zip")],
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
    """Upload a zip and register a function (409 if the name exists)."""
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
    )
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
    """Change config fields; a change that shapes containers retires the warm ones."""
    changes = patch.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidRequest("nothing to change: send at least one field")
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
