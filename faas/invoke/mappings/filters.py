"""Lambda's event filtering (``FilterCriteria``) on an SQS record; pure.

A filter's ``Pattern`` is a JSON object whose keys follow the record's
(``body``, ``attributes``, ``messageAttributes``, ``messageId``...); ``body`` is
matched as the JSON it holds when it is JSON, else as its text. A key's value is
an object (a pattern on the nested object) or a list of matchers, any of which
may match; when the record's value is a list, any of its items may match.

Matchers: a literal (exact; numbers compare as numbers), ``{"prefix": s}``,
``{"suffix": s}``, ``{"equals-ignore-case": s}``, ``{"anything-but": v | [v..] |
{"prefix": s} | {"suffix": s} | {"equals-ignore-case": s|[s..]}}``,
``{"numeric": [op, n, (op, n)]}`` (op: ``=``, ``<``, ``<=``, ``>``, ``>=``) and
``{"exists": bool}``. A record is kept when it matches any of the mapping's
filters (or there are none); the poller deletes the others, as Lambda does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

MAX_FILTERS = 5  # Lambda's default quota per mapping
MAX_PATTERN_CHARS = 4096

_MISSING = object()
_NUMERIC_OPS = frozenset({"=", "<", "<=", ">", ">="})


class InvalidPattern(ValueError):
    """A filter pattern that is not Lambda's filtering syntax; the message says why."""


def parse(pattern: str) -> dict[str, Any]:
    """The pattern ``pattern`` holds, checked; ``InvalidPattern`` when it is not one."""
    if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN_CHARS:
        raise InvalidPattern(f"a pattern is a JSON text of at most {MAX_PATTERN_CHARS} characters")
    try:
        document = json.loads(pattern)
    except (ValueError, RecursionError):
        raise InvalidPattern("the pattern is not valid JSON") from None
    if not isinstance(document, dict) or not document:
        raise InvalidPattern("the pattern must be a non-empty JSON object")
    _check_object(document, "")
    return document


def _check_object(pattern: dict[str, Any], where: str) -> None:
    for key, value in pattern.items():
        path = f"{where}.{key}" if where else key
        if isinstance(value, dict):
            if not value:
                raise InvalidPattern(f"{path}: an empty object matches nothing")
            _check_object(value, path)
        elif isinstance(value, list):
            if not value:
                raise InvalidPattern(f"{path}: a list of matchers may not be empty")
            for matcher in value:
                _check_matcher(matcher, path)
        else:
            raise InvalidPattern(f"{path}: must be an object or a list of matchers")


def _check_matcher(matcher: Any, path: str) -> None:
    if matcher is None or isinstance(matcher, str | bool) or _is_number(matcher):
        return
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise InvalidPattern(f"{path}: a matcher is a literal or an object of one operator")
    ((op, operand),) = matcher.items()
    if op in ("prefix", "suffix"):
        if isinstance(operand, dict) and list(operand) == ["equals-ignore-case"]:
            operand = operand["equals-ignore-case"]
        if not isinstance(operand, str):
            raise InvalidPattern(f"{path}: {op} takes a string")
    elif op == "equals-ignore-case":
        if not isinstance(operand, str):
            raise InvalidPattern(f"{path}: equals-ignore-case takes a string")
    elif op == "exists":
        if not isinstance(operand, bool):
            raise InvalidPattern(f"{path}: exists takes true or false")
    elif op == "numeric":
        _check_numeric(operand, path)
    elif op == "anything-but":
        _check_anything_but(operand, path)
    else:
        raise InvalidPattern(f"{path}: unknown operator {op!r}")


def _check_numeric(operand: Any, path: str) -> None:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise InvalidPattern(f"{path}: numeric takes [op, number] or [op, number, op, number]")
    for i in range(0, len(operand), 2):
        op, number = operand[i], operand[i + 1]
        if op not in _NUMERIC_OPS or not _is_number(number):
            raise InvalidPattern(f"{path}: numeric takes operators =, <, <=, >, >= and numbers")
    if len(operand) == 4 and (operand[0] == "=" or operand[2] == "="):
        raise InvalidPattern(f"{path}: numeric '=' stands alone")


def _check_anything_but(operand: Any, path: str) -> None:
    if isinstance(operand, str) or _is_number(operand):
        return
    if isinstance(operand, list) and operand:
        if all(isinstance(v, str) for v in operand) or all(_is_number(v) for v in operand):
            return
    if isinstance(operand, dict) and len(operand) == 1:
        ((op, inner),) = operand.items()
        if op in ("prefix", "suffix") and isinstance(inner, str):
            return
        if op == "equals-ignore-case" and (
            isinstance(inner, str)
            or (isinstance(inner, list) and inner and all(isinstance(v, str) for v in inner))
        ):
            return
    raise InvalidPattern(
        f"{path}: anything-but takes a string, a number, a list of either, "
        "or a prefix, suffix or equals-ignore-case"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# -- matching -------------------------------------------------------------------


def filterable(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` as filters see it: its ``body`` parsed when it is a JSON object or list."""
    body = record.get("body")
    if isinstance(body, str) and body[:1] in ("{", "["):
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            return record
        return {**record, "body": parsed}
    return record


def keeps(patterns: Sequence[dict[str, Any]], record: dict[str, Any]) -> bool:
    """Whether ``record`` passes the mapping's filters: no filters, or any one matches."""
    if not patterns:
        return True
    seen = filterable(record)
    return any(matches(pattern, seen) for pattern in patterns)


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """Whether ``event`` (an object) matches ``pattern`` (checked by :func:`parse`)."""
    if not isinstance(event, dict):
        return False
    for key, wanted in pattern.items():
        value = event.get(key, _MISSING)
        if isinstance(wanted, dict):
            if value is _MISSING or not matches(wanted, value):
                return False
        elif not _any_matcher(wanted, value):
            return False
    return True


def _any_matcher(matchers: list[Any], value: Any) -> bool:
    for matcher in matchers:
        if isinstance(matcher, dict) and "exists" in matcher:
            present = value is not _MISSING and not isinstance(value, dict)
            if present == matcher["exists"]:
                return True
            continue
        if value is _MISSING:
            continue
        values = value if isinstance(value, list) else [value]
        if any(_one(matcher, v) for v in values):
            return True
    return False


def _one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        return _equal(matcher, value)
    ((op, operand),) = matcher.items()
    if op == "prefix" or op == "suffix":
        if not isinstance(value, str):
            return False
        if isinstance(operand, dict):
            operand, value = operand["equals-ignore-case"].casefold(), value.casefold()
        affix = str(operand)
        return bool(value.startswith(affix) if op == "prefix" else value.endswith(affix))
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == operand.casefold()
    if op == "numeric":
        return _is_number(value) and _in_range(operand, value)
    if op == "anything-but":
        return _anything_but(operand, value)
    return False


def _equal(literal: Any, value: Any) -> bool:
    if _is_number(literal):
        return _is_number(value) and float(literal) == float(value)
    if isinstance(literal, bool) or literal is None:
        return value is literal
    return isinstance(value, str) and value == literal


def _in_range(operand: list[Any], value: float) -> bool:
    for i in range(0, len(operand), 2):
        op, bound = operand[i], float(operand[i + 1])
        ok = {
            "=": value == bound,
            "<": value < bound,
            "<=": value <= bound,
            ">": value > bound,
            ">=": value >= bound,
        }[op]
        if not ok:
            return False
    return True


def _anything_but(operand: Any, value: Any) -> bool:
    if isinstance(operand, dict):
        ((op, inner),) = operand.items()
        if not isinstance(value, str):
            return False
        if op == "prefix":
            return not value.startswith(inner)
        if op == "suffix":
            return not value.endswith(inner)
        excluded = [inner] if isinstance(inner, str) else inner
        return value.casefold() not in {v.casefold() for v in excluded}
    excluded = operand if isinstance(operand, list) else [operand]
    return not any(_equal(v, value) for v in excluded)
