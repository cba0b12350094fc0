"""Charts drawn on the server as SVG: a sparkline, and a line chart with axes.

No chart library and no script: the markup is a few polylines and labels that
the page styles (``console.css``: ``.spark``, ``.chart``, series ``.s0``..``.s3``),
so both themes draw them. Numbers are formatted here; every label is escaped.
"""

from __future__ import annotations

import datetime
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


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def line_chart(
    title: str,
    series: Sequence[Series],
    unit: str = "",
    width: int = 560,
    height: int = 200,
) -> Markup:
    """A chart of ``series`` against time: a y axis from 0 with 4 gridlines, times below."""
    left, right, top, bottom = 44, 8, 10, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    times = [t for s in series for t, _ in s.points]
    values = [v for s in series for _, v in s.points if v is not None]
    y_top = nice_top(max(values, default=0.0))
    t0, t1 = (min(times), max(times)) if times else (0.0, 1.0)
    span = (t1 - t0) or 1.0

    def x(t: float) -> float:
        return left + (t - t0) / span * plot_w

    def y(v: float) -> float:
        return top + plot_h - v / y_top * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i in range(5):
        value = y_top * i / 4
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(value):.1f}" '
            f'y2="{y(value):.1f}"/><text class="axis" x="{left - 4}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end">{escape(_number(value))}</text>'
        )
    if times:
        for t, anchor in ((t0, "start"), ((t0 + t1) / 2, "middle"), (t1, "end")):
            label = datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%H:%M")
            parts.append(
                f'<text class="axis" x="{x(t):.1f}" y="{height - 6}" '
                f'text-anchor="{anchor}">{label}</text>'
            )
    for index, line in enumerate(series):
        for run in _runs(line.points):
            coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
            parts.append(f'<polyline class="s{index % 4}" points="{coords}"/>')
    parts.append("</svg>")
    legend = "".join(
        f'<span class="key s{i % 4}">{escape(s.name)}</span>' for i, s in enumerate(series)
    )
    unit_label = f' <span class="unit">({escape(unit)})</span>' if unit else ""
    return Markup(
        f'<figure class="chart-box"><figcaption>{escape(title)}{unit_label} {legend}'
        f"</figcaption>{''.join(parts)}</figure>"
    )


def _runs(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """The stretches of ``points`` without a gap (a None value breaks the line)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for t, v in points:
        if v is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((t, v))
    return [run for run in runs if run]
