"""Scale: warm invoke latency of one function with 1 function registered, then with many.

The first half runs before any other function exists, the second after the
footprint step registered ``plan.functions`` (its warm instances included).
The direct socket call is measured alongside both times as a control: if it
moved too, the machine's load changed between the halves, not the gateway.
"""

from __future__ import annotations

from bench.harness import Harness, Plan
from bench.model import Result
from bench.scenarios.warm import latencies
from bench.stats import summary

FUNCTION = "noop"


def before(h: Harness, plan: Plan, result: Result) -> None:
    through, direct = latencies(h, FUNCTION, plan.scale_calls)
    g, d = summary(through), summary(direct)
    result.figures.update(
        {
            "one_functions": float(h.function_count()),
            "one_p50_ms": g["p50"],
            "one_p99_ms": g["p99"],
            "one_direct_p50_ms": d["p50"],
        }
    )


def after(h: Harness, plan: Plan, result: Result) -> None:
    if "one_p50_ms" not in result.figures:
        raise RuntimeError("the 1-function half did not run")
    registered = h.function_count()
    instances = round(h.instances_metric())
    through, direct = latencies(h, FUNCTION, plan.scale_calls)
    g, d = summary(through), summary(direct)
    f = result.figures
    f.update(
        {
            "many_functions": float(registered),
            "many_instances": float(instances),
            "many_p50_ms": g["p50"],
            "many_p99_ms": g["p99"],
            "many_direct_p50_ms": d["p50"],
        }
    )
    one = f"{f['one_functions']:.0f} function"
    result.row(
        "invoke p50", "ms", "many_p50_ms", g["p50"], baseline=f["one_p50_ms"], baseline_label=one
    )
    result.row(
        "invoke p99", "ms", "many_p99_ms", g["p99"], baseline=f["one_p99_ms"], baseline_label=one
    )
    result.row("p50 ratio", "x", "p50_ratio", g["p50"] / f["one_p50_ms"], chart=False)
    result.row(
        "direct p50 (control)",
        "ms",
        "many_direct_p50_ms",
        d["p50"],
        baseline=f["one_direct_p50_ms"],
        baseline_label=one,
        chart=False,
    )
    result.notes.append(
        f"{plan.scale_calls} sequential gateway calls of one no-op function with "
        f"{f['one_functions']:.0f} then {registered} functions registered "
        f"({instances} instances running); the direct socket call is a control for machine drift"
    )
