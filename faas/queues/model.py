"""Plain data of the queues: a queue, a message attribute, what a send and a receive hand out."""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field

from faas.errors import ReceiptHandleIsInvalid

FIFO_SUFFIX = ".fifo"
# SQS's: 1-80 characters, alphanumerics, hyphens and underscores (and ".fifo" at the end).
MAX_NAME = 80
# FIFO deduplication window.
DEDUP_WINDOW_S = 300
MAX_BATCH = 10
MAX_RECEIVE = 10
MAX_WAIT_S = 20


def is_fifo(name: str) -> bool:
    return name.endswith(FIFO_SUFFIX)


@dataclass(frozen=True, slots=True)
class MessageAttribute:
    """One message attribute: ``String``, ``Number`` or ``Binary`` (with an optional
    ``.custom`` suffix), its value a string or bytes."""

    data_type: str
    string_value: str | None = None
    binary_value: bytes | None = None

    @property
    def is_binary(self) -> bool:
        return self.data_type.startswith("Binary")

    def size(self, name: str) -> int:
        """What it counts against MaximumMessageSize (name, type and value, as SQS counts)."""
        value = self.binary_value if self.is_binary else (self.string_value or "").encode()
        return len(name.encode()) + len(self.data_type.encode()) + len(value or b"")

    def to_json(self) -> list[str]:
        if self.is_binary:
            return [self.data_type, "", base64.b64encode(self.binary_value or b"").decode()]
        return [self.data_type, self.string_value or ""]

    @classmethod
    def from_json(cls, packed: list[str]) -> MessageAttribute:
        if len(packed) == 3:
            return cls(packed[0], binary_value=base64.b64decode(packed[2]))
        return cls(packed[0], string_value=packed[1])


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue as read back: its name, its attributes (SQS's names and string values,
    the computed ones included) and its tags."""

    name: str
    attributes: dict[str, str]
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def fifo(self) -> bool:
        return is_fifo(self.name)


@dataclass(frozen=True, slots=True)
class Sent:
    """What a send answers (``sequence_number`` on FIFO queues only)."""

    message_id: str
    md5_of_body: str
    md5_of_message_attributes: str | None = None
    sequence_number: str | None = None


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One entry of ``send_batch``: its caller's id and the send's arguments."""

    id: str
    body: str
    message_attributes: dict[str, MessageAttribute] = field(default_factory=dict)
    delay_s: int | None = None
    group_id: str | None = None
    dedup_id: str | None = None


@dataclass(frozen=True, slots=True)
class BatchFailure:
    """One entry of a batch that failed: SQS's ``BatchResultErrorEntry``."""

    id: str
    code: str
    message: str
    sender_fault: bool = True


@dataclass(frozen=True, slots=True)
class Received:
    """One message handed out by a receive, its receipt handle this receive's."""

    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    attributes: dict[str, str]
    message_attributes: dict[str, MessageAttribute]
    md5_of_message_attributes: str | None = None


def message_ids(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs, as SQS's message ids are.

    One ``os.urandom`` for them all: ``uuid.uuid4()`` a message (a getrandom call and
    a ``UUID`` object each) was 15% of the server's CPU under SendMessageBatch.
    """
    raw = bytearray(os.urandom(16 * count))
    for at in range(0, 16 * count, 16):
        raw[at + 6] = raw[at + 6] & 0x0F | 0x40  # version 4
        raw[at + 8] = raw[at + 8] & 0x3F | 0x80  # RFC 4122 variant
    text = raw.hex()
    return [
        f"{text[i : i + 8]}-{text[i + 8 : i + 12]}-{text[i + 12 : i + 16]}-"
        f"{text[i + 16 : i + 20]}-{text[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]


# -- receipt handles: which message, and which receive of it -----------------


def receipt_handle(message_id: str, receive_count: int) -> str:
    """Opaque to clients; names the message and the receive that handed it out (a
    handle of an earlier receive no longer deletes a message received again since)."""
    raw = f"{message_id} {receive_count}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_receipt_handle(handle: str) -> tuple[str, int]:
    try:
        padded = handle + "=" * (-len(handle) % 4)
        message_id, count = base64.urlsafe_b64decode(padded.encode("ascii")).decode().split(" ")
        number = int(count)
    except (ValueError, UnicodeError, binascii.Error):
        raise ReceiptHandleIsInvalid(
            f'The input receipt handle "{handle}" is not a valid receipt handle.'
        ) from None
    if not message_id or number < 1 or len(message_id) > 100:
        raise ReceiptHandleIsInvalid(
            f'The input receipt handle "{handle}" is not a valid receipt handle.'
        )
    return message_id, number
