"""Throughput: ``wrk -t1`` with 1, 8 and 32 keep-alive connections.

The project figure is sync invokes of the no-op function (``bench/invoke.lua``
does the POST with the run's key); the baseline is ``GET /healthz`` of the same
server at the same connection count: what the web framework alone can answer,
the ceiling an invoke cannot pass. Each count runs baseline then project.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bench.harness import Harness, Plan
from bench.model import Result
from bench.stats import parse_wrk
from bench.targets import SAM_INVOKES_PER_S

FUNCTION = "noop"
CONNECTIONS = (1, 8, 32)
SCRIPT = Path(__file__).resolve().parent.parent / "invoke.lua"


def wrk(h: Harness, path: str, connections: int, seconds: int, script: bool) -> dict[str, float]:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency"]
    if script:
        args += ["-s", str(SCRIPT)]
    args.append(f"http://127.0.0.1:{h.port}{path}")
    env = {**os.environ, "FAAS_BENCH_KEY": h.admin_key}
    done = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


def run(h: Harness, plan: Plan, result: Result) -> None:
    invoke = f"/v1/functions/{FUNCTION}/invoke"
    # Warm-up: the function's instances up to the highest connection count.
    wrk(h, invoke, max(CONNECTIONS), 2 if not plan.quick else 1, script=True)
    for c in CONNECTIONS:
        base = wrk(h, "/healthz", c, plan.wrk_seconds, script=False)
        proj = wrk(h, invoke, c, plan.wrk_seconds, script=True)
        for key, value in proj.items():
            result.figures[f"c{c}_{key}"] = value
        for key, value in base.items():
            result.figures[f"c{c}_healthz_{key}"] = value
        label = "GET /healthz"
        rate = proj["requests_per_s"]
        result.row(
            f"c={c} invokes/s",
            "/s",
            f"c{c}_invokes_per_s",
            rate,
            baseline=base["requests_per_s"],
            baseline_label=label,
        )
        for pct in ("p50", "p99"):
            result.row(
                f"c={c} {pct}",
                "ms",
                f"c{c}_{pct}_ms",
                proj.get(f"{pct}_ms"),
                baseline=base.get(f"{pct}_ms"),
                baseline_label=label,
                chart=False,
            )
        result.row(
            f"c={c} errors",
            "",
            f"c{c}_errors",
            proj["errors"],
            baseline=base["errors"],
            baseline_label=label,
            chart=False,
        )
    c32 = result.figures.get("c32_requests_per_s", 0.0)
    result.row(
        "speed-up over SAM CLI invokes/s",
        "x",
        "speedup_vs_sam",
        c32 / SAM_INVOKES_PER_S,
        baseline_label=f"SAM CLI {SAM_INVOKES_PER_S:.0f}/s, quoted from issue 6, not measured",
        chart=False,
    )
    result.notes.append(
        f"wrk -t1 -c{{1,8,32}} -d{plan.wrk_seconds}s --latency, keep-alive, after a warm-up at "
        "32 connections; errors = non-2xx responses + socket errors"
    )
