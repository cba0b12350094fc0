"""Two nodes on one Redis and an S3-compatible store (moto's server, on loopback): code
uploaded through one node is in S3 too, so another node runs it after the first has
stopped; a function deleted through one node has its bundle gone from every node's
disk and from S3 within seconds, while a bundle another function shares stays.
Functions run as host processes: the story is the code's journey."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests.helpers import (
    Server,
    admin_client,
    free_port,
    handler_zip,
    process_nodes,
    stored_bundle,
    upload,
    wait_until,
)

ADMIN = "cluster-admin-key-0123456789abcdef"
BUCKET = "faas-bundles"
PREFIX = "story/"
KEYS = {"aws_access_key_id": "story-key", "aws_secret_access_key": "story-secret"}

GREETER = """
def handler(event, context):
    return {"greeting": "hello " + event["who"], "version": VERSION}
VERSION = %d
"""


@pytest.fixture
def backend() -> str:
    return "process"


@pytest.fixture
def s3_url(tmp_path: Path) -> Iterator[str]:
    """moto's S3-compatible server on a free loopback port, with an empty bucket."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    moto = Path(sys.executable).with_name("moto_server")
    with open(tmp_path / "moto.log", "ab") as log:
        proc = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until(
            lambda: httpx.get(url, timeout=1).status_code < 500,
            what=f"moto's server at {url}",
            within_s=30,
            ignoring=(httpx.HTTPError,),
        )
        s3(url).create_bucket(Bucket=BUCKET)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def s3(url: str) -> Any:
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", **KEYS)


def in_s3(url: str) -> dict[str, bytes]:
    """Each object under the prefix: its key, its bytes."""
    client = s3(url)
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


@pytest.fixture
def nodes(redis_flushed: str, s3_url: str, tmp_path: Path) -> Iterator[list[Server]]:
    """Two `faas serve`s, their own ids, ports and data dirs, one Redis, one S3 bucket."""
    env = {
        "FAAS_S3_ENDPOINT_URL": s3_url,
        "FAAS_S3_BUCKET": BUCKET,
        "FAAS_S3_PREFIX": PREFIX,
        # The standard variables, as an operator on AWS would set them.
        "AWS_ACCESS_KEY_ID": KEYS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": KEYS["aws_secret_access_key"],
        "FAAS_CODE_GRACE_S": "1",
    }
    with process_nodes(redis_flushed, tmp_path, "s3-node", ADMIN, **env) as servers:
        yield servers


def client(server: Server) -> httpx.Client:
    return admin_client(server, ADMIN)


bundle = stored_bundle


def test_a_node_runs_code_from_s3_when_the_node_that_had_it_is_stopped(
    nodes: list[Server], s3_url: str
) -> None:
    one, two = nodes
    # Given a function deployed through node 1: its zip is in S3, by its sha256
    code = handler_zip(GREETER % 1)
    sha = hashlib.sha256(code).hexdigest()
    with client(one) as api1:
        assert upload(api1, "greeter", code).status_code == 201
    assert in_s3(s3_url) == {f"{PREFIX}{sha}.zip": code}
    # And node 1 is stopped: no node but it ever had the code
    one.stop()
    assert not bundle(two, sha).exists()

    # When the function is invoked through node 2
    with client(two) as api2:
        reply = api2.post("/v1/functions/greeter/invoke", json={"who": "two"})

    # Then node 2 fetched the code from S3 and ran it
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"greeting": "hello two", "version": 1}
    assert bundle(two, sha).read_bytes() == code


def test_a_deleted_functions_code_goes_from_every_node_and_s3_but_shared_code_stays(
    nodes: list[Server], s3_url: str
) -> None:
    one, two = nodes
    alone, shared = handler_zip(GREETER % 1), handler_zip(GREETER % 2)
    alone_sha = hashlib.sha256(alone).hexdigest()
    shared_sha = hashlib.sha256(shared).hexdigest()
    with client(one) as api1, client(two) as api2:
        # Given a function with code of its own, and two functions sharing one zip
        assert upload(api1, "alone", alone).status_code == 201
        assert upload(api1, "first", shared).status_code == 201
        assert upload(api2, "second", shared).status_code == 201
        # And each run through node 2, which fetched what it lacked
        for name in ("alone", "first"):
            reply = api2.post(f"/v1/functions/{name}/invoke", json={"who": name})
            assert reply.status_code == 200, reply.text
        for node in nodes:
            assert bundle(node, alone_sha).exists() and bundle(node, shared_sha).exists()
        assert set(in_s3(s3_url)) == {f"{PREFIX}{alone_sha}.zip", f"{PREFIX}{shared_sha}.zip"}

        # When "alone" and "first" are deleted through node 1
        assert api1.delete("/v1/functions/alone").status_code == 204
        assert api1.delete("/v1/functions/first").status_code == 204

        # Then within seconds the code only "alone" had is gone from both disks and S3
        wait_until(
            lambda: (
                not any(bundle(node, alone_sha).exists() for node in nodes)
                and f"{PREFIX}{alone_sha}.zip" not in in_s3(s3_url)
            ),
            what="the deleted function's bundle gone from every node and from S3",
            within_s=10,
            show=two.log,
        )
        unpacked = Path(two.env["FAAS_DATA_DIR"]) / "code" / "unpacked" / alone_sha
        assert not unpacked.exists()
        # And "second" keeps its code everywhere, and still runs through node 2
        for node in nodes:
            assert bundle(node, shared_sha).read_bytes() == shared
        assert in_s3(s3_url) == {f"{PREFIX}{shared_sha}.zip": shared}
        reply = api2.post("/v1/functions/second/invoke", json={"who": "second"})
        assert reply.status_code == 200, reply.text
        # And the deleted function is gone through node 2 as well
        assert api2.post("/v1/functions/alone/invoke", json={}).status_code == 404


def test_a_bundle_altered_in_s3_is_refused(nodes: list[Server], s3_url: str) -> None:
    one, two = nodes
    # Given a function deployed through node 1, whose object in S3 was then replaced
    code = handler_zip(GREETER % 1)
    sha = hashlib.sha256(code).hexdigest()
    with client(one) as api1:
        assert upload(api1, "greeter", code).status_code == 201
    s3(s3_url).put_object(Bucket=BUCKET, Key=f"{PREFIX}{sha}.zip", Body=handler_zip(GREETER % 6))
    one.stop()

    # When it is invoked through node 2
    with client(two) as api2:
        reply = api2.post("/v1/functions/greeter/invoke", json={"who": "two"})

    # Then node 2 refuses the object for its hash, says so, and keeps nothing
    assert reply.status_code == 502, reply.text
    assert "S3: hash mismatch" in reply.text
    assert not bundle(two, sha).exists()
