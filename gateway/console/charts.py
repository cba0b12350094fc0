"""Charts drawn on the server as SVG: a sparkline, and what a line chart is drawn from.

No chart library and no script: the markup is a few polylines and labels that
the page styles (``console.css``: ``.spark``, ``.chart``, series ``.s0``..``.s3``),
so both themes draw them. The Monitor tab's line charts are
``gateway.console.monitor_charts``'; every label is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


def sparkline(
    values: Sequence[float | int | None],
    label: str | None = None,
    width: int = 120,
    height: int = 24,
) -> Markup:
    """A small line of ``values`` (oldest first), scaled to its own maximum; empty if none.
    ``label`` is what a screen reader says of it (else the values' total)."""
    points = [0.0 if v is None else float(v) for v in values]
    if not points:
        return Markup("")
    top = max(points) or 1.0
    step = width / max(1, len(points) - 1)
    coords = " ".join(
        f"{i * step:.1f},{height - 1 - (v / top) * (height - 2):.1f}" for i, v in enumerate(points)
    )
    label = label or f"{sum(points):g} in all"
    return Markup(
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(label)}"><polyline points="{coords}"/></svg>'
    )


@dataclass(frozen=True)
class Series:
    """One line of a chart: its name and its points (epoch seconds, value or None: a gap)."""

    name: str
    points: Sequence[tuple[float, float | None]]


def nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above ``value`` (an axis's top)."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude
