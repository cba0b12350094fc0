"""Sample events, one of each kind a function is invoked with here (pure).

What ``faas invoke --template``, ``faas init``'s test events and the console's
Test tab offer: API Gateway's HTTP API (payload 2.0) and REST API (1.0) events,
an SQS batch, an SNS notification, an EventBridge schedule's tick, and a custom
event. Each is made by the very builder that makes that event when the trigger
fires (``invoke.http.apigw``, ``invoke.mappings.events``, ``topics.envelope``,
``invoke.schedules.rules``), from fixed inputs: a sample is what a handler will
receive, never a second copy of the shape that could drift from it.

The builders are imported when a sample is made, not with this module: the CLI
reads ``EVENTS`` on every call, and they cost it about 10 ms of imports.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, cast

# The kinds, in the order they are offered.
EVENTS = ("apigw-v2", "apigw-v1", "sqs", "sns", "schedule", "custom")
# Settings' defaults (FAAS_REGION, FAAS_ACCOUNT_ID): a caller that knows its server's passes them.
REGION = "local-1"
ACCOUNT_ID = "000000000000"
# 2026-01-01T00:00:00Z: every sample carries this moment, so samples never change.
MOMENT = datetime(2026, 1, 1, tzinfo=UTC)
_REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
_MESSAGE_ID = "059f36b4-87a3-44ab-83d2-661975830a7d"
_BODY = json.dumps({"order": 7})


def event(kind: str, *, region: str = REGION, account_id: str = ACCOUNT_ID) -> Any:
    """A sample event of ``kind`` (one of ``EVENTS``), as JSON-ready data."""
    if kind in ("apigw-v2", "apigw-v1"):
        return _http(kind, account_id)
    if kind == "sqs":
        return _sqs(region, account_id)
    if kind == "sns":
        return _sns(region, account_id)
    if kind == "schedule":
        return _schedule(region, account_id)
    if kind == "custom":
        return {"key1": "value1", "key2": "value2", "key3": "value3"}
    raise ValueError(f"no sample event {kind!r}: choose from {', '.join(EVENTS)}")


def _http(kind: str, account_id: str) -> dict[str, Any]:
    from faas.invoke.http import apigw

    request = apigw.HttpRequest(
        method="GET",
        path="/hello",
        raw_query="name=world",
        headers=[("host", "localhost:8080"), ("user-agent", "curl/8.5.0"), ("accept", "*/*")],
        body=b"",
        source_ip="127.0.0.1",
    )
    # A function's HTTP trigger with no routes declared: everything to its $default route.
    route = apigw.RouteMatch("$default", "/{proxy+}", {"proxy": "hello"})
    ctx = apigw.Context(
        request_id=_REQUEST_ID,
        account_id=account_id,
        api_id="my-function",
        domain="localhost:8080",
        now=MOMENT.timestamp(),
    )
    build = apigw.event_v2 if kind == "apigw-v2" else apigw.event_v1
    return build(request, route, ctx)


def _sqs(region: str, account_id: str) -> dict[str, Any]:
    from faas.invoke.mappings import events
    from faas.queues.model import Received, receipt_handle

    sent = str(int(MOMENT.timestamp() * 1000))
    message = Received(
        message_id=_MESSAGE_ID,
        receipt_handle=receipt_handle(_MESSAGE_ID, 1),
        body=_BODY,
        md5_of_body=hashlib.md5(_BODY.encode()).hexdigest(),
        attributes={
            "SenderId": account_id,
            "ApproximateReceiveCount": "1",
            "SentTimestamp": sent,
            "ApproximateFirstReceiveTimestamp": sent,
        },
        message_attributes={},
    )
    arn = f"arn:aws:sqs:{region}:{account_id}:my-queue"
    # The queue's Received, as the poller passes it (events.Message's members are
    # declared settable, which a frozen dataclass is not: hence Any, as in the poller).
    records = [events.record(cast(Any, message), event_source_arn=arn, region=region)]
    parsed: dict[str, Any] = json.loads(events.event(records))
    return parsed


def _sns(region: str, account_id: str) -> dict[str, Any]:
    from faas.topics import envelope
    from faas.topics.messages import Message

    topic = f"arn:aws:sns:{region}:{account_id}:my-topic"
    message = Message(
        message_id="95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        topic_arn=topic,
        message=_BODY,
        timestamp=MOMENT.timestamp(),
        subject="example",
    )
    subscription = f"{topic}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"
    parsed: dict[str, Any] = json.loads(
        envelope.lambda_event(message, subscription, "http://localhost:8080")
    )
    return parsed


def _schedule(region: str, account_id: str) -> dict[str, Any]:
    from faas.invoke.schedules import rules

    rule = rules.Rule(name="every-minute", expression="rate(1 minute)")
    made: dict[str, Any] = rules.scheduled_event(
        "my-function", rule, MOMENT, region=region, account=account_id
    )
    return made
