"""Reading JSON request bodies: events for functions, and small config documents."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from faas.errors import InvalidRequest, PayloadTooLarge
from faas.models import check_text


async def json_event(request: Request, max_bytes: int) -> bytes:
    """The body as a function's event: JSON (empty means ``{}``), up to ``max_bytes``."""
    return checked_event(await request.body(), max_bytes)


def checked_event(event: bytes, max_bytes: int) -> bytes:
    """``event`` if it is JSON within ``max_bytes``; empty means ``{}``."""
    if len(event) > max_bytes:
        raise PayloadTooLarge(f"the event is {len(event)} bytes; the limit is {max_bytes}")
    if event.strip() == b"":
        return b"{}"
    try:
        json.loads(event)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(f"the event is not valid JSON: {exc}") from None
    return event


async def json_body(request: Request) -> Any:
    """A small JSON document (a config): parsed, or a 400 saying why not.

    A string that is not text (``"\\ud800"``) is refused here (422 naming where),
    before anything is stored: Redis and every JSON reply would fail on it later.
    """
    raw = await request.body()
    try:
        document = json.loads(raw or b"null")
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from None
    check_text(document)
    return document
