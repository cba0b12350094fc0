"""A function's own key: made, not configured; names its function; may use the
installation's queues, topics and functions (or what its patterns allow), never manage."""

from __future__ import annotations

import pytest

from faas.auth import (
    Access,
    ApiKey,
    KeyRing,
    function_access_key_id,
    function_of_access_key,
)
from faas.errors import Forbidden, UnrecognizedClient, ValidationFailed
from faas.models import FunctionConfig, validate_config
from gateway.api.aws_services import sns_resources, sqs_document, sqs_resources
from tests.unit.test_auth import NO_RATES

ADMIN = ApiKey("admin", "a" * 32, admin=True)
INVOKER = ApiKey("ci", "i" * 32, admin=False, functions=frozenset({"orders"}))


def test_its_access_key_id_names_its_function_and_nothing_else() -> None:
    for name in ("orders", "a", "Order_Processor-2", "x" * 64):
        key_id = function_access_key_id(name)
        assert 16 <= len(key_id) <= 128 and key_id.isalnum()
        assert function_of_access_key(key_id) == name
    assert function_of_access_key(ADMIN.access_key_id) is None
    assert function_of_access_key("FAASFN!!!!!!!!!!!!!!") is None


def test_every_node_of_one_configuration_makes_the_same_key() -> None:
    one, two = KeyRing((ADMIN, INVOKER)), KeyRing((INVOKER, ADMIN))
    assert one.function_key("orders").secret == two.function_key("orders").secret
    assert one.function_key("orders").secret != one.function_key("billing").secret
    other = KeyRing((ApiKey("admin", "b" * 32, admin=True),))
    assert other.function_key("orders").secret != one.function_key("orders").secret


def test_the_signer_finds_a_functions_key_by_its_id() -> None:
    access = Access(KeyRing((ADMIN,)), NO_RATES)
    key = access.signer(function_access_key_id("orders"))
    assert key.function == "orders" and not key.admin
    assert key.secret == access.ring.function_key("orders").secret
    with pytest.raises(UnrecognizedClient):
        access.signer("AKIAUNKNOWNKEY123456")


@pytest.mark.parametrize(
    ("resources", "service", "name", "allowed"),
    [
        (None, "sqs", "anything", True),
        (None, "lambda", "billing", True),
        (("sqs:orders-*",), "sqs", "orders-eu", True),
        (("sqs:orders-*",), "sqs", "payments", False),
        (("sqs:orders-*",), "sns", "orders-eu", False),
        (("sns:orders", "lambda:billing"), "sns", "orders", True),
        (("sns:orders", "lambda:billing"), "lambda", "billing", True),
        (("sns:orders", "lambda:billing"), "lambda", "shipping", False),
        ((), "sqs", "orders", False),
    ],
)
def test_a_functions_patterns_narrow_what_it_may_use(
    resources: tuple[str, ...] | None, service: str, name: str, allowed: bool
) -> None:
    key = KeyRing((ADMIN,)).function_key("fn", resources)
    assert key.may_use(service, name) is allowed
    if service == "lambda":
        assert key.may_invoke(name) is allowed


def test_a_functions_key_never_manages_and_an_invoke_key_uses_no_queue() -> None:
    key = KeyRing((ADMIN,)).function_key("fn")
    with pytest.raises(Forbidden, match="may use queues, topics and functions"):
        Access.may_manage(key)
    with pytest.raises(Forbidden):
        Access.may_use(INVOKER, "sqs", "orders")
    assert Access.may_use(ADMIN, "sns", "anything") is ADMIN


def test_the_resources_a_request_names() -> None:
    body = b'{"QueueUrl": "http://203.0.113.9:8080/000000000000/orders", "QueueName": "x"}'
    assert sqs_resources(sqs_document(body)) == ["orders", "x"]
    assert sqs_resources(sqs_document(b"not json")) == []
    form = {
        "TopicArn": ["arn:aws:sns:local-1:000000000000:orders"],
        "SubscriptionArn": ["arn:aws:sns:local-1:000000000000:alerts:3f1c"],
        "Name": ["new-topic"],
    }
    assert sns_resources(form) == ["orders", "alerts", "new-topic"]


def test_sdk_resources_are_checked_naming_the_field() -> None:
    config = FunctionConfig(name="fn", runtime="python3.11", handler="app.handler")
    validate_config(config.__class__(**{**config.__dict__, "sdk_resources": ("sqs:orders-*",)}))
    for bad in (("orders",), ("s3:bucket",), ("sqs:" + "x" * 81,), "sqs:orders"):
        with pytest.raises(ValidationFailed) as refused:
            validate_config(config.__class__(**{**config.__dict__, "sdk_resources": bad}))
        assert refused.value.field == "sdk_resources"
