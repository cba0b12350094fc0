"""The platform's Prometheus metrics, defined once; ``/metrics`` renders the registry.

Labels are bounded: a function name (as many as functions) and nothing per
request.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

SCHEDULE_FIRES = Counter(
    "faas_schedule_fires_total",
    "Schedule ticks this process queued (exactly one process queues each tick).",
    ["function"],
    registry=REGISTRY,
)
SCHEDULE_MISSES = Counter(
    "faas_schedule_misses_total",
    "Schedule ticks skipped because a later tick was due when they were seen "
    "(downtime): only the latest due tick fires.",
    ["function"],
    registry=REGISTRY,
)


def render() -> bytes:
    return generate_latest(REGISTRY)
