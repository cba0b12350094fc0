"""SQS queue attributes: parsed, checked against SQS's ranges, and defaulted.

A queue keeps the attributes it was given (SQS's names, string values) in one
JSON field of its Redis hash, and beside them the few numbers the scripts read
(``internal``). Attributes SQS has that do nothing here (``Policy``, the KMS and
SSE ones, ``FifoThroughputLimit``...) are kept and read back, not acted on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from faas.errors import InvalidAttributeValue
from faas.queues.model import FIFO_SUFFIX, MAX_NAME, is_fifo

NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")


@dataclass(frozen=True, slots=True)
class Range:
    default: int
    low: int
    high: int


RANGES: dict[str, Range] = {
    "VisibilityTimeout": Range(30, 0, 43200),
    "MessageRetentionPeriod": Range(345600, 60, 1209600),
    "DelaySeconds": Range(0, 0, 900),
    "ReceiveMessageWaitTimeSeconds": Range(0, 0, 20),
    "MaximumMessageSize": Range(262144, 1024, 262144),
}
BOOLEANS = ("FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled")
# Kept and read back as given; nothing here acts on them.
KEPT = (
    "Policy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "DeduplicationScope",
    "FifoThroughputLimit",
)
REDRIVE = "RedrivePolicy"
SETTABLE = frozenset((*RANGES, *BOOLEANS, *KEPT, REDRIVE))
# Read back only: computed when asked.
COMPUTED = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
)
MAX_RECEIVE_COUNT = (1, 1000)


def check_name(name: str) -> None:
    stem = name.removesuffix(FIFO_SUFFIX)
    if len(name) > MAX_NAME or not NAME.fullmatch(stem):
        raise InvalidAttributeValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            field="QueueName",
        )


@dataclass(frozen=True, slots=True)
class Redrive:
    dead_letter_arn: str
    max_receive_count: int

    @property
    def dead_letter_queue(self) -> str:
        return self.dead_letter_arn.rsplit(":", 1)[-1]


def parse_redrive(raw: str) -> Redrive | None:
    """``{"deadLetterTargetArn": ..., "maxReceiveCount": 1-1000}``; '' turns it off."""
    if raw == "":
        return None
    try:
        policy = json.loads(raw)
    except ValueError:
        policy = None
    if not isinstance(policy, dict):
        raise _invalid(REDRIVE, raw, "Invalid value for the parameter RedrivePolicy.")
    arn, count = policy.get("deadLetterTargetArn"), policy.get("maxReceiveCount")
    if not isinstance(arn, str) or not arn.startswith("arn:") or arn.count(":") != 5:
        raise _invalid(REDRIVE, raw, "Dead-letter target ARN is missing or not an SQS ARN.")
    try:
        number = int(count)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = 0
    low, high = MAX_RECEIVE_COUNT
    if not low <= number <= high or isinstance(count, bool):
        raise _invalid(REDRIVE, raw, f"maxReceiveCount must be from {low} to {high}.")
    check_name(arn.rsplit(":", 1)[-1])
    return Redrive(arn, number)


def parse(name: str, given: Mapping[str, str], *, creating: bool) -> dict[str, str]:
    """The attributes given, each checked and in SQS's spelling ("true", plain integers)."""
    out: dict[str, str] = {}
    for key, value in given.items():
        if not isinstance(value, str):
            value = str(value).lower() if isinstance(value, bool) else str(value)
        if key not in SETTABLE:
            raise InvalidAttributeValue(f"Unknown Attribute {key}.", field=key)
        if key in RANGES:
            bounds = RANGES[key]
            try:
                number = int(value.strip())
            except ValueError:
                raise _invalid(key, value, "") from None
            if not bounds.low <= number <= bounds.high:
                raise _invalid(key, value, f"{key} must be from {bounds.low} to {bounds.high}.")
            out[key] = str(number)
        elif key in BOOLEANS:
            if value.lower() not in ("true", "false"):
                raise _invalid(key, value, f"{key} must be true or false.")
            out[key] = value.lower()
        elif key == REDRIVE:
            redrive = parse_redrive(value)
            out[key] = (
                ""
                if redrive is None
                else json.dumps(
                    {
                        "deadLetterTargetArn": redrive.dead_letter_arn,
                        "maxReceiveCount": redrive.max_receive_count,
                    },
                    separators=(",", ":"),
                )
            )
        else:
            out[key] = value
    fifo = is_fifo(name)
    if "FifoQueue" in out:
        if not creating:
            raise InvalidAttributeValue(
                "FifoQueue cannot be changed once the queue exists.", field="FifoQueue"
            )
        if (out["FifoQueue"] == "true") != fifo:
            raise InvalidAttributeValue(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, "
                "or underscores, must end with .fifo suffix. FifoQueue=true needs such a name, "
                "and a .fifo name needs FifoQueue=true.",
                field="FifoQueue",
            )
    elif creating and fifo:
        raise InvalidAttributeValue(
            "A queue whose name ends in .fifo must be created with FifoQueue=true.",
            field="FifoQueue",
        )
    if not fifo and out.get("ContentBasedDeduplication") == "true":
        raise InvalidAttributeValue(
            "ContentBasedDeduplication is only for FIFO queues.",
            field="ContentBasedDeduplication",
        )
    return out


def defaults(name: str) -> dict[str, str]:
    """The attributes a queue has when it is not given them."""
    out = {key: str(bounds.default) for key, bounds in RANGES.items()}
    if is_fifo(name):
        out["FifoQueue"] = "true"
        out["ContentBasedDeduplication"] = "false"
    out["SqsManagedSseEnabled"] = "false"
    return out


def internal(name: str, attributes: Mapping[str, str]) -> dict[str, str]:
    """The numbers the scripts read, from a queue's whole attribute map (fields of its hash)."""
    redrive = parse_redrive(attributes.get(REDRIVE, ""))
    return {
        "fifo": "1" if is_fifo(name) else "0",
        "vis": attributes["VisibilityTimeout"],
        "ret": attributes["MessageRetentionPeriod"],
        "delay": attributes["DelaySeconds"],
        "wait": attributes["ReceiveMessageWaitTimeSeconds"],
        "max": attributes["MaximumMessageSize"],
        "cbd": "1" if attributes.get("ContentBasedDeduplication") == "true" else "0",
        "dlq": "" if redrive is None else redrive.dead_letter_queue,
        "maxrc": "0" if redrive is None else str(redrive.max_receive_count),
    }


def _invalid(key: str, value: str, reason: str) -> InvalidAttributeValue:
    message = f"Invalid value for the parameter {key}."
    if reason:
        message += f" Reason: {reason}"
    return InvalidAttributeValue(message, field=key)
