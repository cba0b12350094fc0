"""The Lambda API's request and response bodies, as boto3 sends and reads them.

Request bodies are built by botocore's own serializer (no network), responses are
read back by botocore's parser and checked against its output shapes: the service
model is the contract.
"""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import io
import json
import random
import zipfile
from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from botocore.validate import ParamValidator

from faas.errors import ValidationFailed
from faas.models import AsyncConfig, FunctionConfig, FunctionSpec
from gateway.api.aws_lambda.configuration import (
    event_invoke_config,
    function_arn_for,
    function_configuration,
    lambda_time,
)
from gateway.api.aws_lambda.requests import (
    CREATE_FIELDS,
    CREATE_SETTINGS,
    EVENT_INVOKE_FIELDS,
    UPDATE_CODE_FIELDS,
    UPDATE_CODE_SETTINGS,
    UPDATE_CONFIG_FIELDS,
    UPDATE_CONFIG_SETTINGS,
    Create,
    UpdateCode,
    apply_update,
    parse_create,
    parse_event_invoke_config,
    parse_put_concurrency,
    parse_update_code,
    parse_update_configuration,
)
from gateway.api.aws_lambda.unsupported import CODE_SOURCES

HERE = {"region": "local-1", "account_id": "000000000000"}
ROLE = "arn:aws:iam::000000000000:role/lambda-basic"
LAYER = "arn:aws:lambda:local-1:000000000000:layer:deps:3"
SESSION = botocore.session.get_session()
MODEL = SESSION.get_service_model("lambda")


def a_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


ZIP = a_zip()


def boto_body(operation: str, **params: Any) -> Any:
    """The JSON body boto3 sends for ``operation`` with ``params`` (validated by botocore)."""
    request = create_serializer("rest-json").serialize_to_request(
        params, MODEL.operation_model(operation)
    )
    return json.loads(request["body"] or b"{}")


def boto_reads(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """What boto3 returns to its caller when the server answers ``body``."""
    response = {"status_code": 200, "headers": {}, "body": json.dumps(body).encode()}
    parsed: dict[str, Any] = create_parser("rest-json").parse(
        response, MODEL.operation_model(operation).output_shape
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


def create_body(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "FunctionName": "orders",
        "Runtime": "python3.11",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": ZIP},
    }
    params.update(overrides)
    body: dict[str, Any] = boto_body("CreateFunction", **params)
    return body


def a_spec(**config: Any) -> FunctionSpec:
    values: dict[str, Any] = {
        "name": "orders",
        "runtime": "python3.11",
        "handler": "app.handler",
        "role": ROLE,
    }
    values.update(config)
    return FunctionSpec(
        config=FunctionConfig(**values),
        code_sha256=hashlib.sha256(ZIP).hexdigest(),
        code_size=len(ZIP),
        created_at=1_700_000_000.0,
        updated_at=1_796_591_045.123,
    )


def refusal(parse: Any, doc: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as refused:
        parse(doc)
    return refused.value


def names_its_field(refused: ValidationFailed) -> bool:
    field = refused.field or ""
    camel = field[:1].lower() + field[1:]
    return field in refused.message or camel in refused.message


def body_members(operation: str) -> set[str]:
    shape = MODEL.operation_model(operation).input_shape
    return {
        name
        for name, member in shape.members.items()
        if member.serialization.get("location") not in ("uri", "querystring", "header")
    }


# ---------------------------------------------------------------- CreateFunction


def test_a_boto3_create_function_request_becomes_the_function_it_describes() -> None:
    # Given the body boto3 sends for a full CreateFunction call
    body = create_body(
        FunctionName="arn:aws:lambda:local-1:000000000000:function:orders",
        Description="Takes orders",
        Timeout=30,
        MemorySize=512,
        Environment={"Variables": {"TABLE": "orders", "STAGE": "prod"}},
        Publish=True,
        Tags={"team": "checkout", "cost-center": "42"},
        Layers=[LAYER],
        PackageType="Zip",
        Architectures=["x86_64"],
    )
    # When the server reads it
    create = parse_create(body, **HERE)
    # Then it is that function, with its code, tags and layers
    assert create == Create(
        config=FunctionConfig(
            name="orders",
            runtime="python3.11",
            handler="app.handler",
            memory_mb=512,
            timeout_s=30,
            env={"TABLE": "orders", "STAGE": "prod"},
            description="Takes orders",
            role=ROLE,
        ),
        zip_bytes=ZIP,
        publish=True,
        tags={"team": "checkout", "cost-center": "42"},
        layers=(LAYER,),
    )


def test_what_is_left_out_takes_lambdas_defaults() -> None:
    create = parse_create(create_body(), **HERE)
    assert (create.config.memory_mb, create.config.timeout_s) == (128, 3)
    assert (create.config.env, create.config.description) == ({}, "")
    assert (create.publish, create.tags, create.layers) == (False, {}, ())


@pytest.mark.parametrize(
    "name",
    [
        "orders",
        "000000000000:function:orders",
        "arn:aws:lambda:local-1:000000000000:function:orders",
    ],
)
def test_a_new_function_is_named_by_its_name_or_its_arn(name: str) -> None:
    assert parse_create(create_body(FunctionName=name), **HERE).config.name == "orders"


def test_settings_that_change_nothing_here_are_accepted_and_ignored() -> None:
    # Given what deploy tools send besides the function itself (Terraform spells "none" out)
    extras = {
        "TracingConfig": {"Mode": "Active"},
        "SnapStart": {"ApplyOn": "PublishedVersions"},
        "EphemeralStorage": {"Size": 1024},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/orders"},
        "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []},
        "DeadLetterConfig": {"TargetArn": ""},
        "KMSKeyArn": "",
        "FileSystemConfigs": [],
    }
    # When the server reads them, with a JSON null standing for a field left out
    body = create_body(**extras) | {"Description": None, "CodeSigningConfigArn": ""}
    # Then the function is the same as without them
    assert parse_create(body, **HERE) == parse_create(create_body(), **HERE)


GOOD_CREATE = create_body(Environment={"Variables": {"A1": "x"}}, Tags={"k": "v"})

BAD_CREATE: list[tuple[str, Any, str]] = [
    # (path to set, value; "DELETE" removes it), the field the refusal names
    ("FunctionName", "DELETE", "FunctionName"),
    ("FunctionName", 5, "FunctionName"),
    ("FunctionName", "bad name", "FunctionName"),
    ("FunctionName", "x" * 65, "FunctionName"),
    ("FunctionName", "x" * 1_000_000, "FunctionName"),
    ("FunctionName", "orders:1", "FunctionName"),
    ("FunctionName", "arn:aws:lambda:us-east-1:000000000000:function:orders", "FunctionName"),
    ("FunctionName", "123456789012:function:orders", "FunctionName"),
    ("Runtime", "DELETE", "Runtime"),
    ("Runtime", "python3.12", "Runtime"),
    ("Runtime", 3, "Runtime"),
    ("Runtime", ["python3.11"], "Runtime"),
    ("Runtime", "p" * 1_000_000, "Runtime"),
    ("Role", "DELETE", "Role"),
    ("Role", "", "Role"),
    ("Role", "lambda-basic", "Role"),
    ("Role", 7, "Role"),
    ("Handler", "DELETE", "Handler"),
    ("Handler", "", "Handler"),
    ("Handler", "app handler", "Handler"),
    ("Handler", "handler", "Handler"),
    ("Handler", 1, "Handler"),
    ("Handler", "a." + "h" * 200, "Handler"),
    ("MemorySize", 127, "MemorySize"),
    ("MemorySize", 10241, "MemorySize"),
    ("MemorySize", True, "MemorySize"),
    ("MemorySize", "256", "MemorySize"),
    ("MemorySize", 256.0, "MemorySize"),
    ("MemorySize", 10**100, "MemorySize"),
    ("MemorySize", -(10**100), "MemorySize"),
    ("Timeout", 0, "Timeout"),
    ("Timeout", 901, "Timeout"),
    ("Timeout", False, "Timeout"),
    ("Timeout", 3.5, "Timeout"),
    ("Timeout", [3], "Timeout"),
    ("Environment", "A=1", "Environment"),
    ("Environment", {"Vars": {}}, "Environment.Vars"),
    ("Environment.Variables", ["A"], "Environment.Variables"),
    ("Environment.Variables", {"A1": 1}, "Environment.Variables"),
    ("Environment.Variables", {"A1": None}, "Environment.Variables"),
    ("Environment.Variables", {"1A": "x"}, "Environment.Variables"),
    ("Environment.Variables", {"AWS_REGION": "x"}, "Environment.Variables"),
    ("Environment.Variables", {"A1": "x" * 5000}, "Environment.Variables"),
    ("Environment.Variables", {"A1": "a\x00b"}, "Environment.Variables"),
    ("Environment.Variables", {"K" * 1_000_000: "x"}, "Environment.Variables"),
    ("Description", "d" * 257, "Description"),
    ("Description", 5, "Description"),
    ("Publish", "true", "Publish"),
    ("Publish", 1, "Publish"),
    ("Tags", "team=checkout", "Tags"),
    ("Tags", {"team": 1}, "Tags"),
    ("Tags", {"": "v"}, "Tags"),
    ("Tags", {"aws:owner": "me"}, "Tags"),
    ("Tags", {"k": "v" * 257}, "Tags"),
    ("Tags", {"k" * 129: "v"}, "Tags"),
    ("Tags", {"bad\x01": "v"}, "Tags"),
    ("Tags", {f"k{i}": "v" for i in range(51)}, "Tags"),
    ("Layers", LAYER, "Layers"),
    ("Layers", ["deps"], "Layers"),
    ("Layers", [5], "Layers"),
    ("Layers", [f"{LAYER[:-2]}{i}:1" for i in range(6)], "Layers"),
    ("Layers", [LAYER, LAYER[:-1] + "4"], "Layers"),
    ("Code", "DELETE", "Code"),
    ("Code", "UEsFBg==", "Code"),
    ("Code", {}, "Code.ZipFile"),
    ("Code", {"S3Bucket": "my-bucket", "S3Key": "f.zip"}, "Code.S3Bucket"),
    ("Code", {"ImageUri": "registry/image:1"}, "Code.ImageUri"),
    ("Code", {"ZipFile": "UEsFBg==", "Bogus": 1}, "Code.Bogus"),
    ("Code", {"ZipFile": "UEsFBg==", "SourceKMSKeyArn": "arn:aws:kms:x"}, "Code.SourceKMSKeyArn"),
    ("Code.ZipFile", "not base64!", "Code.ZipFile"),
    ("Code.ZipFile", "UEsFBg=", "Code.ZipFile"),
    ("Code.ZipFile", 5, "Code.ZipFile"),
    ("Code.ZipFile", [80, 75], "Code.ZipFile"),
    ("PackageType", "Image", "PackageType"),
    ("PackageType", "Tar", "PackageType"),
    ("Architectures", ["arm64"], "Architectures"),
    ("Architectures", [], "Architectures"),
    ("Architectures", ["x86_64", "arm64"], "Architectures"),
    ("Architectures", "x86_64", "Architectures"),
    ("Architectures", ["mips"], "Architectures"),
    ("FunctionNme", "orders", "FunctionNme"),
    ("Bogus", 1, "Bogus"),
    ("VpcConfig", {"SubnetIds": ["subnet-1"]}, "VpcConfig.SubnetIds"),
    ("VpcConfig", {"SecurityGroupIds": "sg-1"}, "VpcConfig.SecurityGroupIds"),
    ("DeadLetterConfig", {"TargetArn": "arn:aws:sqs:local-1:0:q"}, "DeadLetterConfig.TargetArn"),
    ("KMSKeyArn", "arn:aws:kms:local-1:000000000000:key/k", "KMSKeyArn"),
    ("CodeSigningConfigArn", "arn:aws:lambda:x", "CodeSigningConfigArn"),
    ("FileSystemConfigs", [{"Arn": "a", "LocalMountPath": "/mnt/a"}], "FileSystemConfigs"),
    ("ImageConfig", {"Command": ["app.handler"]}, "ImageConfig"),
    ("LoggingConfig", {"LogFormat": "JSON"}, "LoggingConfig.LogFormat"),
    ("LoggingConfig", {"ApplicationLogLevel": "INFO"}, "LoggingConfig.ApplicationLogLevel"),
    ("LoggingConfig", {"LogGroup": "bad group"}, "LoggingConfig.LogGroup"),
    ("EphemeralStorage", {"Size": 100}, "EphemeralStorage.Size"),
    ("EphemeralStorage", {"Size": True}, "EphemeralStorage.Size"),
    ("EphemeralStorage", {}, "EphemeralStorage.Size"),
    ("TracingConfig", {"Mode": "Loud"}, "TracingConfig.Mode"),
    ("TracingConfig", "Active", "TracingConfig"),
    ("SnapStart", {"ApplyOn": "Always"}, "SnapStart.ApplyOn"),
    ("TenancyConfig", {"TenantIsolationMode": "PER_TENANT"}, "TenancyConfig"),
    ("DurableConfig", {}, "DurableConfig"),
    ("PublishTo", "LATEST_PUBLISHED", "PublishTo"),
]


def with_value(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    target = doc
    for key in parents:
        target = target[key]
    if value == "DELETE":
        target.pop(last, None)
    else:
        target[last] = value
    return doc


@pytest.mark.parametrize(("path", "value", "field"), BAD_CREATE)
def test_every_bad_create_field_is_refused_naming_it(path: str, value: Any, field: str) -> None:
    refused = refusal(lambda doc: parse_create(doc, **HERE), with_value(GOOD_CREATE, path, value))
    assert refused.field == field
    assert names_its_field(refused), refused.message
    assert len(refused.message) < 400  # a huge value is never echoed


def test_a_body_that_is_not_an_object_is_refused() -> None:
    assert refusal(lambda doc: parse_create(doc, **HERE), ["orders"]).field is None


# ---------------------------------------------------------------- the fields we know


@pytest.mark.parametrize(
    ("operation", "known"),
    [
        ("CreateFunction", CREATE_FIELDS | CREATE_SETTINGS),
        ("UpdateFunctionConfiguration", UPDATE_CONFIG_FIELDS | UPDATE_CONFIG_SETTINGS),
        ("UpdateFunctionCode", UPDATE_CODE_FIELDS | UPDATE_CODE_SETTINGS),
        ("PutFunctionEventInvokeConfig", EVENT_INVOKE_FIELDS),
        ("UpdateFunctionEventInvokeConfig", EVENT_INVOKE_FIELDS),
    ],
)
def test_every_field_botocore_sends_has_a_decision(operation: str, known: frozenset[str]) -> None:
    # A new botocore field fails here until it is taken, ignored or refused on purpose.
    assert known == body_members(operation)


def test_every_code_source_botocore_knows_has_a_decision() -> None:
    members = set(MODEL.shape_for("FunctionCode").members)
    assert members == CODE_SOURCES | {"ZipFile", "SourceKMSKeyArn"}


# ---------------------------------------------------------------- FunctionConfiguration


def test_the_configuration_is_what_boto3_reads_for_a_function() -> None:
    # Given a function with variables and a layer
    spec = a_spec(env={"TABLE": "orders"}, memory_mb=256, timeout_s=10, description="d")
    # When its configuration is answered
    out = function_configuration(spec, **HERE, layers=[(LAYER, 1234)])
    # Then it is valid under botocore's FunctionConfiguration shape
    report = ParamValidator().validate(out, MODEL.shape_for("FunctionConfiguration"))
    assert not report.has_errors(), report.generate_report()
    # And boto3 reads every field back unchanged
    assert boto_reads("GetFunctionConfiguration", out) == out
    assert out["FunctionArn"] == "arn:aws:lambda:local-1:000000000000:function:orders"
    assert out["Environment"] == {"Variables": {"TABLE": "orders"}}
    assert out["Layers"] == [{"Arn": LAYER, "CodeSize": 1234}]
    assert (out["MemorySize"], out["Timeout"], out["Description"]) == (256, 10, "d")
    assert (out["Version"], out["Role"], out["Handler"]) == ("$LATEST", ROLE, "app.handler")
    assert out["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/orders"}


def test_code_sha256_is_the_base64_of_the_zips_digest_as_lambda_gives_it() -> None:
    out = function_configuration(a_spec(), **HERE)
    assert out["CodeSha256"] == base64.b64encode(hashlib.sha256(ZIP).digest()).decode()
    assert out["CodeSize"] == len(ZIP)


def test_last_modified_is_in_lambdas_format() -> None:
    out = function_configuration(a_spec(), **HERE)
    assert out["LastModified"] == "2026-12-06T21:04:05.123+0000"
    assert lambda_time(0.0) == "1970-01-01T00:00:00.000+0000"
    assert lambda_time(1.001) == "1970-01-01T00:00:01.001+0000"
    assert lambda_time(1.9999) == "1970-01-01T00:00:02.000+0000"


def test_a_function_without_variables_or_layers_has_neither_key_as_on_lambda() -> None:
    out = function_configuration(a_spec(), **HERE)
    assert "Environment" not in out and "Layers" not in out
    assert out["RevisionId"] == a_spec().revision_id


def test_a_published_version_has_a_qualified_arn() -> None:
    out = function_configuration(a_spec(), **HERE, version="7")
    assert (out["Version"], out["FunctionArn"]) == (
        "7",
        "arn:aws:lambda:local-1:000000000000:function:orders:7",
    )
    latest = function_configuration(a_spec(), **HERE, qualify_latest=True)
    assert latest["FunctionArn"].endswith(":function:orders:$LATEST")
    assert function_arn_for("f", **HERE, qualifier="live").endswith(":function:f:live")


@pytest.mark.parametrize(
    ("waiter", "wrapped"),
    [
        ("FunctionActive", False),
        ("FunctionActiveV2", True),
        ("FunctionUpdated", False),
        ("FunctionUpdatedV2", True),
        ("PublishedVersionActive", False),
    ],
)
def test_boto3_waiters_finish_at_their_first_look(waiter: str, wrapped: bool) -> None:
    # Given a function just created or changed
    configuration = function_configuration(a_spec(), **HERE)
    response = {"Configuration": configuration} if wrapped else configuration
    # When a boto3 waiter looks at it
    acceptors = SESSION.get_waiter_model("lambda").get_waiter(waiter).acceptors
    # Then the first look is a success, not a retry
    matched = [a.state for a in acceptors if a.matcher_func(response)]
    assert matched == ["success"]


# ---------------------------------------------------------------- UpdateFunctionConfiguration


def test_a_boto3_configuration_update_becomes_our_changes() -> None:
    # Given the body boto3 sends to change a function
    body = boto_body(
        "UpdateFunctionConfiguration",
        FunctionName="orders",
        Timeout=60,
        MemorySize=1024,
        Environment={"Variables": {"STAGE": "dev"}},
        Handler="main.handle",
        Runtime="python3.11",
        Description="new",
        Role=ROLE,
        Layers=[LAYER],
        RevisionId="rev-1",
        TracingConfig={"Mode": "PassThrough"},
    )
    # When the server reads it
    changes, revision = parse_update_configuration(body)
    # Then it is our changes, and the revision the caller saw
    assert changes == {
        "timeout_s": 60,
        "memory_mb": 1024,
        "env": {"STAGE": "dev"},
        "handler": "main.handle",
        "runtime": "python3.11",
        "description": "new",
        "role": ROLE,
        "layers": (LAYER,),
    }
    assert revision == "rev-1"


def test_new_variables_replace_all_and_an_empty_environment_removes_them() -> None:
    config = a_spec(env={"OLD": "1", "KEEP": "2"}).config
    changes, _ = parse_update_configuration({"Environment": {"Variables": {"NEW": "3"}}})
    assert apply_update(config, changes).env == {"NEW": "3"}
    changes, _ = parse_update_configuration({"Environment": {}})
    assert apply_update(config, changes).env == {}


def test_an_empty_update_changes_nothing() -> None:
    assert parse_update_configuration(
        boto_body("UpdateFunctionConfiguration", FunctionName="f")
    ) == (
        {},
        None,
    )


def test_a_change_valid_alone_but_not_with_the_function_is_refused_in_aws_terms() -> None:
    # Given a Python function, when its handler loses its module part
    changes, _ = parse_update_configuration({"Handler": "handler"})
    with pytest.raises(ValidationFailed) as refused:
        apply_update(a_spec().config, changes)
    # Then the refusal names Lambda's field, not ours
    assert refused.value.field == "Handler"
    assert refused.value.message.startswith("Handler ")


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"FunctionName": "orders"}, "FunctionName"),
        ({"Timeout": 0}, "Timeout"),
        ({"MemorySize": True}, "MemorySize"),
        ({"Environment": {"Variables": {"A1": 2}}}, "Environment.Variables"),
        ({"Role": ""}, "Role"),
        ({"Description": None, "Handler": 5}, "Handler"),
        ({"Layers": "x"}, "Layers"),
        ({"RevisionId": 5}, "RevisionId"),
        ({"PackageType": "Zip"}, "PackageType"),
        ({"VpcConfig": {"SubnetIds": ["subnet-1"]}}, "VpcConfig.SubnetIds"),
        ({"TenancyConfig": {}}, "TenancyConfig"),
    ],
)
def test_every_bad_update_field_is_refused_naming_it(doc: dict[str, Any], field: str) -> None:
    refused = refusal(parse_update_configuration, doc)
    assert refused.field == field
    assert names_its_field(refused), refused.message


def test_a_runtime_not_run_here_is_refused_when_applied_naming_runtime() -> None:
    changes, _ = parse_update_configuration({"Runtime": "nodejs20.x"})
    with pytest.raises(ValidationFailed) as refused:
        apply_update(a_spec().config, changes)
    assert refused.value.field == "Runtime"
    assert refused.value.message.startswith("Runtime 'nodejs20.x' is not supported")


def test_an_update_body_that_is_not_an_object_is_refused() -> None:
    assert refusal(parse_update_configuration, "{}").field is None


# ---------------------------------------------------------------- UpdateFunctionCode


def test_a_boto3_code_update_carries_the_zip_and_what_to_do_with_it() -> None:
    body = boto_body(
        "UpdateFunctionCode",
        FunctionName="orders",
        ZipFile=ZIP,
        Publish=True,
        DryRun=True,
        RevisionId="rev-2",
        Architectures=["x86_64"],
    )
    assert parse_update_code(body) == UpdateCode(
        zip_bytes=ZIP, publish=True, revision_id="rev-2", dry_run=True
    )
    assert parse_update_code({"ZipFile": "UEsFBg=="}) == UpdateCode(zip_bytes=b"PK\x05\x06")


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({}, "ZipFile"),
        ({"ZipFile": "%%%"}, "ZipFile"),
        ({"ZipFile": True}, "ZipFile"),
        ({"S3Bucket": "b", "S3Key": "k"}, "S3Bucket"),
        ({"ImageUri": "registry/image:1"}, "ImageUri"),
        ({"ZipFile": "UEsFBg==", "Architectures": ["arm64"]}, "Architectures"),
        ({"ZipFile": "UEsFBg==", "Publish": "yes"}, "Publish"),
        ({"ZipFile": "UEsFBg==", "DryRun": 0}, "DryRun"),
        ({"ZipFile": "UEsFBg==", "PublishTo": "LATEST_PUBLISHED"}, "PublishTo"),
        ({"ZipFile": "UEsFBg==", "SourceKMSKeyArn": "arn:aws:kms:k"}, "SourceKMSKeyArn"),
        ({"ZipFile": "UEsFBg==", "Code": {}}, "Code"),
    ],
)
def test_every_bad_code_update_field_is_refused_naming_it(doc: Any, field: str) -> None:
    refused = refusal(parse_update_code, doc)
    assert refused.field == field
    assert names_its_field(refused), refused.message


def test_the_s3_refusal_says_to_send_a_zip_file() -> None:
    refused = refusal(parse_update_code, {"S3Bucket": "b", "S3Key": "k"})
    assert "ZipFile" in refused.message


# ---------------------------------------------------------------- concurrency


def test_reserved_concurrency_is_read_up_to_the_accounts_limit() -> None:
    body = boto_body("PutFunctionConcurrency", FunctionName="f", ReservedConcurrentExecutions=0)
    assert parse_put_concurrency(body, limit=100) == 0
    assert parse_put_concurrency({"ReservedConcurrentExecutions": 100}, limit=100) == 100


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"ReservedConcurrentExecutions": -1},
        {"ReservedConcurrentExecutions": 101},
        {"ReservedConcurrentExecutions": True},
        {"ReservedConcurrentExecutions": "5"},
        {"ReservedConcurrentExecutions": 5, "Extra": 1},
    ],
)
def test_bad_reserved_concurrency_is_refused_naming_it(doc: dict[str, Any]) -> None:
    refused = refusal(lambda d: parse_put_concurrency(d, limit=100), doc)
    assert refused.field in ("ReservedConcurrentExecutions", "Extra")
    assert names_its_field(refused)


# ---------------------------------------------------------------- FunctionEventInvokeConfig

AUDIT = "arn:aws:lambda:local-1:000000000000:function:audit"
ALERTS = "arn:aws:lambda:local-1:000000000000:function:alerts"


def test_a_boto3_event_invoke_config_becomes_our_async_config_and_back() -> None:
    # Given a function whose async config has our own backoff
    current = AsyncConfig(backoff_base_s=5.0)
    # When boto3 puts Lambda's event invoke config
    body = boto_body(
        "PutFunctionEventInvokeConfig",
        FunctionName="orders",
        MaximumRetryAttempts=1,
        MaximumEventAgeInSeconds=600,
        DestinationConfig={
            "OnSuccess": {"Destination": AUDIT},
            "OnFailure": {"Destination": ALERTS + ":$LATEST"},
        },
    )
    config = parse_event_invoke_config(body, current, replace=True, **HERE)
    # Then it is our config, our backoff kept
    assert config == AsyncConfig(
        max_retries=1,
        max_event_age_s=600,
        on_success="audit",
        on_failure="alerts",
        backoff_base_s=5.0,
    )
    # And boto3 reads it back as it was put
    out = event_invoke_config(config, function_name="orders", last_modified=1_700_000_000.5, **HERE)
    read = boto_reads("GetFunctionEventInvokeConfig", out)
    assert read["LastModified"] == datetime.datetime(
        2023, 11, 14, 22, 13, 20, 500000, tzinfo=datetime.UTC
    )
    assert read["FunctionArn"] == "arn:aws:lambda:local-1:000000000000:function:orders:$LATEST"
    assert read["DestinationConfig"] == {
        "OnSuccess": {"Destination": AUDIT},
        "OnFailure": {"Destination": ALERTS},
    }
    assert (read["MaximumRetryAttempts"], read["MaximumEventAgeInSeconds"]) == (1, 600)


def test_no_destination_is_an_empty_object_as_on_lambda() -> None:
    out = event_invoke_config(AsyncConfig(), function_name="f", last_modified=0.0, **HERE)
    assert out["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    report = ParamValidator().validate(
        out | {"LastModified": datetime.datetime.now(datetime.UTC)},
        MODEL.operation_model("GetFunctionEventInvokeConfig").output_shape,
    )
    assert not report.has_errors(), report.generate_report()


def test_put_resets_what_is_left_out_and_update_keeps_it() -> None:
    current = AsyncConfig(max_retries=0, max_event_age_s=60, on_failure="alerts")
    body = {"DestinationConfig": {"OnSuccess": {"Destination": AUDIT}}}
    put = parse_event_invoke_config(body, current, replace=True, **HERE)
    assert put == AsyncConfig(on_success="audit")
    update = parse_event_invoke_config(body, current, replace=False, **HERE)
    assert update == AsyncConfig(
        max_retries=0, max_event_age_s=60, on_success="audit", on_failure="alerts"
    )
    cleared = parse_event_invoke_config(
        {"DestinationConfig": {"OnFailure": {"Destination": ""}}}, current, replace=False, **HERE
    )
    assert cleared.on_failure is None


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"MaximumRetryAttempts": 3}, "MaximumRetryAttempts"),
        ({"MaximumRetryAttempts": True}, "MaximumRetryAttempts"),
        ({"MaximumEventAgeInSeconds": 59}, "MaximumEventAgeInSeconds"),
        ({"MaximumEventAgeInSeconds": 21601}, "MaximumEventAgeInSeconds"),
        ({"DestinationConfig": []}, "DestinationConfig"),
        ({"DestinationConfig": {"OnError": {}}}, "DestinationConfig.OnError"),
        ({"DestinationConfig": {"OnSuccess": "x"}}, "DestinationConfig.OnSuccess"),
        (
            {
                "DestinationConfig": {
                    "OnFailure": {"Destination": "arn:aws:sqs:local-1:000000000000:q"}
                }
            },
            "DestinationConfig.OnFailure.Destination",
        ),
        (
            {"DestinationConfig": {"OnFailure": {"Destination": "kafka://broker"}}},
            "DestinationConfig.OnFailure.Destination",
        ),
        (
            {
                "DestinationConfig": {
                    "OnSuccess": {"Destination": AUDIT.replace("local-1", "eu-west-1")}
                }
            },
            "DestinationConfig.OnSuccess.Destination",
        ),
        (
            {"DestinationConfig": {"OnSuccess": {"Destination": AUDIT + ":live"}}},
            "DestinationConfig.OnSuccess.Destination",
        ),
        (
            {"DestinationConfig": {"OnSuccess": {"Destination": "audit"}}},
            "DestinationConfig.OnSuccess.Destination",
        ),
        (
            {"DestinationConfig": {"OnSuccess": {"Destination": 5}}},
            "DestinationConfig.OnSuccess.Destination",
        ),
        ({"Qualifier": "live"}, "Qualifier"),
    ],
)
def test_every_bad_event_invoke_field_is_refused_naming_it(doc: dict[str, Any], field: str) -> None:
    refused = refusal(
        lambda d: parse_event_invoke_config(d, AsyncConfig(), replace=True, **HERE), doc
    )
    assert refused.field == field
    assert names_its_field(refused), refused.message


def test_a_queue_destination_is_refused_saying_only_functions_are_destinations_here() -> None:
    doc = {
        "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:local-1:000000000000:q"}}
    }
    refused = refusal(
        lambda d: parse_event_invoke_config(d, AsyncConfig(), replace=True, **HERE), doc
    )
    assert "function" in refused.message and "queues" in refused.message


# ---------------------------------------------------------------- fuzz

_JSON_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    128,
    2**63,
    -(2**70),
    1.5,
    float("1e308"),
    "",
    "x",
    "a.b",
    "x" * 70_000,
    "é\u2028",
    [],
    [1],
    ["x86_64"],
    [None],
    {},
    {"a": 1},
    {"Variables": {"A1": "x"}},
    {"ZipFile": "UEsFBg=="},
]


def _mutants(good: dict[str, Any], fields: list[str], rng: random.Random) -> dict[str, Any]:
    doc = copy.deepcopy(good)
    for _ in range(rng.randint(1, 3)):
        key = rng.choice([*fields, "Unknown", "Code.ZipFile", "Environment.Variables.A1"])
        value = rng.choice(_JSON_VALUES)
        parts = key.split(".")
        target = doc
        for part in parts[:-1]:
            nested = target.get(part)
            if not isinstance(nested, dict):
                nested = target[part] = {}
            target = nested
        target[parts[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("parse", "good", "operation"),
    [
        (lambda d: parse_create(d, **HERE), GOOD_CREATE, "CreateFunction"),
        (parse_update_configuration, {"Timeout": 5}, "UpdateFunctionConfiguration"),
        (parse_update_code, {"ZipFile": "UEsFBg=="}, "UpdateFunctionCode"),
        (
            lambda d: parse_put_concurrency(d, limit=1000),
            {"ReservedConcurrentExecutions": 1},
            "PutFunctionConcurrency",
        ),
        (
            lambda d: parse_event_invoke_config(d, AsyncConfig(), replace=False, **HERE),
            {"MaximumRetryAttempts": 1},
            "PutFunctionEventInvokeConfig",
        ),
    ],
)
def test_random_wrong_bodies_are_refused_naming_a_field_never_crashing(
    parse: Any, good: dict[str, Any], operation: str
) -> None:
    rng = random.Random(f"shapes-{operation}")
    fields = sorted(body_members(operation))
    refusals = 0
    for _ in range(3000):
        doc = _mutants(good, fields, rng)
        try:
            parse(doc)
        except ValidationFailed as refused:
            refusals += 1
            assert refused.field, doc
            assert names_its_field(refused), (refused.message, doc)
            assert len(refused.message) < 600
            refused.message.encode()  # always text, for the JSON answer
    assert refusals > 1000
