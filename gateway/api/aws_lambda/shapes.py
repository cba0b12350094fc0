"""The Lambda API's JSON, translated to our model and back; pure, no I/O.

A request body (already parsed, and checked to be text, by ``gateway.edge.aws``)
becomes a :class:`~faas.models.FunctionConfig`, a change for
:func:`~faas.models.apply_patch`, new code or an :class:`~faas.models.AsyncConfig`;
a :class:`~faas.models.FunctionSpec` becomes Lambda's ``FunctionConfiguration``.
Every refusal is a ``ValidationFailed`` whose ``field`` is the AWS field's path
(``MemorySize``, ``Environment.Variables``, ``Code.ZipFile``) and whose message
starts with it; the gateway answers it as ``InvalidParameterValueException``.
A JSON ``null`` is taken as the field left out, as AWS takes it. The fields each
operation knows are botocore's input shape, checked by the unit tests.

What happens to the fields that do not change how a function runs here:

Accepted and ignored (what we report is what holds here):
    TracingConfig           either mode; no X-Ray here, reported ``PassThrough``
    SnapStart               either ApplyOn: it speeds cold starts, the function runs
                            the same; reported ``None``/``Off``
    EphemeralStorage        512-10240; ``/tmp`` is the server's size, for every function
    LoggingConfig.LogGroup  logs are kept by function name; reported ``/aws/lambda/NAME``
    "none" spelled out      an empty VpcConfig, DeadLetterConfig.TargetArn, KMSKeyArn,
                            Code.SourceKMSKeyArn, CodeSigningConfigArn, FileSystemConfigs
                            or ImageConfig; PackageType Zip; Architectures ["x86_64"]

Refused, because the user would miss what they asked for:
    Code.S3Bucket/S3Key/S3ObjectVersion/S3ObjectStorageMode, ImageUri
                            no S3 here: send the zip as ZipFile
    PackageType Image, ImageConfig   container images are not supported yet
    Architectures arm64     only x86_64 runs here
    VpcConfig with subnets or security groups   no VPC: the private network is not there
    DeadLetterConfig.TargetArn   no SQS or SNS here: use an OnFailure destination
    KMSKeyArn, SourceKMSKeyArn   nothing is encrypted with a key of yours
    CodeSigningConfigArn    code is not signature-checked here: it would run unsigned
    FileSystemConfigs       no EFS: volumes are set through /v1
    LoggingConfig.LogFormat JSON and the log levels (which need JSON)   logs stay text
    TenancyConfig, CapacityProviderConfig, DurableConfig, RuntimeConfig,
    AcceleratorConfig, PublishTo   ways of running a function that have nothing here
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import time
import unicodedata
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from faas.compute.lambda_env import function_arn
from faas.errors import FunctionNotFound, ValidationFailed
from faas.models import (
    DESCRIPTION_MAX,
    ENV_MAX_BYTES,
    MEMORY_MAX_MB,
    MEMORY_MIN_MB,
    ROLE_MAX,
    TIMEOUT_MAX_S,
    AsyncConfig,
    FunctionConfig,
    FunctionSpec,
    apply_patch,
    validate_async_config,
    validate_config,
)
from gateway.api.aws_lambda import names

LATEST = names.LATEST
LAYERS_MAX = 5
TAGS_MAX = 50
RETRIES_MAX = 2  # Lambda's MaximumRetryAttempts
EVENT_AGE_MIN_S, EVENT_AGE_MAX_S = 60, 6 * 3600
TMP_MIN_MB, TMP_MAX_MB = 512, 10240

_ROLE = re.compile(r"^arn:aws[a-zA-Z-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@/-]+$")
# The region part is ours (``local-1``), not only AWS's ``xx-name-1``.
_LAYER = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:layer:(?P<name>[A-Za-z0-9_-]{1,140}):[0-9]{1,20}$"
)
_FUNCTION = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[A-Za-z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[A-Za-z0-9_-]{1,128}))?$"
)
_LOG_GROUP = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
_TAG_PUNCTUATION = frozenset("_.:/=+-@")

# Our field -> the AWS field, for refusals raised by faas.models.
_AWS_FIELDS = {
    "name": "FunctionName",
    "runtime": "Runtime",
    "handler": "Handler",
    "memory_mb": "MemorySize",
    "timeout_s": "Timeout",
    "env": "Environment.Variables",
    "description": "Description",
    "role": "Role",
    "layers": "Layers",
    "concurrency": "ReservedConcurrentExecutions",
    "max_retries": "MaximumRetryAttempts",
    "max_event_age_s": "MaximumEventAgeInSeconds",
    "on_success": "DestinationConfig.OnSuccess.Destination",
    "on_failure": "DestinationConfig.OnFailure.Destination",
}


@dataclass(frozen=True)
class Create:
    """A CreateFunction request: the function, its code and what to do with them."""

    config: FunctionConfig
    zip_bytes: bytes
    publish: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    layers: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpdateCode:
    """An UpdateFunctionCode request."""

    zip_bytes: bytes
    publish: bool = False
    revision_id: str | None = None
    dry_run: bool = False


# ---------------------------------------------------------------- to Lambda


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
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": tmp_size_mb},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{c.name}"},
    }
    # Lambda leaves both out when there are none.
    if c.env:
        out["Environment"] = {"Variables": dict(c.env)}
    if layers:
        out["Layers"] = [{"Arn": arn, "CodeSize": size} for arn, size in layers]
    return out


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


# ---------------------------------------------------------------- from Lambda

# The body fields of each operation (botocore's input shape, checked by the tests):
# what we translate, and the settings the module docstring decides on (_SETTINGS).
_CREATE_FIELDS = frozenset(
    "FunctionName Runtime Role Handler Code Description Timeout MemorySize Publish "
    "PackageType Environment Tags Layers Architectures".split()
)
_CREATE_SETTINGS = frozenset(
    "TracingConfig SnapStart EphemeralStorage LoggingConfig VpcConfig DeadLetterConfig "
    "KMSKeyArn CodeSigningConfigArn FileSystemConfigs ImageConfig TenancyConfig "
    "CapacityProviderConfig DurableConfig RuntimeConfig AcceleratorConfig PublishTo".split()
)
_UPDATE_CONFIG_FIELDS = frozenset(
    "Role Handler Description Timeout MemorySize Environment Runtime Layers RevisionId".split()
)
_UPDATE_CONFIG_SETTINGS = _CREATE_SETTINGS - {"CodeSigningConfigArn", "TenancyConfig", "PublishTo"}
_CODE_SOURCES = frozenset("S3Bucket S3Key S3ObjectVersion S3ObjectStorageMode ImageUri".split())
_UPDATE_CODE_FIELDS = frozenset("ZipFile Publish DryRun RevisionId Architectures".split())
_UPDATE_CODE_SETTINGS = _CODE_SOURCES | {"PublishTo", "SourceKMSKeyArn"}
_EVENT_INVOKE_FIELDS = frozenset(
    "MaximumRetryAttempts MaximumEventAgeInSeconds DestinationConfig".split()
)


def parse_create(doc: object, *, region: str, account_id: str) -> Create:
    """A CreateFunction body as a validated config, its code and the rest of the request.

    ``FunctionName`` may be a name or an unqualified (partial) ARN of this server, as
    Lambda takes it; ``Runtime``, ``Role``, ``Handler`` and ``Code.ZipFile`` are required.
    """
    body = _object(doc, None, _CREATE_FIELDS | _CREATE_SETTINGS, "CreateFunction")
    _settings(body)
    name = _new_name(_required(body, "FunctionName"), region=region, account_id=account_id)
    package = _choice(body.get("PackageType", "Zip"), "PackageType", ("Zip", "Image"))
    if package == "Image":
        _refuse("PackageType", "Image is not supported here yet: send a Zip package")
    _architectures(body.get("Architectures"))
    code = _object(
        _required(body, "Code"),
        "Code",
        _CODE_SOURCES | {"ZipFile", "SourceKMSKeyArn"},
        "FunctionCode",
    )
    _code_sources(code, "Code.")
    _no_key(code.get("SourceKMSKeyArn"), "Code.SourceKMSKeyArn")
    if "ZipFile" not in code:
        _refuse("Code.ZipFile", "is required: send the zip file's bytes in base64")
    zip_bytes = _zip(code["ZipFile"], "Code.ZipFile")
    config = FunctionConfig(
        name=name,
        runtime=_runtime(_required(body, "Runtime")),
        handler=_handler(_required(body, "Handler")),
        memory_mb=_int(body.get("MemorySize", 128), "MemorySize", MEMORY_MIN_MB, MEMORY_MAX_MB),
        timeout_s=_int(body.get("Timeout", 3), "Timeout", 1, TIMEOUT_MAX_S),
        env=_environment(body.get("Environment")),
        description=_description(body.get("Description", "")),
        role=_role(_required(body, "Role")),
    )
    try:
        validate_config(config)
    except ValidationFailed as exc:
        raise in_aws_terms(exc) from None
    return Create(
        config=config,
        zip_bytes=zip_bytes,
        publish=_bool(body.get("Publish", False), "Publish"),
        tags=parse_tags(body.get("Tags", {})),
        layers=parse_layers(body.get("Layers", [])),
    )


def parse_update_configuration(doc: object) -> tuple[dict[str, object], str | None]:
    """An UpdateFunctionConfiguration body as changes in our field names, and its RevisionId.

    ``Environment`` replaces every variable (``{}`` removes them all); ``Layers``
    comes as ``changes["layers"]``, a tuple of ARNs. Each value is checked on its
    own here; :func:`apply_update` checks the whole config.
    """
    body = _object(
        doc, None, _UPDATE_CONFIG_FIELDS | _UPDATE_CONFIG_SETTINGS, "UpdateFunctionConfiguration"
    )
    _settings(body)
    parsers: dict[str, tuple[str, Callable[[object], object]]] = {
        "Runtime": ("runtime", _runtime),
        "Handler": ("handler", _handler),
        "Role": ("role", _role),
        "Description": ("description", _description),
        "Timeout": ("timeout_s", lambda v: _int(v, "Timeout", 1, TIMEOUT_MAX_S)),
        "MemorySize": (
            "memory_mb",
            lambda v: _int(v, "MemorySize", MEMORY_MIN_MB, MEMORY_MAX_MB),
        ),
        "Environment": ("env", _environment),
        "Layers": ("layers", parse_layers),
    }
    changes = {ours: parse(body[aws]) for aws, (ours, parse) in parsers.items() if aws in body}
    return changes, _revision(body.get("RevisionId"))


def apply_update(config: FunctionConfig, changes: dict[str, object]) -> FunctionConfig:
    """:func:`faas.models.apply_patch`, refusing in the Lambda API's field names."""
    try:
        return apply_patch(config, changes)
    except ValidationFailed as exc:
        raise in_aws_terms(exc) from None


def parse_update_code(doc: object) -> UpdateCode:
    """An UpdateFunctionCode body: the new zip (``ZipFile``, required here), and whether to
    publish it, only check it (``DryRun``) or require a revision."""
    body = _object(doc, None, _UPDATE_CODE_FIELDS | _UPDATE_CODE_SETTINGS, "UpdateFunctionCode")
    _code_sources(body, "")
    _no_key(body.get("SourceKMSKeyArn"), "SourceKMSKeyArn")
    if "PublishTo" in body:
        _unsupported("PublishTo")
    _architectures(body.get("Architectures"))
    if "ZipFile" not in body:
        _refuse("ZipFile", "is required: send the zip file's bytes in base64")
    return UpdateCode(
        zip_bytes=_zip(body["ZipFile"], "ZipFile"),
        publish=_bool(body.get("Publish", False), "Publish"),
        revision_id=_revision(body.get("RevisionId")),
        dry_run=_bool(body.get("DryRun", False), "DryRun"),
    )


def parse_put_concurrency(doc: object, *, limit: int) -> int:
    """A PutFunctionConcurrency body's ``ReservedConcurrentExecutions``, 0 to ``limit``."""
    body = _object(doc, None, {"ReservedConcurrentExecutions"}, "PutFunctionConcurrency")
    value = _required(body, "ReservedConcurrentExecutions")
    return _int(value, "ReservedConcurrentExecutions", 0, limit)


def parse_event_invoke_config(
    doc: object, current: AsyncConfig, *, replace: bool, region: str, account_id: str
) -> AsyncConfig:
    """A Put (``replace``: what is left out takes Lambda's default) or Update (what is left
    out stays) FunctionEventInvokeConfig body applied to ``current``.

    Our own backoff settings, which Lambda has not, are kept either way. Destinations
    must be functions of this server, named by their unqualified ARN.
    """
    body = _object(doc, None, _EVENT_INVOKE_FIELDS, "FunctionEventInvokeConfig")
    base = current
    if replace:
        default = AsyncConfig()
        base = dataclasses.replace(
            current,
            max_retries=default.max_retries,
            max_event_age_s=default.max_event_age_s,
            on_success=None,
            on_failure=None,
        )
    changes: dict[str, Any] = {}
    if "MaximumRetryAttempts" in body:
        retries = body["MaximumRetryAttempts"]
        changes["max_retries"] = _int(retries, "MaximumRetryAttempts", 0, RETRIES_MAX)
    if "MaximumEventAgeInSeconds" in body:
        changes["max_event_age_s"] = _int(
            body["MaximumEventAgeInSeconds"],
            "MaximumEventAgeInSeconds",
            EVENT_AGE_MIN_S,
            EVENT_AGE_MAX_S,
        )
    if "DestinationConfig" in body:
        where = "DestinationConfig"
        destinations = _object(body[where], where, {"OnSuccess", "OnFailure"}, where)
        for aws, ours in (("OnSuccess", "on_success"), ("OnFailure", "on_failure")):
            if aws in destinations:
                path = f"{where}.{aws}"
                target = _object(destinations[aws], path, {"Destination"}, path)
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


def parse_tags(value: object, where: str = "Tags") -> dict[str, str]:
    """Tags as Lambda takes them: up to 50, keys 1-128 and values 0-256 characters of
    letters, digits, spaces and ``_.:/=+-@``; keys starting ``aws:`` are AWS's."""
    tags = _object(value, where, None, where)
    if len(tags) > TAGS_MAX:
        _refuse(where, f"holds {len(tags)} tags; a function has at most {TAGS_MAX}")
    for key, text in tags.items():
        if not 1 <= len(key) <= 128 or not _tag_text(key):
            _refuse(
                where,
                f"key {_shown(key)} must be 1-128 letters, digits, spaces or _.:/=+-@",
            )
        if key.lower().startswith("aws:"):
            _refuse(where, f"key {_shown(key)} starts with 'aws:', which AWS reserves")
        if not isinstance(text, str) or len(text) > 256 or not _tag_text(text):
            _refuse(
                where,
                f"value of {_shown(key)} must be a string of at most 256 letters, digits, "
                "spaces or _.:/=+-@",
            )
    return {key: str(text) for key, text in tags.items()}


def parse_layers(value: object, where: str = "Layers") -> tuple[str, ...]:
    """Up to five layer version ARNs, at most one version of each layer, in order."""
    if not isinstance(value, list):
        _refuse(where, "must be a list of layer version ARNs")
    if len(value) > LAYERS_MAX:
        _refuse(where, f"lists {len(value)} layers; a function has at most {LAYERS_MAX}")
    arns: list[str] = []
    for arn in value:
        found = _LAYER.fullmatch(arn) if isinstance(arn, str) else None
        if found is None:
            _refuse(
                where,
                f"entry {_shown(arn)} is not a layer version ARN "
                "(arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)",
            )
        layer = found.string.rsplit(":", 1)[0]
        if any(seen.rsplit(":", 1)[0] == layer for seen in arns):
            _refuse(where, f"lists two versions of the layer {found['name']!r}")
        arns.append(found.string)
    return tuple(arns)


def in_aws_terms(exc: ValidationFailed) -> ValidationFailed:
    """A refusal of ``faas.models`` with the field, and the message's first word, renamed
    to the Lambda API's (``memory_mb`` -> ``MemorySize``)."""
    ours = exc.field or ""
    aws = _AWS_FIELDS.get(ours, ours)
    message = exc.message
    if ours and aws != ours:
        if message.startswith(f"{ours} "):
            message = aws + message[len(ours) :]
        else:
            message = f"{aws}: {message}"
    return ValidationFailed(message, field=aws or None)


# ---------------------------------------------------------------- fields


def _new_name(value: object, *, region: str, account_id: str) -> str:
    # The pattern check echoes the value: bound it first (140 is Lambda's limit).
    if not isinstance(value, str) or not 1 <= len(value) <= 140:
        _refuse("FunctionName", "must be a function name of 1-64 letters, digits, '-' and '_'")
    try:
        named = names.parse(value, region=region, account_id=account_id)
    except FunctionNotFound:
        _refuse("FunctionName", "is an ARN of another region or account than this server's")
    if named.qualifier is not None:
        _refuse("FunctionName", "of a new function cannot name a version or alias")
    return named.name


def _runtime(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        _refuse("Runtime", "must be a runtime name such as python3.11")
    return value


def _handler(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128:
        _refuse("Handler", "must be a string of 1-128 characters, such as 'app.handler'")
    return value


def _role(value: object) -> str:
    if not isinstance(value, str) or len(value) > ROLE_MAX or not _ROLE.fullmatch(value):
        _refuse("Role", "must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    return value


def _description(value: object) -> str:
    if not isinstance(value, str) or len(value) > DESCRIPTION_MAX:
        _refuse("Description", f"must be a string of at most {DESCRIPTION_MAX} characters")
    return value


def _environment(value: object) -> dict[str, str]:
    if value is None:
        return {}
    env = _object(value, "Environment", {"Variables"}, "Environment")
    where = "Environment.Variables"
    variables = _object(env.get("Variables", {}), where, None, where)
    size = 0
    for key, text in variables.items():
        if not isinstance(text, str):
            _refuse(where, f"value of {_shown(key)} must be a string")
        size += len(key.encode(errors="surrogatepass")) + len(text.encode(errors="surrogatepass"))
    # Refused before the names are checked (and shown): a huge body ends here.
    if size > ENV_MAX_BYTES:
        _refuse(where, f"is {size} bytes; names and values total at most {ENV_MAX_BYTES}")
    return {key: str(text) for key, text in variables.items()}


def _zip(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        _refuse(where, "must be the zip file's bytes in base64")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        _refuse(where, "is not base64: send the zip file's bytes in base64")


def _revision(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 128:
        _refuse("RevisionId", "must be the RevisionId string of the function")
    return value


def _architectures(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, list) or len(value) != 1:
        _refuse("Architectures", "must list exactly one architecture, x86_64")
    if _choice(value[0], "Architectures", ("x86_64", "arm64")) == "arm64":
        _refuse("Architectures", "arm64 is not supported: functions here run on x86_64")


def _code_sources(code: dict[str, object], prefix: str) -> None:
    for key in sorted(_CODE_SOURCES & code.keys()):
        _refuse(
            prefix + key,
            "is not supported here: this server does not read code from S3 or a container "
            "registry; send the zip file's bytes as ZipFile",
        )


def _destination(value: object, where: str, *, region: str, account_id: str) -> str | None:
    if value == "":
        return None
    if not isinstance(value, str) or len(value) > 350:
        _refuse(where, "must be the ARN of a function")
    found = _FUNCTION.fullmatch(value)
    here = function_arn_for("NAME", region=region, account_id=account_id)
    if found is None:
        _refuse(
            where,
            f"must be the ARN of a function of this server ({here}); queues, topics, event "
            "buses, buckets and Kafka are not destinations here",
        )
    if found["region"] != region or found["account"] != account_id:
        _refuse(where, f"names a function of another region or account; use {here}")
    if found["qualifier"] not in (None, LATEST):
        _refuse(where, "names a version or alias; a destination here is an unqualified function")
    return found["name"]


# ------------------------------------------------- fields that change nothing here


def _settings(body: dict[str, object]) -> None:
    """Accept or refuse each field of the module docstring's tables."""
    for key, check in _SETTINGS.items():
        if key in body:
            check(body[key])


def _tracing(value: object) -> None:
    config = _object(value, "TracingConfig", {"Mode"}, "TracingConfig")
    if "Mode" in config:
        _choice(config["Mode"], "TracingConfig.Mode", ("Active", "PassThrough"))


def _snap_start(value: object) -> None:
    config = _object(value, "SnapStart", {"ApplyOn"}, "SnapStart")
    if "ApplyOn" in config:
        _choice(config["ApplyOn"], "SnapStart.ApplyOn", ("PublishedVersions", "None"))


def _ephemeral_storage(value: object) -> None:
    config = _object(value, "EphemeralStorage", {"Size"}, "EphemeralStorage")
    size = _required(config, "Size", "EphemeralStorage.Size")
    _int(size, "EphemeralStorage.Size", TMP_MIN_MB, TMP_MAX_MB)


def _logging(value: object) -> None:
    where = "LoggingConfig"
    levels = {"ApplicationLogLevel", "SystemLogLevel"}
    config = _object(value, where, {"LogFormat", "LogGroup"} | levels, where)
    if "LogFormat" in config:
        if _choice(config["LogFormat"], f"{where}.LogFormat", ("JSON", "Text")) == "JSON":
            _refuse(f"{where}.LogFormat", "JSON is not supported: log lines here are text")
    for key in sorted(levels & config.keys()):
        _refuse(f"{where}.{key}", "is not supported: log levels need the JSON log format")
    if "LogGroup" in config:
        group = config["LogGroup"]
        if not isinstance(group, str) or not _LOG_GROUP.fullmatch(group):
            _refuse(f"{where}.LogGroup", "must be a log group name such as /aws/lambda/NAME")


def _vpc(value: object) -> None:
    where = "VpcConfig"
    config = _object(
        value, where, {"SubnetIds", "SecurityGroupIds", "Ipv6AllowedForDualStack"}, where
    )
    for key in ("SubnetIds", "SecurityGroupIds"):
        ids = config.get(key, [])
        if not isinstance(ids, list):
            _refuse(f"{where}.{key}", "must be a list")
        if ids:
            _refuse(
                f"{where}.{key}",
                "is not supported: this server has no VPC, so a function would not reach "
                "the network it names",
            )
    if "Ipv6AllowedForDualStack" in config:
        _bool(config["Ipv6AllowedForDualStack"], f"{where}.Ipv6AllowedForDualStack")


def _dead_letter(value: object) -> None:
    where = "DeadLetterConfig"
    config = _object(value, where, {"TargetArn"}, where)
    target = config.get("TargetArn", "")
    if not isinstance(target, str):
        _refuse(f"{where}.TargetArn", "must be an ARN")
    if target:
        _refuse(
            f"{where}.TargetArn",
            "is not supported: this server has no SQS or SNS; send failed events to a "
            "function with PutFunctionEventInvokeConfig's OnFailure destination",
        )


def _no_key(value: object, where: str = "KMSKeyArn") -> None:
    if value is None or value == "":
        return
    if not isinstance(value, str):
        _refuse(where, "must be a KMS key ARN")
    _refuse(where, "is not supported: this server does not encrypt with a KMS key of yours")


def _no_signing(value: object) -> None:
    where = "CodeSigningConfigArn"
    if value == "":
        return
    if not isinstance(value, str):
        _refuse(where, "must be a code signing config ARN")
    _refuse(where, "is not supported: this server does not check code signatures")


def _no_file_systems(value: object) -> None:
    where = "FileSystemConfigs"
    if not isinstance(value, list):
        _refuse(where, "must be a list")
    if value:
        _refuse(where, "is not supported: there is no EFS here; mount volumes through /v1")


def _no_image_config(value: object) -> None:
    where = "ImageConfig"
    if not isinstance(value, dict):
        _refuse(where, "must be an object")
    if value:
        _refuse(where, "is not supported: container images are not supported here yet")


def _unsupported(where: str) -> None:
    _refuse(where, "is not supported on this server")


_SETTINGS: dict[str, Callable[[object], None]] = {
    "TracingConfig": _tracing,
    "SnapStart": _snap_start,
    "EphemeralStorage": _ephemeral_storage,
    "LoggingConfig": _logging,
    "VpcConfig": _vpc,
    "DeadLetterConfig": _dead_letter,
    "KMSKeyArn": _no_key,
    "CodeSigningConfigArn": _no_signing,
    "FileSystemConfigs": _no_file_systems,
    "ImageConfig": _no_image_config,
    "TenancyConfig": lambda _: _unsupported("TenancyConfig"),
    "CapacityProviderConfig": lambda _: _unsupported("CapacityProviderConfig"),
    "DurableConfig": lambda _: _unsupported("DurableConfig"),
    "RuntimeConfig": lambda _: _unsupported("RuntimeConfig"),
    "AcceleratorConfig": lambda _: _unsupported("AcceleratorConfig"),
    "PublishTo": lambda _: _unsupported("PublishTo"),
}


# ---------------------------------------------------------------- JSON types


def _object(
    value: object, where: str | None, known: Collection[str] | None, shape: str
) -> dict[str, Any]:
    """``value`` as an object; a structure (``known`` its fields: any other key refused)
    without its nulls, a map (``known`` None) as it is."""
    if not isinstance(value, dict):
        _refuse(where, "must be a JSON object")
    for key in value:
        if not isinstance(key, str) or (known is not None and key not in known):
            path = f"{where}.{key}" if where else str(key)
            _refuse(_bounded(path), f"is not a field of {shape}")
    if known is None:
        return value  # a map: a null value is a value, refused by its checks
    return {key: item for key, item in value.items() if item is not None}


def _required(body: dict[str, Any], key: str, where: str | None = None) -> object:
    if key not in body:
        _refuse(where or key, "is required")
    return body[key]


def _int(value: object, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _refuse(where, f"must be an integer from {low} to {high}")
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        _refuse(where, "must be true or false")
    return value


def _choice(value: object, where: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        _refuse(where, f"must be one of {', '.join(choices)}")
    return value


def _tag_text(text: str) -> bool:
    return all(ch in _TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LNZ" for ch in text)


def _shown(value: object) -> str:
    """``value`` quoted for a message: bounded, and escaped so that it is text."""
    text = repr(value)
    return text if len(text) <= 66 else text[:60] + "...'"


def _bounded(path: str) -> str:
    shown = path.encode("utf-8", "backslashreplace").decode()
    return shown if len(shown) <= 128 else shown[:125] + "..."


def _refuse(where: str | None, why: str) -> NoReturn:
    """Raise the refusal of ``where``: its message starts with the field's path."""
    raise ValidationFailed(f"{where} {why}" if where else f"The request body {why}", field=where)
