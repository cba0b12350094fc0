"""Function URLs: Lambda's Create/Get/Update/Delete/ListFunctionUrlConfigs.

A function URL is the function's HTTP trigger (``faas.invoke.http``) with the
2.0 payload and no route table: every method and path under the URL reaches the
handler, as Lambda's function URLs do. ``FunctionUrl`` is this server's
``/fn/NAME/``. ``AuthType`` ``NONE`` lets anyone call it; ``AWS_IAM`` asks for a
key of this server (``Authorization: Bearer``, or ``X-Api-Key``), the way the
HTTP trigger's ``auth: key`` does, rather than a SigV4 signature.
``InvokeMode`` ``RESPONSE_STREAM`` sends a streaming function's response as it
is written (``faas.invoke.http.trigger``); ``BUFFERED`` (the default) collects
it first. URLs of ``$LATEST`` only for now.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from faas.errors import FunctionNotFound, ResourceConflict, ValidationFailed
from faas.invoke.http.config import INVOKE_MODES, HttpConfig
from faas.models import FunctionSpec
from gateway.api.aws_lambda.configuration import lambda_time
from gateway.api.aws_lambda.names import LATEST, Qualified
from gateway.api.aws_lambda.versions import arn, resolve
from gateway.edge.aws import AwsRequest

AUTH = {"NONE": "none", "AWS_IAM": "key"}
CORS_FIELDS = {
    "AllowCredentials": "allow_credentials",
    "AllowHeaders": "allow_headers",
    "AllowMethods": "allow_methods",
    "AllowOrigins": "allow_origins",
    "ExposeHeaders": "expose_headers",
    "MaxAge": "max_age",
}


async def create_function_url_config(request: AwsRequest) -> Response:
    spec = await _function(request)
    if spec.http.enabled:
        raise ResourceConflict(
            f"Failed to create function url config for [functionArn = {_arn(request, spec)}]. "
            "Error message:  FunctionUrlConfig exists for this Lambda function"
        )
    body = _body(request, required=True)
    config = _config(body, HttpConfig(payload_format="2.0"))
    updated = await request.platform.functions.set_http_config(spec.name, config)
    return JSONResponse(_shown(request, updated), status_code=201)


async def get_function_url_config(request: AwsRequest) -> Response:
    spec = await _with_url(request)
    return JSONResponse(_shown(request, spec))


async def update_function_url_config(request: AwsRequest) -> Response:
    spec = await _with_url(request)
    body = _body(request, required=False)
    config = _config(body, spec.http)
    updated = await request.platform.functions.set_http_config(spec.name, config)
    return JSONResponse(_shown(request, updated))


async def delete_function_url_config(request: AwsRequest) -> Response:
    spec = await _with_url(request)
    await request.platform.functions.set_http_config(spec.name, HttpConfig.disabled())
    return Response(status_code=204)


async def list_function_url_configs(request: AwsRequest) -> Response:
    spec = await _function(request)
    configs = [_shown(request, spec)] if spec.http.enabled else []
    return JSONResponse({"FunctionUrlConfigs": configs})


def _shown(request: AwsRequest, spec: FunctionSpec) -> dict[str, Any]:
    http = spec.http
    host = request.header("host") or "127.0.0.1"
    out: dict[str, Any] = {
        "FunctionUrl": f"http://{host}/fn/{spec.name}/",
        "FunctionArn": _arn(request, spec),
        "AuthType": "AWS_IAM" if http.auth == "key" else "NONE",
        "CreationTime": lambda_time(spec.created_at),
        "LastModifiedTime": lambda_time(spec.updated_at),
        "InvokeMode": http.invoke_mode,
    }
    if http.cors is not None:
        c = http.cors
        out["Cors"] = {
            "AllowCredentials": c.allow_credentials,
            "AllowHeaders": list(c.allow_headers),
            "AllowMethods": list(c.allow_methods),
            "AllowOrigins": list(c.allow_origins),
            "ExposeHeaders": list(c.expose_headers),
            "MaxAge": c.max_age,
        }
    return out


def _config(body: dict[str, Any], current: HttpConfig) -> HttpConfig:
    """The HTTP trigger config a URL config body asks for, over ``current``'s."""
    data = current.to_dict()
    data.update(enabled=True, payload_format="2.0", routes=[])
    if "AuthType" in body:
        auth = body["AuthType"]
        if auth not in AUTH:
            raise ValidationFailed("AuthType must be NONE or AWS_IAM", field="AuthType")
        data["auth"] = AUTH[auth]
    if "InvokeMode" in body:
        mode = body["InvokeMode"]
        if mode not in INVOKE_MODES:
            raise ValidationFailed(
                "InvokeMode must be BUFFERED or RESPONSE_STREAM", field="InvokeMode"
            )
        data["invoke_mode"] = mode
    if "Cors" in body:
        data["cors"] = _cors(body["Cors"])
    try:
        return HttpConfig.from_dict(data)
    except ValidationFailed as exc:
        field = exc.field or ""
        if field.startswith("cors."):
            ours = field.removeprefix("cors.")
            aws = next((k for k, v in CORS_FIELDS.items() if v == ours), ours)
            raise ValidationFailed(f"Cors.{aws}: {exc.message}", field=f"Cors.{aws}") from None
        raise


def _cors(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed("Cors must be an object", field="Cors")
    unknown = set(value) - set(CORS_FIELDS)
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationFailed(f"Cors.{field} is not a field of Cors", field=f"Cors.{field}")
    return {CORS_FIELDS[k]: v for k, v in value.items()}


def _body(request: AwsRequest, *, required: bool) -> dict[str, Any]:
    body = request.json()
    unknown = set(body) - {"AuthType", "Cors", "InvokeMode"}
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationFailed(f"{field} is not a field of a function URL config", field=field)
    if required and "AuthType" not in body:
        raise ValidationFailed("AuthType is required", field="AuthType")
    return body


async def _function(request: AwsRequest) -> FunctionSpec:
    named = request.function()
    if named.qualifier not in (None, LATEST):
        raise ValidationFailed(
            "function URLs of an alias are not supported here yet: use the function's",
            field="Qualifier",
        )
    spec, _ = await resolve(request.platform, named, draw=False)
    return spec


async def _with_url(request: AwsRequest) -> FunctionSpec:
    spec = await _function(request)
    if not spec.http.enabled:
        raise FunctionNotFound("The resource you requested does not exist.")
    return spec


def _arn(request: AwsRequest, spec: FunctionSpec) -> str:
    return arn(request.platform, Qualified(spec.name))
