"""What a subscriber receives of a published message. Pure.

- A function gets SNS's Lambda event: one record, ``EventSource: aws:sns``, the
  message under ``Sns`` with its attributes as ``{"Type", "Value"}``.
- A queue gets SNS's JSON envelope as the message body (``Type: Notification``,
  ``MessageId``, ``TopicArn``, ``Message``...), or with ``RawMessageDelivery`` the
  message itself, its attributes becoming the SQS message's attributes.

Messages are not signed here: ``Signature`` is empty and ``SigningCertUrl`` names
no certificate (docs/event-sources.md). ``UnsubscribeUrl`` is this server's
Unsubscribe for the subscription.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from faas.topics.messages import Attribute, Message

SIGNATURE_VERSION = "1"
SIGNING_CERT_PATH = "/SimpleNotificationService-unsigned.pem"


def timestamp(epoch_s: float) -> str:
    """SNS's timestamp: UTC to the millisecond, ``2026-12-07T10:00:00.123Z``."""
    moment = datetime.fromtimestamp(epoch_s, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def unsubscribe_url(base_url: str, subscription_arn: str) -> str:
    arn = quote(subscription_arn, safe="")
    return f"{base_url.rstrip('/')}/?Action=Unsubscribe&SubscriptionArn={arn}"


def attributes(attributes: Mapping[str, Attribute]) -> dict[str, dict[str, str]]:
    """Message attributes as SNS's notifications show them."""
    return {name: {"Type": a.data_type, "Value": a.value} for name, a in attributes.items()}


def lambda_event(message: Message, subscription_arn: str, base_url: str) -> bytes:
    """The event a function subscribed to the topic is invoked with."""
    record = {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": "Notification",
            "MessageId": message.message_id,
            "TopicArn": message.topic_arn,
            "Subject": message.subject,
            "Message": message.for_protocol("lambda"),
            "Timestamp": timestamp(message.timestamp),
            "SignatureVersion": SIGNATURE_VERSION,
            "Signature": "",
            "SigningCertUrl": base_url.rstrip("/") + SIGNING_CERT_PATH,
            "UnsubscribeUrl": unsubscribe_url(base_url, subscription_arn),
            "MessageAttributes": attributes(message.attributes),
        },
    }
    return json.dumps({"Records": [record]}).encode()


def sqs_body(message: Message, subscription_arn: str, base_url: str, *, raw: bool) -> str:
    """The body of the queue message a queue subscribed to the topic receives."""
    text = message.for_protocol("sqs")
    if raw:
        return text
    envelope: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message.message_id,
    }
    if message.sequence is not None:
        envelope["SequenceNumber"] = message.sequence
    envelope["TopicArn"] = message.topic_arn
    if message.subject is not None:
        envelope["Subject"] = message.subject
    envelope.update(
        {
            "Message": text,
            "Timestamp": timestamp(message.timestamp),
            "SignatureVersion": SIGNATURE_VERSION,
            "Signature": "",
            "SigningCertURL": base_url.rstrip("/") + SIGNING_CERT_PATH,
            "UnsubscribeURL": unsubscribe_url(base_url, subscription_arn),
        }
    )
    if message.attributes:
        envelope["MessageAttributes"] = attributes(message.attributes)
    return json.dumps(envelope)


def sqs_attributes(message: Message, *, raw: bool) -> dict[str, dict[str, str]]:
    """The SQS message attributes of a queue's message: the message's own with raw
    delivery (a Binary's bytes stay base64, as SQS's JSON protocol carries them), else
    none (they are in the envelope)."""
    if not raw:
        return {}
    shown: dict[str, dict[str, str]] = {}
    for name, a in message.attributes.items():
        if a.base_type == "Binary":
            shown[name] = {"DataType": a.data_type, "BinaryValue": a.value}
        else:
            shown[name] = {"DataType": a.data_type, "StringValue": a.value}
    return shown
