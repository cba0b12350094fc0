"""The speed targets of issues 6 and 19, and their evaluation against a run's figures.

A figure is named ``<scenario>.<key>`` (``warm.added_p50_ms``); a target says
which figure, how it must compare and to what. Evaluating is pure: a figure
that is absent (its scenario did not run or failed) gives ``MISSING``, never a
pass.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

# Quoted from issue 6 (AWS SAM CLI `sam local start-lambda --warm-containers LAZY`
# on the same kind of machine): not measured by this suite.
SAM_WARM_P50_MS = 22.0
SAM_INVOKES_PER_S = 50.0

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Target:
    """``figure op threshold``, e.g. ``warm.added_p50_ms <= 1``."""

    figure: str
    op: str
    threshold: float
    unit: str
    text: str

    @property
    def scenario(self) -> str:
        return self.figure.split(".", 1)[0]

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.threshold)

    def rule(self) -> str:
        op = {"<=": "≤", ">=": "≥"}.get(self.op, self.op)
        unit = self.unit if self.unit == "x" else f" {self.unit}"
        return f"{op} {fmt(self.threshold)}{unit}".rstrip()


@dataclass(frozen=True)
class Verdict:
    target: Target
    value: float | None

    @property
    def status(self) -> str:
        if self.value is None:
            return "MISSING"
        return "PASS" if self.target.holds(self.value) else "FAIL"

    def line(self) -> str:
        unit = self.target.unit if self.target.unit == "x" else f" {self.target.unit}"
        measured = "not measured" if self.value is None else f"{fmt(self.value)}{unit}"
        return (
            f"{self.status:<7} {self.target.scenario}: {self.target.text} "
            f"({self.target.rule()}; measured {measured.rstrip()})"
        )

    def as_json(self) -> dict[str, object]:
        t = self.target
        return {
            "figure": t.figure,
            "op": t.op,
            "threshold": t.threshold,
            "unit": t.unit,
            "text": t.text,
            "value": self.value,
            "status": self.status,
        }


TARGETS: tuple[Target, ...] = (
    Target("warm.added_p50_ms", "<=", 1.0, "ms", "the gateway adds at most 1 ms at p50"),
    Target("warm.added_p99_ms", "<=", 3.0, "ms", "the gateway adds at most 3 ms at p99"),
    Target("warm.gateway_p50_ms", "<=", 1.5, "ms", "warm no-op invoke end to end, p50"),
    Target(
        "warm.speedup_vs_sam",
        ">=",
        14.0,
        "x",
        f"faster than SAM CLI's warm p50 of {SAM_WARM_P50_MS:.0f} ms (quoted, not measured)",
    ),
    Target("throughput.c32_invokes_per_s", ">=", 3000.0, "/s", "sync invokes/s at 32 connections"),
    Target("throughput.c32_errors", "==", 0.0, "", "no errors at 32 connections"),
    Target(
        "throughput.speedup_vs_sam",
        ">=",
        60.0,
        "x",
        f"SAM CLI's {SAM_INVOKES_PER_S:.0f} invokes/s (quoted, not measured)",
    ),
    Target("cold.p50_ms", "<=", 100.0, "ms", "first invoke of a new function, p50"),
    Target("cold.p99_ms", "<=", 250.0, "ms", "first invoke of a new function, p99"),
    Target("burst.all_answered_s", "<=", 3.0, "s", "50 concurrent cold calls all answered"),
    Target("burst.failures", "==", 0.0, "", "no call fails but for documented caps (429)"),
    Target("async.events_per_s", ">=", 1000.0, "/s", "async events end to end"),
    Target("footprint.instance_pss_mb", "<=", 20.0, "MB", "an idle warm Python instance (PSS)"),
    Target("node.added_p50_ms", "<=", 1.0, "ms", "the gateway adds at most 1 ms to a Node invoke"),
    Target("node.cold_p50_ms", "<=", 40.0, "ms", "first invoke of a new Node function, p50"),
    Target("node.instance_pss_mb", "<=", 40.0, "MB", "an idle warm Node instance (PSS)"),
    Target("mappings.per_s", ">=", 5000.0, "/s", "messages/s through a mapping into a function"),
    Target(
        "mappings.idle_delivery_p50_ms",
        "<=",
        20.0,
        "ms",
        "an idle mapping runs a new message within 20 ms p50",
    ),
    Target(
        "footprint.gateway_loaded_rss_mb",
        "<",
        200.0,
        "MB",
        "gateway RSS with the functions registered and instances warm",
    ),
    Target(
        "scale.p50_ratio",
        "<=",
        1.10,
        "x",
        "invoke p50 with the functions registered vs 1 (within 10%)",
    ),
    # Issue 19.
    Target(
        "lambda_api.added_p50_ms",
        "<=",
        0.15,
        "ms",
        "signed Lambda invoke adds at most 0.15 ms at p50 over /v1",
    ),
    # Issue 21.
    Target(
        "queues.ingest_per_s",
        ">=",
        20000.0,
        "msg/s",
        "SendMessageBatch ingestion at 8 connections (batches of 10 x 100 B)",
    ),
    # Issue 22: new functions at once on one node.
    Target(
        "new_functions.pool_empty_ratio",
        "<=",
        1.2,
        "x",
        "a cold start finding no generic container vs docker run until it answers, p50",
    ),
    Target(
        "new_functions.burst_all_answered_s",
        "<=",
        8.0,
        "s",
        "100 concurrent first calls to 100 new functions all answered",
    ),
    Target(
        "new_functions.burst_speedup",
        ">=",
        2.0,
        "x",
        "the 100 first calls vs 100 docker runs at once, all answered",
    ),
    Target("new_functions.burst_failures", "==", 0.0, "", "every first call of the burst is a 200"),
    # Issue 22.
    Target(
        "workers.c32_invokes_per_s",
        ">=",
        6000.0,
        "/s",
        "sync invokes/s at 32 connections with 2 worker processes (2 cores)",
    ),
    Target("workers.c32_errors", "==", 0.0, "", "no errors with worker processes"),
    # Issue 22: three nodes on one Redis.
    Target(
        "cluster.warm_share_pct",
        ">=",
        95.0,
        "%",
        "600 calls round-robin over 3 nodes after one call each through node 1, warm",
    ),
    Target(
        "cluster.forward_added_p50_ms",
        "<=",
        2.0,
        "ms",
        "a call forwarded to the node with the warm instance adds at most 2 ms at p50",
    ),
    Target(
        "cluster.capped_p50_ms",
        "<=",
        1.5,
        "ms",
        "a warm invoke of a capped function (its lease in Redis) within the warm target",
    ),
    # Issue 23: the web console.
    Target(
        "console.slowest_p50_ms",
        "<",
        200.0,
        "ms",
        "the slowest console page with the functions registered, p50 of its server time",
    ),
    Target("console.failed_pages", "==", 0.0, "", "every console page answers without an error"),
    Target(
        "console.invoke_p50_ratio",
        "<=",
        1.10,
        "x",
        "warm invoke p50 while a Monitor tab polls every 5 s vs none (within 10%)",
    ),
)


def flatten(scenarios: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """``{scenario: {key: value}}`` as ``{"scenario.key": value}``."""
    return {f"{s}.{k}": v for s, figures in scenarios.items() for k, v in figures.items()}


def evaluate(targets: Iterable[Target], figures: Mapping[str, float]) -> list[Verdict]:
    return [Verdict(t, figures.get(t.figure)) for t in targets]


def fmt(value: float) -> str:
    """A figure for people: 3 significant digits, no exponent, thousands kept whole."""
    if value != value:  # NaN
        return "nan"
    if abs(value) >= 1000 or value == int(value):
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"
