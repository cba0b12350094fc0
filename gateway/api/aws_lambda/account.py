"""GetAccountSettings, reserved concurrency and tags: what Lambda keeps per account and
per function beside its configuration.

The account's concurrency limit is this node's instance cap (``FAAS_MAX_INSTANCES``);
a function's reserved concurrency is its ``concurrency`` (0 pauses it: every call
is throttled with ``ReservedFunctionConcurrentInvocationLimitExceeded``). Lambda
keeps 100 of the account's limit unreserved; here, as much as the cap allows
(at least 1).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from faas.catalog.bundle import BundleLimits
from faas.errors import ValidationFailed
from faas.platform import Platform
from gateway.api.aws_lambda import names
from gateway.api.aws_lambda.requests import TAGS_MAX, parse_put_concurrency, parse_tags
from gateway.edge.aws import AwsRequest

# Lambda's limit on total code storage per region (75 GB).
TOTAL_CODE_SIZE = 75 * 1024**3
UNRESERVED_MIN = 1


async def get_account_settings(request: AwsRequest) -> Response:
    platform = request.platform
    specs = await platform.functions.list()
    limit = platform.settings.account_limit
    reserved = sum(s.config.concurrency or 0 for s in specs)
    bundle = BundleLimits()
    return JSONResponse(
        {
            "AccountLimit": {
                "TotalCodeSize": TOTAL_CODE_SIZE,
                "CodeSizeUnzipped": bundle.max_unpacked_bytes,
                "CodeSizeZipped": bundle.max_zipped_bytes,
                "ConcurrentExecutions": limit,
                "UnreservedConcurrentExecutions": max(0, limit - reserved),
            },
            "AccountUsage": {
                "TotalCodeSize": sum(s.code_size for s in specs) + await _layers_size(platform),
                "FunctionCount": len(specs),
            },
        }
    )


async def _layers_size(platform: Platform) -> int:
    """The code size of every layer version still published (Lambda counts them too)."""
    total = 0
    for name in await platform.layers.names():
        total += sum(v.code_size for v in await platform.layers.versions(name))
    return total


async def put_function_concurrency(request: AwsRequest) -> Response:
    named = _unqualified(request)
    platform = request.platform
    limit = platform.settings.account_limit
    value = parse_put_concurrency(request.json(), limit=limit)
    others = sum(
        s.config.concurrency or 0 for s in await platform.functions.list() if s.name != named.name
    )
    if others + value > limit - UNRESERVED_MIN:
        raise ValidationFailed(
            f"Specified ReservedConcurrentExecutions for function decreases account's "
            f"UnreservedConcurrentExecution below its minimum value of [{UNRESERVED_MIN}].",
            field="ReservedConcurrentExecutions",
        )
    await platform.functions.update_config(named.name, {"concurrency": value})
    return JSONResponse({"ReservedConcurrentExecutions": value})


async def get_function_concurrency(request: AwsRequest) -> Response:
    named = _unqualified(request)
    spec = await request.platform.functions.get(named.name)
    body: dict[str, Any] = {}
    if spec.config.concurrency is not None:
        body["ReservedConcurrentExecutions"] = spec.config.concurrency
    return JSONResponse(body)


async def delete_function_concurrency(request: AwsRequest) -> Response:
    named = _unqualified(request)
    await request.platform.functions.update_config(named.name, {"concurrency": None})
    return Response(status_code=204)


def _unqualified(request: AwsRequest) -> names.Qualified:
    named = request.function()
    if named.qualifier is not None:
        raise ValidationFailed(
            "reserved concurrency is set on the function, not on a version or alias",
            field="FunctionName",
        )
    return named


# -- tags --------------------------------------------------------------------


async def list_tags(request: AwsRequest) -> Response:
    spec = await request.platform.functions.get(_tagged(request))
    return JSONResponse({"Tags": spec.tags})


async def tag_resource(request: AwsRequest) -> Response:
    name = _tagged(request)
    tags = parse_tags(request.json().get("Tags"))
    spec = await request.platform.functions.get(name)
    if len({**spec.tags, **tags}) > TAGS_MAX:
        raise ValidationFailed(f"a function has at most {TAGS_MAX} tags", field="Tags")
    await request.platform.functions.tag(name, tags)
    return Response(status_code=204)


async def untag_resource(request: AwsRequest) -> Response:
    name = _tagged(request)
    keys = request.query.get("tagKeys")
    if not keys:
        raise ValidationFailed("TagKeys must list at least one tag key", field="TagKeys")
    await request.platform.functions.untag(name, set(keys))
    return Response(status_code=204)


def _tagged(request: AwsRequest) -> str:
    """The function a tag operation's ``Resource`` ARN names."""
    raw = request.params["Resource"]
    if not raw.startswith("arn:"):
        raise ValidationFailed("Resource must be a function's ARN", field="Resource")
    named = request.function("Resource")
    if named.qualifier is not None:
        raise ValidationFailed(
            "Tags are added to a function, not to a version or alias", field="Resource"
        )
    return named.name
