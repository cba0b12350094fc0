"""The pure placement decisions: start or wait, and which generic profiles to keep."""

from __future__ import annotations

import pytest

from faas.compute.placement import THROTTLED_SHARE, pool_profiles, should_start, throttled_share

LIMIT = 4


@pytest.mark.parametrize(
    ("starting", "spare", "waiting", "start"),
    [
        pytest.param(0, 0, 0, True, id="nothing under way: the first call starts one"),
        pytest.param(3, 0, 10, True, id="below the limit: another start"),
        pytest.param(4, 0, 0, False, id="at the limit: wait for one of them"),
        pytest.param(4, 0, 45, False, id="a burst waits behind the starts in flight"),
        pytest.param(5, 0, 0, False, id="past the limit (keep-warm grants): wait"),
        pytest.param(1, 1, 0, False, id="a keep-warm start nobody waits on: take it"),
        pytest.param(1, 1, 1, True, id="the keep-warm start is spoken for: start"),
        pytest.param(2, 2, 1, False, id="two spare starts, one waiter: the second is ours"),
        pytest.param(4, 4, 4, False, id="spare starts all claimed, but at the limit"),
    ],
)
def test_a_call_finding_no_idle_instance_starts_one_or_waits(
    starting: int, spare: int, waiting: int, start: bool
) -> None:
    assert should_start(starting, spare, waiting, LIMIT) is start


def test_a_limit_of_one_serialises_cold_starts() -> None:
    assert should_start(0, 0, 0, 1) is True
    assert should_start(1, 0, 0, 1) is False


@pytest.mark.parametrize(
    ("wanted", "cap", "kept"),
    [
        pytest.param([], 4, ["d"], id="no functions: the default profile alone"),
        pytest.param(["d", "d"], 4, ["d"], id="functions of the default profile: once"),
        pytest.param(["a", "b", "b", "c", "b", "a"], 4, ["d", "b", "a", "c"], id="commonest first"),
        pytest.param(["a", "b", "b", "c"], 2, ["d", "b"], id="capped, the default always in"),
        pytest.param(["x", "y", "z"], 3, ["d", "x", "y"], id="ties keep the order seen"),
        pytest.param(["a"], 0, ["d"], id="a cap below one still keeps the default"),
    ],
)
def test_the_pool_keeps_the_default_profile_and_the_commonest_others(
    wanted: list[str], cap: int, kept: list[str]
) -> None:
    assert pool_profiles("d", wanted, cap) == kept


@pytest.mark.parametrize(
    ("serving", "waited_s", "start"),
    [
        pytest.param(0, 0.0, True, id="no instance at all: start at once"),
        pytest.param(3, 0.01, False, id="busy ones serve soon: wait a little first"),
        pytest.param(3, 0.05, True, id="waited long enough: start another"),
        pytest.param(3, 0.2, True, id="waited longer still: start"),
    ],
)
def test_a_call_waits_a_little_for_a_busy_instance_before_starting_one(
    serving: int, waited_s: float, start: bool
) -> None:
    assert should_start(0, 0, 5, LIMIT, serving, waited_s, patience_s=0.05) is start


def test_no_patience_means_starting_at_once_as_lambda_does() -> None:
    assert should_start(0, 0, 5, LIMIT, serving=3, waited_s=0.0, patience_s=0.0) is True


def test_patience_never_lifts_the_limit_on_starts_in_flight() -> None:
    assert should_start(LIMIT, 0, 5, LIMIT, serving=3, waited_s=10.0, patience_s=0.05) is False


def test_calls_start_another_instance_at_once_while_the_cpu_quota_holds_them_back() -> None:
    # Busy instances throttled by their CPU share: waiting queues behind them.
    assert should_start(0, 0, 5, LIMIT, 3, 0.0, patience_s=0.05, throttled=True) is True
    # One start at a time: the next call waits for it to add its CPU.
    assert should_start(1, 0, 5, LIMIT, 3, 0.0, patience_s=0.05, throttled=True) is False


def test_a_function_counts_as_throttled_when_more_than_a_tenth_of_recent_calls_were() -> None:
    # Two throttled calls in a row are enough to tell
    share = throttled_share(throttled_share(0.0, True), True)
    assert share > THROTTLED_SHARE
    # and one now and then among unthrottled calls is not
    share = 0.0
    for n in range(64):
        share = throttled_share(share, n % 16 == 0)
    assert share < THROTTLED_SHARE
    # while some forty unthrottled calls in a row make a throttled function plain again
    share = 1.0
    for _ in range(40):
        share = throttled_share(share, False)
    assert share < THROTTLED_SHARE
