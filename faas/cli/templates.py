"""What ``faas init`` writes and what ``faas invoke --template`` sends (pure).

Event templates are the shapes Lambda delivers (as ``sam local generate-event``
makes them): API Gateway HTTP APIs (v2) and REST APIs (v1), an SQS batch, an SNS
notification, an EventBridge schedule, and a custom event. A function template is a
handler for one of them, in Python or Node.js, with a test event beside it.
"""

from __future__ import annotations

import json
from typing import Any

RUNTIMES = ("python3.11", "nodejs20.x")
# The function templates, and the event each one's test event is.
TEMPLATES = {"http": "apigw-v2", "sqs": "sqs", "schedule": "schedule", "plain": "custom"}
EVENTS = ("apigw-v2", "apigw-v1", "sqs", "sns", "schedule", "custom")
_ARN = "arn:aws:{service}:us-east-1:000000000000:{name}"


def event(kind: str) -> dict[str, Any]:
    """A sample event of ``kind`` (one of ``EVENTS``)."""
    if kind == "apigw-v2":
        return {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/hello",
            "rawQueryString": "name=world",
            "headers": {"content-type": "application/json", "host": "localhost"},
            "queryStringParameters": {"name": "world"},
            "requestContext": {
                "http": {"method": "GET", "path": "/hello", "protocol": "HTTP/1.1"},
                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                "stage": "$default",
            },
            "isBase64Encoded": False,
        }
    if kind == "apigw-v1":
        return {
            "resource": "/hello",
            "path": "/hello",
            "httpMethod": "GET",
            "headers": {"Content-Type": "application/json", "Host": "localhost"},
            "queryStringParameters": {"name": "world"},
            "requestContext": {"resourcePath": "/hello", "httpMethod": "GET", "stage": "prod"},
            "body": None,
            "isBase64Encoded": False,
        }
    if kind == "sqs":
        return {
            "Records": [
                {
                    "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
                    "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
                    "body": json.dumps({"order": 7}),
                    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
                    "messageAttributes": {},
                    "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": _ARN.format(service="sqs", name="orders"),
                    "awsRegion": "us-east-1",
                }
            ]
        }
    if kind == "sns":
        return {
            "Records": [
                {
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": _ARN.format(service="sns", name="orders:sub"),
                    "Sns": {
                        "Type": "Notification",
                        "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                        "TopicArn": _ARN.format(service="sns", name="orders"),
                        "Subject": "example",
                        "Message": json.dumps({"order": 7}),
                        "Timestamp": "1970-01-01T00:00:00.000Z",
                        "MessageAttributes": {},
                    },
                }
            ]
        }
    if kind == "schedule":
        return {
            "version": "0",
            "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "000000000000",
            "time": "2026-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [_ARN.format(service="events", name="rule/every-minute")],
            "detail": {},
        }
    if kind == "custom":
        return {"key1": "value1", "key2": "value2"}
    raise ValueError(f"no event template {kind!r}; choose from {', '.join(EVENTS)}")


_PYTHON = {
    "http": '''import json


def handler(event, context):
    """An API Gateway HTTP API (payload 2.0) request: greet whoever ?name= says."""
    name = (event.get("queryStringParameters") or {}).get("name", "world")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"hello": name}),
    }
''',
    "sqs": '''import json


def handler(event, context):
    """A batch of SQS messages: report the ones that failed, retry only those."""
    failures = []
    for record in event["Records"]:
        try:
            print("message", record["messageId"], json.loads(record["body"]))
        except ValueError:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
''',
    "schedule": '''def handler(event, context):
    """An EventBridge schedule's tick."""
    print("tick at", event["time"])
    return {"ticked": event["time"]}
''',
    "plain": '''def handler(event, context):
    """Any JSON event in, any JSON out."""
    return {"received": event, "request_id": context.aws_request_id}
''',
}

_NODE = {
    "http": """export const handler = async (event) => {
  // An API Gateway HTTP API (payload 2.0) request: greet whoever ?name= says.
  const name = (event.queryStringParameters || {}).name || "world";
  return {
    statusCode: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ hello: name }),
  };
};
""",
    "sqs": """export const handler = async (event) => {
  // A batch of SQS messages: report the ones that failed, retry only those.
  const batchItemFailures = [];
  for (const record of event.Records) {
    try {
      console.log("message", record.messageId, JSON.parse(record.body));
    } catch (err) {
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
};
""",
    "schedule": """export const handler = async (event) => {
  // An EventBridge schedule's tick.
  console.log("tick at", event.time);
  return { ticked: event.time };
};
""",
    "plain": """export const handler = async (event, context) => {
  // Any JSON event in, any JSON out.
  return { received: event, request_id: context.awsRequestId };
};
""",
}


def function_files(runtime: str, template: str) -> dict[str, str]:
    """The files of a new function folder: path -> text."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime {runtime!r}: choose from {', '.join(RUNTIMES)}")
    if template not in TEMPLATES:
        raise ValueError(f"template {template!r}: choose from {', '.join(TEMPLATES)}")
    test_event = json.dumps(event(TEMPLATES[template]), indent=2) + "\n"
    if runtime.startswith("python"):
        return {"app.py": _PYTHON[template], "events/event.json": test_event}
    return {"index.mjs": _NODE[template], "events/event.json": test_event}


def handler_of(runtime: str) -> str:
    return "app.handler" if runtime.startswith("python") else "index.handler"
