"""Lambda's FunctionConfiguration of our specs, as boto3 and its waiters read it."""

from __future__ import annotations

import base64
import hashlib

import pytest
from botocore.validate import ParamValidator

from gateway.api.aws_lambda.configuration import (
    function_arn_for,
    function_configuration,
    lambda_time,
)
from tests.unit.lambda_boto import (
    HERE,
    LAYER,
    MODEL,
    ROLE,
    SESSION,
    ZIP,
    a_spec,
    boto_reads,
)


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
