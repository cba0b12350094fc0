"""The platform's Prometheus metrics, defined once; ``/metrics`` renders the registry.

Labels are bounded: a function name (as many as functions), an invocation
kind (sync, async, http, schedule), an outcome, an instance state; nothing
per request.
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from faas.compute.instance import InstanceState
from faas.outcomes import InvocationResult

REGISTRY = CollectorRegistry(auto_describe=True)

KINDS = ("sync", "async", "http", "schedule")
# From a no-op warm call (sub-millisecond) to Lambda's 15-minute limit.
DURATION_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
    900,
)

INVOCATIONS = Counter(
    "faas_invocations_total",
    "Invocations that ran, by how they were asked for and how they ended.",
    ["function", "kind", "outcome"],
    registry=REGISTRY,
)
DURATION = Histogram(
    "faas_invocation_duration_seconds",
    "Time the handler ran, as the runtime measured it.",
    ["function", "kind"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
INIT_DURATION = Histogram(
    "faas_init_duration_seconds",
    "Cold starts: time from starting a container to the handler's module being ready.",
    ["function"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
COLD_STARTS = Counter(
    "faas_cold_starts_total",
    "Invocations that started a new instance.",
    ["function"],
    registry=REGISTRY,
)
THROTTLES = Counter(
    "faas_throttles_total",
    "Invocations refused because the function's or the node's cap stayed full.",
    ["function", "kind"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "faas_async_retries_total",
    "Async events queued again after a failed or refused attempt, by what failed.",
    ["function", "failure"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "faas_dead_letters_total",
    "Async events moved to the dead-letter list, by reason.",
    ["function", "reason"],
    registry=REGISTRY,
)
TOPIC_PUBLISHED = Counter(
    "faas_topic_messages_published_total",
    "Messages published to a topic (Publish, PublishBatch).",
    ["topic"],
    registry=REGISTRY,
)
TOPIC_DELIVERIES = Counter(
    "faas_topic_deliveries_total",
    "A topic's deliveries to its subscriptions, by protocol (lambda, sqs) and outcome: "
    "delivered (queued as an Event invoke, or sent to the queue), failed (the function "
    "or queue is gone, or refused the message).",
    ["topic", "protocol", "outcome"],
    registry=REGISTRY,
)
TOPIC_FILTERED = Counter(
    "faas_topic_filtered_total",
    "Messages a subscription's filter policy kept from it, by protocol.",
    ["topic", "protocol"],
    registry=REGISTRY,
)
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

MAPPING_BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
MAPPING_BATCHES = Histogram(
    "faas_mapping_batch_size",
    "Batches an event source mapping gave its function, by their number of messages.",
    ["mapping", "function"],
    buckets=MAPPING_BATCH_BUCKETS,
    registry=REGISTRY,
)
MAPPING_MESSAGES = Counter(
    "faas_mapping_messages_total",
    "Messages of an event source mapping, by result: processed (deleted after the "
    "function succeeded), failed (left to come back), filtered (deleted, not kept by "
    "the filters), throttled (handed back at once).",
    ["mapping", "function", "result"],
    registry=REGISTRY,
)
MAPPING_LAG = Gauge(
    "faas_mapping_lag_seconds",
    "Age of the oldest message of a mapping's last batch when it was received.",
    ["mapping"],
    registry=REGISTRY,
)
MAPPING_POLLERS = Gauge(
    "faas_mapping_pollers",
    "Pollers this process runs for an event source mapping.",
    ["mapping"],
    registry=REGISTRY,
)


CONCURRENT = Gauge(
    "faas_concurrent_executions",
    "Invocations running right now in this process.",
    ["function"],
    registry=REGISTRY,
)
INSTANCES = Gauge(
    "faas_instances",
    "This process's instances (containers) of each function, by state.",
    ["function", "state"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "faas_queue_depth",
    "Async events: queued (waiting for a worker), running, delayed (waiting to retry).",
    ["state"],
    registry=REGISTRY,
)
QUEUE_OLDEST_AGE = Gauge(
    "faas_queue_oldest_age_seconds",
    "Age of the oldest queued or running async event (0 when there is none).",
    registry=REGISTRY,
)
PREWARM_READY = Gauge(
    "faas_prewarm_ready",
    "Generic containers started ahead and ready to be given a function, by profile.",
    ["memory_mb", "network"],
    registry=REGISTRY,
)
PREWARM_TAKES = Counter(
    "faas_prewarm_takes_total",
    "Cold starts that looked for a generic container: hit (one was ready), waited (one "
    "being started was awaited), miss (none: a container was started for the "
    "function), failed (one was taken but could not be given the function).",
    ["result"],
    registry=REGISTRY,
)
SQS_DEPTH = Gauge(
    "faas_sqs_queue_messages",
    "Messages of each queue: visible (waiting to be received), in_flight (received, not "
    "yet deleted), delayed (not yet visible). Read at scrape time.",
    ["queue", "state"],
    registry=REGISTRY,
)
SQS_OLDEST_AGE = Gauge(
    "faas_sqs_queue_oldest_message_age_seconds",
    "Age of each queue's oldest message (0 when it is empty). Read at scrape time.",
    ["queue"],
    registry=REGISTRY,
)
QUEUE_DEAD_LETTER_MOVES = Counter(
    "faas_sqs_dead_letter_moves_total",
    "Messages this process's receives moved to their queue's dead-letter queue "
    "(received more than maxReceiveCount times), by source queue.",
    ["queue"],
    registry=REGISTRY,
)
INSTANCE_STATES = tuple(s.value for s in InstanceState if s is not InstanceState.DEAD)


def set_instances(counts: Tally[tuple[str, str]], functions: set[str]) -> None:
    """Set the instance gauges: every (function, state) pair, zeros included, so a
    function whose instances all went shows 0 rather than its last value."""
    INSTANCES.clear()
    for function in functions | {f for f, _ in counts}:
        for state in INSTANCE_STATES:
            INSTANCES.labels(function, state).set(counts[(function, state)])


def set_prewarm_ready(memory_mb: int, network: bool, ready: int) -> None:
    PREWARM_READY.labels(str(memory_mb), "on" if network else "off").set(ready)


def set_queue(queued: int, running: int, delayed: int, oldest_age_s: float) -> None:
    QUEUE_DEPTH.labels("queued").set(queued)
    QUEUE_DEPTH.labels("running").set(running)
    QUEUE_DEPTH.labels("delayed").set(delayed)
    QUEUE_OLDEST_AGE.set(oldest_age_s)


def set_queues(depths: dict[str, tuple[int, int, int, float]]) -> None:
    """Each queue's (visible, in flight, delayed, oldest age); a deleted queue's go."""
    SQS_DEPTH.clear()
    SQS_OLDEST_AGE.clear()
    for name, (visible, in_flight, delayed, oldest) in depths.items():
        SQS_DEPTH.labels(name, "visible").set(visible)
        SQS_DEPTH.labels(name, "in_flight").set(in_flight)
        SQS_DEPTH.labels(name, "delayed").set(delayed)
        SQS_OLDEST_AGE.labels(name).set(oldest)


def observe(function: str, kind: str, result: InvocationResult) -> None:
    """Count one invocation that ran (whatever its outcome)."""
    INVOCATIONS.labels(function, kind, result.outcome.value).inc()
    DURATION.labels(function, kind).observe(result.duration_ms / 1000)
    if result.cold_start:
        COLD_STARTS.labels(function).inc()
        if result.init_duration_ms is not None:
            INIT_DURATION.labels(function).observe(result.init_duration_ms / 1000)


def render() -> bytes:
    return generate_latest(REGISTRY)
