"""SNS subscription filter policies: checked when a subscription is given one, then
asked of every message published to its topic. Pure: no I/O, table-tested.

A policy is a JSON object. Its keys name message attributes (scope
``MessageAttributes``, the default) or properties of a JSON message body (scope
``MessageBody``, where objects nest: ``{"order": {"kind": ["book"]}}``). A message
passes when every key passes (AND), and a key passes when any of its values
passes (OR). ``$or`` holds alternatives, each a policy of its own. A value is a
literal (string, number, true, false, null) or one operator: ``prefix``,
``suffix``, ``equals-ignore-case``, ``anything-but`` (values, or a ``prefix`` /
``suffix``), ``numeric`` (``=``, or bounds ``>``/``>=`` then ``<``/``<=``),
``exists`` and ``cidr``.

What a key is matched against:

- an attribute ``String``: its text; ``Number``: its number (numeric matching
  only); ``String.Array``: each element of its JSON array (any may pass);
  ``Binary``: nothing (SNS ignores binary attributes, as if absent);
- a body property: the value at that path; arrays anywhere on the path give each
  element; a body that is no JSON object has no properties.

Refusals are worded as SNS words them (``Invalid parameter: FilterPolicy: ...``;
``Subscribe`` adds ``Attributes Reason:`` after ``Invalid parameter:``), with its
limits: 5 keys and 150 combinations (the product of the values of each key, times
the key's depth).
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from faas.errors import ValidationFailed

ATTRIBUTES = "MessageAttributes"
BODY = "MessageBody"
SCOPES = (ATTRIBUTES, BODY)
MAX_KEYS = 5
MAX_COMBINATIONS = 150
MAX_POLICY_BYTES = 256 * 1024
OR = "$or"
NUMERIC_LOW = (">", ">=")
NUMERIC_HIGH = ("<", "<=")
NUMERIC_OPERATORS = ("=", *NUMERIC_LOW, *NUMERIC_HIGH)
STRING_OPERATORS = ("prefix", "suffix", "equals-ignore-case")
ANYTHING_BUT_OPERATORS = ("prefix", "suffix", "equals-ignore-case")

# A message's attributes as the filter sees them: name -> (data type, value text).
Attributes = Mapping[str, tuple[str, str]]
# One branch of a policy: (path of keys, the values any of which may match).
Branch = tuple[tuple[tuple[str, ...], tuple[Any, ...]], ...]


@dataclass(frozen=True)
class FilterPolicy:
    """A checked policy: its alternatives (``$or`` spreads into several), each the keys
    that must all pass."""

    scope: str
    branches: tuple[Branch, ...]

    def accepts(self, body: str, attributes: Attributes) -> bool:
        """Whether a message with this body and these attributes passes the policy."""
        if self.scope == BODY:
            document = _body(body)
            return any(
                all(_passes(values, list(_at(document, path))) for path, values in branch)
                for branch in self.branches
            )
        return any(
            all(_passes(values, _attribute(attributes.get(path[0]))) for path, values in branch)
            for branch in self.branches
        )


def scope_of(raw: str | None, prefix: str = "Invalid parameter: ") -> str:
    """The ``FilterPolicyScope`` attribute's value (``MessageAttributes`` if not given)."""
    if raw is None or raw == "":
        return ATTRIBUTES
    if raw not in SCOPES:
        raise _invalid(
            prefix,
            f"FilterPolicyScope: Invalid value [{raw}]. Please use either MessageBody or "
            "MessageAttributes",
            field="FilterPolicyScope",
        )
    return raw


def parse(text: str, scope: str = ATTRIBUTES, prefix: str = "Invalid parameter: ") -> FilterPolicy:
    """The policy ``text`` holds, checked; ``ValidationFailed`` worded as SNS words it."""
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise _policy_error(prefix, "Filter policy is too long")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise _policy_error(prefix, "failed to parse JSON.") from None
    if not isinstance(document, dict):
        raise _policy_error(prefix, "Filter policy must be a JSON object")
    if len(document) > MAX_KEYS:
        raise _policy_error(prefix, f"Filter policy can not have more than {MAX_KEYS} keys")
    branches, combinations = _branches(document, (), scope, prefix)
    if combinations > MAX_COMBINATIONS:
        raise _policy_error(prefix, "Filter policy is too complex")
    for branch in branches:
        for _, values in branch:
            for value in values:
                _check_value(value, prefix)
    return FilterPolicy(scope, tuple(branches))


# -- checking -----------------------------------------------------------------------


def _branches(
    node: dict[str, Any], path: tuple[str, ...], scope: str, prefix: str
) -> tuple[list[Branch], int]:
    """The policy's alternatives, and its combinations as SNS counts them."""
    branches: list[Branch] = [()]
    combinations = 1
    for key, value in node.items():
        if key == OR:
            if not isinstance(value, list) or len(value) < 2:
                raise _policy_error(prefix, '"$or" must be an array of at least 2 objects')
            spread: list[Branch] = []
            total = 0
            for option in value:
                if not isinstance(option, dict):
                    raise _policy_error(prefix, '"$or" must be an array of objects')
                got, count = _branches(option, path, scope, prefix)
                spread.extend(got)
                total += count
            branches = [a + b for a in branches for b in spread]
            combinations *= total
        elif isinstance(value, dict):
            if scope == ATTRIBUTES:
                raise _invalid(
                    prefix,
                    "Filter policy scope MessageAttributes does not support nested filter policy",
                    field="FilterPolicy",
                )
            got, count = _branches(value, (*path, key), scope, prefix)
            branches = [a + b for a in branches for b in got]
            combinations *= count
        elif isinstance(value, list):
            if not value:
                raise _policy_error(prefix, "Empty arrays are not allowed")
            leaf = ((*path, key), tuple(value))
            branches = [(*b, leaf) for b in branches]
            combinations *= len(value) * (len(path) + 1)
        else:
            raise _policy_error(prefix, f'"{key}" must be an object or an array')
    return branches, combinations


def _check_value(value: Any, prefix: str) -> None:
    if value is None or isinstance(value, str | bool | int | float):
        return
    if not isinstance(value, dict):
        raise _policy_error(prefix, "Match value must be String, number, true, false, or null")
    if len(value) != 1:
        raise _policy_error(prefix, "Only one key allowed in match expression")
    ((operator, operand),) = value.items()
    if operator in STRING_OPERATORS:
        if not isinstance(operand, str):
            raise _policy_error(prefix, f"{operator} match pattern must be a string")
    elif operator == "anything-but":
        _check_anything_but(operand, prefix)
    elif operator == "exists":
        if not isinstance(operand, bool):
            raise _policy_error(prefix, "exists match pattern must be either true or false.")
    elif operator == "numeric":
        _check_numeric(operand, prefix)
    elif operator == "cidr":
        _check_cidr(operand, prefix)
    else:
        raise _policy_error(prefix, f"Unrecognized match type {operator}")


def _check_anything_but(operand: Any, prefix: str) -> None:
    if isinstance(operand, list):
        if not operand:
            raise _policy_error(prefix, "Empty arrays are not allowed")
        for item in operand:
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                raise _policy_error(
                    prefix, "Inside anything but list, start|null|boolean is not supported."
                )
    elif isinstance(operand, dict):
        if len(operand) != 1:
            raise _policy_error(prefix, "Only one key allowed in match expression")
        ((inner, text),) = operand.items()
        if inner not in ANYTHING_BUT_OPERATORS:
            raise _policy_error(prefix, f"Unsupported anything-but pattern: {inner}")
        if not isinstance(text, str):
            raise _policy_error(prefix, f"{inner} match pattern must be a string")
    elif not isinstance(operand, str | int | float) or isinstance(operand, bool):
        raise _policy_error(
            prefix, "Inside anything but list, start|null|boolean is not supported."
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_numeric(operand: Any, prefix: str) -> None:
    if not isinstance(operand, list) or not operand:
        raise _policy_error(prefix, "Value of numeric must be an array.")
    terms = list(operand)
    first = terms[0]
    if not isinstance(first, str):
        raise _policy_error(prefix, f"Invalid member in numeric match: {_shown(first)}")
    if first not in NUMERIC_OPERATORS:
        raise _policy_error(prefix, f"Unrecognized numeric range operator: {first}")
    if len(terms) < 2 or not _is_number(terms[1]):
        raise _policy_error(
            prefix, f"Value of {'equals' if first == '=' else first} must be numeric"
        )
    _check_range(terms[1], prefix)
    if len(terms) == 2:
        return
    if first not in NUMERIC_LOW:
        raise _policy_error(prefix, "Too many elements in numeric expression")
    second = terms[2]
    if not isinstance(second, str):
        raise _policy_error(prefix, f"Bad value in numeric range: {_shown(second)}")
    if second not in NUMERIC_HIGH:
        raise _policy_error(prefix, f"Bad numeric range operator: {second}")
    if len(terms) < 4 or not _is_number(terms[3]):
        raise _policy_error(prefix, f"Value of {second} must be numeric")
    _check_range(terms[3], prefix)
    if terms[3] <= terms[1]:
        raise _policy_error(prefix, "Bottom must be less than top")
    if len(terms) > 4:
        raise _policy_error(prefix, "Too many terms in numeric range expression")


def _check_range(number: float, prefix: str) -> None:
    # SNS compares numbers from -10^9 to 10^9 (five decimal places).
    if not -1e9 <= number <= 1e9:
        raise _policy_error(prefix, "Numeric values must be between -1.0E9 and 1.0E9")


def _check_cidr(operand: Any, prefix: str) -> None:
    if not isinstance(operand, str):
        raise _policy_error(prefix, "prefix match pattern must be a string")
    address, slash, bits = operand.partition("/")
    if not slash:
        raise _policy_error(prefix, "Malformed CIDR, one '/' required")
    if not bits.isdigit():
        raise _policy_error(prefix, "Malformed CIDR, mask bits must be an integer")
    try:
        ipaddress.ip_network(operand, strict=False)
    except ValueError:
        raise _policy_error(prefix, f"Nonstandard IP address: {address}") from None


def _shown(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _policy_error(prefix: str, reason: str) -> ValidationFailed:
    return _invalid(prefix, f"FilterPolicy: {reason}", field="FilterPolicy")


def _invalid(prefix: str, reason: str, *, field: str) -> ValidationFailed:
    return ValidationFailed(prefix + reason, field=field)


# -- matching -----------------------------------------------------------------------

_ABSENT: list[Any] = []


def _attribute(attribute: tuple[str, str] | None) -> list[Any]:
    """What a key is matched against in an attribute (empty: as if absent)."""
    if attribute is None:
        return _ABSENT
    data_type, text = attribute
    kind = data_type.split(".", 1)[0]
    if data_type == "String.Array":
        try:
            items = json.loads(text)
        except (ValueError, RecursionError):
            return [text]
        return items if isinstance(items, list) else [items]
    if kind == "Number":
        number = _number(text)
        return _ABSENT if number is None else [number]
    if kind == "String":
        return [text]
    return _ABSENT  # Binary: ignored


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _body(text: str) -> Any:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _at(document: Any, path: Sequence[str]) -> Iterator[Any]:
    """The leaf values at ``path`` in a JSON document, through any arrays on the way."""
    if isinstance(document, list):
        for item in document:
            yield from _at(item, path)
        return
    if not path:
        yield document
        return
    if isinstance(document, dict) and path[0] in document:
        yield from _at(document[path[0]], path[1:])


def _passes(conditions: Sequence[Any], candidates: list[Any]) -> bool:
    """Whether any condition holds: ``exists`` of the key, or of one of its values."""
    for condition in conditions:
        if isinstance(condition, dict) and "exists" in condition:
            if bool(candidates) is condition["exists"]:
                return True
        elif any(_holds(condition, value) for value in candidates):
            return True
    return False


def _same(literal: Any, value: Any) -> bool:
    if _is_number(literal):
        return _is_number(value) and _equal_numbers(literal, value)
    if literal is None or isinstance(literal, bool):
        return value is literal
    return isinstance(value, str) and value == literal


def _equal_numbers(a: float, b: float) -> bool:
    # SNS compares to five decimal places.
    return round(float(a), 5) == round(float(b), 5)


def _holds(condition: Any, value: Any) -> bool:
    if not isinstance(condition, dict):
        return _same(condition, value)
    ((operator, operand),) = condition.items()
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(operand)
    if operator == "suffix":
        return isinstance(value, str) and value.endswith(operand)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == operand.casefold()
    if operator == "anything-but":
        if isinstance(operand, dict):
            return isinstance(value, str) and not _holds(operand, value)
        excluded = operand if isinstance(operand, list) else [operand]
        return not any(_same(item, value) for item in excluded)
    if operator == "numeric":
        return _is_number(value) and _in_range(operand, float(value))
    if operator == "cidr":
        return isinstance(value, str) and _in_network(operand, value)
    return False


def _in_range(terms: Sequence[Any], number: float) -> bool:
    for operator, bound in zip(terms[::2], terms[1::2], strict=True):
        if operator == "=" and not _equal_numbers(number, bound):
            return False
        if operator == ">" and not number > bound:
            return False
        if operator == ">=" and not number >= bound:
            return False
        if operator == "<" and not number < bound:
            return False
        if operator == "<=" and not number <= bound:
            return False
    return True


def _in_network(cidr: str, text: str) -> bool:
    try:
        return ipaddress.ip_address(text) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
