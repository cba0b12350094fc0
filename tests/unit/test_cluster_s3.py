"""The S3 store's settings say what to fix, and its requests are signed as botocore
signs them (the same canonical request, to the byte)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from faas.cluster.s3 import Credentials, S3Store, sign
from faas.errors import ValidationFailed
from faas.settings import Settings

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
BODY = b"hello world!"
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.mark.parametrize(
    ("method", "url", "headers", "payload", "token"),
    [
        (
            "PUT",
            f"http://127.0.0.1:9000/b/faas/code/{SHA}.zip",
            {"content-type": "application/zip", "content-length": "12"},
            SHA,
            "",
        ),
        ("GET", f"https://s3.eu-west-3.amazonaws.com/b/p/{SHA}.zip", {}, EMPTY, "session"),
        ("DELETE", f"http://minio:9000/b/{SHA}.zip", {}, EMPTY, ""),
        # A listing: the query's pairs sorted by name (not as "name=value" strings).
        (
            "GET",
            "http://127.0.0.1:9000/b?prefix=a%2Fb%2F&list-type=2&continuation-token=x%2By%3D",
            {},
            EMPTY,
            "",
        ),
    ],
)
def test_requests_are_signed_as_botocore_signs_them(
    method: str, url: str, headers: dict[str, str], payload: str, token: str
) -> None:
    # Given botocore's signature of the request (with the body whose sha256 is
    # ``payload``: botocore hashes what it sends over http), made now
    body = BODY if payload == SHA else b""
    request = AWSRequest(method=method, url=url, headers=headers, data=body)
    region = "eu-west-3" if "eu-west-3" in url else "us-east-1"
    S3SigV4Auth(BotoCredentials("AKIDEXAMPLE", SECRET, token or None), "s3", region).add_auth(
        request
    )
    when = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    # When ours signs it at the same second
    ours = sign(
        method, url, headers, payload, Credentials("AKIDEXAMPLE", SECRET, token), region, when
    )
    # Then both are the same
    assert ours["authorization"] == request.headers["Authorization"]
    assert ("x-amz-security-token" in ours) == bool(token)


def test_no_bucket_no_store() -> None:
    assert S3Store.from_settings(Settings.from_env({})) is None


def test_credentials_come_from_awss_own_variables_unless_faas_names_them() -> None:
    aws = {
        "AWS_ACCESS_KEY_ID": "aws-id",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "AWS_SESSION_TOKEN": "t",
    }
    settings = Settings.from_env({"FAAS_S3_BUCKET": "bundles", **aws})
    assert (settings.s3_access_key_id, settings.s3_secret_access_key) == ("aws-id", "aws-secret")
    assert settings.s3_session_token == "t"
    ours = {"FAAS_S3_ACCESS_KEY_ID": "ours", "FAAS_S3_SECRET_ACCESS_KEY": "our-secret"}
    settings = Settings.from_env({"FAAS_S3_BUCKET": "bundles", **aws, **ours})
    assert (settings.s3_access_key_id, settings.s3_session_token) == ("ours", "")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"FAAS_S3_BUCKET": "bundles"}, "FAAS_S3_ACCESS_KEY_ID"),
        ({"FAAS_S3_ENDPOINT_URL": "http://127.0.0.1:9000"}, "FAAS_S3_BUCKET"),
        ({"FAAS_S3_BUCKET": "Bundles_Of_Code"}, "FAAS_S3_BUCKET"),
        (
            {"FAAS_S3_BUCKET": "bundles", "FAAS_S3_ENDPOINT_URL": "minio:9000"},
            "FAAS_S3_ENDPOINT_URL",
        ),
        ({"FAAS_S3_BUCKET": "bundles", "FAAS_S3_PREFIX": "/abs"}, "FAAS_S3_PREFIX"),
        ({"FAAS_CODE_GRACE_S": "-1"}, "FAAS_CODE_GRACE_S"),
    ],
)
def test_an_s3_setting_that_cannot_work_names_its_variable(
    env: dict[str, str], variable: str
) -> None:
    keys = {"FAAS_S3_ACCESS_KEY_ID": "id", "FAAS_S3_SECRET_ACCESS_KEY": "secret"}
    if variable == "FAAS_S3_ACCESS_KEY_ID":
        keys = {}
    with pytest.raises(ValidationFailed, match=variable):
        Settings.from_env({**keys, **env})
