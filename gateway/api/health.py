"""Health of the server: liveness, readiness and Prometheus metrics, beside every API."""

from __future__ import annotations

from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from faas import metrics
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints

endpoint = Endpoints(tags=["health"])


@endpoint()
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@endpoint()
async def readyz(platform: PlatformDep) -> JSONResponse:
    """Readiness: Redis and Docker answer, and the runtime image is there (else 503)."""
    checks = await platform.health.readiness()
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@endpoint(response_class=PlainTextResponse)
async def metrics_endpoint(platform: PlatformDep) -> PlainTextResponse:
    """Prometheus metrics (an admin key when the server has keys)."""
    await platform.health.refresh_gauges()
    return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE_LATEST)
