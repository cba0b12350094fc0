"""Async: ``bench/async_throughput.py`` in a subprocess, its figures folded in.

That script starts its own redis-server (AOF, fsync always) and server; it
measures end-to-end events/s against sync invokes/s of the same function at
the same concurrency, and enqueue latency against ``GET /healthz``. It writes
its figures with ``--json PATH``; an older version without that option is
read from its printed lines instead.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import Plan
from bench.model import Result

SCRIPT = Path(__file__).resolve().parent.parent / "async_throughput.py"

# What the printed report of a version without --json says, and the JSON name of each.
_PRINTED = {
    "events_per_s": r"async end to end\s+([\d.]+) /s",
    "sync_invokes_per_s": r"baseline sync invokes\s+([\d.]+) /s",
    "enqueue_p50_ms": r"enqueue \(202\) p50\s+([\d.]+) ms",
    "enqueue_p99_ms": r"enqueue \(202\) p99\s+([\d.]+) ms",
    "healthz_p50_ms": r"baseline GET /healthz p50\s+([\d.]+) ms",
}
# --json names -> ours.
_JSON = {
    "async_events_per_s": "events_per_s",
    "sync_invokes_per_s": "sync_invokes_per_s",
    "enqueue_p50_ms": "enqueue_p50_ms",
    "enqueue_p99_ms": "enqueue_p99_ms",
    "healthz_p50_ms": "healthz_p50_ms",
    "events": "events",
}


def parse_printed(text: str) -> dict[str, float]:
    out = {}
    for key, pattern in _PRINTED.items():
        match = re.search(pattern, text)
        if match:
            out[key] = float(match[1])
    return out


def from_json(doc: dict[str, object]) -> dict[str, float]:
    out = {}
    for theirs, value in doc.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[_JSON.get(theirs, theirs)] = float(value)
    return out


def run(plan: Plan, result: Result) -> None:
    help_text = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=False
    ).stdout
    args = [sys.executable, str(SCRIPT)]
    if "--events" in help_text:
        args += ["--events", str(plan.async_events)]
    with tempfile.TemporaryDirectory(prefix="faas-bench-async-") as tmp:
        out_path = Path(tmp) / "async.json"
        has_json = "--json" in help_text
        if has_json:
            args += ["--json", str(out_path)]
        done = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"async_throughput.py exited {done.returncode}: {done.stderr[-1500:]}"
            )
        if has_json:
            figures = from_json(json.loads(out_path.read_text()))
        else:
            figures = parse_printed(done.stdout)
            result.notes.append(
                "bench/async_throughput.py has no --json option yet: figures read from its output"
            )
    if "events_per_s" not in figures:
        raise RuntimeError(f"no events/s in the output of async_throughput.py:\n{done.stdout}")
    result.figures.update(figures)
    result.row(
        "async events/s end to end",
        "/s",
        "events_per_s",
        figures["events_per_s"],
        baseline=figures.get("sync_invokes_per_s"),
        baseline_label="sync invokes/s, same concurrency",
    )
    result.row(
        "enqueue p50 (202)",
        "ms",
        "enqueue_p50_ms",
        figures.get("enqueue_p50_ms"),
        baseline=figures.get("healthz_p50_ms"),
        baseline_label="GET /healthz p50",
        chart=False,
    )
    result.row(
        "enqueue p99 (202)", "ms", "enqueue_p99_ms", figures.get("enqueue_p99_ms"), chart=False
    )
    if "succeeded" in figures and "events" in figures:
        lost = figures["events"] - figures["succeeded"]
        result.row("events not succeeded", "", "not_succeeded", lost, chart=False)
    events = figures.get("events", plan.async_events)
    result.notes.append(
        f"{events:.0f} events; measured by bench/async_throughput.py (its own server)"
    )
