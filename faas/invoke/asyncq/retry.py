"""What happens to an async event next: pure decisions, carried out by the worker.

Like Lambda: a function error (raised, timed out, out of memory, crashed
runtime) spends one of ``1 + max_retries`` attempts, and the next attempt
waits an exponential backoff with jitter. A throttle or a platform error
(Docker failed us) spends nothing: the event waits in the queue, with a short
backoff of its own, until its max age. An event out of attempts, or older than
its max age, is dead-lettered with the reason.

Not like Lambda, whose workers are not ours to kill: a worker that dies (or
stalls past its lease) while running an event has its attempt refunded by the
sweeper, since the function did not fail, and the loss counted apart. An event
that lost ``MAX_WORKERS_LOST`` workers is dead-lettered (``WorkerLost``) rather
than given to another: one that kills every worker must still end.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from faas.models import AsyncConfig

# Share of a backoff that jitter may take off, so that retries of events
# that failed together spread out instead of returning in a herd.
JITTER = 0.25
# Waiting for capacity: start fast, never wait long between looks.
THROTTLE_BASE_S = 0.25
THROTTLE_MAX_S = 5.0
PLATFORM_BASE_S = 1.0
# Workers an event may lose (each died, or stalled past its lease, running it).
MAX_WORKERS_LOST = 3


class Failure(StrEnum):
    FUNCTION = "function"
    THROTTLED = "throttled"
    PLATFORM = "platform"


class Action(StrEnum):
    RUN = "run"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


class Reason(StrEnum):
    """Why an event was dead-lettered (Lambda's destination conditions)."""

    RETRIES_EXHAUSTED = "RetriesExhausted"
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"
    # Not Lambda's: the workers running it died, MAX_WORKERS_LOST times.
    WORKER_LOST = "WorkerLost"


@dataclass(frozen=True)
class Decision:
    action: Action
    delay_s: float = 0.0
    reason: Reason | None = None


RUN = Decision(Action.RUN)


def _dead(reason: Reason) -> Decision:
    return Decision(Action.DEAD_LETTER, reason=reason)


def before_attempt(
    *, attempts: int, workers_lost: int, age_s: float, policy: AsyncConfig
) -> Decision:
    """May a dequeued event run? ``attempts`` were already spent by the function;
    ``workers_lost`` died (or stalled past their lease) running it."""
    if attempts > policy.max_retries:
        return _dead(Reason.RETRIES_EXHAUSTED)
    if workers_lost >= MAX_WORKERS_LOST:
        return _dead(Reason.WORKER_LOST)
    if age_s >= policy.max_event_age_s:
        return _dead(Reason.EVENT_AGE_EXCEEDED)
    return RUN


def after_failure(
    *,
    failure: Failure,
    attempts: int,
    free_retries: int,
    age_s: float,
    policy: AsyncConfig,
    rand: float,
) -> Decision:
    """Retry (after how long) or dead-letter an event whose run just failed.

    ``attempts`` counts the one that failed; ``free_retries`` the throttles and
    platform errors so far, this one included; ``rand`` is uniform in [0, 1).
    """
    if failure is Failure.FUNCTION:
        if attempts > policy.max_retries:
            return _dead(Reason.RETRIES_EXHAUSTED)
        delay = backoff(attempts, policy.backoff_base_s, policy.backoff_max_s, rand)
    elif failure is Failure.THROTTLED:
        cap = min(THROTTLE_MAX_S, policy.backoff_max_s)
        delay = backoff(free_retries, min(THROTTLE_BASE_S, cap), cap, rand)
    else:
        cap = policy.backoff_max_s
        delay = backoff(free_retries, min(PLATFORM_BASE_S, cap), cap, rand)
    left = policy.max_event_age_s - age_s
    if left <= 0:
        return _dead(Reason.EVENT_AGE_EXCEEDED)
    # Never sleep past the max age: the look at that moment dead-letters it.
    return Decision(Action.RETRY, delay_s=min(delay, left))


def backoff(n: int, base_s: float, max_s: float, rand: float) -> float:
    """The ``n``-th (1-based) exponential delay, capped, less up to ``JITTER`` of it."""
    full = min(max_s, base_s * 2 ** max(0, n - 1))
    return float(full * (1 - JITTER * rand))
