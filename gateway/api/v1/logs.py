"""Invocation logs of a function: a page of them, or a stream that follows new ones."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import StreamingResponse

from faas.catalog.logs import parse_since
from gateway.api.v1.schemas import ErrorOut, LogList, LogOut
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints

endpoint = Endpoints(tags=["logs"])

ERRORS: dict[int | str, dict[str, object]] = {code: {"model": ErrorOut} for code in (404, 422, 503)}


@endpoint(
    response_model=LogList, responses={**ERRORS, 200: {"content": {"application/x-ndjson": {}}}}
)
async def get_logs(
    platform: PlatformDep,
    name: str,
    request: Request,
    since: Annotated[
        str | None, Query(description="epoch seconds, ISO 8601, or an age: 15m")
    ] = None,
    request_id: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    follow: Annotated[bool, Query(description="stream NDJSON, new logs as they come")] = False,
) -> LogList | StreamingResponse:
    """Invocation logs, oldest first: the last ``limit``, or the first ``limit`` from ``since``.
    ``follow=1`` streams them as NDJSON and then every new one until the client leaves."""
    start = parse_since(since, time.time()) if since is not None else None
    records, cursor = await platform.functions.logs(
        name, since=start, request_id=request_id, limit=limit
    )
    if not follow:
        return LogList(logs=[LogOut(**r.to_api()) for r in records])

    async def lines() -> AsyncIterator[bytes]:
        for record in records:
            yield json.dumps(record.to_api()).encode() + b"\n"
        async for new in platform.logs.follow(name, cursor, request_id):
            if await request.is_disconnected():
                return
            if new is not None:
                yield json.dumps(new.to_api()).encode() + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")
