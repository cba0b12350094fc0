"""Lambda's FunctionEventInvokeConfig: boto3's bodies to our async config and back."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from botocore.validate import ParamValidator

from faas.models import AsyncConfig
from gateway.api.aws_lambda.configuration import event_invoke_config
from gateway.api.aws_lambda.event_invoke import has_event_invoke_config
from gateway.api.aws_lambda.requests import parse_event_invoke_config, without_event_invoke_config
from tests.unit.lambda_boto import (
    HERE,
    MODEL,
    boto_body,
    boto_reads,
    names_its_field,
    refusal,
)

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


@pytest.mark.parametrize(
    ("config", "has_one"),
    [
        (AsyncConfig(), False),
        # Our backoffs are set through /v1: they are no EventInvokeConfig of Lambda's
        (AsyncConfig(backoff_base_s=1.0, backoff_max_s=2.0), False),
        (AsyncConfig(max_retries=0), True),
        (AsyncConfig(max_event_age_s=60), True),
        (AsyncConfig(on_success="audit"), True),
        (AsyncConfig(on_failure="alerts"), True),
        # Put (through either API) with Lambda's defaults: it has one, as on Lambda
        (AsyncConfig(set_at=1_700_000_000.0), True),
    ],
)
def test_a_function_has_an_event_invoke_config_once_a_lambda_field_is_not_the_default(
    config: AsyncConfig, has_one: bool
) -> None:
    assert has_event_invoke_config(config) is has_one


def test_deleting_a_config_resets_lambdas_fields_and_keeps_our_backoffs() -> None:
    current = AsyncConfig(max_retries=0, backoff_base_s=1.0, backoff_max_s=2.0, on_failure="x")
    reset = without_event_invoke_config(current)
    assert reset == AsyncConfig(backoff_base_s=1.0, backoff_max_s=2.0)
    assert not has_event_invoke_config(reset)
