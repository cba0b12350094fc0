"""Every field botocore sends has a decision, and random wrong bodies are refused naming a
field, never crashing.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from faas.errors import ValidationFailed
from faas.models import AsyncConfig
from gateway.api.aws_lambda.requests import (
    CREATE_FIELDS,
    CREATE_SETTINGS,
    EVENT_INVOKE_FIELDS,
    UPDATE_CODE_FIELDS,
    UPDATE_CODE_SETTINGS,
    UPDATE_CONFIG_FIELDS,
    UPDATE_CONFIG_SETTINGS,
    parse_create,
    parse_event_invoke_config,
    parse_put_concurrency,
    parse_update_code,
    parse_update_configuration,
)
from gateway.api.aws_lambda.unsupported import CODE_SOURCES
from tests.unit.lambda_boto import (
    GOOD_CREATE,
    HERE,
    MODEL,
    body_members,
    names_its_field,
)

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
    assert members == CODE_SOURCES | {"ZipFile", "ImageUri", "SourceKMSKeyArn"}


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
