"""Burst: 50 concurrent first calls to a function with no warm instance.

Each call has its own keep-alive connection, opened beforehand; the calls
start together (a barrier). The figure is the time from the first send to the
last answer. The baseline is the same 50 concurrent calls again, now that the
function is warm: what the burst costs over a warm one is the cold part.
429 (Throttled, over a documented cap) is counted apart from failures.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

from bench.harness import Harness, Plan, noop_source
from bench.model import Result
from bench.stats import summary

ALLOWED = (200, 429)


def burst(h: Harness, name: str, n: int) -> tuple[float, list[float], Counter[int]]:
    """Seconds until all answered, each call's ms, status counts."""
    barrier = threading.Barrier(n)
    starts, ends = [0.0] * n, [0.0] * n
    statuses: list[int] = [0] * n
    request = h.invoke_request(name)

    def call(i: int) -> None:
        with h.gateway() as gw:
            gw.connect()
            barrier.wait()
            starts[i] = time.perf_counter()
            try:
                statuses[i] = gw.send(request).status
            except OSError:
                statuses[i] = -1
            ends[i] = time.perf_counter()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = [(e - s) * 1000 for s, e in zip(starts, ends, strict=True)]
    return max(ends) - min(starts), calls, Counter(statuses)


def run(h: Harness, plan: Plan, result: Result) -> None:
    name = f"burst-{uuid.uuid4().hex[:6]}"
    h.upload(name, noop_source(name))
    cold_s, cold_calls, cold_status = burst(h, name, plan.burst)
    instances = h.instances_metric(name)
    containers = len(h.containers(name))
    warm_s, warm_calls, warm_status = burst(h, name, plan.burst)
    c, w = summary(cold_calls), summary(warm_calls)
    throttled = cold_status.get(429, 0)
    failures = sum(v for k, v in cold_status.items() if k not in ALLOWED)
    f = result.figures
    f.update(
        {
            "calls": float(plan.burst),
            "instances_metric": instances,
            "instances_containers": float(containers),
            "throttled": float(throttled),
            "warm_all_answered_s": warm_s,
            "warm_failures": float(sum(v for k, v in warm_status.items() if k not in ALLOWED)),
        }
    )
    label = f"the same {plan.burst} calls, warm"
    result.row(
        f"all {plan.burst} answered",
        "s",
        "all_answered_s",
        cold_s,
        baseline=warm_s,
        baseline_label=label,
    )
    for pct in ("p50", "p99"):
        result.row(
            f"per call {pct}",
            "ms",
            f"call_{pct}_ms",
            c[pct],
            baseline=w[pct],
            baseline_label=label,
            chart=False,
        )
    result.row("instances created", "", "instances", max(instances, float(containers)), chart=False)
    result.row("429 Throttled", "", "throttled", float(throttled), chart=False)
    result.row("failures (not 200 or 429)", "", "failures", float(failures), chart=False)
    result.notes.append(
        f"statuses cold {dict(sorted(cold_status.items()))}, "
        f"warm {dict(sorted(warm_status.items()))}; "
        f"instances: {instances:.0f} by faas_instances, {containers} by container label"
    )
