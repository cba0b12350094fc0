"""The SQS event a batch becomes, and what the function's answer says; pure.

``record`` shapes one received message as Lambda's SQS event record;
``item_failures`` reads a ``ReportBatchItemFailures`` answer as Lambda reads it;
``held_back`` widens the failures of a FIFO batch so that no message of a group
is deleted after one of the group that failed (a group never overtakes itself).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

EVENT_SOURCE = "aws:sqs"


class Attribute(Protocol):
    """A message attribute as the queue gives it (``faas.queues``)."""

    data_type: str
    string_value: str | None
    binary_value: bytes | None


class Message(Protocol):
    """A received message as the queue gives it (``faas.queues``' ``Received``)."""

    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    attributes: dict[str, str]
    message_attributes: Mapping[str, Any]


def record(message: Message, *, event_source_arn: str, region: str) -> dict[str, Any]:
    """``message`` as a record of Lambda's SQS event (``Records[]``)."""
    return {
        "messageId": message.message_id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": dict(message.attributes),
        "messageAttributes": {
            name: message_attribute(value) for name, value in message.message_attributes.items()
        },
        "md5OfBody": message.md5_of_body,
        "eventSource": EVENT_SOURCE,
        "eventSourceARN": event_source_arn,
        "awsRegion": region,
    }


def message_attribute(value: Any) -> dict[str, Any]:
    """One message attribute as Lambda's SQS record carries it (binary as base64)."""
    data_type = _get(value, "data_type", "DataType") or "String"
    shown: dict[str, Any] = {}
    string = _get(value, "string_value", "StringValue")
    binary = _get(value, "binary_value", "BinaryValue")
    if string is not None:
        shown["stringValue"] = string
    if binary is not None:
        shown["binaryValue"] = (
            base64.b64encode(binary).decode() if isinstance(binary, bytes) else str(binary)
        )
    shown["stringListValues"] = []
    shown["binaryListValues"] = []
    shown["dataType"] = data_type
    return shown


def _get(value: Any, attr: str, key: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(key, value.get(attr))
    return getattr(value, attr, None)


def event(records: Sequence[dict[str, Any]]) -> bytes:
    return json.dumps({"Records": list(records)}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Failures:
    """What failed in a batch: every message (``whole``), or those of ``ids``."""

    whole: bool = False
    ids: frozenset[str] = frozenset()

    def failed(self, message_id: str) -> bool:
        return self.whole or message_id in self.ids


ALL = Failures(whole=True)
NONE = Failures()


def item_failures(answer: bytes, message_ids: Iterable[str]) -> Failures:
    """The failures a ``ReportBatchItemFailures`` answer reports, as Lambda reads it.

    No answer, ``null``, an object without ``batchItemFailures`` (or with it null or
    empty): all succeeded. Not JSON, a ``batchItemFailures`` that is not a list, or an
    item whose ``itemIdentifier`` is missing, empty or not a message of the batch: the
    whole batch failed.
    """
    if not answer.strip():
        return NONE
    try:
        document = json.loads(answer)
    except (ValueError, RecursionError):
        return ALL
    if not isinstance(document, dict):
        return NONE
    items = document.get("batchItemFailures")
    if items is None:
        return NONE
    if not isinstance(items, list):
        return ALL
    known = set(message_ids)
    failed: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            return ALL
        identifier = item.get("itemIdentifier")
        if not isinstance(identifier, str) or identifier not in known:
            return ALL
        failed.add(identifier)
    return Failures(ids=frozenset(failed))


def held_back(batch: Sequence[tuple[str, str]], failures: Failures) -> Failures:
    """A FIFO batch's failures widened to every message after a group's first failure.

    ``batch`` is (messageId, MessageGroupId) in the order received. A message kept
    back returns with the ones before it, so its group never runs out of order.
    """
    if failures.whole or not failures.ids:
        return failures
    stopped: set[str] = set()
    held: set[str] = set()
    for message_id, group in batch:
        if group in stopped or message_id in failures.ids:
            stopped.add(group)
            held.add(message_id)
    return Failures(ids=frozenset(held))
