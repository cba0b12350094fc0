"""Queues as an SQS user sees them: a producer outside the platform with plain boto3
and the AWS CLI, ``endpoint_url`` the only change, every request signed with the
server's admin key.

An ``orders`` queue redrives to ``orders-dlq`` after 2 receives; a ``payments.fifo``
queue keeps each customer's order and drops duplicates. What is checked is what
the SDK hands the producer: bodies, attributes and their MD5s (computed here by
AWS's documented algorithm, not the server's code), receive counts, and errors
raised as boto3's modeled exceptions.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from faas.auth import access_key_id_of
from tests.e2e import test_lambda_api_story as story
from tests.helpers import Server

server_env = story.server_env
ACCOUNT = story.ACCOUNT


@pytest.fixture
def backend() -> str:
    return "process"  # no function runs here: the story is the queues'


@pytest.fixture
def sqs(server: Server) -> Iterator[Any]:
    """boto3's SQS client, as a producer outside the platform makes it."""
    client = story.aws_client(server, "sqs")
    yield client
    client.close()


@pytest.fixture
def aws(server: Server) -> Callable[..., dict[str, Any]]:
    """``aws sqs ...`` (the AWS CLI v1 of the venv) against the server."""
    env = story.admin_cli_env()
    return lambda *args: story.aws_cli(server, env, "sqs", *args)


def md5_of_attributes(attributes: dict[str, dict[str, Any]]) -> str:
    """MD5OfMessageAttributes as AWS documents it (what the Java SDK checks)."""
    digest = hashlib.md5(usedforsecurity=False)

    def part(data: bytes) -> None:
        digest.update(struct.pack(">I", len(data)) + data)

    for name in sorted(attributes):
        attribute = attributes[name]
        part(name.encode())
        part(attribute["DataType"].encode())
        if "BinaryValue" in attribute:
            digest.update(b"\x02")
            part(attribute["BinaryValue"])
        else:
            digest.update(b"\x01")
            part(attribute["StringValue"].encode())
    return digest.hexdigest()


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def error_code(call: Callable[[], object]) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


def make_orders(sqs: Any, visibility_s: int = 30) -> tuple[str, str]:
    """The orders queue and its dead-letter queue (after 2 receives): their URLs."""
    dlq = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    url = sqs.create_queue(
        QueueName="orders",
        Attributes={"VisibilityTimeout": str(visibility_s), "RedrivePolicy": policy},
        tags={"team": "shop"},
    )["QueueUrl"]
    return url, dlq


# -- sending and receiving --------------------------------------------------------


def test_a_batch_with_attributes_comes_back_with_the_md5s_sqs_would_give(sqs: Any) -> None:
    # Given the orders queue, its redrive policy read back as given
    url, dlq = make_orders(sqs)
    assert url == f"{sqs.meta.endpoint_url}/{ACCOUNT}/orders"
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 2
    assert attributes["VisibilityTimeout"] == "30"
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]

    # When a producer sends ten orders in one batch, each with a string, a number
    # and a binary attribute
    def attributes_of(i: int) -> dict[str, dict[str, Any]]:
        return {
            "priority": {"DataType": "String", "StringValue": "high" if i % 2 else "low"},
            "amount": {"DataType": "Number", "StringValue": str(10 * i)},
            "thumb": {"DataType": "Binary.png", "BinaryValue": bytes([0, i, 255])},
        }

    sent = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": f"o{i}", "MessageBody": f"order-{i}", "MessageAttributes": attributes_of(i)}
            for i in range(10)
        ],
    )
    # Then every entry succeeded, each with the MD5s of its body and attributes
    assert "Failed" not in sent or not sent["Failed"]
    by_id = {e["Id"]: e for e in sent["Successful"]}
    assert sorted(by_id) == sorted(f"o{i}" for i in range(10))
    for i in range(10):
        assert by_id[f"o{i}"]["MD5OfMessageBody"] == md5(f"order-{i}")
        assert by_id[f"o{i}"]["MD5OfMessageAttributes"] == md5_of_attributes(attributes_of(i))
    assert len({e["MessageId"] for e in sent["Successful"]}) == 10

    # When a consumer receives them all, asking for every attribute
    got: list[dict[str, Any]] = []
    while len(got) < 10:
        answer = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=1,
        )
        got += answer.get("Messages", [])
    # Then each arrives once, its attributes and MD5s as sent
    assert sorted(m["Body"] for m in got) == sorted(f"order-{i}" for i in range(10))
    for message in got:
        i = int(message["Body"].split("-")[1])
        assert message["MD5OfBody"] == md5(message["Body"])
        assert message["MessageAttributes"] == attributes_of(i)
        assert message["MD5OfMessageAttributes"] == md5_of_attributes(attributes_of(i))
        assert message["Attributes"]["ApproximateReceiveCount"] == "1"
        assert message["Attributes"]["SenderId"] == access_key_id_of(story.ADMIN)
        assert abs(int(message["Attributes"]["SentTimestamp"]) / 1000 - time.time()) < 60
    # And asking for one attribute by name gives that one, with its own MD5
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    again = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["priority"])["Messages"][0]
    assert list(again["MessageAttributes"]) == ["priority"]
    assert again["MD5OfMessageAttributes"] == md5_of_attributes(again["MessageAttributes"])

    # When the consumer deletes the batch
    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
    )
    assert len(deleted["Successful"]) == 10
    # Then only the one received again is still in flight
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "0"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_a_long_poll_returns_as_soon_as_a_message_is_sent(sqs: Any) -> None:
    # Given an empty queue and a consumer long-polling it for 5 seconds
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    answers: list[tuple[float, dict[str, Any]]] = []

    def poll() -> None:
        started = time.monotonic()
        answer = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)
        answers.append((time.monotonic() - started, answer))

    consumer = threading.Thread(target=poll)
    consumer.start()
    # When a producer sends a message half a second later
    time.sleep(0.5)
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    consumer.join(10)
    # Then the poll returned it at once, well before its 5 seconds
    [(waited, answer)] = answers
    assert [m["Body"] for m in answer["Messages"]] == ["wake up"]
    assert 0.4 < waited < 2.0, waited

    # And a long poll of an empty queue waits out its time and answers nothing
    started = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert 0.9 < time.monotonic() - started < 3


def test_an_unprocessed_message_comes_back_and_then_goes_to_the_dead_letter_queue(
    sqs: Any,
) -> None:
    # Given the orders queue (1 s visibility, redrive after 2 receives) with one order
    url, dlq = make_orders(sqs, visibility_s=1)
    sent = sqs.send_message(QueueUrl=url, MessageBody="order-13")

    def receive(wait_s: int = 0) -> list[dict[str, Any]]:
        answer = sqs.receive_message(
            QueueUrl=url, AttributeNames=["ApproximateReceiveCount"], WaitTimeSeconds=wait_s
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    # When a consumer receives it and fails to delete it
    [first] = receive()
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    # Then it is invisible for the visibility timeout
    assert receive() == []
    # And comes back after it, its receive count up, by a long poll woken in time
    started = time.monotonic()
    [second] = receive(wait_s=5)
    assert time.monotonic() - started < 2.5
    assert second["MessageId"] == sent["MessageId"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    # And the first receive's handle no longer deletes it (no error either)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])

    # When its visibility lapses once more (received maxReceiveCount times)
    time.sleep(1.1)
    # Then the next receive moves it to the dead-letter queue instead
    assert receive() == []
    dead = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"]
    assert [(m["MessageId"], m["Body"]) for m in dead] == [(sent["MessageId"], "order-13")]
    assert dead[0]["Attributes"]["ApproximateReceiveCount"] == "3"


def test_a_fifo_queue_keeps_each_groups_order_and_drops_duplicates(sqs: Any) -> None:
    # Given a FIFO queue deduplicating by content
    url = sqs.create_queue(
        QueueName="payments.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    # When two customers' payments are sent interleaved, one of them twice
    for step in range(3):
        for customer in ("ann", "bob"):
            sqs.send_message(
                QueueUrl=url, MessageBody=f"{customer}-{step}", MessageGroupId=customer
            )
    again = sqs.send_message(QueueUrl=url, MessageBody="ann-0", MessageGroupId="ann")
    # And a batch sends one with its own deduplication id, twice
    batch = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "MessageBody": "x", "MessageGroupId": "cy", "MessageDeduplicationId": "d"},
            {"Id": "b", "MessageBody": "y", "MessageGroupId": "cy", "MessageDeduplicationId": "d"},
        ],
    )
    ids = {e["Id"]: e["MessageId"] for e in batch["Successful"]}
    # Then each duplicate is answered as the first was, and not queued again
    assert ids["a"] == ids["b"]
    assert int(again["SequenceNumber"]) < int(batch["Successful"][0]["SequenceNumber"])

    # When a consumer takes what it can, deleting as it goes
    bodies: list[str] = []
    for _ in range(20):
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        messages = answer.get("Messages", [])
        if not messages:
            break
        for message in messages:
            assert message["Attributes"]["MessageGroupId"] == message["Body"].split("-")[0] or (
                message["Attributes"]["MessageGroupId"] == "cy"
            )
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    # Then every payment came once, each customer's in the order sent
    assert sorted(bodies) == sorted([f"{c}-{s}" for c in ("ann", "bob") for s in range(3)] + ["x"])
    for customer in ("ann", "bob"):
        assert [b for b in bodies if b.startswith(customer)] == [
            f"{customer}-{s}" for s in range(3)
        ]


def test_a_groups_next_message_waits_while_one_is_in_flight(sqs: Any) -> None:
    # Given a FIFO queue with two messages of one group
    url = sqs.create_queue(
        QueueName="steps.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "30"}
    )["QueueUrl"]
    for step in ("a1", "a2"):
        sqs.send_message(
            QueueUrl=url, MessageBody=step, MessageGroupId="a", MessageDeduplicationId=step
        )
    # When a consumer takes the first and has not deleted it
    [first] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert first["Body"] == "a1"
    # Then the second is held back
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    # And comes once the first is deleted
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["a2"]


# -- errors, purge, tags, the AWS CLI ------------------------------------------------


def test_mistakes_are_answered_in_sqs_shape(sqs: Any) -> None:
    # Given the orders queue
    url, _ = make_orders(sqs)
    # When a producer asks for a queue that does not exist
    # Then boto3 raises its modeled QueueDoesNotExist
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="no-such-queue")
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message(QueueUrl=f"{sqs.meta.endpoint_url}/{ACCOUNT}/gone", MessageBody="x")
    # When a consumer deletes with a receipt handle that is not one
    code, _ = error_code(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage!"))
    # Then it is told so
    assert code == "ReceiptHandleIsInvalid"
    # When an attribute is out of range, the error names it
    code, message = error_code(
        lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "99999"})
    )
    assert code == "InvalidAttributeValue"
    assert "VisibilityTimeout" in message
    code, message = error_code(
        lambda: sqs.create_queue(QueueName="slow", Attributes={"DelaySeconds": "901"})
    )
    assert (code, "DelaySeconds" in message) == ("InvalidAttributeValue", True)
    # And a batch's bad entry fails alone, the others sent
    answer = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "ok", "MessageBody": "fine"},
            {"Id": "late", "MessageBody": "x", "DelaySeconds": 901},
        ],
    )
    assert [e["Id"] for e in answer["Successful"]] == ["ok"]
    [failed] = answer["Failed"]
    assert (failed["Id"], failed["SenderFault"]) == ("late", True)
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": "same", "MessageBody": "1"}, {"Id": "same", "MessageBody": "2"}],
        )
    # And a batch none of whose entries can be read (an SDK that does not check)
    # answers each entry's failure, not a refusal of the whole batch
    unchecked = boto3.client(
        "sqs",
        endpoint_url=sqs.meta.endpoint_url,
        region_name=story.REGION,
        aws_access_key_id=access_key_id_of(story.ADMIN),
        aws_secret_access_key=story.ADMIN,
        config=Config(retries={"max_attempts": 0}, parameter_validation=False),
    )
    try:
        answer = unchecked.send_message_batch(QueueUrl=url, Entries=[{"Id": "nobody"}])
    finally:
        unchecked.close()
    assert answer.get("Successful", []) == []
    assert [(f["Id"], f["SenderFault"]) for f in answer["Failed"]] == [("nobody", True)]


def test_purge_tags_and_the_aws_cli(sqs: Any, aws: Callable[..., dict[str, Any]]) -> None:
    # Given the orders queue, tagged when it was made
    url, _ = make_orders(sqs)
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "shop"}
    # When an operator tags and untags it
    sqs.tag_queue(QueueUrl=url, Tags={"cost-centre": "42", "stage": "prod"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    # Then its tags say so
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"cost-centre": "42", "stage": "prod"}

    # When a shell script sends with the AWS CLI
    sent = aws("send-message", "--queue-url", url, "--message-body", "from the shell")
    # Then boto3 receives it, and the CLI lists and reads the queue as boto3 does
    assert sent["MD5OfMessageBody"] == md5("from the shell")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["from the shell"]
    assert url in aws("list-queues", "--queue-name-prefix", "ord")["QueueUrls"]
    assert aws("get-queue-url", "--queue-name", "orders")["QueueUrl"] == url

    # When it is purged
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(5)]
    )
    aws("purge-queue", "--queue-url", url)
    # Then nothing is left, in flight or not
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        counts["ApproximateNumberOfMessages"],
        counts["ApproximateNumberOfMessagesNotVisible"],
    ) == (
        "0",
        "0",
    )
    # And once deleted it is gone from the list
    sqs.delete_queue(QueueUrl=url)
    assert url not in sqs.list_queues().get("QueueUrls", [])
