"""Function URLs through the Lambda API: a function reachable over plain HTTP with the
2.0 payload, open or behind a key, with CORS answered by the gateway."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e import test_lambda_api_story as story

server_env = story.server_env
lam, clients = story.lam, story.clients

WEB = """
import json
def handler(event, context):
    http = event["requestContext"]["http"]
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"method": http["method"], "path": event["rawPath"],
                                "version": event["version"]})}
"""


def test_a_function_url_serves_any_path_with_the_2_0_payload(lam: Any) -> None:
    story.create(lam, "web", WEB)
    made = lam.create_function_url_config(FunctionName="web", AuthType="NONE")
    assert made["AuthType"] == "NONE" and made["InvokeMode"] == "BUFFERED"
    assert made["FunctionArn"] == story.arn("web")
    url = made["FunctionUrl"]
    # Anyone may call it, on any path and method, and the handler sees the 2.0 payload
    answer = httpx.post(url + "orders/7", json={"a": 1})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"method": "POST", "path": "/orders/7", "version": "2.0"}
    # A second URL config for the function is a conflict; it is read and listed
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.create_function_url_config(FunctionName="web", AuthType="NONE")
    assert lam.get_function_url_config(FunctionName="web")["FunctionUrl"] == url
    listed = lam.list_function_url_configs(FunctionName="web")["FunctionUrlConfigs"]
    assert [c["FunctionUrl"] for c in listed] == [url]
    # Deleted, the URL no longer reaches the function
    lam.delete_function_url_config(FunctionName="web")
    assert httpx.get(url).status_code == 404
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_url_config(FunctionName="web")


def test_an_aws_iam_url_needs_a_key_and_cors_is_answered_by_the_gateway(lam: Any) -> None:
    story.create(lam, "web", WEB)
    made = lam.create_function_url_config(
        FunctionName="web",
        AuthType="AWS_IAM",
        Cors={"AllowOrigins": ["https://shop.example"], "AllowMethods": ["GET"], "MaxAge": 60},
    )
    assert made["Cors"]["AllowOrigins"] == ["https://shop.example"]
    url = made["FunctionUrl"]
    assert httpx.get(url).status_code in (401, 403)
    keyed = httpx.get(url, headers={"Authorization": f"Bearer {story.ADMIN}"})
    assert keyed.status_code == 200, keyed.text
    preflight = httpx.options(
        url,
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    # Opened later, it needs no key
    opened = lam.update_function_url_config(FunctionName="web", AuthType="NONE")
    assert opened["AuthType"] == "NONE"
    assert httpx.get(url).status_code == 200


def test_bad_url_configs_are_refused_naming_the_field(lam: Any) -> None:
    story.create(lam, "web", WEB)
    for fields, named in (
        ({"AuthType": "NONE", "InvokeMode": "STREAMING"}, "InvokeMode"),
        ({"AuthType": "NONE", "Cors": {"AllowOrigins": ["not an origin"]}}, "AllowOrigins"),
    ):
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as bad:
            lam.create_function_url_config(FunctionName="web", **fields)
        assert named in bad.value.response["Error"]["Message"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.create_function_url_config(FunctionName="nope", AuthType="NONE")
