"""The Monitor tab: a function's invocations, errors, throttles, duration (p50, p99), cold
starts and concurrent executions over the last hour or 24 hours, cluster-wide.

The figures are ``faas.stats``' per-minute roll-ups (``platform.stats.series``):
60 points of a minute, or 144 of 10 minutes for a day. The charts are drawn
here as SVG (``gateway.console.monitor_charts``) and their block asks for
itself again every few seconds (htmx's ``every``), so a new invocation shows
within a poll and a flush (``faas.stats.recorder.FLUSH_S``) without a reload. A
day's read is 1,440 hashes: it is asked for less often.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from faas.errors import FaasError, FunctionNotFound, ValidationFailed
from faas.models import FunctionSpec
from faas.platform import Platform
from faas.stats import rollup
from gateway.console import monitor_charts, render
from gateway.console.pages.function import failure, function_page, visible
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints

endpoint = Endpoints(include_in_schema=False)


@dataclass(frozen=True)
class Window:
    """A span the tab shows: its query value, label, minutes, and how often it is redrawn."""

    slug: str
    label: str
    minutes: int
    refresh_s: int


WINDOWS = {
    "1h": Window("1h", "1 hour", 60, 5),
    "24h": Window("24h", "24 hours", 24 * 60, 30),
}
DEFAULT_WINDOW = "1h"
# htmx stops polling an element whose answer has this status.
STOP_POLLING = 286


def window_of(slug: str | None) -> Window:
    found = WINDOWS.get(slug or DEFAULT_WINDOW)
    if found is None:
        raise ValidationFailed(f"window must be one of {', '.join(WINDOWS)}", field="window")
    return found


async def _charts(platform: Platform, spec: FunctionSpec, window: Window) -> dict[str, Any]:
    points = await platform.stats.series(spec.name, window.minutes)
    step_s = rollup.step_for(window.minutes) * rollup.MINUTE_S
    charts = [
        monitor_charts.chart(c, monitor_charts.series_of(c, points), step_s)
        for c in monitor_charts.CHARTS
    ]
    return {
        "charts": charts,
        "window": window,
        "windows": WINDOWS.values(),
        "step_minutes": step_s // rollup.MINUTE_S,
    }


@endpoint()
async def page(request: Request, platform: PlatformDep, name: str, window: str = "") -> Response:
    try:
        spec = await visible(request, platform, name)
        span = window_of(window)
    except FaasError as exc:
        return failure(request, exc)
    context = await _charts(platform, spec, span)
    return function_page(request, platform, spec, "monitor.html", "monitor", **context)


@endpoint()
async def charts(request: Request, platform: PlatformDep, name: str, window: str = "") -> Response:
    """The charts' block alone: what the page's poll swaps in. Once the function is gone,
    a note answered with 286, which ends htmx's polling."""
    try:
        spec = await visible(request, platform, name)
    except FunctionNotFound as exc:
        return render.render(request, "_monitor_gone.html", STOP_POLLING, message=exc.message)
    context = await _charts(platform, spec, window_of(window))
    return render.render(request, "_monitor_charts.html", spec=spec, **context)
