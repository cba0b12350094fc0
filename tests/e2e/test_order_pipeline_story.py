"""The order pipeline: an API publishes to a topic, queues fan it out, consumers process
batches and report the items that failed; every order processed exactly once.

- ``POST /orders`` (an HTTP route) runs ``orders-api``, which validates the order and
  publishes it with boto3 to topic ``orders``, its priority as a message attribute;
- the topic fans out to queue ``fulfil`` (every order, in SNS's envelope) and to
  queue ``express`` (a filter: priority high; raw delivery);
- a mapping runs ``fulfil`` into ``fulfiller`` in batches of 10, reporting item
  failures: an order whose id ends in 7 fails twice before it succeeds, order 13
  always fails and lands in ``fulfil-dlq`` after 3 receives;
- a mapping runs ``express`` into ``expediter``;
- producers outside the platform feed ``fulfil`` too: boto3's send_message_batch and
  the AWS CLI.

Both consumers write a ledger on a volume; at the end each order is in
``fulfil``'s exactly once (13 aside), 13 is in the DLQ, and ``express`` saw only the
high-priority orders, each once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from faas.settings import Settings
from tests.e2e import test_lambda_api_story as story
from tests.helpers import Server, handler_zip, upload, wait_until

server_env = story.server_env
lam, clients = story.lam, story.clients
aws = story.boto  # boto3 clients by service, closed after the story

ORDERS_API = """
import json, os
import boto3

sns = boto3.client("sns")

def handler(event, context):
    order = json.loads(event["body"])
    if not isinstance(order.get("id"), int):
        return {"statusCode": 400, "body": json.dumps({"error": "id must be an integer"})}
    priority = "high" if order.get("priority") == "high" else "normal"
    sns.publish(
        TopicArn=os.environ["TOPIC_ARN"],
        Message=json.dumps(order),
        MessageAttributes={"priority": {"DataType": "String", "StringValue": priority}},
    )
    return {"statusCode": 202, "body": json.dumps({"accepted": order["id"]})}
"""

# Orders come in SNS's envelope from the topic, or bare from producers outside.
FULFILLER = """
import json

def order_of(body):
    data = json.loads(body)
    return json.loads(data["Message"]) if data.get("Type") == "Notification" else data

def handler(event, context):
    failed = []
    with open("/mnt/ledger/fulfil.txt", "a") as ledger:
        for record in event["Records"]:
            order = order_of(record["body"])
            receives = int(record["attributes"]["ApproximateReceiveCount"])
            if order["id"] == 13 or (order["id"] % 10 == 7 and receives < 3):
                failed.append({"itemIdentifier": record["messageId"]})
                continue
            ledger.write(f"{order['id']}\\n")
    return {"batchItemFailures": failed}
"""

EXPEDITER = """
import json

def handler(event, context):
    with open("/mnt/ledger/express.txt", "a") as ledger:
        for record in event["Records"]:
            order = json.loads(record["body"])  # raw delivery: the message itself
            priority = record["messageAttributes"]["priority"]["stringValue"]
            ledger.write(f"{order['id']} {priority}\\n")
"""


def arn(service: str, name: str) -> str:
    return f"arn:aws:{service}:{story.REGION}:{story.ACCOUNT}:{name}"


def test_orders_flow_from_an_http_api_through_a_topic_and_queues_exactly_once(
    api: httpx.Client, aws: Callable[[str], Any], server: Server, settings: Settings
) -> None:
    sqs, sns, lam = aws("sqs"), aws("sns"), aws("lambda")
    # Given the queues: fulfil (failed orders back after 3 s, the consumers' timeout, as
    # Lambda asks; to the DLQ after 3 receives) and express
    dlq = sqs.create_queue(QueueName="fulfil-dlq")["QueueUrl"]
    redrive = {"deadLetterTargetArn": arn("sqs", "fulfil-dlq"), "maxReceiveCount": "3"}
    fulfil = sqs.create_queue(
        QueueName="fulfil",
        Attributes={"VisibilityTimeout": "3", "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    sqs.create_queue(QueueName="express")
    # And the topic, fanning out to both: express only the high-priority, raw
    topic = sns.create_topic(Name="orders")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn("sqs", "fulfil"))
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn("sqs", "express"),
        Attributes={
            "FilterPolicy": json.dumps({"priority": ["high"]}),
            "RawMessageDelivery": "true",
        },
    )
    # And the functions: the API behind POST /orders, and the two consumers
    env = json.dumps({"TOPIC_ARN": topic})
    made = upload(api, "orders-api", handler_zip(ORDERS_API), env=env, timeout_s="30")
    assert made.status_code == 201, made.text
    route = api.put("/v1/functions/orders-api/http", json={"payload_format": "2.0"})
    assert route.status_code == 200, route.text
    ledger = '{"ledger": "/mnt/ledger"}'
    for name, source in (("fulfiller", FULFILLER), ("expediter", EXPEDITER)):
        made = upload(api, name, handler_zip(source), volumes=ledger, timeout_s="3")
        assert made.status_code == 201, made.text
    # And the mappings
    lam.create_event_source_mapping(
        EventSourceArn=arn("sqs", "fulfil"),
        FunctionName="fulfiller",
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    lam.create_event_source_mapping(EventSourceArn=arn("sqs", "express"), FunctionName="expediter")

    # When 30 orders arrive through the HTTP API, every fifth of high priority
    for n in range(1, 31):
        order = {"id": n, "priority": "high" if n % 5 == 0 else "normal"}
        accepted = api.post("/fn/orders-api/orders", json=order)
        assert accepted.status_code == 202, accepted.text
    # And a bad one is refused by the API's own validation, publishing nothing
    assert api.post("/fn/orders-api/orders", json={"id": "x"}).status_code == 400
    # And producers outside feed fulfil directly: boto3 (31-40) and the AWS CLI (41)
    batch = [{"Id": str(n), "MessageBody": json.dumps({"id": n})} for n in range(31, 41)]
    assert not sqs.send_message_batch(QueueUrl=fulfil, Entries=batch).get("Failed")
    shell = story.admin_cli_env()
    story.aws_cli(
        server, shell, "sqs", "send-message", "--queue-url", fulfil, "--message-body", '{"id": 41}'
    )

    # Then every order but 13 is fulfilled exactly once
    volume = settings.volumes_root / "ledger"

    def fulfilled() -> list[int]:
        path = volume / "fulfil.txt"
        return sorted(int(line) for line in path.read_text().split()) if path.exists() else []

    wanted = [n for n in range(1, 42) if n != 13]
    wait_until(lambda: fulfilled() == wanted, what="every order once", within_s=90, show=fulfilled)

    # And 13 is in the DLQ, in the topic's envelope
    def dead() -> list[Any]:
        got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [json.loads(json.loads(m["Body"])["Message"]) for m in got.get("Messages", [])]

    assert wait_until(dead, what="order 13 in the DLQ", within_s=30) == [
        {"id": 13, "priority": "normal"}
    ]

    # And express saw the high-priority orders only, each once
    def expedited() -> list[str]:
        path = volume / "express.txt"
        return sorted(path.read_text().splitlines()) if path.exists() else []

    high = sorted(f"{n} high" for n in range(5, 31, 5))
    wait_until(lambda: expedited() == high, what="the high ones", within_s=30, show=expedited)
    # And nothing more arrives: no order is processed twice
    assert fulfilled() == wanted and expedited() == high
    # And the consumers' invocations are in their logs like any other
    assert api.get("/v1/functions/fulfiller/logs").json()["logs"]
