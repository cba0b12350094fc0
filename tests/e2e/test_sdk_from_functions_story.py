"""AWS SDK calls from inside functions: code written for Lambda calls other functions
(and queues and topics) with boto3, unchanged, signed with the function's own key.

A function's environment points boto3 at this platform (AWS_ENDPOINT_URL_LAMBDA,
_SQS, _SNS) and carries its own credentials, as a Lambda function carries its role's.
In a container without a network the calls still arrive: the agent forwards the
loopback port to the server's socket. The key may use the installation's resources,
or only those its function's sdk_resources allow, and never manage functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from faas.auth import KeyRing
from faas.settings import Settings
from tests.e2e import test_lambda_api_story as story
from tests.helpers import Server, handler_zip, upload

server_env = story.server_env
lam, clients = story.lam, story.clients

CALLEE = """
def handler(event, context):
    return {"called with": event, "by": "callee"}
"""

# Written for Lambda: boto3 from the runtime, credentials and endpoint from the environment.
CALLER = """
import json, os
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    client = boto3.client("lambda")
    answer = client.invoke(FunctionName=event["target"], Payload=json.dumps({"n": 1}))
    out = {"payload": json.loads(answer["Payload"].read()), "status": answer["StatusCode"]}
    try:
        client.list_functions()
        out["manage"] = "allowed"
    except ClientError as exc:
        out["manage"] = exc.response["Error"]["Code"]
    out["endpoint"] = os.environ["AWS_ENDPOINT_URL_LAMBDA"]
    out["key"] = os.environ["AWS_ACCESS_KEY_ID"][:6]
    return out
"""


def test_a_function_without_a_network_invokes_another_with_boto3(api: httpx.Client) -> None:
    # Given two functions, the caller with no network at all
    assert upload(api, "callee", handler_zip(CALLEE)).status_code == 201
    made = upload(api, "caller", handler_zip(CALLER), timeout_s="30", network="false")
    assert made.status_code == 201, made.text
    # When the caller invokes the callee with boto3, as it would on Lambda
    answer = api.post("/v1/functions/caller/invoke", json={"target": "callee"})
    # Then the call arrived, signed with the caller's own key, through its loopback port
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["payload"] == {"called with": {"n": 1}, "by": "callee"}
    assert result["status"] == 200
    assert result["endpoint"] == "http://127.0.0.1:9002" and result["key"] == "FAASFN"
    # But that key may not manage functions
    assert result["manage"] == "AccessDeniedException", result
    # And the callee's log shows the invocation like any other
    assert api.get("/v1/functions/callee/logs").json()["logs"]


def test_a_functions_patterns_narrow_what_its_key_may_call(api: httpx.Client) -> None:
    # Given a caller whose key may only invoke functions named "allowed-*"
    assert upload(api, "callee", handler_zip(CALLEE)).status_code == 201
    assert upload(api, "allowed-one", handler_zip(CALLEE)).status_code == 201
    assert upload(api, "caller", handler_zip(CALLER), timeout_s="30").status_code == 201
    narrowed = api.patch(
        "/v1/functions/caller", json={"sdk_resources": ["lambda:allowed-*", "sqs:orders"]}
    )
    assert narrowed.status_code == 200, narrowed.text
    # When it calls one it may
    ok = api.post("/v1/functions/caller/invoke", json={"target": "allowed-one"})
    assert ok.status_code == 200 and ok.json()["payload"]["by"] == "callee", ok.text
    # And one it may not: the SDK's error, as AWS would raise it
    refused = api.post("/v1/functions/caller/invoke", json={"target": "callee"})
    assert refused.status_code == 500
    assert refused.json()["errorType"] == "ClientError"
    assert "AccessDenied" in refused.json()["errorMessage"]
    # And a pattern that is no pattern is refused, naming the field
    bad = api.patch("/v1/functions/caller", json={"sdk_resources": ["s3:bucket"]})
    assert bad.status_code == 422 and bad.json()["field"] == "sdk_resources"


def test_a_functions_key_is_no_key_once_the_function_is_gone(
    api: httpx.Client, lam: Any, server: Server, server_env: dict[str, str]
) -> None:
    # Given a function's key, as the server derives it from its configured keys
    assert upload(api, "callee", handler_zip(CALLEE)).status_code == 201
    key = KeyRing.from_settings(Settings.from_env(server_env)).function_key("callee")
    caller = story.lambda_client(server, key.secret, key.access_key_id)
    try:
        # When it invokes a function of the installation, Then it may
        answer = caller.invoke(FunctionName="callee", Payload=b"{}")
        assert json.loads(answer["Payload"].read())["by"] == "callee"
        # When the function is deleted, Then its key is no key
        lam.delete_function(FunctionName="callee")
        with pytest.raises(ClientError) as refused:
            caller.invoke(FunctionName="callee", Payload=b"{}")
        assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
    finally:
        caller.close()


SENDER = """
import boto3

def handler(event, context):
    sqs = boto3.client("sqs")
    sent = sqs.send_message(QueueUrl=event["queue_url"], MessageBody=event["body"],
                            MessageAttributes={"from": {"DataType": "String",
                                                        "StringValue": context.function_name}})
    return {"message_id": sent["MessageId"]}
"""


@pytest.fixture
def outside_sqs(server: Server) -> Iterator[Any]:
    """A producer's SQS client outside the platform, signing with the admin key."""
    client = story.aws_client(server, "sqs")
    yield client
    client.close()


def test_a_queue_url_from_outside_works_unchanged_inside(
    api: httpx.Client, outside_sqs: Any, server: Server
) -> None:
    # Given a queue made by a client outside, whose URL names the host that client used
    url = outside_sqs.create_queue(QueueName="orders")["QueueUrl"]
    assert url.startswith(server.url)
    # And a function without a network, handed that URL in its event
    made = upload(api, "sender", handler_zip(SENDER), timeout_s="30", network="false")
    assert made.status_code == 201, made.text
    # When it sends with boto3
    sent = api.post("/v1/functions/sender/invoke", json={"queue_url": url, "body": "order 1"})
    assert sent.status_code == 200, sent.text
    # Then the message is in the queue, sent as the function
    got = outside_sqs.receive_message(
        QueueUrl=url, WaitTimeSeconds=2, MessageAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in got] == ["order 1"]
    assert got[0]["MessageId"] == sent.json()["message_id"]
    assert got[0]["MessageAttributes"]["from"]["StringValue"] == "sender"
