"""What feeds a function, drawn on the server as SVG: sources on the left, arrows, the function.

The Triggers tab draws one ``Source`` a box (its kind above its label: an HTTP
route, a schedule, a queue read by a mapping, a topic subscription), each with
an arrow to the function's box on the right; a source that is off (a disabled
schedule or mapping, HTTP not exposed) is drawn dashed. No script and no
library: boxes, lines and text styled by ``console.css`` (``svg.feeds``) in
either theme; every label escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
BOX_W = 250
BOX_H = 40
GAP = 12
LABEL_MAX = 34


@dataclass(frozen=True)
class Source:
    """One thing that invokes the function: its kind ("HTTP", "Schedule", ...), label, state."""

    kind: str
    label: str
    on: bool = True


def _short(text: str) -> str:
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"


def feeds(function: str, sources: Sequence[Source]) -> Markup:
    """The diagram of ``sources`` feeding ``function``; with none, the function alone."""
    rows = max(1, len(sources))
    height = rows * BOX_H + (rows - 1) * GAP + 2 * GAP
    fx, fw = WIDTH - BOX_W + 40, BOX_W - 42
    fy = height / 2 - BOX_H / 2
    summary = ", ".join(f"{s.kind} {s.label}{'' if s.on else ' (off)'}" for s in sources)
    label = f"{function} is invoked by {summary}" if sources else f"nothing invokes {function} yet"
    parts = [
        f'<svg class="feeds" viewBox="0 0 {WIDTH} {height:.0f}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMinYMin meet">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/>'
        "</marker></defs>",
    ]
    for i, source in enumerate(sources):
        y = GAP + i * (BOX_H + GAP)
        state = "source" if source.on else "source off"
        parts.append(
            f'<g class="{state}"><rect x="1" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="5"/>'
            f'<text class="kind" x="10" y="{y + 15}">{escape(source.kind)}</text>'
            f'<text x="10" y="{y + 32}">{escape(_short(source.label))}</text></g>'
        )
        parts.append(
            f'<line class="{"link" if source.on else "link off"}" x1="{BOX_W + 1}" '
            f'y1="{y + BOX_H / 2:.0f}" x2="{fx - 2}" y2="{fy + BOX_H / 2:.0f}" '
            'marker-end="url(#arrow)"/>'
        )
    parts.append(
        f'<g class="function"><rect x="{fx}" y="{fy:.0f}" width="{fw}" height="{BOX_H}" rx="5"/>'
        f'<text class="kind" x="{fx + 10}" y="{fy + 15:.0f}">Function</text>'
        f'<text x="{fx + 10}" y="{fy + 32:.0f}">{escape(_short(function))}</text></g>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))
