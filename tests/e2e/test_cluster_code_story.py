"""Two nodes on one Redis: a function created through one runs through the other, its
code fetched from the node that has it (signed, its hash verified), and each node
lists both. Functions run as host processes: the story is the code's journey."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_lambda_api_story import aws_client
from tests.helpers import (
    Server,
    admin_client,
    handler_zip,
    process_nodes,
    scrape,
    stored_bundle,
    upload,
    value,
    wait_until,
)

ADMIN = "cluster-admin-key-0123456789abcdef"

GREETER = """
def handler(event, context):
    return {"greeting": "hello " + event["who"], "version": VERSION}
VERSION = %d
"""


@pytest.fixture
def backend() -> str:
    return "process"


@pytest.fixture
def nodes(redis_flushed: str, tmp_path: Path) -> Iterator[list[Server]]:
    """Two `faas serve`s, their own ids, ports and data dirs, one Redis, the same keys."""
    with process_nodes(redis_flushed, tmp_path, "story-node", ADMIN) as servers:
        yield servers


def client(server: Server) -> httpx.Client:
    return admin_client(server, ADMIN)


bundle = stored_bundle


def test_a_function_deployed_through_one_node_runs_through_the_other(
    nodes: list[Server],
) -> None:
    one, two = nodes
    with client(one) as api1, client(two) as api2:
        # Given both nodes list each other
        listed = api2.get("/v1/nodes").json()["nodes"]
        assert [(n["id"], n["url"]) for n in listed] == [
            ("story-node-1", one.url),
            ("story-node-2", two.url),
        ]
        # And a function deployed through node 1
        code = handler_zip(GREETER % 1)
        sha = hashlib.sha256(code).hexdigest()
        assert upload(api1, "greeter", code).status_code == 201
        assert not bundle(two, sha).exists()

        # When it is invoked through node 2
        reply = api2.post("/v1/functions/greeter/invoke", json={"who": "two"})

        # Then node 2 fetched its code from node 1 and ran it
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"greeting": "hello two", "version": 1}
        assert bundle(two, sha).read_bytes() == code

        # When its code is updated through node 2 and it is invoked through node 1
        new = handler_zip(GREETER % 2)
        new_sha = hashlib.sha256(new).hexdigest()
        put = api2.put("/v1/functions/greeter/code", files={"code": ("code.zip", new)})
        assert put.status_code == 200, put.text
        reply = api1.post("/v1/functions/greeter/invoke", json={"who": "one"})

        # Then node 1 fetched the new code the other way
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"greeting": "hello one", "version": 2}
        assert bundle(one, new_sha).read_bytes() == new

        # And a function deployed through node 1 is downloaded through node 2 as uploaded
        other = handler_zip(GREETER % 3)
        assert upload(api1, "other", other).status_code == 201
        assert api2.get("/v1/functions/other/code").content == other


def test_a_bundle_tampered_with_on_the_serving_node_is_refused(nodes: list[Server]) -> None:
    one, two = nodes
    with client(one) as api1, client(two) as api2:
        # Given a function deployed through node 1, whose stored zip was then altered
        code = handler_zip(GREETER % 1)
        sha = hashlib.sha256(code).hexdigest()
        assert upload(api1, "greeter", code).status_code == 201
        bundle(one, sha).write_bytes(handler_zip(GREETER % 666))

        # When it is invoked through node 2
        reply = api2.post("/v1/functions/greeter/invoke", json={"who": "two"})

        # Then node 2 refuses the bundle for its hash, says so, and keeps nothing
        assert reply.status_code == 502, reply.text
        assert "hash mismatch" in reply.text
        assert "story-node-1" in reply.text
        assert not bundle(two, sha).exists()


def test_a_nodes_code_is_not_served_to_anyone_but_a_peer(nodes: list[Server]) -> None:
    one, _ = nodes
    with client(one) as api1:
        # Given a function deployed through node 1
        code = handler_zip(GREETER % 1)
        sha = hashlib.sha256(code).hexdigest()
        assert upload(api1, "greeter", code).status_code == 201
        # Then its bundle is not given without a peer's signature, even with the admin key
        assert api1.get(f"/internal/code/{sha}").status_code == 403
        forged = {"x-faas-peer": "1.deadbeef"}
        assert httpx.get(f"{one.url}/internal/code/{sha}", headers=forged).status_code == 403


def instances_of(api: httpx.Client, unit: str) -> float:
    samples = scrape(api)
    return sum(value(samples, "faas_instances", function=unit, state=s) for s in ("idle", "busy"))


def test_a_version_deleted_through_one_node_is_gone_from_the_other(nodes: list[Server]) -> None:
    one, two = nodes
    lam = aws_client(one, "lambda", ADMIN)
    with client(one) as api1, client(two) as api2:
        # Given a function with a published version 1, run through node 2 (cached there)
        assert upload(api1, "greeter", handler_zip(GREETER % 1)).status_code == 201
        assert lam.publish_version(FunctionName="greeter")["Version"] == "1"
        ran = api2.post("/v1/functions/greeter/invoke?qualifier=1", json={"who": "two"})
        assert ran.status_code == 200, ran.text
        assert instances_of(api2, "greeter:1") == 1
        # When version 1 is deleted through node 1
        lam.delete_function(FunctionName="greeter", Qualifier="1")
        # Then node 2 no longer runs it, and its instance of it is gone
        gone = api2.post("/v1/functions/greeter/invoke?qualifier=1", json={"who": "two"})
        assert gone.status_code == 404, gone.text
        wait_until(
            lambda: instances_of(api2, "greeter:1"),
            what="node 2's instance of version 1 removed",
            done=lambda n: n == 0,
            within_s=5,
        )
        # while $LATEST still runs there
        assert api2.post("/v1/functions/greeter/invoke", json={"who": "x"}).status_code == 200
