"""How many pollers a mapping runs; pure.

After each batch a poller asks :func:`after_batch`: a batch that came back full
means a backlog, so one more poller starts (up to the cap); one that came back
empty after a whole long poll means there is none, so this poller stops (one is
always left). The cap is the mapping's ``ScalingConfig.MaximumConcurrency`` (or the
server's default) and never above the function's reserved concurrency.
"""

from __future__ import annotations

from enum import StrEnum


class Step(StrEnum):
    GROW = "grow"
    STAY = "stay"
    SHRINK = "shrink"


def cap(max_concurrency: int | None, default: int, reserved: int | None) -> int:
    """The most pollers a mapping may run (at least one, so a throttled function's
    messages still come back and are released)."""
    most = max_concurrency if max_concurrency is not None else default
    if reserved is not None:
        most = min(most, reserved)
    return max(1, most)


def after_batch(*, pollers: int, received: int, wanted: int, most: int) -> Step:
    """What the mapping's poller count does after a batch of ``received`` of ``wanted``."""
    if pollers > most:
        return Step.SHRINK
    if received >= wanted and pollers < most:
        return Step.GROW
    if received == 0 and pollers > 1:
        return Step.SHRINK
    return Step.STAY
