"""A deleted function's async events never run on a new function of the same name.

An event still queued, waiting for a retry, or running when its function is
deleted ends ``failed`` ("was deleted"), not run by a function made again under
the name, and never in that function's dead letters: on Lambda a deleted
function's pending events are gone with it.

A real platform (process backend, a real Redis) with its worker in this process.
Each function appends the request ids it is given to its own ledger file on the
host: that file, not Redis, is the truth of what ran.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest

from faas import keys
from faas.invoke.asyncq.records import State
from faas.models import AsyncConfig
from faas.platform import Platform
from tests.helpers import wait_until_async

pytestmark = pytest.mark.process

# Appends its request id to $LEDGER, sleeps as the event says, raises if it says so.
RECORDING = """
import json, os, time

def handler(event, context):
    with open(os.environ["LEDGER"], "a") as ledger:
        ledger.write(context.aws_request_id + "\\n")
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise ValueError("the order cannot be filled")
    return {"ok": True}
"""


@pytest.fixture
def backend() -> str:
    return "process"


def ran(ledger: Path) -> list[str]:
    return ledger.read_text().split() if ledger.exists() else []


async def wait_in(platform: Platform, request_id: str, *states: State) -> Any:
    return await wait_until_async(
        lambda: platform.invoker.get_invocation(request_id),
        what=f"{request_id} to be {'/'.join(s.value for s in states)}",
        done=lambda invocation: invocation.state in states,
        within_s=30,
    )


async def test_events_queued_for_a_deleted_function_never_run_on_the_one_made_again(
    platform: Platform, deploy: Any, tmp_path: Path
) -> None:
    old_ledger, new_ledger = tmp_path / "old.txt", tmp_path / "new.txt"
    # Given a function whose first event failed and waits for its retry
    await deploy("orders", RECORDING, env={"LEDGER": str(old_ledger)})
    await platform.functions.set_async_config(
        "orders", AsyncConfig(max_retries=1, backoff_base_s=2, backoff_max_s=2)
    )
    retrying = await platform.invoker.invoke_async("orders", b'{"fail": true}')
    await wait_in(platform, retrying, State.RETRYING)
    # and a second event queued while no worker takes events
    assert platform.worker is not None
    await platform.worker.stop(drain_s=1)
    queued = await platform.invoker.invoke_async("orders", b'{"fail": true}')

    # When the function is deleted and one is made again under its name (no retries,
    # so an old event it ran would land in its dead letters), and the worker resumes
    await platform.functions.delete("orders")
    await deploy("orders", RECORDING, env={"LEDGER": str(new_ledger)})
    await platform.functions.set_async_config("orders", AsyncConfig(max_retries=0))
    platform.worker.start()

    # Then both old events end failed, saying their function was deleted
    for request_id in (queued, retrying):
        invocation = await wait_in(platform, request_id, State.FAILED, State.DEAD_LETTERED)
        assert invocation.state is State.FAILED, invocation
        assert "was deleted" in invocation.error["errorMessage"]
    # and the new function ran neither, and has no dead letter
    assert ran(old_ledger) == [retrying]
    assert ran(new_ledger) == []
    assert (await platform.dead_letters.page("orders", 0, 10))[0] == 0
    # while its own events run
    fresh = await platform.invoker.invoke_async("orders", b"{}")
    await wait_in(platform, fresh, State.SUCCEEDED)
    assert ran(new_ledger) == [fresh]


async def test_an_event_running_as_its_function_is_deleted_is_not_dead_lettered_to_the_new_one(
    platform: Platform, deploy: Any, tmp_path: Path
) -> None:
    old_ledger, new_ledger = tmp_path / "old.txt", tmp_path / "new.txt"
    # Given an event running (for two seconds) on a function with no retries
    await deploy("orders", RECORDING, env={"LEDGER": str(old_ledger)})
    await platform.functions.set_async_config("orders", AsyncConfig(max_retries=0))
    running = await platform.invoker.invoke_async(
        "orders", json.dumps({"fail": True, "sleep": 2}).encode()
    )
    await wait_until_async(lambda: ran(old_ledger), what="the event to start", within_s=30)

    # When the function is deleted as it runs, and one is made again under its name
    await platform.functions.delete("orders")
    await deploy("orders", RECORDING, env={"LEDGER": str(new_ledger)})
    await platform.functions.set_async_config("orders", AsyncConfig(max_retries=0))

    # Then the event ends failed, saying its function was deleted
    invocation = await wait_in(platform, running, State.FAILED, State.DEAD_LETTERED)
    assert invocation.state is State.FAILED, invocation
    assert "was deleted" in invocation.error["errorMessage"]
    # and the new function neither ran it nor shows it among its dead letters
    assert ran(new_ledger) == []
    assert (await platform.dead_letters.page("orders", 0, 10))[0] == 0


@pytest.mark.parametrize("made_again", [True, False], ids=["made-again", "gone"])
async def test_an_event_out_of_attempts_as_its_function_is_deleted_ends_failed(
    platform: Platform, deploy: Any, tmp_path: Path, made_again: bool
) -> None:
    # Given an event of a function with a failure destination, taken and begun by a
    # worker (held here, so that its settle comes exactly after the delete)
    ledger = tmp_path / "ran.txt"
    await deploy("orders", RECORDING, env={"LEDGER": str(ledger)})
    await deploy("audit", RECORDING, env={"LEDGER": str(ledger)})
    await platform.functions.set_async_config(
        "orders", AsyncConfig(max_retries=0, on_failure="audit")
    )
    assert platform.worker is not None
    await platform.worker.stop(drain_s=1)
    request_id = await platform.invoker.invoke_async("orders", b'{"fail": true}')
    [taken] = await platform.queue.take("held-here", 10)
    begun = await platform.queue.begin_attempt(taken.invocation, "ab" * 32)

    # When the function is deleted (and perhaps made again) before the worker
    # dead-letters the event, out of attempts
    await platform.functions.delete("orders")
    if made_again:
        await deploy("orders", RECORDING, env={"LEDGER": str(ledger)})
    out = dataclasses.replace(
        begun,
        state=State.DEAD_LETTERED,
        finished_at=time.time(),
        reason="RetriesExhausted",
        error={"errorType": "ValueError", "errorMessage": "no", "stackTrace": []},
    )
    assert await platform.queue.settle(taken.delivery, out)

    # Then it ends failed, saying its function was deleted, in no dead letters
    invocation = await platform.invoker.get_invocation(request_id)
    assert invocation.state is State.FAILED and invocation.reason is None
    assert "was deleted while the event ran" in invocation.error["errorMessage"]
    assert (await platform.dead_letters.page("orders", 0, 10))[0] == 0
    # and its record lapses as a finished one's does, its destination not invoked
    kept_s = platform.settings.result_ttl_s
    assert 0 < await platform.redis.ttl(keys.invocation(request_id)) <= kept_s
    assert await platform.queue.recent("audit") == []
