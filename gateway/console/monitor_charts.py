"""The Monitor tab's charts: a function's per-minute statistics drawn as SVG, with a dot a point.

A chart of a function's minutes needs its points as well as its lines: a minute
with one invocation in an hour of none is a lone point, which a polyline does
not draw, and the p50 of a minute nothing ran in is no value (a gap), not 0. So
these charts draw each point that has a value as a dot (a count's zero minutes
stay on the line, undotted) with a tooltip of its time and value, and say their
latest value in text for those who do not see the chart. Styles and series
classes are ``charts``' (``console.css``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from faas.stats import Point
from gateway.console.charts import Series, nice_top

WIDTH, HEIGHT = 560, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 22


@dataclass(frozen=True)
class Spec:
    """One chart of the tab: its slug (the element's id), title, unit, and its lines: each a
    name and how a point's value is read."""

    slug: str
    title: str
    unit: str
    lines: tuple[tuple[str, Callable[[Point], float | None]], ...]


CHARTS = (
    Spec("invocations", "Invocations", "count", (("Invocations", lambda p: p.invocations),)),
    Spec("errors", "Errors", "count", (("Errors", lambda p: p.errors),)),
    Spec("throttles", "Throttles", "count", (("Throttles", lambda p: p.throttles),)),
    Spec(
        "duration",
        "Duration",
        "ms",
        (("p50", lambda p: p.p50_ms), ("p99", lambda p: p.p99_ms)),
    ),
    Spec("cold-starts", "Cold starts", "count", (("Cold starts", lambda p: p.cold_starts),)),
    Spec(
        "concurrency",
        "Concurrent executions",
        "max",
        (("Concurrent executions", lambda p: p.concurrency),),
    ),
)


def _clock(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%H:%M")


def _value(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def series_of(spec: Spec, points: Sequence[Point]) -> list[Series]:
    """The chart's lines from the window's points (oldest first)."""
    return [Series(name, [(float(p.minute), read(p)) for p in points]) for name, read in spec.lines]


def latest(series: Sequence[Series]) -> list[tuple[str, float | None, float | None]]:
    """Each line's latest point: its name, its time (epoch s) and value (None: none yet)."""
    out = []
    for line in series:
        point = line.points[-1] if line.points else None
        out.append((line.name, point[0] if point else None, point[1] if point else None))
    return out


def total(spec: Spec, series: Sequence[Series]) -> float | None:
    """A count's sum over the window (None for a chart of durations or maxima)."""
    if spec.unit != "count" or not series:
        return None
    return float(sum(v or 0 for _, v in series[0].points))


def dots(series: Sequence[Series]) -> int:
    """How many dots a chart draws: its points with a value other than zero."""
    return sum(1 for line in series for _, v in line.points if v)


def chart(spec: Spec, series: Sequence[Series], step_s: int) -> Markup:
    """The chart: a titled SVG (lines, a dot a point, axes) and its latest value in text.
    ``step_s``: the time a point covers (a minute, or 10 in a long window)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    times = [t for s in series for t, _ in s.points]
    values = [v for s in series for _, v in s.points if v is not None]
    y_top = nice_top(max(values, default=0.0))
    t0, t1 = (min(times), max(times)) if times else (0.0, 1.0)
    span = (t1 - t0) or 1.0

    def x(t: float) -> float:
        return LEFT + (t - t0) / span * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - v / y_top * plot_h

    said = _latest_text(spec, series, step_s)
    title_id, text_id = f"chart-{spec.slug}-title", f"chart-{spec.slug}-latest"
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{title_id}" aria-describedby="{text_id}">'
        f'<title id="{title_id}">{escape(spec.title)}</title>'
    ]
    for i in range(5):
        value = y_top * i / 4
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" '
            f'y2="{y(value):.1f}"/><text class="axis" x="{LEFT - 4}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end">{escape(_value(value))}</text>'
        )
    if times:
        for t, anchor in ((t0, "start"), ((t0 + t1) / 2, "middle"), (t1, "end")):
            parts.append(
                f'<text class="axis" x="{x(t):.1f}" y="{HEIGHT - 6}" '
                f'text-anchor="{anchor}">{_clock(t)}</text>'
            )
    for index, line in enumerate(series):
        css = f"s{index % 4}"
        run: list[str] = []
        for t, v in [*line.points, (0.0, None)]:
            if v is None:
                if len(run) > 1:
                    parts.append(f'<polyline class="{css}" points="{" ".join(run)}"/>')
                run = []
            else:
                run.append(f"{x(t):.1f},{y(v):.1f}")
        for t, v in line.points:
            if v:
                tip = f"{line.name} {_clock(t)}: {_value(v)}"
                parts.append(
                    f'<circle class="dot {css}" cx="{x(t):.1f}" cy="{y(v):.1f}" r="3">'
                    f"<title>{escape(tip)}</title></circle>"
                )
    parts.append("</svg>")
    legend = "".join(
        f'<span class="key s{i % 4}">{escape(s.name)}</span>' for i, s in enumerate(series)
    )
    heading = f'{escape(spec.title)} <span class="unit">({escape(spec.unit)})</span>'
    if len(series) > 1:
        heading += f" {legend}"
    newest = latest(series)
    last = newest[0][2] if newest else None
    summed = total(spec, series)
    return Markup(
        f'<figure class="chart-box monitor-chart" id="chart-{spec.slug}" '
        f'data-latest="{"" if last is None else _value(last)}" data-dots="{dots(series)}" '
        f'data-total="{"" if summed is None else _value(summed)}">'
        f"<figcaption>{heading}</figcaption>{''.join(parts)}"
        f'<p class="latest" id="{text_id}">{escape(said)}</p></figure>'
    )


def _latest_text(spec: Spec, series: Sequence[Series], step_s: int) -> str:
    """The chart in words: each line's latest point ("Latest (14:05, 1 min): 3")."""
    said = []
    for name, at, value in latest(series):
        if at is None:
            continue
        label = name if len(series) > 1 else "Latest"
        shown = "none" if value is None else f"{_value(value)}"
        unit = f" {spec.unit}" if spec.unit == "ms" and value is not None else ""
        said.append(f"{label} ({_clock(at)}, {step_s // 60} min): {shown}{unit}")
    summed = total(spec, series)
    if said and summed is not None:
        said.append(f"{_value(summed)} in the window")
    return "; ".join(said) or "No data yet."
