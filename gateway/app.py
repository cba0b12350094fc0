"""The gateway's ASGI app: the route table's rows served by the edge and by FastAPI.

Every path is a row of ``gateway.routes``. Rows whose endpoint the edge serves
itself (the invoke) are only documented by FastAPI; every other row is a FastAPI
route. ``gateway.edge.dispatch`` wraps the FastAPI app and reads the same table
first, for keys and body limits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

import faas
from faas.platform import Platform
from faas.settings import Settings
from gateway import errors
from gateway.edge.dispatch import Dispatch
from gateway.edge.table import Table
from gateway.routes import ROUTES


def create_app(settings: Settings, table: Table = ROUTES) -> Dispatch:
    """The gateway for ``settings``; the platform starts with the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform = Platform(settings)
        await platform.start()
        app.state.platform = platform
        try:
            yield
        finally:
            await platform.close()

    api = FastAPI(
        title="faas",
        version=faas.__version__,
        description="A self-hosted AWS Lambda: upload function zips, invoke them over HTTP.",
        lifespan=lifespan,
        # The documentation's own routes are rows of the table too (gateway.api.docs).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    errors.install(api)
    at_edge = APIRouter()  # documented here, served by the edge: never mounted
    for route in table.routes:
        if route.aws:
            continue  # served by the edge (gateway.edge.aws), documented by AWS
        endpoint = route.endpoint
        options = {**endpoint.options}
        if not route.documented:
            options["include_in_schema"] = False
        target = api.router if endpoint.serve is None else at_edge
        target.add_api_route(route.path, endpoint.handler, methods=route.methods.split(), **options)

    def openapi() -> dict[str, Any]:
        # As FastAPI's own, with the edge's routes as well (FastAPI's documented way
        # to extend the schema: replace ``app.openapi``).
        if not api.openapi_schema:
            api.openapi_schema = get_openapi(
                title=api.title,
                version=api.version,
                description=api.description,
                routes=[*api.routes, *at_edge.routes],
            )
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    return Dispatch(table, api)


def stopping(app: object) -> None:
    """The server that serves ``app`` (``create_app``'s) begins to stop: its streams to
    clients end (``Platform.stopping``) before it waits for their connections."""
    platform = getattr(app.api.state, "platform", None) if isinstance(app, Dispatch) else None
    if platform is not None:
        platform.stopping()
