"""The event-stream encoder, read back by botocore's own parser (its CRC checks included)."""

from __future__ import annotations

import json

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from gateway.api.aws_lambda import eventstream


def read(data: bytes) -> list[tuple[dict[str, object], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(message.headers, message.payload) for message in buffer]


def test_a_payload_chunk_is_an_event_botocore_reads_with_its_bytes() -> None:
    [(headers, payload)] = read(eventstream.payload_chunk(b"hello \x00\xff world"))
    assert headers == {
        ":event-type": "PayloadChunk",
        ":content-type": "application/octet-stream",
        ":message-type": "event",
    }
    assert payload == b"hello \x00\xff world"


@pytest.mark.parametrize("size", [0, 1, 65536, 3 * 1024 * 1024])
def test_chunks_of_any_size_keep_their_crcs(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    [(_, payload)] = read(eventstream.payload_chunk(data))
    assert payload == data


def test_invoke_complete_carries_the_error_and_log_as_json() -> None:
    frames = eventstream.payload_chunk(b"a") + eventstream.invoke_complete(
        "Sandbox.Timedout", "Task timed out after 1.00 seconds", "bG9n"
    )
    [first, (headers, payload)] = read(frames)
    assert first[1] == b"a"
    assert headers[":event-type"] == "InvokeComplete"
    assert headers[":content-type"] == "application/json"
    assert json.loads(payload) == {
        "ErrorCode": "Sandbox.Timedout",
        "ErrorDetails": "Task timed out after 1.00 seconds",
        "LogResult": "bG9n",
    }


def test_a_success_completes_without_an_error_code() -> None:
    [(_, payload)] = read(eventstream.invoke_complete())
    assert json.loads(payload) == {}


def test_a_flipped_byte_fails_botocores_check() -> None:
    frame = bytearray(eventstream.payload_chunk(b"payload"))
    frame[-6] ^= 0x01  # in the payload: the message CRC no longer holds
    with pytest.raises(ChecksumMismatch):
        read(bytes(frame))
