"""CreateFunction, UpdateFunctionConfiguration, UpdateFunctionCode and PutFunctionConcurrency
bodies, as boto3 sends them, translated to our model or refused naming the field.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from faas.errors import ValidationFailed
from faas.models import FunctionConfig
from gateway.api.aws_lambda.requests import (
    Create,
    UpdateCode,
    apply_update,
    parse_create,
    parse_put_concurrency,
    parse_update_code,
    parse_update_configuration,
)
from tests.unit.lambda_boto import (
    GOOD_CREATE,
    HERE,
    LAYER,
    ROLE,
    ZIP,
    a_spec,
    boto_body,
    create_body,
    names_its_field,
    refusal,
)

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
    ("Runtime", "python3.8", "Runtime"),
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
    ("PackageType", "Image", "Runtime"),
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
    ("ImageConfig", {"Command": "app.handler"}, "ImageConfig.Command"),
    ("ImageConfig", {"WorkingDirectory": "task"}, "ImageConfig.WorkingDirectory"),
    ("ImageConfig", {"Shell": ["sh"]}, "ImageConfig.Shell"),
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
    changes, _ = parse_update_configuration({"Runtime": "nodejs16.x"})
    with pytest.raises(ValidationFailed) as refused:
        apply_update(a_spec().config, changes)
    assert refused.value.field == "Runtime"
    assert refused.value.message.startswith("Runtime 'nodejs16.x' is not supported")


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
        ({"ImageUri": "Not An Image!"}, "ImageUri"),
        ({"ImageUri": "fn:1", "ZipFile": "UEsFBg=="}, "ZipFile"),
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
