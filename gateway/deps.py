"""Dependencies of the routers, as ``Annotated`` aliases: the platform, and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from faas.auth import ApiKey
from faas.platform import Platform


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def get_caller(request: Request) -> ApiKey | None:
    """The key the request was let in with (``gateway.access``); None on an open server."""
    key: ApiKey | None = getattr(request.state, "api_key", None)
    return key


PlatformDep = Annotated[Platform, Depends(get_platform)]
CallerDep = Annotated[ApiKey | None, Depends(get_caller)]
