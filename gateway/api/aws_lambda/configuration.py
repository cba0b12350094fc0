"""Lambda's ``FunctionConfiguration`` and ``FunctionEventInvokeConfig``: our specs
as the Lambda API answers them; pure, no I/O.

Every field a client reads is there, with the value that holds here: ``State``
and ``LastUpdateStatus`` are final at once, tracing is ``PassThrough``, the
architecture x86_64 (see :mod:`gateway.api.aws_lambda.unsupported`). An image
function has no ``Runtime`` or ``Handler``, its ``CodeSha256`` is its image's id
(hex, as Lambda gives an image's digest) and its ``ImageConfigResponse`` is there
when it has an ``ImageConfig``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from typing import Any

from faas.compute.lambda_env import function_arn
from faas.image_config import ImageConfig
from faas.models import AsyncConfig, FunctionSpec
from gateway.api.aws_lambda.names import LATEST
from gateway.api.aws_lambda.unsupported import TMP_MIN_MB


def function_arn_for(
    name: str, *, region: str, account_id: str, qualifier: str | None = None
) -> str:
    """``arn:aws:lambda:REGION:ACCOUNT:function:NAME``, with ``:QUALIFIER`` if given."""
    arn = function_arn(region, account_id, name)
    return f"{arn}:{qualifier}" if qualifier is not None else arn


def function_configuration(
    spec: FunctionSpec,
    *,
    region: str,
    account_id: str,
    version: str = LATEST,
    qualify_latest: bool = False,
    layers: Sequence[tuple[str, int]] = (),
    tmp_size_mb: int = TMP_MIN_MB,
) -> dict[str, Any]:
    """Lambda's ``FunctionConfiguration`` of ``spec`` as ``version``.

    The ARN is qualified for a published version, and for ``$LATEST`` only when
    ``qualify_latest`` (ListVersionsByFunction, a ``Qualifier=$LATEST`` get).
    ``layers`` are (ARN, code size) pairs. ``State`` and ``LastUpdateStatus`` are
    final at once: boto3's waiters (function_active_v2, function_updated_v2,
    published_version_active) read only them.
    """
    c = spec.config
    qualifier = version if version != LATEST or qualify_latest else None
    out: dict[str, Any] = {
        "FunctionName": c.name,
        "FunctionArn": function_arn_for(
            c.name, region=region, account_id=account_id, qualifier=qualifier
        ),
        "Runtime": c.runtime,
        "Role": c.role,
        "Handler": c.handler,
        "CodeSize": spec.code_size,
        "Description": c.description,
        "Timeout": c.timeout_s,
        "MemorySize": c.memory_mb,
        "LastModified": lambda_time(spec.updated_at),
        "CodeSha256": code_sha256(spec.code_sha256),
        "Version": version,
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": spec.revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": c.package_type,
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": tmp_size_mb},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{c.name}"},
    }
    if c.is_image:
        del out["Runtime"], out["Handler"]
        out["CodeSha256"] = spec.code_sha256
        if not c.image_config.empty:
            out["ImageConfigResponse"] = {"ImageConfig": image_config(c.image_config)}
    # Lambda leaves both out when there are none.
    if c.env:
        out["Environment"] = {"Variables": dict(c.env)}
    if layers:
        out["Layers"] = [{"Arn": arn, "CodeSize": size} for arn, size in layers]
    return out


def image_config(config: ImageConfig) -> dict[str, Any]:
    """Lambda's ``ImageConfig``: only what is set."""
    out: dict[str, Any] = {}
    if config.entry_point is not None:
        out["EntryPoint"] = list(config.entry_point)
    if config.command is not None:
        out["Command"] = list(config.command)
    if config.working_directory:
        out["WorkingDirectory"] = config.working_directory
    return out


def code_location(spec: FunctionSpec) -> dict[str, str]:
    """``GetFunction``'s ``Code`` of an image function: its image, and the image it runs
    (the id it was resolved to when its code was set, as Lambda resolves a digest)."""
    repository = spec.config.image.split("@", 1)[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    return {
        "RepositoryType": "ECR",
        "ImageUri": spec.config.image,
        "ResolvedImageUri": f"{repository}@sha256:{spec.code_sha256}",
    }


def lambda_time(epoch: float) -> str:
    """Lambda's ``LastModified``: ``2026-12-06T21:04:05.123+0000``."""
    # Rounded, not cut: 1.001 * 1000 is 1000.9999999999999 in floating point.
    seconds, millis = divmod(round(epoch * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}+0000"


def code_sha256(hex_digest: str) -> str:
    """Lambda's ``CodeSha256``: the base64 of the digest our code store names in hex."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def event_invoke_config(
    config: AsyncConfig,
    *,
    function_name: str,
    region: str,
    account_id: str,
    last_modified: float,
    qualifier: str = LATEST,
) -> dict[str, Any]:
    """Lambda's ``FunctionEventInvokeConfig``; its ``FunctionArn`` is always qualified and
    ``LastModified`` is epoch seconds, as Lambda sends them."""

    def destination(name: str | None) -> dict[str, str]:
        if name is None:
            return {}
        return {"Destination": function_arn_for(name, region=region, account_id=account_id)}

    return {
        "LastModified": last_modified,
        "FunctionArn": function_arn_for(
            function_name, region=region, account_id=account_id, qualifier=qualifier
        ),
        "MaximumRetryAttempts": config.max_retries,
        "MaximumEventAgeInSeconds": config.max_event_age_s,
        "DestinationConfig": {
            "OnSuccess": destination(config.on_success),
            "OnFailure": destination(config.on_failure),
        },
    }
