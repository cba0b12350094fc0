"""Lambda's fields for things this server has not: accepted when they change nothing
about how a function runs here, refused when the user would miss what they asked for.

Accepted and ignored (what we report is what holds here):
    TracingConfig           either mode; no X-Ray here, reported ``PassThrough``
    SnapStart               either ApplyOn: it speeds cold starts, the function runs
                            the same; reported ``None``/``Off``
    EphemeralStorage        512-10240; ``/tmp`` is the server's size, for every function
    LoggingConfig.LogGroup  logs are kept by function name; reported ``/aws/lambda/NAME``
    "none" spelled out      an empty VpcConfig, DeadLetterConfig.TargetArn, KMSKeyArn,
                            Code.SourceKMSKeyArn, CodeSigningConfigArn or
                            FileSystemConfigs; Architectures ["x86_64"]

Refused, because the user would miss what they asked for:
    Code.S3Bucket/S3Key/S3ObjectVersion/S3ObjectStorageMode
                            no S3 here: send the zip as ZipFile (or, for PackageType
                            Image, a local image as ImageUri)
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

import re
from collections.abc import Callable

from gateway.api.aws_lambda.fields import boolean, choice, integer, json_object, refuse, required

TMP_MIN_MB, TMP_MAX_MB = 512, 10240
CODE_SOURCES = frozenset("S3Bucket S3Key S3ObjectVersion S3ObjectStorageMode".split())

_LOG_GROUP = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")


def architectures(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, list) or len(value) != 1:
        refuse("Architectures", "must list exactly one architecture, x86_64")
    if choice(value[0], "Architectures", ("x86_64", "arm64")) == "arm64":
        refuse("Architectures", "arm64 is not supported: functions here run on x86_64")


def code_sources(code: dict[str, object], prefix: str) -> None:
    for key in sorted(CODE_SOURCES & code.keys()):
        refuse(
            prefix + key,
            "is not supported here: this server does not read code from S3; send the zip "
            "file's bytes as ZipFile (or a local image as ImageUri, for PackageType Image)",
        )


def check_settings(body: dict[str, object]) -> None:
    """Accept or refuse each field of the module docstring's tables."""
    for key, check in _SETTINGS.items():
        if key in body:
            check(body[key])


def _tracing(value: object) -> None:
    config = json_object(value, "TracingConfig", {"Mode"}, "TracingConfig")
    if "Mode" in config:
        choice(config["Mode"], "TracingConfig.Mode", ("Active", "PassThrough"))


def _snap_start(value: object) -> None:
    config = json_object(value, "SnapStart", {"ApplyOn"}, "SnapStart")
    if "ApplyOn" in config:
        choice(config["ApplyOn"], "SnapStart.ApplyOn", ("PublishedVersions", "None"))


def _ephemeral_storage(value: object) -> None:
    config = json_object(value, "EphemeralStorage", {"Size"}, "EphemeralStorage")
    size = required(config, "Size", "EphemeralStorage.Size")
    integer(size, "EphemeralStorage.Size", TMP_MIN_MB, TMP_MAX_MB)


def _logging(value: object) -> None:
    where = "LoggingConfig"
    levels = {"ApplicationLogLevel", "SystemLogLevel"}
    config = json_object(value, where, {"LogFormat", "LogGroup"} | levels, where)
    if "LogFormat" in config:
        if choice(config["LogFormat"], f"{where}.LogFormat", ("JSON", "Text")) == "JSON":
            refuse(f"{where}.LogFormat", "JSON is not supported: log lines here are text")
    for key in sorted(levels & config.keys()):
        refuse(f"{where}.{key}", "is not supported: log levels need the JSON log format")
    if "LogGroup" in config:
        group = config["LogGroup"]
        if not isinstance(group, str) or not _LOG_GROUP.fullmatch(group):
            refuse(f"{where}.LogGroup", "must be a log group name such as /aws/lambda/NAME")


def _vpc(value: object) -> None:
    where = "VpcConfig"
    config = json_object(
        value, where, {"SubnetIds", "SecurityGroupIds", "Ipv6AllowedForDualStack"}, where
    )
    for key in ("SubnetIds", "SecurityGroupIds"):
        ids = config.get(key, [])
        if not isinstance(ids, list):
            refuse(f"{where}.{key}", "must be a list")
        if ids:
            refuse(
                f"{where}.{key}",
                "is not supported: this server has no VPC, so a function would not reach "
                "the network it names",
            )
    if "Ipv6AllowedForDualStack" in config:
        boolean(config["Ipv6AllowedForDualStack"], f"{where}.Ipv6AllowedForDualStack")


def _dead_letter(value: object) -> None:
    where = "DeadLetterConfig"
    config = json_object(value, where, {"TargetArn"}, where)
    target = config.get("TargetArn", "")
    if not isinstance(target, str):
        refuse(f"{where}.TargetArn", "must be an ARN")
    if target:
        refuse(
            f"{where}.TargetArn",
            "is not supported: this server has no SQS or SNS; send failed events to a "
            "function with PutFunctionEventInvokeConfig's OnFailure destination",
        )


def no_key(value: object, where: str = "KMSKeyArn") -> None:
    if value is None or value == "":
        return
    if not isinstance(value, str):
        refuse(where, "must be a KMS key ARN")
    refuse(where, "is not supported: this server does not encrypt with a KMS key of yours")


def _no_signing(value: object) -> None:
    where = "CodeSigningConfigArn"
    if value == "":
        return
    if not isinstance(value, str):
        refuse(where, "must be a code signing config ARN")
    refuse(where, "is not supported: this server does not check code signatures")


def _no_file_systems(value: object) -> None:
    where = "FileSystemConfigs"
    if not isinstance(value, list):
        refuse(where, "must be a list")
    if value:
        refuse(where, "is not supported: there is no EFS here; mount volumes through /v1")


def unsupported(where: str) -> None:
    refuse(where, "is not supported on this server")


_SETTINGS: dict[str, Callable[[object], None]] = {
    "TracingConfig": _tracing,
    "SnapStart": _snap_start,
    "EphemeralStorage": _ephemeral_storage,
    "LoggingConfig": _logging,
    "VpcConfig": _vpc,
    "DeadLetterConfig": _dead_letter,
    "KMSKeyArn": no_key,
    "CodeSigningConfigArn": _no_signing,
    "FileSystemConfigs": _no_file_systems,
    "TenancyConfig": lambda _: unsupported("TenancyConfig"),
    "CapacityProviderConfig": lambda _: unsupported("CapacityProviderConfig"),
    "DurableConfig": lambda _: unsupported("DurableConfig"),
    "RuntimeConfig": lambda _: unsupported("RuntimeConfig"),
    "AcceleratorConfig": lambda _: unsupported("AcceleratorConfig"),
    "PublishTo": lambda _: unsupported("PublishTo"),
}
