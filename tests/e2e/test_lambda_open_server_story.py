"""A server with no key (localhost only) takes unsigned Lambda API requests, as /v1."""

from __future__ import annotations

import boto3
from botocore import UNSIGNED
from botocore.config import Config

from tests.e2e.test_lambda_api_story import ECHO, ROLE
from tests.helpers import Server, handler_zip


def test_an_unsigned_client_manages_and_invokes_functions(server: Server) -> None:
    lam = boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="local-1",
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 0}),
    )
    created = lam.create_function(
        FunctionName="echo",
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": handler_zip(ECHO)},
    )
    assert created["State"] == "Active"
    answer = lam.invoke(FunctionName="echo", Payload=b'{"n": 1}')
    assert answer["StatusCode"] == 200
    assert answer["Payload"].read()
    assert lam.list_functions()["Functions"][0]["FunctionName"] == "echo"
    lam.close()
