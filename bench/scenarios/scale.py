"""Scale: warm invoke latency of one function on a server with many functions, against
the same on a server with only that one, both running at the same time.

The loaded server is the run's own, after the footprint step registered
``plan.functions`` and warmed its instances. The baseline is a second server,
started here with its own Redis and only the no-op function. Calls go to one,
then the other, in alternating blocks: a change in the machine's load hits both
alike. (Measuring the run's server before and after the registration, minutes
apart, moved the ratio by as much as the 10% the target allows: the same
server's p50 varied by 6% between back-to-back runs of 2,000 calls.) The
direct socket call of the loaded server's instance is measured alongside, as a
control.
"""

from __future__ import annotations

from bench import httpraw
from bench.harness import Harness, Plan, deploy_noop
from bench.model import Result
from bench.scenarios.warm import BLOCK, direct_request, interleaved
from bench.stats import summary
from faas.compute.lambda_env import function_arn

FUNCTION = "noop"


def run(h: Harness, plan: Plan, result: Result) -> None:
    registered = h.function_count()
    instances = round(h.instances_metric())
    one = Harness(max_instances=10)
    try:
        one.start()
        deploy_noop(one)
        many_g, one_g, direct = alternate(h, one, plan.scale_calls)
    finally:
        one.close()
    m, o, d = summary(many_g), summary(one_g), summary(direct)
    f = result.figures
    f.update(
        {
            "many_functions": float(registered),
            "many_instances": float(instances),
            "many_p50_ms": m["p50"],
            "many_p99_ms": m["p99"],
            "one_p50_ms": o["p50"],
            "one_p99_ms": o["p99"],
            "many_direct_p50_ms": d["p50"],
        }
    )
    label = "a server with 1 function"
    result.row("invoke p50", "ms", "many_p50_ms", m["p50"], baseline=o["p50"], baseline_label=label)
    result.row("invoke p99", "ms", "many_p99_ms", m["p99"], baseline=o["p99"], baseline_label=label)
    result.row("p50 ratio", "x", "p50_ratio", m["p50"] / o["p50"], chart=False)
    result.row("direct p50 (control)", "ms", "many_direct_p50_ms", d["p50"], chart=False)
    result.notes.append(
        f"{plan.scale_calls} sequential calls of one no-op function through a server with "
        f"{registered} functions ({instances} instances running) and as many through a second "
        f"server with 1 function, in alternating blocks of {BLOCK}; the direct socket call is "
        "a control"
    )


def alternate(many: Harness, one: Harness, n: int) -> tuple[list[float], list[float], list[float]]:
    """``n`` sequential invokes through each server and straight to the loaded server's
    instance, in ms, in alternating blocks after a warm-up."""
    arn = function_arn(many.settings.region, many.settings.account_id, FUNCTION)
    sock = many.invoke_socket(many.instance_of(FUNCTION))
    with many.gateway() as loaded, one.gateway() as alone, httpraw.RawClient(unix=sock) as c:
        to_many, to_one = many.invoke_request(FUNCTION), one.invoke_request(FUNCTION)
        many_g, one_g, direct = interleaved(
            [(loaded, lambda: to_many), (alone, lambda: to_one), (c, lambda: direct_request(arn))],
            n,
        )
    return many_g, one_g, direct
