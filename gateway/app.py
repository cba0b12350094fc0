"""The FastAPI application: routers, error mapping, body limits, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp

import faas
from faas import metrics
from faas.catalog.bundle import BundleLimits
from faas.models import INVOKE_MAX_BYTES
from faas.platform import Platform
from faas.settings import Settings
from gateway import errors
from gateway.api.v1 import (
    functions,
    http_routes,
    invocations,
    invoke,
    logs,
    schedules,
    secrets,
)
from gateway.deps import PlatformDep
from gateway.edge.access import AccessControl
from gateway.edge.fast_invoke import FastInvoke
from gateway.edge.limits import BodyLimit, LimitFor

DEFAULT_BODY_LIMIT = 1 << 20
# Multipart framing and form fields around the zip itself.
UPLOAD_OVERHEAD = 1 << 20


def body_limit_for(upload_limit: int) -> LimitFor:
    def limit(method: str, path: str) -> int:
        if path.endswith("/invoke") or path.startswith("/fn/"):
            return INVOKE_MAX_BYTES
        if (method == "POST" and path.rstrip("/") == "/v1/functions") or (
            method == "PUT" and path.endswith("/code")
        ):
            return upload_limit + UPLOAD_OVERHEAD
        return DEFAULT_BODY_LIMIT

    return limit


def create_app(settings: Settings) -> ASGIApp:
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

    app = FastAPI(
        title="faas",
        version=faas.__version__,
        description="A self-hosted AWS Lambda: upload function zips, invoke them over HTTP.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(functions.router)
    app.include_router(invoke.router)
    app.include_router(invocations.router)
    app.include_router(schedules.router)
    app.include_router(logs.router)
    app.include_router(secrets.router)
    app.include_router(http_routes.router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz(platform: PlatformDep) -> JSONResponse:
        """Readiness: Redis and Docker answer, and the runtime image is there (else 503)."""
        checks = await platform.readiness()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    async def metrics_endpoint(platform: PlatformDep) -> PlainTextResponse:
        """Prometheus metrics (an admin key when the server has keys)."""
        await platform.refresh_gauges()
        return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    # The edge wraps the FastAPI app from outside, in this order: keys and rates first
    # (a refused request is answered before its body is read), then body limits, then
    # invokes, which never reach FastAPI's own middleware and routing. Each guards its
    # own code: FastAPI's error handlers cannot see it.
    limits = body_limit_for(BundleLimits().max_zipped_bytes)
    return AccessControl(BodyLimit(FastInvoke(app), limit_for=limits), app)
