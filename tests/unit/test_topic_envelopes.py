"""What subscribers receive of a published message: the SNS -> Lambda record, the SNS
envelope in a queue's body, raw delivery; and Publish's checks of a message."""

from __future__ import annotations

import json

import pytest

from faas.errors import ValidationFailed
from faas.topics import envelope, messages
from faas.topics.messages import Attribute, Message

TOPIC = "arn:aws:sns:local-1:000000000000:orders"
SUB = TOPIC + ":0b5e4bb2-7d55-4f6b-a2a5-0d0f7ac1d2b3"
BASE = "http://127.0.0.1:8080"
# 2026-12-07T10:00:00.250Z
WHEN = 1796637600.25


def message(**overrides: object) -> Message:
    fields: dict[str, object] = {
        "message_id": "m-1",
        "topic_arn": TOPIC,
        "message": '{"order": 7}',
        "timestamp": WHEN,
        "subject": "new order",
        "attributes": {
            "priority": Attribute("String", "high"),
            "count": Attribute("Number", "3"),
            "blob": Attribute("Binary", "AAEC"),
        },
    }
    fields.update(overrides)
    return Message(**fields)  # type: ignore[arg-type]


def test_timestamp_is_utc_to_the_millisecond() -> None:
    assert envelope.timestamp(WHEN) == "2026-12-07T10:00:00.250Z"
    assert envelope.timestamp(0) == "1970-01-01T00:00:00.000Z"


def test_a_function_gets_sns_lambda_record() -> None:
    # When a function subscriber is invoked
    event = json.loads(envelope.lambda_event(message(), SUB, BASE))
    # Then it gets one record shaped as Lambda's SNS events are
    (record,) = event["Records"]
    assert record["EventSource"] == "aws:sns"
    assert record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == SUB
    sns = record["Sns"]
    assert sns == {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": TOPIC,
        "Subject": "new order",
        "Message": '{"order": 7}',
        "Timestamp": "2026-12-07T10:00:00.250Z",
        "SignatureVersion": "1",
        "Signature": "",
        "SigningCertUrl": BASE + "/SimpleNotificationService-unsigned.pem",
        "UnsubscribeUrl": BASE + "/?Action=Unsubscribe&SubscriptionArn="
        "arn%3Aaws%3Asns%3Alocal-1%3A000000000000%3Aorders%3A0b5e4bb2-7d55-4f6b-a2a5-0d0f7ac1d2b3",
        "MessageAttributes": {
            "priority": {"Type": "String", "Value": "high"},
            "count": {"Type": "Number", "Value": "3"},
            "blob": {"Type": "Binary", "Value": "AAEC"},
        },
    }


def test_no_subject_is_null_and_no_attributes_an_empty_object() -> None:
    sns = json.loads(envelope.lambda_event(message(subject=None, attributes={}), SUB, BASE))
    assert sns["Records"][0]["Sns"]["Subject"] is None
    assert sns["Records"][0]["Sns"]["MessageAttributes"] == {}


def test_a_queue_gets_the_sns_envelope_as_its_body() -> None:
    body = json.loads(envelope.sqs_body(message(), SUB, BASE, raw=False))
    assert list(body) == [
        "Type",
        "MessageId",
        "TopicArn",
        "Subject",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
        "UnsubscribeURL",
        "MessageAttributes",
    ]
    assert body["Type"] == "Notification"
    assert body["Message"] == '{"order": 7}'
    assert body["MessageAttributes"]["priority"] == {"Type": "String", "Value": "high"}
    # The attributes travel in the envelope, not as the queue message's own.
    assert envelope.sqs_attributes(message(), raw=False) == {}


def test_the_envelope_leaves_out_a_missing_subject_and_attributes() -> None:
    body = json.loads(envelope.sqs_body(message(subject=None, attributes={}), SUB, BASE, raw=False))
    assert "Subject" not in body
    assert "MessageAttributes" not in body


def test_raw_delivery_is_the_message_itself_with_sqs_attributes() -> None:
    assert envelope.sqs_body(message(), SUB, BASE, raw=True) == '{"order": 7}'
    assert envelope.sqs_attributes(message(), raw=True) == {
        "priority": {"DataType": "String", "StringValue": "high"},
        "count": {"DataType": "Number", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": "AAEC"},
    }


def test_message_structure_json_gives_each_protocol_its_own() -> None:
    # Given a message with a default and an sqs entry
    text, per = messages.check_message('{"default": "d", "sqs": "for queues"}', "json")
    m = message(message=text, per_protocol=per)
    # Then queues get theirs, functions the default
    assert envelope.sqs_body(m, SUB, BASE, raw=True) == "for queues"
    event = json.loads(envelope.lambda_event(m, SUB, BASE))
    assert event["Records"][0]["Sns"]["Message"] == "d"


@pytest.mark.parametrize(
    ("text", "structure", "error"),
    [
        (None, None, "Invalid parameter: Message Reason: the message is required"),
        ("", None, "Invalid parameter: Empty message"),
        (
            "not json",
            "json",
            "Invalid parameter: Message Structure - JSON message body failed to parse",
        ),
        (
            '{"sqs": "x"}',
            "json",
            "Invalid parameter: Message Structure - No default entry in JSON message body",
        ),
        (
            '{"default": 1}',
            "json",
            "Invalid parameter: Message Structure - No default entry in JSON message body",
        ),
    ],
)
def test_messages_refused(text: str | None, structure: str | None, error: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        messages.check_message(text, structure)
    assert refused.value.message == error


@pytest.mark.parametrize(
    ("name", "data_type", "value", "error"),
    [
        ("a b", "String", "x", "The message attribute name 'a b' is invalid."),
        ("AWS.x", "String", "x", "The message attribute name 'AWS.x' is invalid."),
        ("a..b", "String", "x", "The message attribute name 'a..b' is invalid."),
        ("k", "Text", "x", "has an invalid message attribute type"),
        ("k", "", "x", "must contain a non-empty message attribute type"),
        ("k", "String", "", "must contain non-empty message attribute value"),
        ("k", "Number", "ten", "Could not cast message attribute 'k' value to number."),
        ("k", "Number", "2e9", "is out of range"),
        ("k", "Binary", "%%%", "must be base64"),
        ("k", "String.Array", '{"a": 1}', "must be a JSON array"),
        ("k", "String.Array", "[[1]]", "must be a JSON array"),
    ],
)
def test_attributes_refused_naming_them(name: str, data_type: str, value: str, error: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        messages.check_attribute(name, data_type, value)
    assert error in refused.value.message
    assert refused.value.field == f"MessageAttributes.{name}"


@pytest.mark.parametrize(
    ("data_type", "value"),
    [
        ("String", "x"),
        ("Number", "-1.5e3"),
        ("Binary", "AAEC"),
        ("String.Array", '["a", 1, null]'),
        ("Number.int", "7"),
    ],
)
def test_attributes_taken(data_type: str, value: str) -> None:
    assert messages.check_attribute("k", data_type, value) == Attribute(data_type, value)


@pytest.mark.parametrize("subject", ["", "x" * 101, "two\nlines", "caf\u00e9"])
def test_subjects_refused(subject: str) -> None:
    with pytest.raises(ValidationFailed, match="Invalid parameter: Subject"):
        messages.check_subject(subject)


def test_a_message_past_256_kib_is_refused() -> None:
    messages.check_size("x" * (256 * 1024 - 10), {"k": Attribute("String", "v")})
    with pytest.raises(ValidationFailed, match="Message too long"):
        messages.check_size("x" * (256 * 1024 - 3), {"k": Attribute("String", "v")})


def test_a_fifo_topic_envelope_carries_its_sequence_number() -> None:
    body = json.loads(
        envelope.sqs_body(message(sequence="00000000000000000007"), SUB, BASE, raw=False)
    )
    assert list(body)[:3] == ["Type", "MessageId", "SequenceNumber"]
    assert body["SequenceNumber"] == "00000000000000000007"
