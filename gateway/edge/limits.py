"""Request body limits, enforced before a handler reads a byte past them.

Each route's limit is in its row (``gateway.routes``). A declared
``Content-Length`` over the limit is answered 413 at once; a body streamed
without one is counted as it arrives and cut off at the limit.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Send


def declared_over(headers: list[tuple[bytes, bytes]], limit: int) -> bool:
    """Whether the request says its body is longer than ``limit``."""
    declared = dict(headers).get(b"content-length")
    return declared is not None and declared.isdigit() and int(declared) > limit


def counted(receive: Receive, limit: int) -> Receive:
    """``receive``, raising a 413 once the body is past ``limit``."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                # An HTTPException survives FastAPI's form parsing, which turns
                # any other error into a 400.
                raise HTTPException(413, f"request body is larger than {limit} bytes")
        return message

    return limited


async def too_large(send: Send, limit: int) -> None:
    """The 413 for a declared length: the connection is closed, its body never read."""
    body = json.dumps(
        {"error": "PayloadTooLarge", "message": f"request body is larger than {limit} bytes"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
