"""When an async event runs again, and when it is dead-lettered: tables of decisions."""

from __future__ import annotations

import pytest

from faas.invoke.asyncq.retry import (
    JITTER,
    MAX_WORKERS_LOST,
    THROTTLE_MAX_S,
    Action,
    Decision,
    Failure,
    Reason,
    after_failure,
    backoff,
    before_attempt,
)
from faas.models import AsyncConfig

LAMBDA = AsyncConfig()  # 2 retries, 60 s then 120 s, 6 h
FAST = AsyncConfig(max_retries=2, backoff_base_s=1, backoff_max_s=2, max_event_age_s=60)


@pytest.mark.parametrize(
    ("attempts", "lost", "age_s", "policy", "expected"),
    [
        (0, 0, 0, LAMBDA, Decision(Action.RUN)),
        (2, 0, 0, LAMBDA, Decision(Action.RUN)),
        # A function error in the third attempt spent it: no fourth.
        (3, 0, 0, LAMBDA, Decision(Action.DEAD_LETTER, reason=Reason.RETRIES_EXHAUSTED)),
        (0, 0, 59.9, FAST, Decision(Action.RUN)),
        (0, 0, 60, FAST, Decision(Action.DEAD_LETTER, reason=Reason.EVENT_AGE_EXCEEDED)),
        # Out of attempts is said first.
        (3, 0, 61, FAST, Decision(Action.DEAD_LETTER, reason=Reason.RETRIES_EXHAUSTED)),
        (0, 0, 0, AsyncConfig(max_retries=0), Decision(Action.RUN)),
        (
            1,
            0,
            0,
            AsyncConfig(max_retries=0),
            Decision(Action.DEAD_LETTER, reason=Reason.RETRIES_EXHAUSTED),
        ),
        # Dead workers refunded their attempts: the one attempt is still there to run.
        (0, 1, 0, AsyncConfig(max_retries=0), Decision(Action.RUN)),
        (0, MAX_WORKERS_LOST - 1, 0, AsyncConfig(max_retries=0), Decision(Action.RUN)),
        # An event that killed every worker it was given ends, with its own reason.
        (
            0,
            MAX_WORKERS_LOST,
            0,
            AsyncConfig(max_retries=0),
            Decision(Action.DEAD_LETTER, reason=Reason.WORKER_LOST),
        ),
        (
            1,
            MAX_WORKERS_LOST,
            0,
            LAMBDA,
            Decision(Action.DEAD_LETTER, reason=Reason.WORKER_LOST),
        ),
        # Function attempts are said first, the age last.
        (
            3,
            MAX_WORKERS_LOST,
            61,
            FAST,
            Decision(Action.DEAD_LETTER, reason=Reason.RETRIES_EXHAUSTED),
        ),
        (0, MAX_WORKERS_LOST, 61, FAST, Decision(Action.DEAD_LETTER, reason=Reason.WORKER_LOST)),
    ],
)
def test_before_an_attempt(
    attempts: int, lost: int, age_s: float, policy: AsyncConfig, expected: Decision
) -> None:
    decision = before_attempt(attempts=attempts, workers_lost=lost, age_s=age_s, policy=policy)
    assert decision == expected


@pytest.mark.parametrize(
    ("failure", "attempts", "free", "age_s", "policy", "expected"),
    [
        # Lambda's defaults: a minute, then two, then the dead-letter list.
        (Failure.FUNCTION, 1, 0, 0, LAMBDA, Decision(Action.RETRY, delay_s=60)),
        (Failure.FUNCTION, 2, 0, 60, LAMBDA, Decision(Action.RETRY, delay_s=120)),
        (
            Failure.FUNCTION,
            3,
            0,
            180,
            LAMBDA,
            Decision(Action.DEAD_LETTER, reason=Reason.RETRIES_EXHAUSTED),
        ),
        (Failure.FUNCTION, 1, 0, 0, FAST, Decision(Action.RETRY, delay_s=1)),
        (Failure.FUNCTION, 2, 0, 1, FAST, Decision(Action.RETRY, delay_s=2)),
        # Capped at backoff_max_s.
        (
            Failure.FUNCTION,
            5,
            0,
            1,
            AsyncConfig(max_retries=10, backoff_base_s=1, backoff_max_s=4),
            Decision(Action.RETRY, delay_s=4),
        ),
        # Never sleeps past the max age: the look then dead-letters it.
        (Failure.FUNCTION, 1, 0, 59.5, FAST, Decision(Action.RETRY, delay_s=0.5)),
        (
            Failure.FUNCTION,
            1,
            0,
            60,
            FAST,
            Decision(Action.DEAD_LETTER, reason=Reason.EVENT_AGE_EXCEEDED),
        ),
        # Throttles and platform errors spend nothing, however many there were.
        (Failure.THROTTLED, 0, 1, 0, LAMBDA, Decision(Action.RETRY, delay_s=0.25)),
        (Failure.THROTTLED, 0, 3, 0, LAMBDA, Decision(Action.RETRY, delay_s=1.0)),
        (Failure.THROTTLED, 0, 500, 0, LAMBDA, Decision(Action.RETRY, delay_s=THROTTLE_MAX_S)),
        (Failure.THROTTLED, 3, 500, 10, FAST, Decision(Action.RETRY, delay_s=2)),
        (
            Failure.THROTTLED,
            0,
            1,
            60,
            FAST,
            Decision(Action.DEAD_LETTER, reason=Reason.EVENT_AGE_EXCEEDED),
        ),
        (Failure.PLATFORM, 0, 1, 0, LAMBDA, Decision(Action.RETRY, delay_s=1)),
        (Failure.PLATFORM, 0, 20, 0, LAMBDA, Decision(Action.RETRY, delay_s=120)),
        (Failure.PLATFORM, 2, 20, 0, FAST, Decision(Action.RETRY, delay_s=2)),
    ],
)
def test_after_a_failure(
    failure: Failure,
    attempts: int,
    free: int,
    age_s: float,
    policy: AsyncConfig,
    expected: Decision,
) -> None:
    decision = after_failure(
        failure=failure, attempts=attempts, free_retries=free, age_s=age_s, policy=policy, rand=0.0
    )
    assert decision == expected


@pytest.mark.parametrize("rand", [0.0, 0.3, 0.999])
def test_jitter_takes_off_at_most_its_share(rand: float) -> None:
    delay = backoff(2, 60, 120, rand)
    assert 120 * (1 - JITTER) <= delay <= 120
    assert delay == pytest.approx(120 * (1 - JITTER * rand))
