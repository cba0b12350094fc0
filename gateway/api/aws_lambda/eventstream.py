"""AWS's event-stream framing, as ``InvokeWithResponseStream`` answers in it (pure).

A message is a prelude (its total length and its headers' length, big-endian
32-bit, then the CRC-32 of those 8 bytes), the headers, the payload, and the
CRC-32 of everything before it. A header is its name's length (one byte), the
name, a type (7: a string), the value's length (two bytes) and the value.
Lambda's stream is events: ``PayloadChunk`` (the payload's bytes) and, last,
``InvokeComplete`` (JSON: ``ErrorCode``, ``ErrorDetails``, ``LogResult``).
The SDKs (botocore's ``EventStreamBuffer``) check both CRCs.
"""

from __future__ import annotations

import json
import struct
import zlib

CONTENT_TYPE = "application/vnd.amazon.eventstream"
STRING = 7
PRELUDE = struct.Struct(">II")
CRC = struct.Struct(">I")


def header(name: str, value: str) -> bytes:
    """One string header."""
    raw_name, raw_value = name.encode(), value.encode()
    return (
        bytes((len(raw_name),))
        + raw_name
        + bytes((STRING,))
        + struct.pack(">H", len(raw_value))
        + raw_value
    )


def message(headers: bytes, payload: bytes) -> bytes:
    """One message: ``headers`` (already encoded) and ``payload``, with both CRCs."""
    total = PRELUDE.size + CRC.size + len(headers) + len(payload) + CRC.size
    prelude = PRELUDE.pack(total, len(headers))
    head = prelude + CRC.pack(zlib.crc32(prelude)) + headers + payload
    return head + CRC.pack(zlib.crc32(head))


def event(event_type: str, content_type: str, payload: bytes) -> bytes:
    headers = (
        header(":event-type", event_type)
        + header(":content-type", content_type)
        + header(":message-type", "event")
    )
    return message(headers, payload)


# Every chunk's headers are the same: encoded once.
_CHUNK_HEADERS = (
    header(":event-type", "PayloadChunk")
    + header(":content-type", "application/octet-stream")
    + header(":message-type", "event")
)


def payload_chunk(data: bytes) -> bytes:
    """A ``PayloadChunk`` event carrying ``data``."""
    return message(_CHUNK_HEADERS, data)


def invoke_complete(
    error_code: str | None = None, error_details: str | None = None, log_result: str | None = None
) -> bytes:
    """The ``InvokeComplete`` event that ends the stream; an error when ``error_code``."""
    body: dict[str, str] = {}
    if error_code is not None:
        body["ErrorCode"] = error_code
    if error_details is not None:
        body["ErrorDetails"] = error_details
    if log_result is not None:
        body["LogResult"] = log_result
    return event("InvokeComplete", "application/json", json.dumps(body).encode())
