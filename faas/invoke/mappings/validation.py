"""The fields of Create- and UpdateEventSourceMapping checked and applied; pure.

Each refusal is a ``ValidationFailed`` naming the Lambda API's field (the gateway
answers it as ``InvalidParameterValueException``). Fields for streams, Kafka or
DocumentDB are refused for an SQS source, as Lambda refuses them.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, NoReturn

from faas.errors import ValidationFailed
from faas.invoke.mappings import filters
from faas.invoke.mappings.model import REPORT_BATCH_ITEM_FAILURES, Mapping

BATCH_MAX = 10_000
FIFO_BATCH_MAX = 10
WINDOW_MAX_S = 300
CONCURRENCY_MIN, CONCURRENCY_MAX = 2, 1000

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_QUEUE_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:sqs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<name>[A-Za-z0-9_-]{1,75}(?:\.fifo)?|[A-Za-z0-9_-]{1,80})$"
)
_FUNCTION = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:(?P<function>function):)?"
    r"(?P<name>[A-Za-z0-9_-]{1,64})"
    r"(?::(?P<qualifier>\$LATEST|[A-Za-z0-9_-]{1,128}))?$"
)
# Lambda's fields of other sources (streams, Kafka, MQ, DocumentDB) and extras not served.
NOT_FOR_SQS = (
    "StartingPosition",
    "StartingPositionTimestamp",
    "ParallelizationFactor",
    "DestinationConfig",
    "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "TumblingWindowInSeconds",
    "Topics",
    "Queues",
    "SourceAccessConfigurations",
    "SelfManagedEventSource",
    "AmazonManagedKafkaEventSourceConfig",
    "SelfManagedKafkaEventSourceConfig",
    "DocumentDBEventSourceConfig",
    "ProvisionedPollerConfig",
    "KMSKeyArn",
    "MetricsConfig",
    "LoggingConfig",
)


def refuse(field: str, why: str) -> NoReturn:
    raise ValidationFailed(f"{field} {why}", field=field)


def uuid(value: str) -> str:
    if not _UUID.fullmatch(value):
        refuse("UUID", "must be a mapping's UUID (36 characters, 8-4-4-4-12 hex digits)")
    return value.lower()


def queue_arn(value: object, *, region: str, account_id: str) -> str:
    """The queue's name; the ARN must be an SQS queue of this server's region and account."""
    if not isinstance(value, str) or len(value) > 256:
        refuse("EventSourceArn", "must be an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)")
    found = _QUEUE_ARN.fullmatch(value)
    if found is None:
        refuse(
            "EventSourceArn",
            "must be an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME); "
            "only SQS queues are supported as event sources",
        )
    if found["region"] != region or found["account"] != account_id:
        refuse("EventSourceArn", f"must name a queue of region {region} and account {account_id}")
    return found["name"]


def function_name(value: object, *, region: str, account_id: str) -> tuple[str, str | None]:
    """(name, qualifier) of a ``FunctionName``: a name, ``name:qualifier`` or an ARN."""
    found = _FUNCTION.fullmatch(value) if isinstance(value, str) and len(value) <= 256 else None
    if found is None or bool(found["account"]) != bool(found["function"]):
        refuse("FunctionName", "must be a function name, name:alias, name:version or ARN")
    if (found["account"] and found["account"] != account_id) or (
        found["region"] and found["region"] != region
    ):
        refuse("FunctionName", f"must name a function of region {region} and account {account_id}")
    return found["name"], found["qualifier"]


def _integer(doc: dict[str, Any], field: str, low: int, high: int) -> int | None:
    value = doc.get(field)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        refuse(field, f"must be an integer from {low} to {high}")
    return value


def _enabled(doc: dict[str, Any]) -> bool | None:
    value = doc.get("Enabled")
    if value is not None and not isinstance(value, bool):
        refuse("Enabled", "must be true or false")
    return value


def _response_types(doc: dict[str, Any]) -> bool | None:
    value = doc.get("FunctionResponseTypes")
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) > 1
        or (value and value[0] != REPORT_BATCH_ITEM_FAILURES)
    ):
        refuse("FunctionResponseTypes", f'must be [] or ["{REPORT_BATCH_ITEM_FAILURES}"]')
    return bool(value)


def _scaling(doc: dict[str, Any]) -> tuple[bool, int | None]:
    """(given, MaximumConcurrency): ``{}`` takes the cap away."""
    value = doc.get("ScalingConfig")
    if value is None:
        return False, None
    if not isinstance(value, dict) or set(value) - {"MaximumConcurrency"}:
        refuse("ScalingConfig", "must be an object with MaximumConcurrency only")
    field = "ScalingConfig.MaximumConcurrency"
    return True, _integer(
        {field: value.get("MaximumConcurrency")}, field, CONCURRENCY_MIN, CONCURRENCY_MAX
    )


def _filters(doc: dict[str, Any]) -> tuple[str, ...] | None:
    value = doc.get("FilterCriteria")
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"Filters"}:
        refuse("FilterCriteria", "must be an object with Filters only")
    items = value.get("Filters") or []
    if not isinstance(items, list) or len(items) > filters.MAX_FILTERS:
        refuse("FilterCriteria.Filters", f"must be a list of at most {filters.MAX_FILTERS} filters")
    patterns: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or set(item) - {"Pattern"}:
            refuse("FilterCriteria.Filters", "items must be objects with a Pattern")
        pattern = item.get("Pattern")
        if not isinstance(pattern, str):
            refuse(f"FilterCriteria.Filters[{i}].Pattern", "must be a JSON text")
        try:
            filters.parse(pattern)
        except filters.InvalidPattern as exc:
            refuse(f"FilterCriteria.Filters[{i}].Pattern", f"is an invalid filter pattern: {exc}")
        patterns.append(pattern)
    return tuple(patterns)


def _not_for_sqs(doc: dict[str, Any]) -> None:
    for field in NOT_FOR_SQS:
        if doc.get(field) is not None:
            refuse(field, "is not supported for an SQS event source")


def create(
    doc: dict[str, Any], *, mapping_uuid: str, now: float, region: str, account_id: str
) -> Mapping:
    """The mapping a CreateEventSourceMapping body asks for."""
    _not_for_sqs(doc)
    if doc.get("EventSourceArn") is None:
        refuse("EventSourceArn", "is required (the ARN of an SQS queue)")
    if doc.get("FunctionName") is None:
        refuse("FunctionName", "is required")
    queue = queue_arn(doc["EventSourceArn"], region=region, account_id=account_id)
    name, qualifier = function_name(doc["FunctionName"], region=region, account_id=account_id)
    base = Mapping(
        uuid=mapping_uuid,
        event_source_arn=doc["EventSourceArn"],
        queue=queue,
        function=name,
        qualifier=qualifier,
        last_modified=now,
    )
    return _apply(base, doc, region=region, account_id=account_id, creating=True)


def update(
    current: Mapping, doc: dict[str, Any], *, now: float, region: str, account_id: str
) -> Mapping:
    """``current`` with the changes an UpdateEventSourceMapping body asks for."""
    _not_for_sqs(doc)
    for field in ("EventSourceArn",):
        if doc.get(field) is not None:
            refuse(field, "cannot be changed; create another mapping")
    changed = _apply(current, doc, region=region, account_id=account_id, creating=False)
    return dataclasses.replace(changed, last_modified=now)


def _apply(
    mapping: Mapping, doc: dict[str, Any], *, region: str, account_id: str, creating: bool
) -> Mapping:
    changes: dict[str, Any] = {}
    if not creating and doc.get("FunctionName") is not None:
        changes["function"], changes["qualifier"] = function_name(
            doc["FunctionName"], region=region, account_id=account_id
        )
    enabled = _enabled(doc)
    if enabled is not None:
        changes["enabled"] = enabled
    batch = _integer(doc, "BatchSize", 1, BATCH_MAX)
    if batch is not None:
        changes["batch_size"] = batch
    window = _integer(doc, "MaximumBatchingWindowInSeconds", 0, WINDOW_MAX_S)
    if window is not None:
        changes["window_s"] = window
    report = _response_types(doc)
    if report is not None:
        changes["report_failures"] = report
    given, concurrency = _scaling(doc)
    if given:
        changes["max_concurrency"] = concurrency
    patterns = _filters(doc)
    if patterns is not None:
        changes["filters"] = patterns
    result = dataclasses.replace(mapping, **changes)
    if result.fifo:
        if result.batch_size > FIFO_BATCH_MAX:
            refuse("BatchSize", f"must be at most {FIFO_BATCH_MAX} for a FIFO queue")
        if result.window_s:
            refuse("MaximumBatchingWindowInSeconds", "is not supported for a FIFO queue")
    if result.batch_size > 10 and result.window_s < 1:
        refuse(
            "MaximumBatchingWindowInSeconds",
            "must be at least 1 when BatchSize is greater than 10",
        )
    return result
