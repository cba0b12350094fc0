"""What ``faas init`` writes: a handler for one kind of event, in Python or Node.js,
with a test event of that kind beside it (pure).

The test events are ``faas.invoke.samples``' (what ``faas invoke --template`` sends
and the console's Test tab offers): the shapes this server delivers.
"""

from __future__ import annotations

import json

from faas.invoke import samples

RUNTIMES = ("python3.11", "nodejs20.x")
# The function templates, and the sample event each one's test event is.
TEMPLATES = {"http": "apigw-v2", "sqs": "sqs", "schedule": "schedule", "plain": "custom"}


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
    """A batch of SQS messages: report the ones that failed, and only those come back
    (with the mapping's FunctionResponseTypes set to ReportBatchItemFailures)."""
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
  // A batch of SQS messages: report the ones that failed, and only those come back
  // (with the mapping's FunctionResponseTypes set to ReportBatchItemFailures).
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
    test_event = json.dumps(samples.event(TEMPLATES[template]), indent=2) + "\n"
    if runtime.startswith("python"):
        return {"app.py": _PYTHON[template], "events/event.json": test_event}
    return {"index.mjs": _NODE[template], "events/event.json": test_event}


def handler_of(runtime: str) -> str:
    return "app.handler" if runtime.startswith("python") else "index.handler"
