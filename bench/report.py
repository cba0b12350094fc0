"""The results as a table (stdout and Markdown), JSON, and one chart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.model import Result, Row
from bench.stats import ratio
from bench.targets import Verdict, fmt

COLUMNS = ("scenario", "figure", "baseline", "project", "ratio", "target", "verdict")


def value_text(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "x":
        return f"{fmt(value)}x"
    return f"{fmt(value)} {unit}".strip()


def table_rows(results: Sequence[Result], verdicts: Sequence[Verdict]) -> list[list[str]]:
    """One list of cells per row; a row's target is the one naming its figure."""
    by_figure = {v.target.figure: v for v in verdicts}
    rows: list[list[str]] = []
    for result in results:
        if result.error is not None:
            error = result.error if len(result.error) <= 70 else result.error[:67] + "..."
            rows.append([result.name, f"ERROR: {error}", "", "", "", "", "ERROR"])
        for row in result.rows:
            verdict = by_figure.get(f"{result.name}.{row.key}")
            rows.append(
                [
                    result.name,
                    row.figure,
                    _baseline_cell(row),
                    value_text(row.project, row.unit),
                    _ratio_cell(row),
                    verdict.target.rule() if verdict else "",
                    verdict.status if verdict else "",
                ]
            )
    return rows


def _baseline_cell(row: Row) -> str:
    if row.baseline is None:
        return row.baseline_label
    text = value_text(row.baseline, row.unit)
    return f"{text} ({row.baseline_label})" if row.baseline_label else text


def _ratio_cell(row: Row) -> str:
    r = ratio(row.project, row.baseline)
    return "" if r is None else f"{fmt(r)}x"


def text_table(cells: Sequence[Sequence[str]]) -> str:
    """A fixed-width table for the terminal."""
    widths = [max(len(c[i]) for c in [COLUMNS, *cells]) for i in range(len(COLUMNS))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def markdown(
    results: Sequence[Result],
    verdicts: Sequence[Verdict],
    machine: dict[str, Any],
    run: dict[str, Any],
) -> str:
    """latest.md: the machine, the table, the target lines and each scenario's notes."""
    out = ["# Benchmark results", ""]
    out.append(
        f"{run['date']}, commit `{machine.get('git_commit', '?')}`"
        f"{' (quick run)' if run.get('quick') else ''}, {run['seconds']:.0f} s in all."
    )
    out.append("")
    out.append(
        f"Machine: {machine.get('cpu_model', '?')}, {machine.get('cores', '?')} cores, "
        f"{machine.get('ram_gb', '?')} GB RAM, kernel {machine.get('kernel', '?')}, "
        f"Docker {machine.get('docker_version', '?')}, "
        f"Python {machine.get('python_version', '?')}, "
        f"cgroup {machine.get('cgroup', '?')}; load average {_load(machine)} at the start."
    )
    out.append("")
    out.append("Ratio is project / baseline. Quoted figures are from issue 6, not measured here.")
    out.append("")
    out.append("| " + " | ".join(COLUMNS) + " |")
    out.append("|" + "---|" * len(COLUMNS))
    for cells in table_rows(results, verdicts):
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out += ["", "![baseline vs project, a panel per scenario](chart.png)"]
    out += ["", "## Targets", "", "```"]
    out += [v.line() for v in verdicts]
    out += ["```", "", "## Notes", ""]
    for result in results:
        if result.error is not None:
            out.append(f"- {result.name}: ERROR {result.error}")
        for note in result.notes:
            out.append(f"- {result.name}: {note}")
    return "\n".join(out) + "\n"


def _load(machine: dict[str, Any]) -> str:
    load = machine.get("loadavg_at_start")
    return f"{load:.1f}" if isinstance(load, int | float) else "?"


def as_json(
    results: Sequence[Result],
    verdicts: Sequence[Verdict],
    machine: dict[str, Any],
    run: dict[str, Any],
) -> str:
    figures = {f"{r.name}.{k}": v for r in results for k, v in r.figures.items()}
    doc = {
        "run": run,
        "machine": machine,
        "targets": [v.as_json() for v in verdicts],
        "figures": figures,
        "scenarios": {r.name: r.as_json() for r in results},
    }
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def chart_pairs(result: Result) -> list[Row]:
    """The rows a scenario's panel shows: with both figures, in the unit of the first."""
    rows = [r for r in result.rows if r.chart and r.project is not None and r.baseline is not None]
    return [r for r in rows if r.unit == rows[0].unit] if rows else []


def chart(results: Sequence[Result], path: Path, verdicts: Sequence[Verdict] = ()) -> None:
    """One figure, a panel per scenario: baseline and project side by side, targets dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in results if chart_pairs(r)]
    if not shown:
        return
    targets = {v.target.figure: v.target for v in verdicts}
    cols = min(4, len(shown))
    lines = (len(shown) + cols - 1) // cols
    fig, axes = plt.subplots(lines, cols, figsize=(4.2 * cols, 3.6 * lines), squeeze=False)
    for ax in axes.flat[len(shown) :]:
        ax.axis("off")
    for ax, result in zip(axes.flat, shown, strict=False):
        pairs = chart_pairs(result)
        xs = range(len(pairs))
        width = 0.38
        base = [p.baseline or 0.0 for p in pairs]
        proj = [p.project or 0.0 for p in pairs]
        left = ax.bar([x - width / 2 for x in xs], base, width, label="baseline", color="#9aa5b1")
        right = ax.bar([x + width / 2 for x in xs], proj, width, label="project", color="#2f6db5")
        for bars in (left, right):
            ax.bar_label(bars, labels=[fmt(b.get_height()) for b in bars], fontsize=6)
        for x, pair in zip(xs, pairs, strict=True):
            target = targets.get(f"{result.name}.{pair.key}")
            if target is not None and target.unit == pair.unit:
                ax.hlines(
                    target.threshold, x - 0.45, x + 0.45, colors="#c0392b", linestyles="dashed"
                )
        values = [v for v in base + proj if v > 0]
        if values and max(values) / min(values) > 30:
            # p50 next to p99, or MB next to hundreds of MB: a linear axis hides the small.
            ax.set_yscale("log")
        ax.margins(y=0.15)
        ax.set_xticks(list(xs))
        ax.set_xticklabels([p.figure for p in pairs], fontsize=7, rotation=15)
        ax.set_ylabel(pairs[0].unit)
        labels = sorted({p.baseline_label for p in pairs if p.baseline_label})
        ax.set_title(f"{result.title}\nbaseline: {'; '.join(labels)}", fontsize=8)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper right", fontsize=8)
    fig.suptitle("baseline vs project (dashed red: the target)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
