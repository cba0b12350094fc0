"""SNS filter policies: what passes, what is filtered out, and what is refused, as tables."""

from __future__ import annotations

import json
from typing import Any

import pytest

from faas.errors import ValidationFailed
from faas.topics import filters

S, N, A, B = "String", "Number", "String.Array", "Binary"


def attrs(**values: tuple[str, str]) -> dict[str, tuple[str, str]]:
    return dict(values)


@pytest.mark.parametrize(
    ("policy", "attributes", "passes"),
    [
        # Exact strings, OR across the values of a key.
        ({"color": ["red", "blue"]}, attrs(color=(S, "blue")), True),
        ({"color": ["red", "blue"]}, attrs(color=(S, "green")), False),
        ({"color": ["red"]}, attrs(color=(S, "Red")), False),
        ({"color": ["red"]}, {}, False),
        # AND across keys.
        ({"color": ["red"], "size": ["L"]}, attrs(color=(S, "red"), size=(S, "L")), True),
        ({"color": ["red"], "size": ["L"]}, attrs(color=(S, "red"), size=(S, "M")), False),
        ({"color": ["red"], "size": ["L"]}, attrs(color=(S, "red")), False),
        # Attributes the policy does not name are ignored.
        ({"color": ["red"]}, attrs(color=(S, "red"), other=(S, "x")), True),
        # Exact numbers match Number attributes, numerically; never strings.
        ({"price": [100]}, attrs(price=(N, "100.0")), True),
        ({"price": [100]}, attrs(price=(N, "1e2")), True),
        ({"price": [100]}, attrs(price=(S, "100")), False),
        ({"price": ["100"]}, attrs(price=(N, "100")), False),
        ({"price": [0.123456]}, attrs(price=(N, "0.1234561")), True),
        # prefix, suffix, equals-ignore-case.
        ({"event": [{"prefix": "order-"}]}, attrs(event=(S, "order-placed")), True),
        ({"event": [{"prefix": "order-"}]}, attrs(event=(S, "refund")), False),
        ({"event": [{"suffix": ".png"}]}, attrs(event=(S, "cat.png")), True),
        ({"event": [{"suffix": ".png"}]}, attrs(event=(S, "cat.jpg")), False),
        ({"event": [{"equals-ignore-case": "PLACED"}]}, attrs(event=(S, "placed")), True),
        ({"event": [{"equals-ignore-case": "PLACED"}]}, attrs(event=(S, "place")), False),
        # anything-but: values (a scalar too), a prefix, a suffix; the key must exist.
        ({"c": [{"anything-but": ["red", "blue"]}]}, attrs(c=(S, "green")), True),
        ({"c": [{"anything-but": ["red", "blue"]}]}, attrs(c=(S, "red")), False),
        ({"c": [{"anything-but": "red"}]}, attrs(c=(S, "red")), False),
        ({"c": [{"anything-but": ["red"]}]}, {}, False),
        ({"n": [{"anything-but": [100]}]}, attrs(n=(N, "100")), False),
        ({"n": [{"anything-but": [100]}]}, attrs(n=(N, "101")), True),
        ({"c": [{"anything-but": {"prefix": "test-"}}]}, attrs(c=(S, "test-1")), False),
        ({"c": [{"anything-but": {"prefix": "test-"}}]}, attrs(c=(S, "prod-1")), True),
        ({"c": [{"anything-but": {"suffix": "-dev"}}]}, attrs(c=(S, "a-dev")), False),
        # numeric: equality, one bound, both bounds (inclusive or not).
        ({"p": [{"numeric": ["=", 301.5]}]}, attrs(p=(N, "301.5")), True),
        ({"p": [{"numeric": [">", 0]}]}, attrs(p=(N, "0")), False),
        ({"p": [{"numeric": [">=", 0]}]}, attrs(p=(N, "0")), True),
        ({"p": [{"numeric": ["<", 10]}]}, attrs(p=(N, "-3")), True),
        ({"p": [{"numeric": [">", 0, "<=", 150]}]}, attrs(p=(N, "150")), True),
        ({"p": [{"numeric": [">", 0, "<", 150]}]}, attrs(p=(N, "150")), False),
        ({"p": [{"numeric": [">", 0, "<", 150]}]}, attrs(p=(S, "10")), False),
        ({"p": [{"numeric": [">", 0]}]}, attrs(p=(N, "not a number")), False),
        # exists true / false.
        ({"c": [{"exists": True}]}, attrs(c=(S, "anything")), True),
        ({"c": [{"exists": True}]}, {}, False),
        ({"c": [{"exists": False}]}, {}, True),
        ({"c": [{"exists": False}]}, attrs(c=(S, "x")), False),
        # A value or a missing key: OR across the key's values.
        ({"c": ["red", {"exists": False}]}, {}, True),
        # String.Array: any element may pass.
        ({"tags": ["b"]}, attrs(tags=(A, '["a", "b"]')), True),
        ({"tags": ["c"]}, attrs(tags=(A, '["a", "b"]')), False),
        ({"tags": [10]}, attrs(tags=(A, "[1, 10]")), True),
        ({"tags": [{"prefix": "x"}]}, attrs(tags=(A, '["ya", "xb"]')), True),
        # Binary attributes are ignored: as if absent.
        ({"blob": [{"exists": True}]}, attrs(blob=(B, "AAEC")), False),
        # Custom types keep their base type.
        ({"c": ["red"]}, attrs(c=("String.color", "red")), True),
        # cidr.
        ({"ip": [{"cidr": "10.0.0.0/24"}]}, attrs(ip=(S, "10.0.0.7")), True),
        ({"ip": [{"cidr": "10.0.0.0/24"}]}, attrs(ip=(S, "10.0.1.7")), False),
        # $or: either alternative.
        ({"$or": [{"a": ["1"]}, {"b": ["2"]}]}, attrs(b=(S, "2")), True),
        ({"$or": [{"a": ["1"]}, {"b": ["2"]}]}, attrs(a=(S, "2")), False),
        ({"k": ["x"], "$or": [{"a": ["1"]}, {"b": ["2"]}]}, attrs(a=(S, "1")), False),
        ({"k": ["x"], "$or": [{"a": ["1"]}, {"b": ["2"]}]}, attrs(k=(S, "x"), a=(S, "1")), True),
    ],
)
def test_policy_on_message_attributes(
    policy: dict[str, Any], attributes: dict[str, tuple[str, str]], passes: bool
) -> None:
    checked = filters.parse(json.dumps(policy))
    assert checked.accepts("any body", attributes) is passes


ORDER = {
    "order": {"id": 17, "kind": "book", "price": 12.5, "gift": False, "note": None},
    "items": [{"sku": "a-1"}, {"sku": "b-2"}],
    "tags": ["new", "sale"],
}


@pytest.mark.parametrize(
    ("policy", "body", "passes"),
    [
        ({"order": {"kind": ["book"]}}, ORDER, True),
        ({"order": {"kind": ["toy"]}}, ORDER, False),
        ({"order": {"id": [17]}}, ORDER, True),
        ({"order": {"id": ["17"]}}, ORDER, False),
        ({"order": {"price": [{"numeric": [">", 10]}]}}, ORDER, True),
        ({"order": {"gift": [False]}}, ORDER, True),
        ({"order": {"note": [None]}}, ORDER, True),
        ({"order": {"missing": [{"exists": False}]}}, ORDER, True),
        ({"order": {"kind": [{"exists": True}]}}, ORDER, True),
        # Arrays on the path: any element.
        ({"items": {"sku": [{"prefix": "b-"}]}}, ORDER, True),
        ({"items": {"sku": [{"prefix": "c-"}]}}, ORDER, False),
        ({"tags": ["sale"]}, ORDER, True),
        # AND across nested keys.
        ({"order": {"kind": ["book"], "id": [18]}}, ORDER, False),
        # A key that holds an object is not a value.
        ({"order": ["book"]}, ORDER, False),
        # A body that is not a JSON object has no properties.
        ({"order": {"kind": ["book"]}}, "plain text", False),
        ({"order": [{"exists": False}]}, "plain text", True),
    ],
)
def test_policy_on_message_body(policy: dict[str, Any], body: Any, passes: bool) -> None:
    checked = filters.parse(json.dumps(policy), filters.BODY)
    text = body if isinstance(body, str) else json.dumps(body)
    # Attributes do not count under the MessageBody scope.
    assert checked.accepts(text, {"order": ("String", "book")}) is passes


@pytest.mark.parametrize(
    ("policy", "scope", "reason"),
    [
        ("{not json", filters.ATTRIBUTES, "FilterPolicy: failed to parse JSON."),
        ("[1]", filters.ATTRIBUTES, "FilterPolicy: Filter policy must be a JSON object"),
        (
            {f"k{i}": ["v"] for i in range(6)},
            filters.ATTRIBUTES,
            "FilterPolicy: Filter policy can not have more than 5 keys",
        ),
        (
            {"a": list(range(10)), "b": list(range(10)), "c": list(range(2))},
            filters.ATTRIBUTES,
            "FilterPolicy: Filter policy is too complex",
        ),
        (
            # Depth counts: 3 values at depth 2, 26 at depth 1 -> 3*2 * 26 = 156.
            {"a": {"b": ["1", "2", "3"]}, "c": [str(i) for i in range(26)]},
            filters.BODY,
            "FilterPolicy: Filter policy is too complex",
        ),
        ({"a": []}, filters.ATTRIBUTES, "FilterPolicy: Empty arrays are not allowed"),
        ({"a": "red"}, filters.ATTRIBUTES, 'FilterPolicy: "a" must be an object or an array'),
        (
            {"a": {"b": ["x"]}},
            filters.ATTRIBUTES,
            "Filter policy scope MessageAttributes does not support nested filter policy",
        ),
        (
            {"a": [["x"]]},
            filters.ATTRIBUTES,
            "FilterPolicy: Match value must be String, number, true, false, or null",
        ),
        (
            {"a": [{"prefix": "x", "suffix": "y"}]},
            filters.ATTRIBUTES,
            "FilterPolicy: Only one key allowed in match expression",
        ),
        (
            {"a": [{"prefix": 1}]},
            filters.ATTRIBUTES,
            "FilterPolicy: prefix match pattern must be a string",
        ),
        (
            {"a": [{"regex": "x"}]},
            filters.ATTRIBUTES,
            "FilterPolicy: Unrecognized match type regex",
        ),
        (
            {"a": [{"exists": "yes"}]},
            filters.ATTRIBUTES,
            "FilterPolicy: exists match pattern must be either true or false.",
        ),
        (
            {"a": [{"anything-but": {"wildcard": "x"}}]},
            filters.ATTRIBUTES,
            "FilterPolicy: Unsupported anything-but pattern: wildcard",
        ),
        (
            {"a": [{"numeric": ["!", 1]}]},
            filters.ATTRIBUTES,
            "FilterPolicy: Unrecognized numeric range operator: !",
        ),
        (
            {"a": [{"numeric": ["=", "1"]}]},
            filters.ATTRIBUTES,
            "FilterPolicy: Value of equals must be numeric",
        ),
        (
            {"a": [{"numeric": ["<", 1, ">", 0]}]},
            filters.ATTRIBUTES,
            "FilterPolicy: Too many elements in numeric expression",
        ),
        (
            {"a": [{"numeric": [">", 5, "<", 1]}]},
            filters.ATTRIBUTES,
            "FilterPolicy: Bottom must be less than top",
        ),
        (
            {"a": [{"numeric": [">", 0, ">", 1]}]},
            filters.ATTRIBUTES,
            "FilterPolicy: Bad numeric range operator: >",
        ),
        (
            {"a": [{"cidr": "10.0.0.1"}]},
            filters.ATTRIBUTES,
            "FilterPolicy: Malformed CIDR, one '/' required",
        ),
    ],
)
def test_policies_refused_as_sns_words_it(policy: Any, scope: str, reason: str) -> None:
    text = policy if isinstance(policy, str) else json.dumps(policy)
    with pytest.raises(ValidationFailed) as refused:
        filters.parse(text, scope)
    assert refused.value.message == f"Invalid parameter: {reason}"
    # Subscribe words the same refusal under its Attributes.
    with pytest.raises(ValidationFailed) as refused:
        filters.parse(text, scope, prefix="Invalid parameter: Attributes Reason: ")
    assert refused.value.message == f"Invalid parameter: Attributes Reason: {reason}"


def test_the_limits_themselves_are_allowed() -> None:
    # Given 5 keys whose values make exactly 150 combinations
    policy = {"a": list(range(5)), "b": list(range(5)), "c": list(range(6)), "d": [1], "e": [2]}
    # Then the policy is taken
    assert filters.parse(json.dumps(policy)).scope == filters.ATTRIBUTES


@pytest.mark.parametrize(
    ("raw", "scope"),
    [(None, filters.ATTRIBUTES), ("", filters.ATTRIBUTES), ("MessageBody", filters.BODY)],
)
def test_scope(raw: str | None, scope: str) -> None:
    assert filters.scope_of(raw) == scope


def test_unknown_scope_is_refused() -> None:
    with pytest.raises(ValidationFailed, match=r"FilterPolicyScope: Invalid value \[Body\]"):
        filters.scope_of("Body")
