"""The SQS poller on a real Redis with functions as host processes (the process backend).

Each story makes queues through ``platform.queues``, a mapping through
``platform.mappings`` (as the APIs do), sends messages and reads what the function
wrote to a ledger file named in its environment.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from faas.platform import Platform
from faas.queues.model import BatchEntry
from tests.helpers import wait_until_async

pytestmark = pytest.mark.process

# Processes each record, except "poison" (always) and "flaky-*" (on its first two
# receives): those it reports in batchItemFailures.
PARTIAL = """
import json, os
def handler(event, context):
    failures = []
    with open(os.environ["LEDGER"], "a") as ledger:
        for record in event["Records"]:
            body = record["body"]
            count = int(record["attributes"]["ApproximateReceiveCount"])
            if body == "poison" or (body.startswith("flaky") and count < 3):
                failures.append({"itemIdentifier": record["messageId"]})
                continue
            ledger.write(json.dumps({"body": body, "source": record["eventSource"]}) + "\\n")
    return {"batchItemFailures": failures}
"""

# Processes a FIFO batch in order; at a "fail-once" seen for the first time it reports
# that one only and skips the rest of its group (forgetting to report them: the poller
# holds them back), going on with the other groups.
FIFO = """
import os
def handler(event, context):
    failed, stopped = [], set()
    with open(os.environ["LEDGER"], "a") as ledger:
        for record in event["Records"]:
            group = record["attributes"]["MessageGroupId"]
            if group in stopped:
                continue
            count = int(record["attributes"]["ApproximateReceiveCount"])
            if record["body"].endswith("fail-once") and count == 1:
                failed.append({"itemIdentifier": record["messageId"]})
                stopped.add(group)
                continue
            ledger.write(record["body"] + "\\n")
    return {"batchItemFailures": failed}
"""


@pytest.fixture
def backend() -> str:
    return "process"


def ledger(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def test_a_batch_with_item_failures_retries_only_those_and_poison_lands_in_the_dlq(
    platform: Platform,
    deploy,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    # Given a queue whose messages come back after 1 s and go to a DLQ after 3 receives
    queues = platform.queues
    await queues.create("orders-dlq")
    redrive = {"deadLetterTargetArn": queues.arn("orders-dlq"), "maxReceiveCount": "3"}
    await queues.create("orders", {"VisibilityTimeout": "1", "RedrivePolicy": json.dumps(redrive)})
    # And a function reporting its failed items, mapped to the queue in batches of 10
    path = tmp_path / "ledger.jsonl"
    await deploy("fulfil", PARTIAL, env={"LEDGER": str(path)})
    mapping = await platform.mappings.create(
        {
            "EventSourceArn": queues.arn("orders"),
            "FunctionName": "fulfil",
            "BatchSize": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        }
    )
    # When orders arrive, two flaky ones and one poison among them
    bodies = [f"order-{i}" for i in range(25)] + ["flaky-1", "flaky-2", "poison"]
    for body in bodies:
        await queues.send("orders", body)

    # Then every order but the poison is processed exactly once, the flaky ones late
    wanted = sorted(b for b in bodies if b != "poison")
    await wait_until_async(
        lambda: sorted(json.loads(line)["body"] for line in ledger(path)) == wanted,
        what="every good order in the ledger",
        within_s=20,
    )

    # And the poison is in the DLQ after 3 receives, the queue is empty
    async def dead() -> list[str]:
        got = await queues.receive("orders-dlq", max_messages=10, wait_s=0)
        return [m.body for m in got]

    assert await wait_until_async(dead, what="the poison in the DLQ", within_s=15) == ["poison"]
    entries = [json.loads(line) for line in ledger(path)]
    assert sorted(e["body"] for e in entries) == wanted
    assert {e["source"] for e in entries} == {"aws:sqs"}
    assert await queues.receive("orders", max_messages=10, wait_s=0) == []
    # And the invocations are in the function's logs like any other
    logs, _ = await platform.logs.query("fulfil", since=None, request_id=None, limit=100)
    assert logs and {record.kind for record in logs} == {"sqs"}

    # When the mapping is disabled, Then a new message stays in the queue
    await platform.mappings.update(mapping.uuid, {"Enabled": False})
    await wait_until_async(
        lambda: not platform.pollers.polling(mapping.uuid),  # type: ignore[union-attr]
        what="the pollers stopped",
        within_s=3,
    )
    await queues.send("orders", "late")
    await asyncio.sleep(0.3)
    [late] = await queues.receive("orders", max_messages=10, wait_s=1)
    assert late.body == "late"


async def test_a_fifo_group_keeps_its_order_across_a_failure(
    platform: Platform,
    deploy,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    # Given a FIFO queue and a function that fails one message once, mid-group
    queues = platform.queues
    await queues.create(
        "steps.fifo",
        {"FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "1"},
    )
    path = tmp_path / "steps.txt"
    await deploy("steps", FIFO, env={"LEDGER": str(path)})
    await platform.mappings.create(
        {
            "EventSourceArn": queues.arn("steps.fifo"),
            "FunctionName": "steps",
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        }
    )
    # When two groups send five steps each, the third of group a failing once
    for i in range(5):
        for group in ("a", "b"):
            suffix = "fail-once" if (group, i) == ("a", 2) else "ok"
            await queues.send("steps.fifo", f"{group}{i}-{suffix}", group_id=group)

    # Then each group's steps run exactly once, in order
    def steps() -> list[str]:
        return ledger(path)

    await wait_until_async(lambda: len(steps()) == 10, what="ten steps", within_s=20, show=steps)
    for group in ("a", "b"):
        mine = [s.split("-")[0] for s in steps() if s.startswith(group)]
        assert mine == [f"{group}{i}" for i in range(5)]


async def test_filters_delete_what_they_do_not_keep(
    platform: Platform,
    deploy,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    # Given a mapping that keeps only high-priority orders
    queues = platform.queues
    await queues.create("prio")
    path = tmp_path / "prio.jsonl"
    await deploy("prio", PARTIAL, env={"LEDGER": str(path)})
    await platform.mappings.create(
        {
            "EventSourceArn": queues.arn("prio"),
            "FunctionName": "prio",
            "FilterCriteria": {"Filters": [{"Pattern": '{"body": {"priority": ["high"]}}'}]},
        }
    )
    # When high and low orders arrive
    for i, priority in enumerate(["high", "low", "high", "low"]):
        await queues.send("prio", json.dumps({"id": i, "priority": priority}))
    # Then only the high ones reach the function, and the low ones are gone from the queue
    await wait_until_async(lambda: len(ledger(path)) == 2, what="two high orders", within_s=10)
    kept = [json.loads(json.loads(line)["body"])["id"] for line in ledger(path)]
    assert sorted(kept) == [0, 2]
    depth = await wait_until_async(
        lambda: queues.receive("prio", max_messages=10, wait_s=0),
        what="an empty queue",
        done=lambda got: got == [],
        within_s=5,
    )
    assert depth == []


async def test_after_a_burst_the_pollers_shrink_to_one_and_still_poll(
    platform: Platform,
    deploy,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    # Given a mapping whose pollers grow with a backlog of 600 messages
    queues = platform.queues
    await queues.create("burst")
    path = tmp_path / "burst.jsonl"
    await deploy("burst", PARTIAL, env={"LEDGER": str(path)})
    mapping = await platform.mappings.create(
        {"EventSourceArn": queues.arn("burst"), "FunctionName": "burst", "BatchSize": 10}
    )
    for start in range(0, 600, 10):
        await queues.send_batch("burst", [BatchEntry(str(i), f"m-{start + i}") for i in range(10)])
    await wait_until_async(lambda: len(ledger(path)) == 600, what="the burst", within_s=60)
    assert platform.pollers is not None
    poller = platform.pollers.running[mapping.uuid]
    grown = poller.pollers
    # When the queue stays idle past a few long polls, all ending empty together
    await asyncio.sleep(3.5)
    # Then one poller is left, not none (each saw the others leave)
    assert poller.pollers == 1, grown
    # And a new message is still run
    await queues.send("burst", "after")
    await wait_until_async(lambda: len(ledger(path)) == 601, what="the late one", within_s=5)
