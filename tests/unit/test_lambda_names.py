"""FunctionName and Qualifier as the Lambda API takes them."""

import pytest

from faas.errors import FunctionNotFound, ValidationFailed
from gateway.api.aws_lambda.names import Qualified, parse

HERE = {"region": "local-1", "account_id": "000000000000"}
ARN = "arn:aws:lambda:local-1:000000000000:function:orders"


@pytest.mark.parametrize(
    ("raw", "qualifier", "expected"),
    [
        ("orders", None, Qualified("orders")),
        ("orders", "$LATEST", Qualified("orders", "$LATEST")),
        ("orders:live", None, Qualified("orders", "live")),
        ("orders:7", "7", Qualified("orders", "7")),
        ("000000000000:function:orders", None, Qualified("orders")),
        ("000000000000:function:orders:live", None, Qualified("orders", "live")),
        (ARN, None, Qualified("orders")),
        (ARN + ":$LATEST", None, Qualified("orders", "$LATEST")),
        (ARN + ":3", "3", Qualified("orders", "3")),
        ("arn:aws-us-gov:lambda:local-1:000000000000:function:a_b-c", None, Qualified("a_b-c")),
    ],
)
def test_every_form_of_a_function_name_names_the_function(raw, qualifier, expected) -> None:  # type: ignore[no-untyped-def]
    assert parse(raw, qualifier, **HERE) == expected


@pytest.mark.parametrize(
    ("raw", "qualifier", "field"),
    [
        ("", None, "FunctionName"),
        ("bad name", None, "FunctionName"),
        ("x" * 65, None, "FunctionName"),
        ("function:orders", None, "FunctionName"),
        ("000000000000:orders", None, "FunctionName"),
        ("orders:live", "other", "Qualifier"),
        (ARN + ":1", "2", "Qualifier"),
        ("orders", "bad qualifier", "Qualifier"),
        ("orders", "", "Qualifier"),
    ],
)
def test_a_malformed_name_or_a_contradicting_qualifier_is_refused_naming_the_field(  # type: ignore[no-untyped-def]
    raw, qualifier, field
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse(raw, qualifier, **HERE)
    assert refused.value.field == field
    assert field in refused.value.message or field.lower() in refused.value.message.lower()


@pytest.mark.parametrize(
    "raw",
    [
        "arn:aws:lambda:us-east-1:000000000000:function:orders",
        "arn:aws:lambda:local-1:123456789012:function:orders",
        "123456789012:function:orders",
    ],
)
def test_another_accounts_or_regions_function_is_not_found(raw: str) -> None:
    with pytest.raises(FunctionNotFound, match="Function not found"):
        parse(raw, **HERE)
