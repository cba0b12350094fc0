"""When a process may take another's lapsed heartbeat for its death (``may_reap``)."""

from __future__ import annotations

import pytest

from faas.compute.owners import may_reap


@pytest.mark.parametrize(
    ("beating_since", "now", "ttl", "expected"),
    [
        # Heartbeats have reached Redis since the process started: reap as usual.
        (float("-inf"), 100.0, 15.0, True),
        # Redis came back 5 s ago: the others may not have renewed theirs yet.
        (95.0, 100.0, 15.0, False),
        # Back for a whole heartbeat lifetime: every live process has renewed.
        (85.0, 100.0, 15.0, True),
        (85.1, 100.0, 15.0, False),
    ],
)
def test_no_reaping_until_every_live_process_had_time_to_renew(
    beating_since: float, now: float, ttl: float, expected: bool
) -> None:
    assert may_reap(beating_since, now, ttl) is expected
