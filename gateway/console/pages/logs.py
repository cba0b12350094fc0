"""The Logs tab: a live tail of a function's invocation logs, over server-sent events.

The page holds a filter form (request id, level, text) and an empty list; its
script (``static/logs_tab.js``) opens ``logs/tail`` with the filter as query
parameters (a new filter: a new connection). The tail is a ``text/event-stream``:
first the last ``HISTORY`` records, then each new one as it is stored, an event
``record`` a record (JSON: its request id, start, outcome, and its lines that
pass the filter, each with its level: ``gateway.console.log_lines``); records
none of whose lines pass are not sent.

New records are waited for with a blocking XREAD on the function's log stream
(``LogStore.follow``: Redis wakes it the moment a record is appended, no
polling), ``KEEPALIVE_S`` at a time: each quiet period sends a comment, so a
proxy keeps the connection and a vanished client is noticed. A client that
goes away ends the tail at once: Starlette's streaming response listens for the
disconnect and cancels the generator (its blocking read too); a stopping server
ends it within half a second (``LogStore.stop_following``); ``open_tails``
counts those running, for the tests. A process serves at most ``MAX_TAILS``
(each holds a Redis connection while it waits).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import cast

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from faas.catalog.logs import LogRecord
from faas.errors import FaasError, StoreUnavailable
from faas.platform import Platform
from gateway.console import render
from gateway.console.log_lines import LEVELS, LineFilter
from gateway.console.pages.function import failure, function_page, visible
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints

endpoint = Endpoints(include_in_schema=False)

# Records sent first: the latest, oldest first.
HISTORY = 50
# A quiet tail sends a comment this often.
KEEPALIVE_S = 15
# How long the browser waits before it reconnects a tail that ended (ms).
RETRY_MS = 2000
# Live tails one process serves at once.
MAX_TAILS = 200

# One token a tail being served (a tail's generator adds it, and removes it as it ends).
_tails: set[object] = set()


def open_tails() -> int:
    """The tails this process is serving now."""
    return len(_tails)


def event(record: LogRecord, lines: list[tuple[str, str]]) -> bytes:
    """One SSE event of a record: ``event: record`` and its JSON on one ``data`` line."""
    data = {
        "requestId": record.request_id,
        "start": record.to_api()["start"],
        "outcome": record.outcome,
        "lines": [{"text": text, "level": level} for text, level in lines],
    }
    return b"event: record\ndata: " + json.dumps(data).encode() + b"\n\n"


def _sse(record: LogRecord, chosen: LineFilter) -> bytes | None:
    lines = chosen.lines(record)
    if not lines:
        return None
    return event(record, [(line.text, line.level) for line in lines])


@endpoint()
async def page(
    request: Request,
    platform: PlatformDep,
    name: str,
    request_id: str = "",
    level: str = "",
    text: str = "",
) -> Response:
    try:
        spec = await visible(request, platform, name)
        chosen = LineFilter.parse(request_id, level, text)
    except FaasError as exc:
        return failure(request, exc)
    return function_page(request, platform, spec, "logs.html", "logs", chosen=chosen, levels=LEVELS)


@endpoint()
async def tail(
    request: Request,
    platform: PlatformDep,
    name: str,
    request_id: str = "",
    level: str = "",
    text: str = "",
) -> Response:
    """The function's records as server-sent events: the last ones, then each new one."""
    await visible(request, platform, name)
    chosen = LineFilter.parse(request_id, level, text)
    if len(_tails) >= MAX_TAILS:
        raise StoreUnavailable("too many live log tails on this server: try again later")
    records, cursor = await platform.functions.logs(
        name, since=None, request_id=chosen.request_id or None, limit=HISTORY
    )
    return StreamingResponse(
        _stream(platform, name, chosen, records, cursor),
        media_type="text/event-stream",
        headers={
            **render.SECURITY_HEADERS,
            "X-Accel-Buffering": "no",  # a proxy (nginx) passes each event on at once
        },
    )


async def _stream(
    platform: Platform, name: str, chosen: LineFilter, records: list[LogRecord], cursor: str
) -> AsyncIterator[bytes]:
    token = object()
    _tails.add(token)
    try:
        yield f"retry: {RETRY_MS}\n: the logs of {name}\n\n".encode()
        for record in records:
            sent = _sse(record, chosen)
            if sent is not None:
                yield sent
        yield b"event: live\ndata: {}\n\n"  # the history is over: what follows is new
        follow = cast(
            AsyncGenerator[LogRecord | None, None],
            platform.logs.follow(
                name, cursor, chosen.request_id or None, block_ms=KEEPALIVE_S * 1000
            ),
        )
        async with contextlib.aclosing(follow):
            async for new in follow:
                if new is None:
                    yield b": keep-alive\n\n"
                    continue
                sent = _sse(new, chosen)
                if sent is not None:
                    yield sent
    except StoreUnavailable as exc:
        # Said to the page, which reconnects after RETRY_MS (and so tries Redis again).
        yield b"event: failed\ndata: " + json.dumps({"message": exc.message}).encode() + b"\n\n"
    finally:
        _tails.discard(token)
