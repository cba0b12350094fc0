"""The sample events `faas invoke --template`, `faas init` and the console offer: each is
the event a handler of that kind receives here, the same every time."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from faas.invoke import samples


def at(doc: Any, path: str) -> Any:
    """``doc``'s value at a dotted path (``Records.0.eventSource``)."""
    for part in path.split("."):
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("apigw-v2", "version", "2.0"),
        ("apigw-v2", "routeKey", "$default"),
        ("apigw-v2", "rawPath", "/hello"),
        ("apigw-v2", "requestContext.http.method", "GET"),
        ("apigw-v2", "queryStringParameters.name", "world"),
        ("apigw-v2", "headers.host", "localhost:8080"),
        ("apigw-v2", "requestContext.timeEpoch", 1767225600000),
        ("apigw-v1", "httpMethod", "GET"),
        ("apigw-v1", "path", "/hello"),
        ("apigw-v1", "resource", "/{proxy+}"),
        ("apigw-v1", "pathParameters.proxy", "hello"),
        ("apigw-v1", "multiValueQueryStringParameters.name", ["world"]),
        ("apigw-v1", "headers.Host", "localhost:8080"),
        ("apigw-v1", "body", None),
        ("sqs", "Records.0.eventSource", "aws:sqs"),
        ("sqs", "Records.0.eventSourceARN", "arn:aws:sqs:local-1:000000000000:my-queue"),
        ("sqs", "Records.0.body", '{"order": 7}'),
        ("sqs", "Records.0.attributes.ApproximateReceiveCount", "1"),
        ("sns", "Records.0.EventSource", "aws:sns"),
        ("sns", "Records.0.Sns.Type", "Notification"),
        ("sns", "Records.0.Sns.TopicArn", "arn:aws:sns:local-1:000000000000:my-topic"),
        ("sns", "Records.0.Sns.Message", '{"order": 7}'),
        ("sns", "Records.0.Sns.Timestamp", "2026-01-01T00:00:00.000Z"),
        ("schedule", "source", "aws.events"),
        ("schedule", "detail-type", "Scheduled Event"),
        ("schedule", "time", "2026-01-01T00:00:00Z"),
        ("schedule", "detail", {}),
        ("custom", "key1", "value1"),
    ],
)
def test_each_sample_is_shaped_as_lambda_delivers_that_kind(
    kind: str, path: str, value: Any
) -> None:
    assert at(samples.event(kind), path) == value


@pytest.mark.parametrize("kind", samples.EVENTS)
def test_a_sample_is_json_and_the_same_every_time(kind: str) -> None:
    made = samples.event(kind)
    assert json.loads(json.dumps(made)) == made
    assert samples.event(kind) == made


def test_an_sqs_sample_carries_its_body_digest() -> None:
    record = samples.event("sqs")["Records"][0]
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("apigw-v2", "requestContext.accountId"),
        ("sqs", "Records.0.eventSourceARN"),
        ("sqs", "Records.0.awsRegion"),
        ("sns", "Records.0.EventSubscriptionArn"),
        ("schedule", "resources.0"),
        ("schedule", "region"),
    ],
)
def test_a_server_region_and_account_show_in_its_samples(kind: str, path: str) -> None:
    made = at(samples.event(kind, region="eu-west-3", account_id="123456789012"), path)
    assert "eu-west-3" in made or "123456789012" in made


def test_an_unknown_kind_is_refused_naming_the_kinds_there_are() -> None:
    with pytest.raises(ValueError, match=r"kinesis.*apigw-v2, apigw-v1, sqs, sns, schedule"):
        samples.event("kinesis")
