"""Dependencies of the routers, as ``Annotated`` aliases: the platform, and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from faas.auth import ApiKey
from faas.platform import Platform

# Both are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a
# worker thread, which cost every invocation a thread hop (8% of the gateway's
# time in a py-spy profile under load).


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def get_caller(request: Request) -> ApiKey | None:
    """The key the request was let in with (``gateway.edge.dispatch``); None on an open server."""
    key: ApiKey | None = getattr(request.state, "api_key", None)
    return key


PlatformDep = Annotated[Platform, Depends(get_platform)]
CallerDep = Annotated[ApiKey | None, Depends(get_caller)]
