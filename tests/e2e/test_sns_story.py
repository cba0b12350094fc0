"""Topics through boto3's SNS client, with ``endpoint_url`` the only change: a topic fans
out to a function (an Event invoke, seen in its logs) and to queues (read back with
boto3's SQS client), filtered and raw where the subscription says so.

Functions run on the process backend: what is told here is the topic's part.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.e2e import test_lambda_api_story as story
from tests.helpers import Server, handler_zip, upload, wait_until

ADMIN = story.ADMIN  # what story.boto signs with
REGION = "local-1"
ACCOUNT = "000000000000"

INBOX = """
import json
def handler(event, context):
    print("GOT " + json.dumps(event))
    return {"ok": True}
"""

aws = story.boto  # boto3 clients by service, signed with the admin key


@pytest.fixture
def backend() -> str:
    return "process"


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    # Subscribed functions run as host processes: the story needs no Docker.
    return {**server_env, "FAAS_ADMIN_KEY": ADMIN, "FAAS_BACKEND": "process"}


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def received(api: httpx.Client, name: str) -> list[dict[str, Any]]:
    """The events the function printed, from its invocation logs."""
    logs = api.get(f"/v1/functions/{name}/logs").json()["logs"]
    events = []
    for record in logs:
        for line in record["log"].splitlines():
            if "GOT " in line:
                events.append(
                    {"kind": record["kind"], "event": json.loads(line.split("GOT ", 1)[1])}
                )
    return events


def drain(sqs: Any, url: str, want: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []

    def more() -> bool:
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        got.extend(answer.get("Messages", []))
        return len(got) >= want

    wait_until(more, what=f"{want} messages in {url}", within_s=20)
    return got


def test_a_topic_fans_out_to_a_function_and_to_queues(
    api: httpx.Client, aws: Callable[[str], Any]
) -> None:
    sns, sqs = aws("sns"), aws("sqs")
    # Given a function that prints what it receives
    assert upload(api, "inbox", handler_zip(INBOX)).status_code == 201
    # And a topic with three subscribers: the function, a queue of every order, and a
    # queue of the high-priority ones only, delivered raw
    topic = sns.create_topic(Name="orders")["TopicArn"]
    assert topic == f"arn:aws:sns:{REGION}:{ACCOUNT}:orders"
    every = sqs.create_queue(QueueName="every")["QueueUrl"]
    express = sqs.create_queue(QueueName="express")["QueueUrl"]

    def arn_of(url: str) -> str:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    to_function = sns.subscribe(
        TopicArn=topic,
        Protocol="lambda",
        Endpoint=function_arn("inbox"),
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn_of(every))
    to_express = sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn_of(express),
        Attributes={
            "FilterPolicy": json.dumps({"priority": ["high"]}),
            "RawMessageDelivery": "true",
        },
    )["SubscriptionArn"]
    assert to_function.startswith(topic + ":")

    # When two orders are published, one high and one low
    high = sns.publish(
        TopicArn=topic,
        Message=json.dumps({"order": 1}),
        Subject="order <1> & co",
        MessageAttributes={"priority": {"DataType": "String", "StringValue": "high"}},
    )["MessageId"]
    sns.publish(
        TopicArn=topic,
        Message=json.dumps({"order": 2}),
        MessageAttributes={"priority": {"DataType": "String", "StringValue": "low"}},
    )

    # Then the function was invoked asynchronously with each, as SNS's Lambda records
    events = wait_until(
        lambda: received(api, "inbox"),
        what="two SNS events",
        within_s=30,
        done=lambda e: len(e) == 2,
    )
    assert {e["kind"] for e in events} == {"async"}
    records = {
        json.loads(e["event"]["Records"][0]["Sns"]["Message"])["order"]: e["event"] for e in events
    }
    record = records[1]["Records"][0]
    assert record["EventSource"] == "aws:sns"
    assert record["EventSubscriptionArn"] == to_function
    sns_part = record["Sns"]
    assert sns_part["Type"] == "Notification"
    assert sns_part["MessageId"] == high
    assert sns_part["TopicArn"] == topic
    assert sns_part["Subject"] == "order <1> & co"
    assert sns_part["MessageAttributes"] == {"priority": {"Type": "String", "Value": "high"}}
    assert sns_part["Timestamp"].endswith("Z")
    assert records[2]["Records"][0]["Sns"]["Subject"] is None

    # And the queue of every order holds both, in SNS's envelope
    envelopes = [json.loads(m["Body"]) for m in drain(sqs, every, 2)]
    assert sorted(json.loads(e["Message"])["order"] for e in envelopes) == [1, 2]
    assert {e["Type"] for e in envelopes} == {"Notification"}
    assert {e["TopicArn"] for e in envelopes} == {topic}

    # And the express queue only the high one, raw, its attribute an SQS attribute
    (only,) = drain(sqs, express, 1)
    assert json.loads(only["Body"]) == {"order": 1}
    assert only["MessageAttributes"]["priority"] == {"StringValue": "high", "DataType": "String"}
    answer = sqs.receive_message(QueueUrl=express, WaitTimeSeconds=1)
    assert answer.get("Messages", []) == []

    # And the subscription shows what it was given
    shown = sns.get_subscription_attributes(SubscriptionArn=to_express)["Attributes"]
    assert shown["RawMessageDelivery"] == "true"
    assert json.loads(shown["FilterPolicy"]) == {"priority": ["high"]}
    assert shown["FilterPolicyScope"] == "MessageAttributes"

    # And the metrics count the published, the delivered and the filtered out
    metrics = api.get("/metrics").text
    assert 'faas_topic_messages_published_total{topic="orders"} 2.0' in metrics
    assert 'faas_topic_filtered_total{protocol="sqs",topic="orders"} 1.0' in metrics


def test_a_filter_on_the_body_and_a_batch(api: httpx.Client, aws: Callable[[str], Any]) -> None:
    sns, sqs = aws("sns"), aws("sqs")
    # Given a queue subscribed to books in the body of the messages
    topic = sns.create_topic(Name="shop")["TopicArn"]
    books = sqs.create_queue(QueueName="books")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=books, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="FilterPolicyScope", AttributeValue="MessageBody"
    )
    sns.set_subscription_attributes(
        SubscriptionArn=sub,
        AttributeName="FilterPolicy",
        AttributeValue=json.dumps({"item": {"kind": ["book"], "price": [{"numeric": ["<", 20]}]}}),
    )
    # When a batch is published: a cheap book, a dear book, a toy, and a bad entry
    answer = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "cheap", "Message": json.dumps({"item": {"kind": "book", "price": 9}})},
            {"Id": "dear", "Message": json.dumps({"item": {"kind": "book", "price": 90}})},
            {"Id": "toy", "Message": json.dumps({"item": {"kind": "toy", "price": 5}})},
            {
                "Id": "bad",
                "Message": "x",
                "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "ten"}},
            },
        ],
    )
    # Then three were published and the bad one is named with SNS's code
    assert sorted(s["Id"] for s in answer["Successful"]) == ["cheap", "dear", "toy"]
    (failed,) = answer["Failed"]
    assert failed["Id"] == "bad"
    assert failed["Code"] == "ParameterValueInvalid"
    assert failed["SenderFault"] is True
    # And only the cheap book reached the queue
    (only,) = drain(sqs, books, 1)
    assert json.loads(json.loads(only["Body"])["Message"])["item"]["price"] == 9


def test_topics_are_managed_as_sns_manages_them(aws: Callable[[str], Any]) -> None:
    sns = aws("sns")
    # Given a topic created with attributes and tags
    topic = sns.create_topic(
        Name="events", Attributes={"DisplayName": "A <&> B"}, Tags=[{"Key": "team", "Value": "x"}]
    )["TopicArn"]
    # Then creating it again gives the same ARN, with other attributes a refusal
    assert sns.create_topic(Name="events")["TopicArn"] == topic
    with pytest.raises(ClientError) as refused:
        sns.create_topic(Name="events", Attributes={"DisplayName": "other"})
    assert refused.value.response["Error"]["Code"] == "InvalidParameter"
    # And its attributes come back as given (escaped in XML, read back whole)
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["DisplayName"] == "A <&> B"
    assert attributes["TopicArn"] == topic
    assert attributes["SubscriptionsConfirmed"] == "0"
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="DisplayName", AttributeValue="line\r\nnext"
    )
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["DisplayName"] == "line\r\nnext"
    # And tags are listed, added and removed
    sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "env", "Value": "prod"}])
    sns.untag_resource(ResourceArn=topic, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [
        {"Key": "env", "Value": "prod"}
    ]
    # And a topic list pages by NextToken
    for i in range(101):
        sns.create_topic(Name=f"many-{i:03d}")
    first = sns.list_topics()
    assert len(first["Topics"]) == 100
    second = sns.list_topics(NextToken=first["NextToken"])
    assert "NextToken" not in second
    assert len(first["Topics"]) + len(second["Topics"]) == 102
    # And subscriptions are listed, per topic or all, and removed
    sub = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn("f:live"))[
        "SubscriptionArn"
    ]
    again = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn("f:live"))
    assert again["SubscriptionArn"] == sub
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert listed == [
        {
            "SubscriptionArn": sub,
            "Owner": ACCOUNT,
            "Protocol": "lambda",
            "Endpoint": function_arn("f:live"),
            "TopicArn": topic,
        }
    ]
    assert sns.list_subscriptions()["Subscriptions"] == listed
    sns.unsubscribe(SubscriptionArn=sub)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    # And a deleted topic is gone, with what publishing to it answers
    sns.delete_topic(TopicArn=topic)
    with pytest.raises(ClientError) as missing:
        sns.publish(TopicArn=topic, Message="x")
    assert missing.value.response["Error"]["Code"] == "NotFound"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    sns.delete_topic(TopicArn=topic)  # deleting twice is no error


@pytest.mark.parametrize(
    ("call", "code", "message"),
    [
        (
            lambda sns, t: sns.subscribe(
                TopicArn=t,
                Protocol="sqs",
                Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
                Attributes={"FilterPolicy": '{"a": "b"}'},
            ),
            "InvalidParameter",
            'Invalid parameter: Attributes Reason: FilterPolicy: "a" must be an object or an array',
        ),
        (
            lambda sns, t: sns.subscribe(TopicArn=t, Protocol="http", Endpoint="http://x"),
            "InvalidParameter",
            "Invalid parameter: Protocol Reason: http subscriptions are not supported",
        ),
        (
            lambda sns, t: sns.subscribe(TopicArn=t, Protocol="lambda", Endpoint="nope"),
            "InvalidParameter",
            "Invalid parameter: Lambda endpoint ARN",
        ),
        (
            lambda sns, t: sns.publish(
                TopicArn=t,
                Message="m",
                MessageAttributes={"k": {"DataType": "Text", "StringValue": "v"}},
            ),
            "ParameterValueInvalid",
            "The message attribute 'k' has an invalid message attribute type",
        ),
        (
            lambda sns, t: sns.publish(TopicArn=t, Message="{}", MessageStructure="json"),
            "InvalidParameter",
            "Invalid parameter: Message Structure - No default entry in JSON message body",
        ),
        (
            lambda sns, t: sns.publish(TopicArn=t, Message="m", MessageGroupId="g"),
            "InvalidParameter",
            "MessageGroupId parameter that is not valid for this topic type",
        ),
        (
            lambda sns, t: sns.publish_batch(
                TopicArn=t,
                PublishBatchRequestEntries=[
                    {"Id": "a", "Message": "1"},
                    {"Id": "a", "Message": "2"},
                ],
            ),
            "BatchEntryIdsNotDistinct",
            "Two or more batch entries in the request have the same Id.",
        ),
        (
            lambda sns, t: sns.get_subscription_attributes(
                SubscriptionArn=t + ":" + "0" * 8 + "-0000-0000-0000-" + "0" * 12
            ),
            "NotFound",
            "Subscription does not exist",
        ),
        (
            lambda sns, t: sns.create_topic(Name="orders.fifo"),
            "InvalidParameter",
            "Invalid parameter: Topic Name",
        ),
        (
            lambda sns, t: sns.list_tags_for_resource(ResourceArn=t + "-gone"),
            "ResourceNotFound",
            "Resource does not exist",
        ),
    ],
)
def test_bad_requests_are_refused_in_sns_words(
    aws: Callable[[str], Any], call: Callable[[Any, str], object], code: str, message: str
) -> None:
    sns = aws("sns")
    topic = sns.create_topic(Name="checked")["TopicArn"]
    with pytest.raises(ClientError) as refused:
        call(sns, topic)
    error = refused.value.response["Error"]
    assert error["Code"] == code
    assert message in error["Message"]
    assert error["Type"] == "Sender"


def test_a_fifo_topic_keeps_groups_in_order_and_drops_duplicates(
    aws: Callable[[str], Any],
) -> None:
    sns, sqs = aws("sns"), aws("sqs")
    # Given a FIFO topic with content-based deduplication and a FIFO queue subscribed raw
    topic = sns.create_topic(
        Name="ledger.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"}
    )["TopicArn"]
    url = sqs.create_queue(QueueName="ledger.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:ledger.fifo"
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue, Attributes={"RawMessageDelivery": "true"}
    )
    # Then functions cannot subscribe to it, and a FIFO queue cannot subscribe to a standard topic
    with pytest.raises(ClientError, match="Invalid protocol type: lambda"):
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn("f"))
    standard = sns.create_topic(Name="plain")["TopicArn"]
    with pytest.raises(ClientError, match="FIFO SQS Queues can not be subscribed"):
        sns.subscribe(TopicArn=standard, Protocol="sqs", Endpoint=queue)
    # And a publish needs a group
    with pytest.raises(ClientError, match="MessageGroupId parameter is required"):
        sns.publish(TopicArn=topic, Message="no group")
    # When a group's entries are published, one of them twice
    first = sns.publish(TopicArn=topic, Message="debit 1", MessageGroupId="acct-1")
    again = sns.publish(TopicArn=topic, Message="debit 1", MessageGroupId="acct-1")
    second = sns.publish(TopicArn=topic, Message="credit 2", MessageGroupId="acct-1")
    # Then the duplicate answers the first's id and sequence number, and numbers grow
    assert again["MessageId"] == first["MessageId"]
    assert again["SequenceNumber"] == first["SequenceNumber"]
    assert int(second["SequenceNumber"]) > int(first["SequenceNumber"])
    # And the queue gets each once, in order, in its group
    got = []
    for _ in range(2):
        (message,) = sqs.receive_message(
            QueueUrl=url, AttributeNames=["MessageGroupId"], WaitTimeSeconds=1
        )["Messages"]
        got.append((message["Body"], message["Attributes"]["MessageGroupId"]))
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert got == [("debit 1", "acct-1"), ("credit 2", "acct-1")]
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []


def test_a_form_sns_cannot_read_is_refused_not_failed(server: Server) -> None:
    # Given a server with keys, an unsigned request is refused in SNS's shape
    answer = httpx.post(server.url + "/", data={"Action": "ListTopics", "Version": "2010-03-31"})
    assert answer.status_code == 403
    assert "<Code>MissingAuthenticationToken</Code>" in answer.text
    assert answer.text.startswith("<?xml")


def test_the_cli_manages_and_publishes_to_topics(server: Server, aws: Callable[[str], Any]) -> None:
    import os
    import subprocess
    import sys

    def faas(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "faas.cli.main", "topics", *args],
            env={**os.environ, "FAAS_URL": server.url, "FAAS_KEY": ADMIN},
            capture_output=True,
            text=True,
            timeout=60,
        )

    sqs = aws("sqs")
    # Given a topic made with the CLI, and a queue subscribed to it raw
    made = faas("create", "alerts")
    assert made.returncode == 0, made.stderr
    topic = made.stdout.strip()
    assert topic == f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
    url = sqs.create_queue(QueueName="pager")["QueueUrl"]
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:pager"
    subscribed = faas("subscribe", "alerts", queue, "--raw", "--filter", '{"level": ["page"]}')
    assert subscribed.returncode == 0, subscribed.stderr
    # When the CLI publishes one page and one note
    assert faas("publish", "alerts", "disk full", "--attr", "level=page").returncode == 0
    assert faas("publish", "alerts", "fyi", "--attr", "level=note").returncode == 0
    # Then the queue holds the page only
    (only,) = drain(sqs, url, 1)
    assert only["Body"] == "disk full"
    # And the CLI lists topics and subscriptions, as text and JSON
    assert "alerts" in faas("ls").stdout
    listed = json.loads(faas("subscriptions", "alerts", "--json").stdout)["subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in listed] == [("sqs", queue)]
    # And a topic that does not exist is an error naming it, with a failing exit code
    missing = faas("publish", "nope", "x")
    assert missing.returncode != 0
    assert "no topic is named 'nope'" in missing.stderr
    # And rm deletes it
    assert faas("rm", "alerts").returncode == 0
    assert json.loads(faas("ls", "--json").stdout) == {"topics": []}
