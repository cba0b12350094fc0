"""Queue attributes, receipt handles and the MD5s SQS answers (no Redis)."""

from __future__ import annotations

import hashlib
import struct

import pytest

from faas.errors import InvalidAttributeValue, ReceiptHandleIsInvalid
from faas.queues import attributes
from faas.queues.digests import md5_of_attributes, md5_of_body
from faas.queues.model import MessageAttribute, parse_receipt_handle, receipt_handle
from faas.queues.queues import Queues


def documented_md5(attrs: dict[str, tuple[str, bytes, int]]) -> str:
    """AWS's documented algorithm, written out again: length-prefixed name, type,
    transport byte (1 string, 2 binary), length-prefixed value, sorted by name."""
    out = b""
    for name in sorted(attrs):
        data_type, value, transport = attrs[name]
        for part in (name.encode(), data_type.encode()):
            out += struct.pack(">I", len(part)) + part
        out += bytes([transport]) + struct.pack(">I", len(value)) + value
    return hashlib.md5(out).hexdigest()


def test_md5_of_message_attributes_follows_aws_algorithm() -> None:
    given = {
        "priority": MessageAttribute("String", "high"),
        "count": MessageAttribute("Number", "7"),
        "blob": MessageAttribute("Binary", binary_value=b"\x00\xff"),
    }
    assert md5_of_attributes(given) == documented_md5(
        {
            "priority": ("String", b"high", 1),
            "count": ("Number", b"7", 1),
            "blob": ("Binary", b"\x00\xff", 2),
        }
    )
    assert md5_of_attributes({}) is None
    assert md5_of_body("hello") == "5d41402abc4b2a76b9719d911017c592"


def test_attributes_are_checked_against_sqs_ranges() -> None:
    assert attributes.parse("q", {"VisibilityTimeout": "43200"}, creating=True) == {
        "VisibilityTimeout": "43200"
    }
    for key, bad in [
        ("VisibilityTimeout", "43201"),
        ("MessageRetentionPeriod", "59"),
        ("DelaySeconds", "901"),
        ("ReceiveMessageWaitTimeSeconds", "21"),
        ("MaximumMessageSize", "1023"),
        ("VisibilityTimeout", "soon"),
        ("NoSuchAttribute", "1"),
    ]:
        with pytest.raises(InvalidAttributeValue):
            attributes.parse("q", {key: bad}, creating=True)


def test_redrive_policy_needs_an_arn_and_a_count_from_1_to_1000() -> None:
    arn = "arn:aws:sqs:local-1:000000000000:dlq"
    policy = attributes.parse_redrive(f'{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"3"}}')
    assert policy is not None and policy.dead_letter_queue == "dlq"
    assert policy.max_receive_count == 3
    for bad in [
        '{"maxReceiveCount":3}',
        f'{{"deadLetterTargetArn":"{arn}","maxReceiveCount":0}}',
        "x",
    ]:
        with pytest.raises(InvalidAttributeValue):
            attributes.parse_redrive(bad)


def test_fifo_names_and_the_fifo_attribute_go_together() -> None:
    with pytest.raises(InvalidAttributeValue):
        attributes.parse("jobs.fifo", {}, creating=True)
    with pytest.raises(InvalidAttributeValue):
        attributes.parse("jobs", {"FifoQueue": "true"}, creating=True)
    with pytest.raises(InvalidAttributeValue):
        attributes.parse("jobs", {"ContentBasedDeduplication": "true"}, creating=True)
    assert attributes.parse("jobs.fifo", {"FifoQueue": "true"}, creating=True)


def test_receipt_handles_round_trip_and_garbage_is_refused() -> None:
    handle = receipt_handle("abc-123", 4)
    assert parse_receipt_handle(handle) == ("abc-123", 4)
    for bad in ["", "not a handle!", receipt_handle("x", 1)[:-3] + "%%%"]:
        with pytest.raises(ReceiptHandleIsInvalid):
            parse_receipt_handle(bad)


def test_a_queue_is_named_by_its_url_from_any_host_or_its_arn() -> None:
    assert Queues.name_of("http://localhost:8080/000000000000/orders") == "orders"
    assert Queues.name_of("https://sqs.example.com/123456789012/jobs.fifo") == "jobs.fifo"
    assert Queues.name_of("arn:aws:sqs:local-1:000000000000:orders") == "orders"
    assert Queues.name_of("orders") == "orders"
