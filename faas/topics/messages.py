"""A message published to a topic, and its attributes, checked as SNS checks them. Pure.

``MessageStructure=json`` makes the message a JSON object of texts: ``default``
for every protocol, and a key per protocol (``lambda``, ``sqs``) to say something
else to its subscribers. A message and its attributes take at most 256 KiB.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from faas.errors import ValidationFailed

MAX_BYTES = 256 * 1024
MAX_SUBJECT = 100
ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
BASE_TYPES = ("String", "Number", "Binary")
RESERVED_PREFIXES = ("aws.", "amazon.")
# SNS's numbers: from -10^9 to 10^9, five decimal places.
NUMBER_LIMIT = 1e9


@dataclass(frozen=True)
class Attribute:
    """One message attribute: its data type and its value (a Binary's as base64)."""

    data_type: str
    value: str

    @property
    def base_type(self) -> str:
        return self.data_type.split(".", 1)[0]


@dataclass(frozen=True)
class Message:
    """One published message, as every subscription of its topic is offered it."""

    message_id: str
    topic_arn: str
    message: str
    timestamp: float
    subject: str | None = None
    attributes: Mapping[str, Attribute] = field(default_factory=dict)
    # MessageStructure=json: protocol -> the message for it ("default" in ``message``).
    per_protocol: Mapping[str, str] = field(default_factory=dict)
    # FIFO topics: the group and deduplication ids, the topic's sequence number.
    group_id: str | None = None
    dedup_id: str | None = None
    sequence: str | None = None

    def for_protocol(self, protocol: str) -> str:
        return self.per_protocol.get(protocol, self.message)

    def filter_view(self) -> dict[str, tuple[str, str]]:
        """The attributes as ``faas.topics.filters`` reads them."""
        return {name: (a.data_type, a.value) for name, a in self.attributes.items()}


def check_message(message: str | None, structure: str | None) -> tuple[str, dict[str, str]]:
    """The default message and the messages per protocol (``MessageStructure``)."""
    if message is None:
        raise ValidationFailed(
            "Invalid parameter: Message Reason: the message is required", field="Message"
        )
    if message == "":
        raise ValidationFailed("Invalid parameter: Empty message", field="Message")
    if structure is None or structure == "":
        return message, {}
    if structure != "json":
        raise ValidationFailed(
            "Invalid parameter: MessageStructure Reason: only json is supported",
            field="MessageStructure",
        )
    try:
        document = json.loads(message)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        raise ValidationFailed(
            "Invalid parameter: Message Structure - JSON message body failed to parse",
            field="Message",
        )
    if not isinstance(document.get("default"), str):
        raise ValidationFailed(
            "Invalid parameter: Message Structure - No default entry in JSON message body",
            field="Message",
        )
    for key, value in document.items():
        if not isinstance(value, str):
            raise ValidationFailed(
                f"Invalid parameter: Message Structure - the {key} entry must be a string",
                field="Message",
            )
    default = document["default"]
    return default, {k: v for k, v in document.items() if k != "default"}


def check_subject(subject: str | None) -> str | None:
    """A subject: 1-100 printable ASCII characters on one line."""
    if subject is None:
        return None
    if (
        not subject
        or len(subject) > MAX_SUBJECT
        or not subject.isascii()
        or not subject.isprintable()
    ):
        raise ValidationFailed("Invalid parameter: Subject", field="Subject")
    return subject


def check_attribute(name: str, data_type: str | None, value: str | None) -> Attribute:
    """One attribute as Publish gives it (``value``: a String's text or a Binary's base64)."""
    if (
        not ATTRIBUTE_NAME.fullmatch(name)
        or name.startswith(".")
        or name.endswith(".")
        or ".." in name
        or name.lower().startswith(RESERVED_PREFIXES)
    ):
        raise _value_invalid(f"The message attribute name '{name}' is invalid.", name)
    if not data_type:
        raise _value_invalid(
            f"The message attribute '{name}' must contain a non-empty message attribute type.", name
        )
    base = data_type.split(".", 1)[0]
    if base not in BASE_TYPES or len(data_type) > 256:
        raise _value_invalid(
            f"The message attribute '{name}' has an invalid message attribute type, the set "
            "of supported type prefixes is Binary, Number, and String.",
            name,
        )
    if value is None or value == "":
        raise _value_invalid(
            f"The message attribute '{name}' must contain non-empty message attribute value "
            f"for message attribute type '{base}'.",
            name,
        )
    if base == "Number":
        _check_number(name, value)
    elif base == "Binary":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _value_invalid(
                f"The message attribute '{name}' with type 'Binary' must be base64.", name
            ) from None
    elif data_type == "String.Array":
        _check_array(name, value)
    return Attribute(data_type, value)


def _check_number(name: str, value: str) -> None:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise _value_invalid(f"Could not cast message attribute '{name}' value to number.", name)
    if abs(number) > NUMBER_LIMIT:
        raise _value_invalid(
            f"Value {value} for message attribute '{name}' is out of range (from -1.0E9 to 1.0E9).",
            name,
        )


def _check_array(name: str, value: str) -> None:
    try:
        items = json.loads(value)
    except (ValueError, RecursionError):
        items = None
    ok = isinstance(items, list) and all(
        item is None or isinstance(item, str | int | float | bool) for item in items
    )
    if not ok:
        raise _value_invalid(
            f"The message attribute '{name}' with type 'String.Array' must be a JSON array "
            "of strings, numbers, true, false or null.",
            name,
        )


def check_size(message: str, attributes: Mapping[str, Attribute]) -> None:
    """The message and its attributes (names, types, values) within 256 KiB."""
    size = len(message.encode())
    for name, attribute in attributes.items():
        size += len(name.encode()) + len(attribute.data_type) + len(attribute.value.encode())
    if size > MAX_BYTES:
        raise ValidationFailed("Invalid parameter: Message too long", field="Message")


def _value_invalid(message: str, name: str) -> ValidationFailed:
    return ValidationFailed(message, field=f"MessageAttributes.{name}")
