"""The one way a test waits: it returns what it waited for, or fails saying what and why.

A waiting helper that returned False on timeout let a test pass that forgot to
assert its result; these stories pin the contract of ``wait_until``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from tests.helpers import wait_until, wait_until_async


def test_it_returns_what_the_check_gave_once_it_holds() -> None:
    # Given a check that holds on its third look
    looks = itertools.count(1)
    # When a test waits for it, then it gets the check's value back
    assert wait_until(lambda: next(looks) >= 3 and "ready", what="the third look") == "ready"


def test_a_wait_that_never_ends_fails_the_test_naming_what_and_the_last_value() -> None:
    # Given a check that never holds, when a test waits for it without asserting
    started = time.monotonic()
    with pytest.raises(AssertionError) as failed:
        wait_until(lambda: [], what="the queue to drain", within_s=0.2)
    # Then the test fails, soon after the time given, saying what it waited for and saw
    assert 0.2 <= time.monotonic() - started < 1.0
    assert str(failed.value) == "waited 0.2s for the queue to drain; last seen: []"


def test_done_decides_and_show_adds_what_explains_a_failure() -> None:
    views = iter([{"state": "queued"}, {"state": "running"}] + [{"state": "running"}] * 100)
    with pytest.raises(AssertionError) as failed:
        wait_until(
            lambda: next(views),
            what="the event to succeed",
            done=lambda view: view["state"] == "succeeded",
            within_s=0.1,
            show=lambda: "worker log: busy",
        )
    assert "last seen: {'state': 'running'}\nworker log: busy" in str(failed.value)


def test_errors_it_is_told_to_ignore_mean_not_yet_and_others_end_the_wait() -> None:
    # Given a server that refuses connections twice, then answers
    answers: Iterator[Exception | str] = iter([ConnectionRefusedError()] * 2 + ["ok"])

    def ask() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_until(ask, what="an answer", ignoring=(ConnectionRefusedError,)) == "ok"
    # An error not named is not waited out: it fails the test at once, as it is
    with pytest.raises(ZeroDivisionError):
        wait_until(lambda: 1 / 0, what="a number", within_s=5)


async def test_async_checks_are_awaited_and_the_same_contract_holds() -> None:
    looks = itertools.count(1)

    async def third() -> int:
        return next(looks) >= 3 and 3

    assert await wait_until_async(third, what="the third look") == 3
    with pytest.raises(AssertionError) as failed:
        await wait_until_async(lambda: 0, what="nothing", within_s=0.1)
    assert str(failed.value) == "waited 0.1s for nothing; last seen: 0"
