"""The Lambda API: boto3 and the AWS CLI manage and invoke functions with ``endpoint_url``
the only change, every request signed (SigV4) with a key of the server.

The server here has an admin key and an invoke key limited to one function; a
function created through ``/v1`` is the same function through the Lambda API.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import botocore.auth
import httpx
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from faas.auth import access_key_id_of
from tests.helpers import Server, handler_zip, upload

ADMIN = "admin-key-of-the-lambda-api-story"
INVOKER = "invoke-key-of-the-lambda-api-story"
REGION = "local-1"
ACCOUNT = "000000000000"

ECHO = """
import json, os
def handler(event, context):
    print("echo ran")
    if event.get("fail"):
        raise ValueError("asked to fail")
    client = context.client_context.custom if context.client_context else None
    return {"event": event, "version": context.function_version,
            "arn": context.invoked_function_arn, "client": client}
"""


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    return {**server_env, "FAAS_ADMIN_KEY": ADMIN, "FAAS_INVOKE_KEYS": f"{INVOKER}:echo"}


def buffered(parsed: dict[str, Any], **_: Any) -> None:
    """Read an Invoke's payload at once: a payload a story never reads would keep its
    connection out of the pool, and ``close()`` could not close its socket."""
    body = parsed.get("Payload")
    if body is not None:
        data = body.read()
        parsed["Payload"] = StreamingBody(io.BytesIO(data), len(data))


def aws_client(
    server: Server,
    service: str,
    secret: str = ADMIN,
    access_key_id: str | None = None,
    *,
    validate: bool = True,
) -> Any:
    """A boto3 client of one of the server's AWS APIs (lambda, sqs, sns), as a user
    outside the platform makes it: signed with ``secret`` (the admin key), no retries."""
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=access_key_id or access_key_id_of(secret),
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 0}, read_timeout=60, parameter_validation=validate),
    )


def lambda_client(
    server: Server, secret: str, access_key_id: str | None = None, *, validate: bool = True
) -> Any:
    return aws_client(server, "lambda", secret, access_key_id, validate=validate)


@pytest.fixture
def boto(server: Server) -> Iterator[Callable[[str], Any]]:
    """Makes boto3 clients of the server by service, signed with the admin key, each
    closed after the story."""
    made: list[Any] = []

    def make(service: str) -> Any:
        made.append(aws_client(server, service))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def clients(server: Server) -> Iterator[Callable[..., Any]]:
    """Makes Lambda clients of the server (``lambda_client``'s arguments but the server),
    each closed after the story: an open one's sockets would outlive it."""
    made: list[Any] = []

    def make(secret: str, access_key_id: str | None = None, *, validate: bool = True) -> Any:
        made.append(lambda_client(server, secret, access_key_id, validate=validate))
        made[-1].meta.events.register("after-call.lambda.Invoke", buffered)
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def lam(clients: Callable[..., Any]) -> Any:
    """boto3's Lambda client, signing with the admin key."""
    return clients(ADMIN)


@pytest.fixture
def echo(api: httpx.Client) -> str:
    """A function uploaded through /v1."""
    assert upload(api, "echo", handler_zip(ECHO)).status_code == 201
    return "echo"


def arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def error_of(call: Callable[[], object]) -> ClientError:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value


def signed_headers(method: str, url: str, body: bytes = b"") -> dict[str, str]:
    """The headers botocore signs a request with, by the admin key, now."""
    request = AWSRequest(method, url, data=body)
    auth = botocore.auth.SigV4Auth(Credentials(access_key_id_of(ADMIN), ADMIN), "lambda", REGION)
    auth.add_auth(request)
    return dict(request.headers.items())


# -- invoking -----------------------------------------------------------------


def test_boto3_invokes_a_function_uploaded_through_v1(lam: Any, echo: str) -> None:
    # When boto3 invokes it with a ClientContext and asks for the log's tail
    context = base64.b64encode(json.dumps({"custom": {"who": "story"}}).encode()).decode()
    answer = lam.invoke(
        FunctionName=echo, Payload=b'{"n": 1}', LogType="Tail", ClientContext=context
    )
    # Then it ran on $LATEST and answered what the handler returned
    assert answer["StatusCode"] == 200
    assert answer["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in answer
    result = json.loads(answer["Payload"].read())
    assert result == {
        "event": {"n": 1},
        "version": "$LATEST",
        "arn": arn(echo),
        "client": {"who": "story"},
    }
    # And the log's last lines came with it
    assert "echo ran" in base64.b64decode(answer["LogResult"]).decode()
    # The function is named by its ARN, a partial ARN or with $LATEST alike
    for name in (arn(echo), f"{ACCOUNT}:function:{echo}", f"{echo}:$LATEST"):
        assert lam.invoke(FunctionName=name, Payload=b"{}")["StatusCode"] == 200
    # Without Tail, no log comes back
    assert "LogResult" not in lam.invoke(FunctionName=echo, Payload=b"{}")


def test_a_failing_handler_is_a_200_with_the_error_as_lambda_reports_it(
    lam: Any, echo: str
) -> None:
    answer = lam.invoke(FunctionName=echo, Payload=b'{"fail": true}')
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "asked to fail"
    assert isinstance(error["stackTrace"], list)


def test_event_and_dry_run_invocations(lam: Any, echo: str) -> None:
    queued = lam.invoke(FunctionName=echo, InvocationType="Event", Payload=b'{"n": 2}')
    assert queued["StatusCode"] == 202
    assert queued["Payload"].read() == b""
    dry = lam.invoke(FunctionName=echo, InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204
    # A DryRun of a function that does not exist says so
    missing = error_of(lambda: lam.invoke(FunctionName="nope", InvocationType="DryRun"))
    assert missing.response["Error"]["Code"] == "ResourceNotFoundException"


def test_unknown_functions_and_bad_names_get_lambdas_errors(lam: Any, echo: str) -> None:
    # An unknown function: client.exceptions catches it, with Lambda's message
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as missing:
        lam.invoke(FunctionName="nope", Payload=b"{}")
    assert missing.value.response["Error"]["Message"] == f"Function not found: {arn('nope')}"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # A version that was never published is not found either
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName=echo, Qualifier="7", Payload=b"{}")
    # A qualifier that contradicts the name's, and a payload that is not JSON
    for call in (
        lambda: lam.invoke(FunctionName=f"{echo}:1", Qualifier="2", Payload=b"{}"),
        lambda: lam.invoke(FunctionName=echo, Payload=b"{not json"),
        lambda: lam.invoke(FunctionName=echo, Payload=b"{}", ClientContext="not base64!"),
    ):
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as bad:
            call()
        assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # Another account's function is not found
    other = "arn:aws:lambda:local-1:123456789012:function:echo"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName=other, Payload=b"{}")


# -- reserved concurrency, account settings, tags ------------------------------


def test_reserved_concurrency_zero_throttles_every_call(lam: Any, echo: str) -> None:
    assert (
        lam.get_function_concurrency(FunctionName=echo).get("ReservedConcurrentExecutions") is None
    )
    lam.put_function_concurrency(FunctionName=echo, ReservedConcurrentExecutions=0)
    assert lam.get_function_concurrency(FunctionName=echo)["ReservedConcurrentExecutions"] == 0
    with pytest.raises(lam.exceptions.TooManyRequestsException) as throttled:
        lam.invoke(FunctionName=echo, Payload=b"{}")
    error = throttled.value.response
    assert error["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert int(error["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) >= 1
    # The account's unreserved concurrency does not count a function at 0 as using any
    limits = lam.get_account_settings()["AccountLimit"]
    assert limits["UnreservedConcurrentExecutions"] == limits["ConcurrentExecutions"]
    lam.delete_function_concurrency(FunctionName=echo)
    assert lam.invoke(FunctionName=echo, Payload=b"{}")["StatusCode"] == 200


def test_reserving_more_than_the_account_has_is_refused(lam: Any, echo: str) -> None:
    total = lam.get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_concurrency(FunctionName=echo, ReservedConcurrentExecutions=total)
    lam.put_function_concurrency(FunctionName=echo, ReservedConcurrentExecutions=3)
    limits = lam.get_account_settings()["AccountLimit"]
    assert limits["UnreservedConcurrentExecutions"] == total - 3


def test_account_settings_count_the_functions_and_their_code(lam: Any, echo: str) -> None:
    settings = lam.get_account_settings()
    assert settings["AccountUsage"]["FunctionCount"] == 1
    assert settings["AccountUsage"]["TotalCodeSize"] > 0
    assert settings["AccountLimit"]["CodeSizeZipped"] == 50 * 1024 * 1024


def test_tags_are_added_listed_and_removed(lam: Any, echo: str) -> None:
    lam.tag_resource(Resource=arn(echo), Tags={"team": "orders", "env": "test"})
    assert lam.list_tags(Resource=arn(echo))["Tags"] == {"team": "orders", "env": "test"}
    lam.untag_resource(Resource=arn(echo), TagKeys=["env"])
    assert lam.list_tags(Resource=arn(echo))["Tags"] == {"team": "orders"}
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.list_tags(Resource=arn("nope"))


# -- who may call what ------------------------------------------------------


def test_an_invoke_key_invokes_its_function_and_nothing_else(
    clients: Callable[..., Any], api: httpx.Client, echo: str
) -> None:
    assert upload(api, "other", handler_zip(ECHO)).status_code == 201
    limited = clients(INVOKER)
    assert limited.invoke(FunctionName=echo, Payload=b"{}")["StatusCode"] == 200
    for call in (
        lambda: limited.invoke(FunctionName="other", Payload=b"{}"),
        lambda: limited.get_account_settings(),
        lambda: limited.put_function_concurrency(FunctionName=echo, ReservedConcurrentExecutions=1),
    ):
        refused = error_of(call)
        assert refused.response["Error"]["Code"] == "AccessDeniedException"
        assert refused.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_every_signature_refusal_is_aws_own(
    server: Server, clients: Callable[..., Any], echo: str
) -> None:
    path = f"/2015-03-31/functions/{echo}/invocations"
    # No signature at all
    unsigned = httpx.post(server.url + path, content=b"{}")
    assert unsigned.status_code == 403
    assert unsigned.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    # A key the server does not know
    stranger = clients("a-secret-nobody-configured", "AKIAUNKNOWNUNKNOWN00")
    code = error_of(lambda: stranger.invoke(FunctionName=echo, Payload=b"{}"))
    assert code.response["Error"]["Code"] == "UnrecognizedClientException"
    # A known access key id with the wrong secret
    forged = clients("not-the-admin-secret", access_key_id_of(ADMIN))
    wrong = error_of(lambda: forged.invoke(FunctionName=echo, Payload=b"{}"))
    assert wrong.response["Error"]["Code"] == "InvalidSignatureException"
    # A request signed ten minutes ago
    old = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(minutes=10)
    signed = AWSRequest("POST", server.url + path, data=b"{}")
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=old):
        botocore.auth.SigV4Auth(
            Credentials(access_key_id_of(ADMIN), ADMIN), "lambda", REGION
        ).add_auth(signed)
    stale = httpx.post(server.url + path, content=b"{}", headers=dict(signed.headers.items()))
    assert stale.status_code == 403
    assert stale.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert "Signature expired" in stale.json()["message"]
    # A body changed after signing
    headers = signed_headers("POST", server.url + path, b'{"n": 1}')
    tampered = httpx.post(server.url + path, content=b'{"n": 2}', headers=headers)
    assert tampered.status_code == 403
    assert tampered.headers["x-amzn-ErrorType"] == "InvalidSignatureException"


def test_an_unknown_operation_is_answered_as_aws_does(server: Server) -> None:
    url = server.url + "/2015-03-31/no-such-operation"
    answer = httpx.get(url, headers=signed_headers("GET", url))
    assert answer.status_code == 404
    assert answer.headers["x-amzn-ErrorType"] == "UnknownOperationException"


# -- the AWS CLI ----------------------------------------------------------------


def aws_cli(
    server: Server, env: dict[str, str], *args: str, cwd: Path | None = None
) -> dict[str, Any]:
    """``aws ARGS`` (the AWS CLI v1 of the venv) against the server, with ``env``'s
    credentials; its JSON output."""
    cli = str(Path(sys.executable).with_name("aws"))
    done = subprocess.run(
        [cli, *args, "--endpoint-url", server.url, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def admin_cli_env() -> dict[str, str]:
    """The environment of a shell with the admin key's AWS credentials, and no
    configuration of the user's."""
    return {
        **os.environ,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_ACCESS_KEY_ID": access_key_id_of(ADMIN),
        "AWS_SECRET_ACCESS_KEY": ADMIN,
        "AWS_DEFAULT_REGION": REGION,
    }


@pytest.fixture
def aws(server: Server, tmp_path: Path) -> Iterator[Callable[..., dict[str, Any]]]:
    """The ``aws`` command against the server, its credentials from ``faas keys show --aws``."""
    shown = subprocess.run(
        [sys.executable, "-m", "faas.cli.main", "keys", "show", "--aws"],
        env={**os.environ, "FAAS_ADMIN_KEY": ADMIN, "FAAS_KEYS_FILE": "", "FAAS_REGION": REGION},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    env = {**os.environ, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    for line in shown.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value.strip("'\"")

    def run(*args: str) -> dict[str, Any]:
        return aws_cli(server, env, "lambda", *args, cwd=tmp_path)

    yield run


def test_the_aws_cli_invokes_with_the_keys_faas_shows(
    aws: Callable[..., dict[str, Any]], echo: str, tmp_path: Path
) -> None:
    answer = aws("invoke", "--function-name", echo, "--payload", "{}", "out.json")
    assert answer["StatusCode"] == 200
    assert json.loads((tmp_path / "out.json").read_text())["version"] == "$LATEST"
    assert aws("get-account-settings")["AccountUsage"]["FunctionCount"] == 1


# -- managing functions ------------------------------------------------------------

ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"


def create(lam: Any, name: str, source: str = ECHO, **fields: Any) -> dict[str, Any]:
    params = {
        "FunctionName": name,
        "Runtime": "python3.11",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": handler_zip(source)},
        **fields,
    }
    created: dict[str, Any] = lam.create_function(**params)
    return created


def test_a_function_created_with_boto3_is_the_same_function_in_v1(
    lam: Any, api: httpx.Client
) -> None:
    # When a deploy script creates a function with boto3 and waits for it, as against AWS
    created = create(
        lam,
        "orders",
        Description="takes orders",
        Timeout=10,
        MemorySize=256,
        Environment={"Variables": {"STAGE": "test"}},
        Tags={"team": "orders"},
    )
    lam.get_waiter("function_active_v2").wait(
        FunctionName="orders", WaiterConfig={"Delay": 1, "MaxAttempts": 2}
    )
    # Then Lambda's configuration comes back, final at once
    assert created["FunctionArn"] == arn("orders")
    assert (created["State"], created["LastUpdateStatus"]) == ("Active", "Successful")
    assert created["Version"] == "$LATEST" and created["Role"] == ROLE
    assert (created["Timeout"], created["MemorySize"]) == (10, 256)
    assert created["Environment"] == {"Variables": {"STAGE": "test"}}
    assert (
        created["CodeSha256"]
        == base64.b64encode(hashlib.sha256(handler_zip(ECHO)).digest()).decode()
    )
    # And /v1 sees the same function, which runs
    v1 = api.get("/v1/functions/orders").json()
    assert (v1["timeout_s"], v1["memory_mb"], v1["env"]) == (10, 256, {"STAGE": "test"})
    assert (v1["description"], v1["layers"]) == ("takes orders", [])
    assert lam.invoke(FunctionName="orders", Payload=b'{"a": 1}')["StatusCode"] == 200
    # And GetFunction gives its code at a link that needs no key, and its tags
    got = lam.get_function(FunctionName="orders")
    assert got["Configuration"]["RevisionId"] == created["RevisionId"]
    assert got["Tags"] == {"team": "orders"}
    code = httpx.get(got["Code"]["Location"])
    assert code.status_code == 200 and code.content == handler_zip(ECHO)
    # A link whose signature was changed opens nothing
    forged = got["Code"]["Location"].replace("Signature=", "Signature=0")
    assert httpx.get(forged).status_code == 403
    # A change through /v1 is the Lambda API's too
    patched = api.patch("/v1/functions/orders", json={"description": "takes all orders"})
    assert patched.status_code == 200, patched.text
    assert lam.get_function_configuration(FunctionName="orders")["Description"] == (
        "takes all orders"
    )


def test_code_and_configuration_updates_and_the_revision_they_need(lam: Any) -> None:
    first = create(lam, "orders")
    # When the code is replaced, the next invoke runs the new code
    new = 'def handler(event, context):\n    return "v2"\n'
    updated = lam.update_function_code(FunctionName="orders", ZipFile=handler_zip(new))
    lam.get_waiter("function_updated_v2").wait(
        FunctionName="orders", WaiterConfig={"Delay": 1, "MaxAttempts": 2}
    )
    assert updated["RevisionId"] != first["RevisionId"]
    answer = lam.invoke(FunctionName="orders", Payload=b"{}")
    assert json.loads(answer["Payload"].read()) == "v2"
    # When the configuration changes against the current revision, it holds
    changed = lam.update_function_configuration(
        FunctionName="orders",
        Timeout=30,
        Description="v2",
        Environment={"Variables": {"A": "1"}},
        RevisionId=updated["RevisionId"],
    )
    assert (changed["Timeout"], changed["Description"]) == (30, "v2")
    assert lam.get_function_configuration(FunctionName="orders")["Environment"] == {
        "Variables": {"A": "1"}
    }
    # And a change against a revision that is no longer current is refused with 412
    with pytest.raises(lam.exceptions.PreconditionFailedException) as stale:
        lam.update_function_configuration(
            FunctionName="orders", Timeout=5, RevisionId=updated["RevisionId"]
        )
    assert stale.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert lam.get_function_configuration(FunctionName="orders")["Timeout"] == 30


def test_listing_pages_through_every_function(lam: Any) -> None:
    for name in ("a-fn", "b-fn", "c-fn"):
        create(lam, name)
    first = lam.list_functions(MaxItems=2)
    assert [f["FunctionName"] for f in first["Functions"]] == ["a-fn", "b-fn"]
    rest = lam.list_functions(MaxItems=2, Marker=first["NextMarker"])
    assert [f["FunctionName"] for f in rest["Functions"]] == ["c-fn"]
    assert "NextMarker" not in rest
    pages = lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 1})
    assert [f["FunctionName"] for page in pages for f in page["Functions"]] == [
        "a-fn",
        "b-fn",
        "c-fn",
    ]


def test_deleting_a_function_removes_it_from_both_apis(lam: Any, api: httpx.Client) -> None:
    create(lam, "orders")
    with pytest.raises(lam.exceptions.ResourceConflictException):
        create(lam, "orders")
    lam.delete_function(FunctionName=arn("orders"))
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="orders")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.delete_function(FunctionName="orders")
    assert api.get("/v1/functions/orders").status_code == 404


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"MemorySize": 64}, "MemorySize"),
        ({"Timeout": 901}, "Timeout"),
        ({"Runtime": "cobol85"}, "Runtime"),
        ({"Code": {"ZipFile": b"this is not a zip"}}, "zip"),
        ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "AWS_REGION"),
        ({"Architectures": ["arm64"]}, "Architectures"),
        ({"PackageType": "Image", "Code": {"ImageUri": "x"}}, "Image"),
    ],
)
def test_bad_creates_get_an_error_naming_the_field(
    clients: Callable[..., Any], fields: dict[str, Any], named: str
) -> None:
    # A client that checks nothing itself (boto3 would refuse some of these first)
    lam = clients(ADMIN, validate=False)
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as bad:
        create(lam, "orders", **fields)
    assert named in bad.value.response["Error"]["Message"]
    assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="orders")


def test_a_body_that_is_not_json_is_refused(server: Server) -> None:
    url = server.url + "/2015-03-31/functions"
    answer = httpx.post(url, content=b"{oops", headers=signed_headers("POST", url, b"{oops"))
    assert answer.status_code == 400
    assert answer.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"
