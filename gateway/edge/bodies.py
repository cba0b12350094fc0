"""Reading request bodies: a whole body at the edge, events for functions, small configs."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.types import Receive

from faas.errors import InvalidRequest, PayloadTooLarge
from faas.text import check_text


async def read(receive: Receive) -> bytes | None:
    """The whole body, or None when the client left before sending all of it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


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
