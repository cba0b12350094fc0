"""``faas queues`` as an operator runs it against a real ``faas serve``, its key in
FAAS_KEY; a boto3 producer stands beside it, to show both see the same queues.

Every step runs the command in its own process and looks only at what a user
sees: its standard output, its standard error and its exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from faas.auth import access_key_id_of
from tests.helpers import ROOT, Server

ADMIN = "admin-key-of-the-queues-cli-story"
REGION = "local-1"


@pytest.fixture
def backend() -> str:
    return "process"  # no function runs here


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    return {**server_env, "FAAS_ADMIN_KEY": ADMIN}


def faas(server: Server, *args: str, key: str = ADMIN) -> subprocess.CompletedProcess[str]:
    """`faas ARGS...` with FAAS_URL and FAAS_KEY exported, as an operator's shell has them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAAS_")}
    env["FAAS_URL"] = server.url
    env["FAAS_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "faas.cli.main", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(done))


@pytest.fixture
def sqs(server: Server) -> Iterator[Any]:
    client = boto3.client(
        "sqs",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=access_key_id_of(ADMIN),
        aws_secret_access_key=ADMIN,
        config=Config(retries={"max_attempts": 0}),
    )
    yield client
    client.close()


def test_an_operator_makes_fills_reads_and_removes_queues(server: Server, sqs: Any) -> None:
    # Given a server with no queues
    assert ok(faas(server, "queues", "ls")).strip() == "no queues"

    # When the operator creates a standard queue with an attribute, and a FIFO one
    url = ok(faas(server, "queues", "create", "jobs", "--attribute", "VisibilityTimeout=1"))
    fifo = as_json(faas(server, "queues", "create", "steps", "--fifo", "--json"))
    # Then each answers its URL, the FIFO one's name with .fifo; boto3 sees the same queues
    assert url.strip().endswith("/jobs")
    assert fifo["QueueUrl"].endswith("/steps.fifo")
    attributes = sqs.get_queue_attributes(QueueUrl=url.strip(), AttributeNames=["All"])
    assert attributes["Attributes"]["VisibilityTimeout"] == "1"

    # When messages are sent from the shell and from boto3
    message_id = ok(faas(server, "queues", "send", "jobs", "from the shell", "--attr", "k=v"))
    sqs.send_message(QueueUrl=url.strip(), MessageBody="from boto3")
    for step in ("one", "two"):
        ok(faas(server, "queues", "send", "steps.fifo", step, "--group", "g", "--dedup-id", step))
    # Then ls counts them
    listed = ok(faas(server, "queues", "ls"))
    assert listed.splitlines()[0].split() == ["NAME", "MESSAGES", "IN", "FLIGHT", "DELAYED", "URL"]
    rows = {line.split()[0]: line.split()[1:4] for line in listed.splitlines()[1:]}
    assert rows == {"jobs": ["2", "0", "0"], "steps.fifo": ["2", "0", "0"]}

    # When the operator peeks at the queue without --delete
    peeked = as_json(faas(server, "queues", "receive", "jobs", "--max", "10", "--json"))
    # Then both messages are shown, and left in the queue (in flight)
    by_body = {m["Body"]: m for m in peeked["Messages"]}
    assert sorted(by_body) == ["from boto3", "from the shell"]
    assert by_body["from the shell"]["MessageId"] == message_id.strip()
    assert by_body["from the shell"]["MessageAttributes"]["k"]["StringValue"] == "v"
    assert peeked["deleted"] is False
    # And they come back after the visibility timeout, received a second time
    again = ok(faas(server, "queues", "receive", "jobs", "--max", "10", "--wait", "5", "--delete"))
    assert sorted(again.splitlines()) == sorted(
        f"{m['MessageId']} (received 2x): {body}" for body, m in by_body.items()
    )
    # And with --delete they are gone
    assert ok(faas(server, "queues", "receive", "jobs")).strip() == "no messages"

    # When the FIFO queue is read one at a time and purged
    first = ok(faas(server, "queues", "receive", "steps.fifo", "--delete"))
    assert first.strip().endswith(": one")
    assert ok(faas(server, "queues", "purge", fifo["QueueUrl"])).strip() == "purged steps.fifo"
    assert ok(faas(server, "queues", "receive", "steps.fifo")).strip() == "no messages"

    # When a queue is removed
    assert ok(faas(server, "queues", "rm", "jobs")).strip() == "deleted jobs"
    # Then only the other is listed
    assert [q["QueueUrl"] for q in as_json(faas(server, "queues", "ls", "--json"))["queues"]] == [
        fifo["QueueUrl"]
    ]


def test_mistakes_are_told_with_the_exit_codes_of_the_cli(server: Server) -> None:
    # When the operator sends to a queue that does not exist
    missing = faas(server, "queues", "send", "nope", "hi")
    # Then the server refused (3) and says which queue
    assert missing.returncode == 3
    assert "nope does not exist" in missing.stderr
    # When an attribute is out of range, the refusal names it
    bad = faas(server, "queues", "create", "q", "--attribute", "DelaySeconds=901")
    assert bad.returncode == 3 and "DelaySeconds" in bad.stderr
    # When a flag is malformed, it is a usage error (2)
    assert faas(server, "queues", "create", "q", "--attribute", "novalue").returncode == 2
    # When the key is wrong, the signature is refused (3)
    wrong = faas(server, "queues", "ls", key="not-the-key")
    assert wrong.returncode == 3, wrong.stderr
