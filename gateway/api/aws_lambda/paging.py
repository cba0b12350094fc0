"""The Lambda API's list paging: ``MaxItems``, and a ``Marker`` that is opaque to clients.

A page is the items after the marker's key, in key order; ``NextMarker`` comes
only when more follow, as on Lambda (boto3's paginators stop when it is absent).
A marker is the last key of a page, base64: a client may not build one, and an
item deleted between pages does not shift the next page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from faas.errors import ValidationFailed

T = TypeVar("T")


def max_items(raw: str | None, *, default: int, most: int) -> int:
    """The ``MaxItems`` query parameter, 1 to ``most``; ``default`` when not given."""
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise ValidationFailed(f"MaxItems must be an integer from 1 to {most}", field="MaxItems")
    return int(raw)


def page(
    items: Iterable[T], key: Callable[[T], str], marker: str | None, limit: int
) -> tuple[list[T], str | None]:
    """The items after ``marker``, at most ``limit`` of them, and the next page's marker."""
    after = _unmark(marker) if marker else ""
    rest = sorted((item for item in items if key(item) > after), key=key)
    if len(rest) <= limit:
        return rest, None
    return rest[:limit], _mark(key(rest[limit - 1]))


def answer(field: str, items: list[Any], next_marker: str | None) -> dict[str, Any]:
    """A list operation's body: ``{field: items}``, and ``NextMarker`` when more follow."""
    body: dict[str, Any] = {field: items}
    if next_marker is not None:
        body["NextMarker"] = next_marker
    return body


def _mark(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _unmark(marker: str) -> str:
    try:
        return base64.b64decode(marker.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValidationFailed("Marker is not one this server gave", field="Marker") from None
