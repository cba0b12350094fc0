"""Event source mappings as a boto3 user sees them: a queue read into a function.

A Python function consumes the ``fulfil`` queue in batches of 10 and reports the
items it failed (``ReportBatchItemFailures``): flaky orders fail twice and then
succeed, order 13 always fails and lands in the DLQ after 3 receives; every other
order is processed exactly once (a ledger on a volume). A FIFO queue's group keeps
its order across a failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from faas.settings import Settings
from tests.e2e import test_lambda_api_story as story
from tests.helpers import Server, handler_zip, upload, wait_until

server_env = story.server_env
lam, clients = story.lam, story.clients

CONSUMER = """
import json, os
def handler(event, context):
    failed, stopped = [], set()
    with open("/mnt/ledger/ledger.txt", "a") as ledger:
        for record in event["Records"]:
            body = record["body"]
            group = record["attributes"].get("MessageGroupId")
            count = int(record["attributes"]["ApproximateReceiveCount"])
            if group in stopped:
                failed.append({"itemIdentifier": record["messageId"]})
                continue
            if body == "order-13" or (body.endswith("7") and count < 3) or (
                    body == "step-a2" and count == 1):
                failed.append({"itemIdentifier": record["messageId"]})
                if group:
                    stopped.add(group)
                continue
            ledger.write(body + "\\n")
    return {"batchItemFailures": failed}
"""


@pytest.fixture
def sqs(server: Server) -> Iterator[Any]:
    client = story.aws_client(server, "sqs")
    yield client
    client.close()


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{story.REGION}:{story.ACCOUNT}:{name}"


def test_a_queue_feeds_a_function_in_batches_with_partial_failures(
    lam: Any, sqs: Any, api: httpx.Client, settings: Settings
) -> None:
    # Given a queue whose failed messages come back after a second, and go to a DLQ
    # after 3 receives
    dlq = sqs.create_queue(QueueName="fulfil-dlq")["QueueUrl"]
    redrive = {"deadLetterTargetArn": queue_arn("fulfil-dlq"), "maxReceiveCount": "3"}
    fulfil = sqs.create_queue(
        QueueName="fulfil",
        Attributes={"VisibilityTimeout": "1", "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    # And a consumer writing to a ledger on a volume
    made = upload(api, "consumer", handler_zip(CONSUMER), volumes='{"ledger": "/mnt/ledger"}')
    assert made.status_code == 201, made.text
    ledger = settings.volumes_root / "ledger" / "ledger.txt"

    # When a mapping reads the queue into it, in batches of 10, reporting item failures
    created = lam.create_event_source_mapping(
        EventSourceArn=queue_arn("fulfil"),
        FunctionName="consumer",
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    # Then Lambda's answer comes back, and the mapping is enabled
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert created["State"] == "Creating"
    assert created["FunctionArn"] == story.arn("consumer")
    uuid = created["UUID"]
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled"
    listed = lam.list_event_source_mappings(FunctionName="consumer")["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [uuid]

    # When 30 orders are sent in batches (order 13 poisoned, 7, 17, 27 flaky)
    orders = [f"order-{i}" for i in range(30)]
    for start in range(0, 30, 10):
        entries = [{"Id": str(i), "MessageBody": orders[i]} for i in range(start, start + 10)]
        assert not sqs.send_message_batch(QueueUrl=fulfil, Entries=entries).get("Failed")

    # Then every order but 13 is in the ledger exactly once
    wanted = sorted(o for o in orders if o != "order-13")

    def lines() -> list[str]:
        return sorted(ledger.read_text().splitlines()) if ledger.exists() else []

    wait_until(lambda: lines() == wanted, what="every good order once", within_s=60, show=lines)

    # And order 13 is in the DLQ
    def dead() -> list[str]:
        got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [m["Body"] for m in got.get("Messages", [])]

    assert wait_until(dead, what="order 13 in the DLQ", within_s=30) == ["order-13"]
    assert lines() == wanted

    # When the mapping is deleted, Then Lambda's answer says so and it is gone
    gone = lam.delete_event_source_mapping(UUID=uuid)
    assert gone["State"] == "Deleting"
    assert lam.list_event_source_mappings()["EventSourceMappings"] == []
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_event_source_mapping(UUID=uuid)


def test_a_fifo_group_keeps_its_order_across_a_failure(
    lam: Any, sqs: Any, api: httpx.Client, settings: Settings
) -> None:
    # Given a FIFO queue read into the consumer, whose step a2 fails once
    steps = sqs.create_queue(
        QueueName="steps.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true",
                    "VisibilityTimeout": "1"},
    )["QueueUrl"]  # fmt: skip
    made = upload(api, "consumer", handler_zip(CONSUMER), volumes='{"ledger": "/mnt/ledger"}')
    assert made.status_code == 201, made.text
    ledger = settings.volumes_root / "ledger" / "ledger.txt"
    lam.create_event_source_mapping(
        EventSourceArn=queue_arn("steps.fifo"),
        FunctionName="consumer",
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    # When two groups send five steps each
    for i in range(5):
        for group in ("a", "b"):
            sqs.send_message(QueueUrl=steps, MessageBody=f"step-{group}{i}", MessageGroupId=group)

    # Then each group ran exactly once and in order, a's steps after a2 waiting for it
    def lines() -> list[str]:
        return ledger.read_text().splitlines() if ledger.exists() else []

    wait_until(lambda: len(lines()) == 10, what="ten steps", within_s=60, show=lines)
    for group in ("a", "b"):
        assert [s for s in lines() if s.startswith(f"step-{group}")] == [
            f"step-{group}{i}" for i in range(5)
        ]


def test_bad_mappings_are_refused_naming_the_field(lam: Any, sqs: Any) -> None:
    sqs.create_queue(QueueName="q")
    story.create(lam, "fn")
    cases = [
        ({"EventSourceArn": queue_arn("missing"), "FunctionName": "fn"}, "EventSourceArn"),
        ({"EventSourceArn": queue_arn("q"), "FunctionName": "fn", "BatchSize": 11},
         "MaximumBatchingWindowInSeconds"),
        ({"EventSourceArn": queue_arn("q"), "FunctionName": "fn",
          "FilterCriteria": {"Filters": [{"Pattern": "{nope"}]}}, "FilterCriteria"),
    ]  # fmt: skip
    for fields, named in cases:
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as refused:
            lam.create_event_source_mapping(**fields)
        assert named in str(refused.value)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.create_event_source_mapping(EventSourceArn=queue_arn("q"), FunctionName="nope")
    lam.create_event_source_mapping(EventSourceArn=queue_arn("q"), FunctionName="fn")
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.create_event_source_mapping(EventSourceArn=queue_arn("q"), FunctionName="fn")
