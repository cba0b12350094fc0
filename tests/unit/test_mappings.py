"""Event source mappings' pure parts: validation, filters, the SQS event, batch failures,
FIFO's stop at a group's first failure, and the poller count."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from faas.errors import ValidationFailed
from faas.invoke.mappings import events, filters, scaling, validation
from faas.invoke.mappings.model import Mapping, State, configuration
from faas.queues.model import MessageAttribute

REGION, ACCOUNT = "us-east-1", "123456789012"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"
FIFO = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders.fifo"


def create(**doc: Any) -> Mapping:
    body = {"EventSourceArn": QUEUE, "FunctionName": "worker", **doc}
    return validation.create(
        body, mapping_uuid="a1b2c3d4-0000-1111-2222-333344445555", now=1.5,
        region=REGION, account_id=ACCOUNT,
    )  # fmt: skip


# -- validation -------------------------------------------------------------------


def test_a_plain_mapping_takes_lambdas_defaults() -> None:
    # Given only a queue and a function, When it is created
    mapping = create()
    # Then it is Lambda's default SQS mapping, shown as Lambda shows it
    shown = configuration(mapping, region=REGION, account_id=ACCOUNT)
    assert shown["BatchSize"] == 10
    assert shown["MaximumBatchingWindowInSeconds"] == 0
    assert shown["State"] == "Enabled"
    assert shown["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:worker"
    assert shown["FunctionResponseTypes"] == []
    assert shown["StateTransitionReason"] == "USER_INITIATED"
    assert shown["EventSourceMappingArn"].endswith(":event-source-mapping:" + mapping.uuid)


@pytest.mark.parametrize(
    ("name", "function", "qualifier"),
    [
        ("worker", "worker", None),
        ("worker:live", "worker", "live"),
        ("worker:3", "worker", "3"),
        (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:worker:live", "worker", "live"),
        (f"{ACCOUNT}:function:worker", "worker", None),
    ],
)
def test_function_names_become_the_arn_lambda_stores(
    name: str, function: str, qualifier: str | None
) -> None:
    mapping = create(FunctionName=name)
    assert (mapping.function, mapping.qualifier) == (function, qualifier)
    arn = configuration(mapping, region=REGION, account_id=ACCOUNT)["FunctionArn"]
    assert arn.endswith(f":function:{name.rsplit('function:', 1)[-1]}")


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"EventSourceArn": None}, "EventSourceArn"),
        ({"EventSourceArn": "arn:aws:kinesis:us-east-1:123456789012:stream/x"}, "EventSourceArn"),
        ({"EventSourceArn": "arn:aws:sqs:eu-west-1:123456789012:orders"}, "EventSourceArn"),
        ({"FunctionName": None}, "FunctionName"),
        ({"FunctionName": "bad name"}, "FunctionName"),
        ({"FunctionName": "arn:aws:lambda:us-east-1:999999999999:function:x"}, "FunctionName"),
        ({"BatchSize": 0}, "BatchSize"),
        ({"BatchSize": 10_001}, "BatchSize"),
        ({"BatchSize": "10"}, "BatchSize"),
        ({"BatchSize": True}, "BatchSize"),
        ({"BatchSize": 11}, "MaximumBatchingWindowInSeconds"),
        ({"MaximumBatchingWindowInSeconds": 301}, "MaximumBatchingWindowInSeconds"),
        ({"MaximumBatchingWindowInSeconds": -1}, "MaximumBatchingWindowInSeconds"),
        ({"FunctionResponseTypes": ["Other"]}, "FunctionResponseTypes"),
        ({"FunctionResponseTypes": "ReportBatchItemFailures"}, "FunctionResponseTypes"),
        ({"ScalingConfig": {"MaximumConcurrency": 1}}, "ScalingConfig.MaximumConcurrency"),
        ({"ScalingConfig": {"MaximumConcurrency": 1001}}, "ScalingConfig.MaximumConcurrency"),
        ({"ScalingConfig": {"Other": 3}}, "ScalingConfig"),
        ({"Enabled": "yes"}, "Enabled"),
        ({"StartingPosition": "LATEST"}, "StartingPosition"),
        ({"FilterCriteria": {"Filters": [{"Pattern": "{"}]}}, "FilterCriteria.Filters[0].Pattern"),
        (
            {"FilterCriteria": {"Filters": [{"Pattern": '{"a": 1}'}]}},
            "FilterCriteria.Filters[0].Pattern",
        ),
        ({"FilterCriteria": {"Filters": [{"Pattern": "{}"}] * 6}}, "FilterCriteria.Filters"),
    ],
)
def test_bad_fields_are_refused_by_name(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        create(**doc)
    assert refused.value.field == field
    assert field in refused.value.message


def test_a_fifo_queue_takes_batches_of_ten_and_no_window() -> None:
    with pytest.raises(ValidationFailed, match="FIFO"):
        create(EventSourceArn=FIFO, BatchSize=20, MaximumBatchingWindowInSeconds=1)
    with pytest.raises(ValidationFailed, match="FIFO"):
        create(EventSourceArn=FIFO, MaximumBatchingWindowInSeconds=1)
    assert create(EventSourceArn=FIFO).fifo


def test_big_batches_need_a_window_and_an_update_changes_only_what_it_names() -> None:
    mapping = create(BatchSize=500, MaximumBatchingWindowInSeconds=2, ScalingConfig={
        "MaximumConcurrency": 5})  # fmt: skip
    changed = validation.update(
        mapping, {"Enabled": False, "FunctionResponseTypes": ["ReportBatchItemFailures"]},
        now=9.0, region=REGION, account_id=ACCOUNT,
    )  # fmt: skip
    assert (changed.batch_size, changed.window_s, changed.max_concurrency) == (500, 2, 5)
    assert changed.state is State.DISABLED and changed.report_failures
    assert changed.last_modified == 9.0
    cleared = validation.update(
        changed, {"ScalingConfig": {}}, now=10.0, region=REGION, account_id=ACCOUNT
    )
    assert cleared.max_concurrency is None
    with pytest.raises(ValidationFailed, match="EventSourceArn"):
        validation.update(mapping, {"EventSourceArn": FIFO}, now=1, region=REGION,
                          account_id=ACCOUNT)  # fmt: skip


def test_a_mapping_survives_the_store() -> None:
    mapping = create(FilterCriteria={"Filters": [{"Pattern": '{"body": {"a": [1]}}'}]})
    assert Mapping.from_json(mapping.to_json()) == mapping


# -- filters ------------------------------------------------------------------------


def record(body: str, **attributes: Any) -> dict[str, Any]:
    return {
        "messageId": "m1",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", **attributes},
        "messageAttributes": {"priority": {"stringValue": "high", "dataType": "String"}},
    }


ORDER = json.dumps({"id": 17, "kind": "Express", "tags": ["gift", "eu"], "total": 42.5})


@pytest.mark.parametrize(
    ("pattern", "body", "kept"),
    [
        ({"body": {"kind": ["Express"]}}, ORDER, True),
        ({"body": {"kind": ["express"]}}, ORDER, False),
        ({"body": {"kind": [{"equals-ignore-case": "EXPRESS"}]}}, ORDER, True),
        ({"body": {"kind": [{"prefix": "Exp"}]}}, ORDER, True),
        ({"body": {"kind": [{"suffix": "ress"}]}}, ORDER, True),
        ({"body": {"kind": [{"prefix": {"equals-ignore-case": "exp"}}]}}, ORDER, True),
        ({"body": {"kind": [{"anything-but": ["Express", "Slow"]}]}}, ORDER, False),
        ({"body": {"kind": [{"anything-but": "Slow"}]}}, ORDER, True),
        ({"body": {"kind": [{"anything-but": {"prefix": "Ex"}}]}}, ORDER, False),
        ({"body": {"id": [17]}}, ORDER, True),
        ({"body": {"id": ["17"]}}, ORDER, False),
        ({"body": {"total": [{"numeric": [">", 40, "<=", 42.5]}]}}, ORDER, True),
        ({"body": {"total": [{"numeric": ["<", 40]}]}}, ORDER, False),
        ({"body": {"tags": ["eu"]}}, ORDER, True),
        ({"body": {"coupon": [{"exists": False}]}}, ORDER, True),
        ({"body": {"coupon": [{"exists": True}]}}, ORDER, False),
        ({"body": {"id": [{"exists": True}]}}, ORDER, True),
        ({"body": {"missing": ["x"]}}, ORDER, False),
        ({"body": ["plain text"]}, "plain text", True),
        ({"body": [{"prefix": "plain"}]}, "plain text", True),
        ({"body": {"kind": ["Express"]}}, "plain text", False),
        ({"messageAttributes": {"priority": {"stringValue": ["high"]}}}, ORDER, True),
        ({"attributes": {"ApproximateReceiveCount": [{"anything-but": "1"}]}}, ORDER, False),
    ],
)
def test_filters_keep_what_lambda_keeps(pattern: dict[str, Any], body: str, kept: bool) -> None:
    parsed = filters.parse(json.dumps(pattern))
    assert filters.keeps([parsed], record(body)) is kept


def test_no_filters_keep_everything_and_any_filter_may_keep() -> None:
    assert filters.keeps([], record("x"))
    one = filters.parse('{"body": ["y"]}')
    other = filters.parse('{"body": ["x"]}')
    assert filters.keeps([one, other], record("x"))
    assert not filters.keeps([one], record("x"))


@pytest.mark.parametrize(
    "pattern",
    [
        "[]",
        "{}",
        '{"body": "x"}',
        '{"body": []}',
        '{"body": [{"prefix": 1}]}',
        '{"body": [{"numeric": [">", "a"]}]}',
        '{"body": [{"numeric": ["=", 1, "<", 2]}]}',
        '{"body": [{"exists": "yes"}]}',
        '{"body": [{"wildcard": "*"}]}',
        '{"body": [{"prefix": "a", "suffix": "b"}]}',
        '{"body": [{"anything-but": [1, "a"]}]}',
        "x" * 5000,
    ],
)
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(filters.InvalidPattern):
        filters.parse(pattern)


# -- the event --------------------------------------------------------------------------


@dataclass
class Received:
    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    attributes: dict[str, str]
    message_attributes: dict[str, MessageAttribute] = field(default_factory=dict)


def test_a_message_becomes_lambdas_sqs_record() -> None:
    message = Received(
        "id-1", "handle-1", "hello", "5d41402abc4b2a76b9719d911017c592",
        {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
        {
            "priority": MessageAttribute("String", string_value="high"),
            "blob": MessageAttribute("Binary", binary_value=b"\x00\x01"),
        },
    )  # fmt: skip
    shown = events.record(message, event_source_arn=QUEUE, region=REGION)
    assert list(shown) == [
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes",
        "md5OfBody", "eventSource", "eventSourceARN", "awsRegion",
    ]  # fmt: skip
    assert shown["eventSource"] == "aws:sqs" and shown["eventSourceARN"] == QUEUE
    assert shown["messageAttributes"] == {
        "priority": {
            "stringValue": "high", "stringListValues": [], "binaryListValues": [],
            "dataType": "String",
        },
        "blob": {
            "binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [],
            "dataType": "Binary",
        },
    }  # fmt: skip
    assert json.loads(events.event([shown])) == {"Records": [shown]}


# -- batchItemFailures ------------------------------------------------------------------

IDS = ["a", "b", "c"]


@pytest.mark.parametrize(
    ("answer", "failed"),
    [
        (b"", set()),
        (b"null", set()),
        (b"{}", set()),
        (b'"done"', set()),
        (b'{"batchItemFailures": null}', set()),
        (b'{"batchItemFailures": []}', set()),
        (b'{"batchItemFailures": [{"itemIdentifier": "b"}]}', {"b"}),
        (b'{"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "c"}]}', {"a", "c"}),
        (b"not json", set(IDS)),
        (b'{"batchItemFailures": "b"}', set(IDS)),
        (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', set(IDS)),
        (b'{"batchItemFailures": [{"itemIdentifier": null}]}', set(IDS)),
        (b'{"batchItemFailures": [{"id": "b"}]}', set(IDS)),
        (b'{"batchItemFailures": [{"itemIdentifier": "zzz"}]}', set(IDS)),
        (b'{"batchItemFailures": ["b"]}', set(IDS)),
    ],
)
def test_batch_item_failures_are_read_as_lambda_reads_them(answer: bytes, failed: set[str]) -> None:
    failures = events.item_failures(answer, IDS)
    assert {i for i in IDS if failures.failed(i)} == failed


@pytest.mark.parametrize(
    ("batch", "failed", "held"),
    [
        # One group: everything from its first failure on comes back.
        ([("1", "g"), ("2", "g"), ("3", "g")], {"2"}, {"2", "3"}),
        # Two groups interleaved: only the failing group stops.
        ([("1", "g"), ("2", "h"), ("3", "g"), ("4", "h")], {"1"}, {"1", "3"}),
        ([("1", "g"), ("2", "h"), ("3", "g"), ("4", "h")], {"4"}, {"4"}),
        ([("1", "g"), ("2", "g")], set(), set()),
    ],
)
def test_a_fifo_group_stops_at_its_first_failure(
    batch: list[tuple[str, str]], failed: set[str], held: set[str]
) -> None:
    widened = events.held_back(batch, events.Failures(ids=frozenset(failed)))
    assert {i for i, _ in batch if widened.failed(i)} == held
    assert events.held_back(batch, events.ALL).whole


# -- scaling -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pollers", "received", "wanted", "most", "step"),
    [
        (1, 10, 10, 5, scaling.Step.GROW),
        (5, 10, 10, 5, scaling.Step.STAY),
        (3, 4, 10, 5, scaling.Step.STAY),
        (3, 0, 10, 5, scaling.Step.SHRINK),
        (1, 0, 10, 5, scaling.Step.STAY),
        (6, 10, 10, 5, scaling.Step.SHRINK),
    ],
)
def test_pollers_follow_the_backlog(
    pollers: int, received: int, wanted: int, most: int, step: scaling.Step
) -> None:
    assert scaling.after_batch(pollers=pollers, received=received, wanted=wanted, most=most) is step


@pytest.mark.parametrize(
    ("max_concurrency", "reserved", "cap"),
    [(None, None, 8), (20, None, 20), (20, 3, 3), (None, 0, 1), (2, 100, 2)],
)
def test_the_cap_is_the_mappings_and_never_past_the_functions(
    max_concurrency: int | None, reserved: int | None, cap: int
) -> None:
    assert scaling.cap(max_concurrency, 8, reserved) == cap
