"""Put, Get, Update, Delete and ListFunctionEventInvokeConfigs: how Event invokes of a
function are retried and where their records go, as the Lambda API manages them.

A function's ``FunctionEventInvokeConfig`` is its ``AsyncConfig`` (``faas.models``),
the one the async worker follows and ``/v1/functions/NAME/async-config`` shows.
Lambda's four fields map onto four of ours; our backoffs, which Lambda has not,
are set through ``/v1`` and kept by every operation here.

A function has an EventInvokeConfig once one was put (here, or through ``/v1``'s
PUT of its async config) and until it is deleted: ``AsyncConfig.set_at`` records
when, and is its ``LastModified``. Delete puts Lambda's four fields back to
Lambda's defaults (2 retries, 6 hours, no destinations). A config stored before
``set_at`` existed counts as set when one of the four differs from its default.

Only ``$LATEST`` (or no qualifier) has a config: a config per version or alias is
not supported (ResourceNotFoundException for any other qualifier).
Destinations are functions of this server that exist, never the function itself.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from faas.errors import FunctionNotFound, ValidationFailed
from faas.models import AsyncConfig, FunctionSpec
from gateway.api.aws_lambda import paging, requests, versions
from gateway.api.aws_lambda.configuration import event_invoke_config, function_arn_for
from gateway.api.aws_lambda.names import LATEST, Qualified
from gateway.edge.aws import AwsRequest

LIST_MAX_ITEMS = 50  # Lambda's MaxItems of ListFunctionEventInvokeConfigs
_DESTINATIONS = {"on_success": "OnSuccess", "on_failure": "OnFailure"}


async def put_function_event_invoke_config(request: AwsRequest) -> Response:
    return await _store(request, replace=True)


async def update_function_event_invoke_config(request: AwsRequest) -> Response:
    return await _store(request, replace=False)


async def get_function_event_invoke_config(request: AwsRequest) -> Response:
    spec = await _configured(request)
    return JSONResponse(_answer(request, spec))


async def delete_function_event_invoke_config(request: AwsRequest) -> Response:
    spec = await _configured(request)
    reset = requests.without_event_invoke_config(spec.async_config)
    await request.platform.functions.set_async_config(spec.name, reset, configured=False)
    return Response(status_code=204)


async def list_function_event_invoke_configs(request: AwsRequest) -> Response:
    limit = paging.max_items(request.arg("MaxItems"), default=LIST_MAX_ITEMS, most=LIST_MAX_ITEMS)
    spec = await _function(request, request.function().name)
    # One config per qualifier (today $LATEST only).
    configs = [(LATEST, spec)] if has_event_invoke_config(spec.async_config) else []
    found, next_marker = paging.page(configs, lambda c: c[0], request.arg("Marker"), limit)
    configs_shown = [_answer(request, s, q) for q, s in found]
    return JSONResponse(paging.answer("FunctionEventInvokeConfigs", configs_shown, next_marker))


def has_event_invoke_config(config: AsyncConfig) -> bool:
    """Whether a function with ``config`` has a FunctionEventInvokeConfig: one was set
    (through this API or /v1) and not deleted, or (set before that was recorded) one of
    Lambda's fields differs from its default."""
    return config.set_at is not None or config != requests.without_event_invoke_config(config)


# -- helpers ---------------------------------------------------------------------


async def _store(request: AwsRequest, *, replace: bool) -> Response:
    """Put (``replace``) or Update the config of the function the request names."""
    doc = request.json()
    if all(doc.get(key) is None for key in requests.EVENT_INVOKE_FIELDS):
        raise ValidationFailed(
            "You must specify at least one of error handling or destination setting."
        )
    platform = request.platform
    settings = platform.settings
    name = _latest(request)
    if replace:
        spec = await _function(request, name)
    else:
        spec = await _configured(request)
    config = requests.parse_event_invoke_config(
        doc,
        spec.async_config,
        replace=replace,
        region=settings.region,
        account_id=settings.account_id,
    )
    for ours, aws in _DESTINATIONS.items():
        if getattr(config, ours) == name:
            raise ValidationFailed(
                "You can't specify the function as a destination for itself.",
                field=f"DestinationConfig.{aws}.Destination",
            )
    try:
        spec = await platform.functions.set_async_config(name, config)
    except ValidationFailed as exc:
        if exc.field not in _DESTINATIONS:
            raise
        target = function_arn_for(
            getattr(config, exc.field), region=settings.region, account_id=settings.account_id
        )
        raise ValidationFailed(
            f"The destination ARN {target} is invalid.",
            field=f"DestinationConfig.{_DESTINATIONS[exc.field]}.Destination",
        ) from None
    return JSONResponse(_answer(request, spec))


def _latest(request: AwsRequest) -> str:
    """The function named, if unqualified or ``$LATEST``: the only config held here."""
    named = request.function()
    if named.qualifier not in (None, LATEST):
        raise FunctionNotFound("The function doesn't exist.")
    return named.name


async def _function(request: AwsRequest, name: str) -> FunctionSpec:
    try:
        return await request.platform.functions.get(name)
    except FunctionNotFound:
        raise FunctionNotFound("The function doesn't exist.") from None


async def _configured(request: AwsRequest) -> FunctionSpec:
    """The function named, if it has a config; else Lambda's ResourceNotFoundException."""
    named = request.function()
    arn = versions.arn(request.platform, Qualified(named.name, named.qualifier or LATEST))
    missing = FunctionNotFound(f"The function {arn} doesn't have an EventInvokeConfig")
    if named.qualifier not in (None, LATEST):
        raise missing
    try:
        spec = await request.platform.functions.get(named.name)
    except FunctionNotFound:
        raise missing from None
    if not has_event_invoke_config(spec.async_config):
        raise missing
    return spec


def _answer(request: AwsRequest, spec: FunctionSpec, qualifier: str = LATEST) -> dict[str, Any]:
    settings = request.platform.settings
    return event_invoke_config(
        spec.async_config,
        function_name=spec.name,
        region=settings.region,
        account_id=settings.account_id,
        last_modified=spec.async_config.set_at or spec.updated_at,
        qualifier=qualifier,
    )
