"""``FunctionName`` as the Lambda API takes it, with its ``Qualifier``.

A function is named by its name (``my-function``), its name and a qualifier
(``my-function:v1``), a partial ARN (``123456789012:function:my-function``) or
a full ARN (``arn:aws:lambda:us-east-1:123456789012:function:my-function[:v1]``).
Path parameters arrive URL-decoded. A qualifier in the name and one in the
``Qualifier`` parameter must agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from faas.errors import FunctionNotFound, ValidationFailed
from faas.models import QUALIFIER_PATTERN

LATEST = "$LATEST"

_ARN = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:(?P<function>function):)?"
    r"(?P<name>[A-Za-z0-9_-]{1,64})"
    r"(?::(?P<qualifier>\$LATEST|[A-Za-z0-9_-]{1,128}))?$"
)
QUALIFIER = QUALIFIER_PATTERN


@dataclass(frozen=True)
class Qualified:
    """A function's name, and the version or alias asked for (None: unqualified)."""

    name: str
    qualifier: str | None = None


def parse(
    raw: str,
    qualifier: str | None = None,
    *,
    region: str,
    account_id: str,
    field: str = "FunctionName",
) -> Qualified:
    """The function ``raw`` names on this server; ``ValidationFailed`` naming ``field`` if it
    is no function name, ``FunctionNotFound`` if it names another account's or region's."""
    found = _ARN.fullmatch(raw)
    # A partial ARN needs "function:"; "123456789012:name" is a name with a qualifier.
    if found is None or (found["account"] and not found["function"]):
        raise ValidationFailed(
            f"1 validation error detected: Value '{raw}' at '{_camel(field)}' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: "
            "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
            "(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
            field=field,
        )
    if found["function"] and not found["account"]:
        raise ValidationFailed(f"{field} {raw!r} is not a function name or ARN", field=field)
    name = found["name"]
    if (found["account"] and found["account"] != account_id) or (
        found["region"] and found["region"] != region
    ):
        raise FunctionNotFound(f"Function not found: {raw}")
    if qualifier is not None and not QUALIFIER.fullmatch(qualifier):
        raise ValidationFailed(
            f"Qualifier {qualifier!r} must be $LATEST, a version number or an alias name",
            field="Qualifier",
        )
    named = found["qualifier"]
    if named is not None and qualifier is not None and named != qualifier:
        raise ValidationFailed(
            "The derived qualifier from the function name does not match the specified qualifier.",
            field="Qualifier",
        )
    return Qualified(name, named if named is not None else qualifier)


def _camel(field: str) -> str:
    return field[:1].lower() + field[1:]
