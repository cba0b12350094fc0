"""SQS's checks of what is sent, before anything is stored: a batch's entry ids, and each
message's body, FIFO fields, delay and attributes (a refusal's text is SQS's)."""

from __future__ import annotations

from collections.abc import Sequence

from faas.errors import BatchRequestInvalid
from faas.queues import attributes as attrs
from faas.queues.model import MAX_BATCH, BatchEntry


def check_batch(ids: Sequence[str]) -> None:
    """SQS's checks of a batch's entry ids, before any entry runs."""
    if not ids:
        raise BatchRequestInvalid(
            "There should be at least one SendMessageBatchRequestEntry in the request.",
            code="EmptyBatchRequest",
        )
    if len(ids) > MAX_BATCH:
        raise BatchRequestInvalid(
            f"Maximum number of entries per request are {MAX_BATCH}. You have sent {len(ids)}.",
            code="TooManyEntriesInBatchRequest",
        )
    if len(set(ids)) != len(ids):
        raise BatchRequestInvalid(
            "Id values must be unique within a batch request.", code="BatchEntryIdsNotDistinct"
        )
    for entry_id in ids:
        if not 1 <= len(entry_id) <= 80 or not attrs.NAME.fullmatch(entry_id):
            raise BatchRequestInvalid(
                "A batch entry id can only contain alphanumeric characters, hyphens and "
                "underscores. It can be at most 80 letters long.",
                code="InvalidBatchEntryId",
            )


def message_problem(entry: BatchEntry, fifo: bool) -> str | None:
    if not entry.body:
        return "The request must contain the parameter MessageBody."
    if fifo:
        if not entry.group_id:
            return "The request must contain the parameter MessageGroupId."
        if entry.delay_s not in (None, 0):
            return (
                f"Value {entry.delay_s} for parameter DelaySeconds is invalid. Reason: The "
                "request include parameter that is not valid for this queue type."
            )
        if len(entry.group_id) > 128 or (entry.dedup_id and len(entry.dedup_id) > 128):
            return "MessageGroupId and MessageDeduplicationId can be at most 128 characters."
        if any(ch.isspace() for ch in entry.group_id):
            return "MessageGroupId can only hold alphanumeric characters and punctuation."
    elif entry.delay_s is not None and not 0 <= entry.delay_s <= 900:
        return (
            f"Value {entry.delay_s} for parameter DelaySeconds is invalid. "
            "Reason: Must be >= 0 and <= 900."
        )
    if len(entry.message_attributes) > 10:
        return "Number of message attributes cannot exceed 10."
    for attr_name, attribute in entry.message_attributes.items():
        base = attribute.data_type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            return f"The type of message (user) attribute '{attr_name}' is invalid."
        if base == "Binary" and attribute.binary_value is None:
            return f"Message (user) attribute '{attr_name}' must contain a non-empty value."
        if base != "Binary" and not attribute.string_value:
            return f"Message (user) attribute '{attr_name}' must contain a non-empty value."
    return None
