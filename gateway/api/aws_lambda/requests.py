"""The Lambda API's request bodies translated to our model; pure, no I/O.

A request body (already parsed, and checked to be text, by ``gateway.edge.aws``)
becomes a :class:`~faas.models.FunctionConfig`, a change for
:func:`~faas.models.apply_patch`, new code or an :class:`~faas.models.AsyncConfig`.
Refusals name the AWS field (:mod:`gateway.api.aws_lambda.fields`). A JSON
``null`` is taken as the field left out, as AWS takes it. The fields each
operation knows are botocore's input shape, checked by the unit tests; the
fields for things this server has not are decided in
:mod:`gateway.api.aws_lambda.unsupported`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from faas.errors import ValidationFailed
from faas.models import (
    MEMORY_MAX_MB,
    MEMORY_MIN_MB,
    TIMEOUT_MAX_S,
    AsyncConfig,
    FunctionConfig,
    apply_patch,
    validate_async_config,
    validate_config,
)
from gateway.api.aws_lambda import fields, unsupported
from gateway.api.aws_lambda.configuration import function_arn_for
from gateway.api.aws_lambda.fields import (
    boolean,
    choice,
    in_aws_terms,
    integer,
    json_object,
    refuse,
    required,
    shown,
    tag_text,
)
from gateway.api.aws_lambda.names import LATEST

LAYERS_MAX = 5
TAGS_MAX = 50
RETRIES_MAX = 2  # Lambda's MaximumRetryAttempts
EVENT_AGE_MIN_S, EVENT_AGE_MAX_S = 60, 6 * 3600

# The region part is ours (``local-1``), not only AWS's ``xx-name-1``.
_LAYER = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:layer:(?P<name>[A-Za-z0-9_-]{1,140}):[0-9]{1,20}$"
)
_FUNCTION = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[A-Za-z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[A-Za-z0-9_-]{1,128}))?$"
)


@dataclass(frozen=True)
class Create:
    """A CreateFunction request: the function, its code and what to do with them."""

    config: FunctionConfig
    # Its zip; None for an image function (its code is ``config.image``).
    zip_bytes: bytes | None
    publish: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    layers: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpdateCode:
    """An UpdateFunctionCode request: a new zip, or an image function's new image."""

    zip_bytes: bytes | None
    publish: bool = False
    revision_id: str | None = None
    dry_run: bool = False
    image: str | None = None


# ---------------------------------------------------------------- from Lambda

# The body fields of each operation (botocore's input shape, checked by the tests):
# what we translate, and the settings the module docstring decides on (_SETTINGS).
CREATE_FIELDS = frozenset(
    "FunctionName Runtime Role Handler Code Description Timeout MemorySize Publish "
    "PackageType Environment Tags Layers Architectures ImageConfig".split()
)
CREATE_SETTINGS = frozenset(
    "TracingConfig SnapStart EphemeralStorage LoggingConfig VpcConfig DeadLetterConfig "
    "KMSKeyArn CodeSigningConfigArn FileSystemConfigs TenancyConfig "
    "CapacityProviderConfig DurableConfig RuntimeConfig AcceleratorConfig PublishTo".split()
)
UPDATE_CONFIG_FIELDS = frozenset(
    "Role Handler Description Timeout MemorySize Environment Runtime Layers RevisionId "
    "ImageConfig".split()
)
UPDATE_CONFIG_SETTINGS = CREATE_SETTINGS - {"CodeSigningConfigArn", "TenancyConfig", "PublishTo"}
UPDATE_CODE_FIELDS = frozenset("ZipFile ImageUri Publish DryRun RevisionId Architectures".split())
UPDATE_CODE_SETTINGS = unsupported.CODE_SOURCES | {"PublishTo", "SourceKMSKeyArn"}
EVENT_INVOKE_FIELDS = frozenset(
    "MaximumRetryAttempts MaximumEventAgeInSeconds DestinationConfig".split()
)


def parse_create(doc: object, *, region: str, account_id: str) -> Create:
    """A CreateFunction body as a validated config, its code and the rest of the request.

    ``FunctionName`` may be a name or an unqualified (partial) ARN of this server, as
    Lambda takes it; ``Role`` is required, and ``Runtime``, ``Handler`` and
    ``Code.ZipFile`` for a Zip package, ``Code.ImageUri`` for an Image one (which takes
    no runtime, handler or layers, as on Lambda, and may have an ``ImageConfig``).
    """
    body = json_object(doc, None, CREATE_FIELDS | CREATE_SETTINGS, "CreateFunction")
    unsupported.check_settings(body)
    name = fields.new_name(required(body, "FunctionName"), region=region, account_id=account_id)
    package = choice(body.get("PackageType", "Zip"), "PackageType", ("Zip", "Image"))
    unsupported.architectures(body.get("Architectures"))
    code = json_object(
        required(body, "Code"),
        "Code",
        unsupported.CODE_SOURCES | {"ZipFile", "ImageUri", "SourceKMSKeyArn"},
        "FunctionCode",
    )
    unsupported.code_sources(code, "Code.")
    unsupported.no_key(code.get("SourceKMSKeyArn"), "Code.SourceKMSKeyArn")
    zip_bytes: bytes | None = None
    image = ""
    image_config = fields.image_config(body.get("ImageConfig"))
    if package == "Image":
        for key in ("Runtime", "Handler", "Layers"):
            if body.get(key):
                refuse(
                    key,
                    "cannot be set for PackageType Image: the image holds its runtime client "
                    "and its code (its CMD, or ImageConfig.Command, names the handler)",
                )
        if "ZipFile" in code:
            refuse("Code.ZipFile", "cannot be used with PackageType Image: set Code.ImageUri")
        if "ImageUri" not in code:
            refuse("Code.ImageUri", "is required for PackageType Image: name a local image")
        image = fields.image_uri(code["ImageUri"], "Code.ImageUri")
    else:
        if "ImageUri" in code:
            refuse("Code.ImageUri", "needs PackageType Image; a Zip package sends Code.ZipFile")
        if not image_config.empty:
            refuse("ImageConfig", "is only for PackageType Image")
        if "ZipFile" not in code:
            refuse("Code.ZipFile", "is required: send the zip file's bytes in base64")
        zip_bytes = fields.zip_file(code["ZipFile"], "Code.ZipFile")
    zip_package = package == "Zip"
    config = FunctionConfig(
        name=name,
        runtime=fields.runtime(required(body, "Runtime")) if zip_package else "",
        handler=fields.handler(required(body, "Handler")) if zip_package else "",
        memory_mb=integer(body.get("MemorySize", 128), "MemorySize", MEMORY_MIN_MB, MEMORY_MAX_MB),
        timeout_s=integer(body.get("Timeout", 3), "Timeout", 1, TIMEOUT_MAX_S),
        env=fields.environment(body.get("Environment")),
        description=fields.description(body.get("Description", "")),
        role=fields.role(required(body, "Role")),
        package_type=package,
        image=image,
        image_config=image_config,
    )
    try:
        validate_config(config)
    except ValidationFailed as exc:
        raise in_aws_terms(exc) from None
    return Create(
        config=config,
        zip_bytes=zip_bytes,
        publish=boolean(body.get("Publish", False), "Publish"),
        tags=parse_tags(body.get("Tags", {})),
        layers=parse_layers(body.get("Layers", [])),
    )


def parse_update_configuration(doc: object) -> tuple[dict[str, object], str | None]:
    """An UpdateFunctionConfiguration body as changes in our field names, and its RevisionId.

    ``Environment`` replaces every variable (``{}`` removes them all); ``Layers``
    comes as ``changes["layers"]``, a tuple of ARNs. Each value is checked on its
    own here; :func:`apply_update` checks the whole config.
    """
    body = json_object(
        doc, None, UPDATE_CONFIG_FIELDS | UPDATE_CONFIG_SETTINGS, "UpdateFunctionConfiguration"
    )
    unsupported.check_settings(body)
    parsers: dict[str, tuple[str, Callable[[object], object]]] = {
        "Runtime": ("runtime", fields.runtime),
        "Handler": ("handler", fields.handler),
        "Role": ("role", fields.role),
        "Description": ("description", fields.description),
        "Timeout": ("timeout_s", lambda v: integer(v, "Timeout", 1, TIMEOUT_MAX_S)),
        "MemorySize": (
            "memory_mb",
            lambda v: integer(v, "MemorySize", MEMORY_MIN_MB, MEMORY_MAX_MB),
        ),
        "Environment": ("env", fields.environment),
        "Layers": ("layers", parse_layers),
        "ImageConfig": ("image_config", fields.image_config),
    }
    changes = {ours: parse(body[aws]) for aws, (ours, parse) in parsers.items() if aws in body}
    return changes, fields.revision(body.get("RevisionId"))


def apply_update(config: FunctionConfig, changes: dict[str, object]) -> FunctionConfig:
    """:func:`faas.models.apply_patch`, refusing in the Lambda API's field names."""
    try:
        return apply_patch(config, changes)
    except ValidationFailed as exc:
        raise in_aws_terms(exc) from None


def parse_update_code(doc: object) -> UpdateCode:
    """An UpdateFunctionCode body: the new zip (``ZipFile``) or image (``ImageUri``, for an
    image function), and whether to publish it, only check it (``DryRun``) or require a
    revision."""
    body = json_object(doc, None, UPDATE_CODE_FIELDS | UPDATE_CODE_SETTINGS, "UpdateFunctionCode")
    unsupported.code_sources(body, "")
    unsupported.no_key(body.get("SourceKMSKeyArn"), "SourceKMSKeyArn")
    if "PublishTo" in body:
        unsupported.unsupported("PublishTo")
    unsupported.architectures(body.get("Architectures"))
    if "ImageUri" in body:
        if "ZipFile" in body:
            refuse("ZipFile", "and ImageUri cannot both be sent: a function is one or the other")
        return UpdateCode(
            zip_bytes=None,
            image=fields.image_uri(body["ImageUri"], "ImageUri"),
            publish=boolean(body.get("Publish", False), "Publish"),
            revision_id=fields.revision(body.get("RevisionId")),
            dry_run=boolean(body.get("DryRun", False), "DryRun"),
        )
    if "ZipFile" not in body:
        refuse(
            "ZipFile",
            "is required: send the zip file's bytes in base64 (or ImageUri, for an image function)",
        )
    return UpdateCode(
        zip_bytes=fields.zip_file(body["ZipFile"], "ZipFile"),
        publish=boolean(body.get("Publish", False), "Publish"),
        revision_id=fields.revision(body.get("RevisionId")),
        dry_run=boolean(body.get("DryRun", False), "DryRun"),
    )


def parse_put_concurrency(doc: object, *, limit: int) -> int:
    """A PutFunctionConcurrency body's ``ReservedConcurrentExecutions``, 0 to ``limit``."""
    body = json_object(doc, None, {"ReservedConcurrentExecutions"}, "PutFunctionConcurrency")
    value = required(body, "ReservedConcurrentExecutions")
    return integer(value, "ReservedConcurrentExecutions", 0, limit)


def parse_event_invoke_config(
    doc: object, current: AsyncConfig, *, replace: bool, region: str, account_id: str
) -> AsyncConfig:
    """A Put (``replace``: what is left out takes Lambda's default) or Update (what is left
    out stays) FunctionEventInvokeConfig body applied to ``current``.

    Our own backoff settings, which Lambda has not, are kept either way. Destinations
    must be functions of this server, named by their unqualified ARN.
    """
    body = json_object(doc, None, EVENT_INVOKE_FIELDS, "FunctionEventInvokeConfig")
    base = without_event_invoke_config(current) if replace else current
    changes: dict[str, Any] = {}
    if "MaximumRetryAttempts" in body:
        retries = body["MaximumRetryAttempts"]
        changes["max_retries"] = integer(retries, "MaximumRetryAttempts", 0, RETRIES_MAX)
    if "MaximumEventAgeInSeconds" in body:
        changes["max_event_age_s"] = integer(
            body["MaximumEventAgeInSeconds"],
            "MaximumEventAgeInSeconds",
            EVENT_AGE_MIN_S,
            EVENT_AGE_MAX_S,
        )
    if "DestinationConfig" in body:
        where = "DestinationConfig"
        destinations = json_object(body[where], where, {"OnSuccess", "OnFailure"}, where)
        for aws, ours in (("OnSuccess", "on_success"), ("OnFailure", "on_failure")):
            if aws in destinations:
                path = f"{where}.{aws}"
                target = json_object(destinations[aws], path, {"Destination"}, path)
                changes[ours] = _destination(
                    target.get("Destination", ""),
                    f"{path}.Destination",
                    region=region,
                    account_id=account_id,
                )
    try:
        return validate_async_config(dataclasses.replace(base, **changes))
    except ValidationFailed as exc:
        raise in_aws_terms(exc) from None


def without_event_invoke_config(current: AsyncConfig) -> AsyncConfig:
    """``current`` with Lambda's fields at Lambda's defaults and our backoffs kept: what
    a function without a FunctionEventInvokeConfig holds."""
    default = AsyncConfig()
    return dataclasses.replace(
        current,
        max_retries=default.max_retries,
        max_event_age_s=default.max_event_age_s,
        on_success=None,
        on_failure=None,
    )


def parse_tags(value: object, where: str = "Tags") -> dict[str, str]:
    """Tags as Lambda takes them: up to 50, keys 1-128 and values 0-256 characters of
    letters, digits, spaces and ``_.:/=+-@``; keys starting ``aws:`` are AWS's."""
    tags = json_object(value, where, None, where)
    if len(tags) > TAGS_MAX:
        refuse(where, f"holds {len(tags)} tags; a function has at most {TAGS_MAX}")
    for key, text in tags.items():
        if not 1 <= len(key) <= 128 or not tag_text(key):
            refuse(
                where,
                f"key {shown(key)} must be 1-128 letters, digits, spaces or _.:/=+-@",
            )
        if key.lower().startswith("aws:"):
            refuse(where, f"key {shown(key)} starts with 'aws:', which AWS reserves")
        if not isinstance(text, str) or len(text) > 256 or not tag_text(text):
            refuse(
                where,
                f"value of {shown(key)} must be a string of at most 256 letters, digits, "
                "spaces or _.:/=+-@",
            )
    return {key: str(text) for key, text in tags.items()}


def parse_layers(value: object, where: str = "Layers") -> tuple[str, ...]:
    """Up to five layer version ARNs, at most one version of each layer, in order."""
    if not isinstance(value, list):
        refuse(where, "must be a list of layer version ARNs")
    if len(value) > LAYERS_MAX:
        refuse(where, f"lists {len(value)} layers; a function has at most {LAYERS_MAX}")
    arns: list[str] = []
    for arn in value:
        found = _LAYER.fullmatch(arn) if isinstance(arn, str) else None
        if found is None:
            refuse(
                where,
                f"entry {shown(arn)} is not a layer version ARN "
                "(arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)",
            )
        layer = found.string.rsplit(":", 1)[0]
        if any(seen.rsplit(":", 1)[0] == layer for seen in arns):
            refuse(where, f"lists two versions of the layer {found['name']!r}")
        arns.append(found.string)
    return tuple(arns)


def _destination(value: object, where: str, *, region: str, account_id: str) -> str | None:
    if value == "":
        return None
    if not isinstance(value, str) or len(value) > 350:
        refuse(where, "must be the ARN of a function")
    found = _FUNCTION.fullmatch(value)
    here = function_arn_for("NAME", region=region, account_id=account_id)
    if found is None:
        refuse(
            where,
            f"must be the ARN of a function of this server ({here}); queues, topics, event "
            "buses, buckets and Kafka are not destinations here",
        )
    if found["region"] != region or found["account"] != account_id:
        refuse(where, f"names a function of another region or account; use {here}")
    if found["qualifier"] not in (None, LATEST):
        refuse(where, "names a version or alias; a destination here is an unqualified function")
    return found["name"]
