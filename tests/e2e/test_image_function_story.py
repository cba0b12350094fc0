"""Container-image functions: a team ships its function as a local Docker image, built
``FROM`` the offline base with ``awslambdaric`` installed by pip (no registry, no
network inside the build), and runs it through boto3 (``PackageType: Image``) and
``/v1`` (``image``) as it would on Lambda.

The image is built once for the module, labelled with the test session's node id,
and removed after; the containers the server makes carry the session's labels.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import docker
import httpx
import pytest
from botocore.config import Config

from faas.auth import access_key_id_of
from tests.helpers import Server, wait_until

pytestmark = pytest.mark.docker

ADMIN = "admin-key-of-the-image-story"
REGION = "local-1"
ROLE = "arn:aws:iam::000000000000:role/lambda-basic"
# Downloaded once per machine, outside the work tree.
WHEELS = Path.home() / ".cache" / "faas-tests" / "awslambdaric-wheels"

APP = """
import os, time

STARTED = time.time()


def about(event, context):
    return {
        "started": STARTED,
        "cwd": os.getcwd(),
        "uid": os.getuid(),
        "greeting": os.environ.get("GREETING"),
        "stage": os.environ.get("STAGE"),
        "handler": os.environ.get("_HANDLER"),
        "function": context.function_name,
        "memory": context.memory_limit_in_mb,
        "region": os.environ.get("AWS_REGION"),
    }


def handler(event, context):
    print("handler heard", event.get("word"))
    if event.get("fail"):
        raise ValueError("asked to fail")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"word": event.get("word"), **about(event, context)}


def hog(event, context):
    blocks = []
    while True:
        blocks.append(b"x" * (16 << 20))


def shout(event, context):
    print("shouting", event.get("word"))
    return {"shout": str(event.get("word")).upper(), **about(event, context)}
"""

DOCKERFILE = """
FROM {base}
COPY wheels /tmp/wheels
RUN python3 -m venv /opt/ric \\
 && /opt/ric/bin/pip install --no-index --find-links /tmp/wheels awslambdaric \\
 && rm -rf /tmp/wheels
ENV PATH=/opt/ric/bin:/usr/local/bin:/usr/bin:/bin GREETING=hello-from-the-image
WORKDIR /var/task
COPY app.py ./
ENTRYPOINT ["python3", "-m", "awslambdaric"]
CMD ["app.handler"]
"""


def awslambdaric_wheels() -> Path:
    """awslambdaric and its dependencies as wheels for the base's CPython 3.11 (Debian
    bookworm's), downloaded on the host once: the build itself never reaches PyPI."""
    if not any(WHEELS.glob("awslambdaric-*.whl")):
        WHEELS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--only-binary=:all:",
                "--platform=manylinux2014_x86_64",
                "--python-version=3.11",
                "--implementation=cp",
                "--dest",
                str(WHEELS),
                "awslambdaric>=4,<5",
            ],
            check=True,
        )
    return WHEELS


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory, node_id: str) -> Iterator[str]:
    """The user's image, built from the offline base, removed after the module."""
    from faas.settings import Settings

    client = docker.from_env()
    base = Settings().offline_base_image
    context = tmp_path_factory.mktemp("image-context")
    shutil.copytree(awslambdaric_wheels(), context / "wheels")
    (context / "app.py").write_text(APP)
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    tag = f"faas-test-image-fn:{node_id}"
    client.images.build(
        path=str(context), tag=tag, labels={"faas.node": node_id}, rm=True, forcerm=True
    )
    try:
        yield tag
    finally:
        client.images.remove(tag, force=True)
        client.close()


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    return {**server_env, "FAAS_ADMIN_KEY": ADMIN, "FAAS_PREWARM_POOL": "0"}


@pytest.fixture
def lam(server: Server) -> Iterator[Any]:
    client = boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=access_key_id_of(ADMIN),
        aws_secret_access_key=ADMIN,
        config=Config(retries={"max_attempts": 0}, read_timeout=60),
    )
    yield client
    client.close()


def invoke(lam: Any, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The decoded payload, and the whole answer."""
    answer = lam.invoke(FunctionName=name, Payload=json.dumps(event), LogType="Tail")
    return json.loads(answer["Payload"].read()), answer


def containers_of(function: str, node_id: str) -> list[Any]:
    client = docker.from_env()
    try:
        return list(
            client.containers.list(
                all=True, filters={"label": [f"faas.function={function}", f"faas.node={node_id}"]}
            )
        )
    finally:
        client.close()


def test_an_image_function_runs_through_boto3_warm_failing_and_timing_out(
    lam: Any, api: httpx.Client, image: str, node_id: str
) -> None:
    # Given an image whose CMD is app.handler, created with its Command overridden
    created = lam.create_function(
        FunctionName="shouter",
        PackageType="Image",
        Code={"ImageUri": image},
        ImageConfig={"Command": ["app.shout"]},
        Role=ROLE,
        Timeout=2,
        Environment={"Variables": {"STAGE": "test"}},
    )
    # Then the Lambda API shows an image function, as Lambda does
    assert created["PackageType"] == "Image"
    assert "Runtime" not in created and "Handler" not in created
    assert created["ImageConfigResponse"] == {"ImageConfig": {"Command": ["app.shout"]}}
    got = lam.get_function(FunctionName="shouter")
    assert got["Code"]["ImageUri"] == image
    assert got["Code"]["ResolvedImageUri"].endswith("@sha256:" + created["CodeSha256"])

    # When it is invoked twice
    first, answer = invoke(lam, "shouter", {"word": "hello"})
    second, second_answer = invoke(lam, "shouter", {"word": "again"})
    # Then the override ran, in the image's WORKDIR, with its ENV and the function's
    assert first["shout"] == "HELLO" and second["shout"] == "AGAIN"
    assert first["cwd"] == "/var/task"
    assert first["greeting"] == "hello-from-the-image"
    assert first["stage"] == "test"
    assert first["handler"] == "app.shout"
    assert (first["function"], first["memory"], first["region"]) == ("shouter", "128", REGION)
    # as the sandbox user, not the image's root
    assert first["uid"] == 10001
    # and the second call was served warm by the same process
    assert second["started"] == first["started"]
    # and its output came back in the tail, framed as Lambda frames it
    tail = base64.b64decode(answer["LogResult"]).decode()
    assert "shouting hello" in tail and tail.startswith("START RequestId:")
    # each call's own output only
    second_tail = base64.b64decode(second_answer["LogResult"]).decode()
    assert "shouting again" in second_tail and "shouting hello" not in second_tail
    # and its sandbox is two containers: the agent's and the image's
    parts = sorted(c.labels.get("faas.part") for c in containers_of("shouter", node_id))
    assert parts == ["agent", "function"]

    # When its ImageConfig goes back to the image's CMD, and the handler fails
    lam.update_function_configuration(FunctionName="shouter", ImageConfig={})
    failed, answer = invoke(lam, "shouter", {"word": "boom", "fail": True})
    # Then the error is the function's, named as Lambda names it
    assert answer["FunctionError"] == "Unhandled"
    assert (failed["errorType"], failed["errorMessage"]) == ("ValueError", "asked to fail")

    # When a call outlives the function's 2 s timeout
    started = time.monotonic()
    timed_out, answer = invoke(lam, "shouter", {"word": "slow", "sleep": 10})
    # Then it ends at the timeout, and the next call gets a fresh sandbox that works
    assert time.monotonic() - started < 6
    assert answer["FunctionError"] == "Unhandled"
    assert "timed out after 2.00 seconds" in timed_out["errorMessage"]
    after, _ = invoke(lam, "shouter", {"word": "after"})
    assert after["word"] == "after" and after["started"] != first["started"]

    # And every call's output reached the function's logs
    logs = api.get("/v1/functions/shouter/logs").json()["logs"]
    text = "\n".join(record["log"] for record in logs)
    for line in ("shouting hello", "shouting again", "handler heard boom", "handler heard after"):
        assert line in text
    assert [r["outcome"] for r in logs] == [
        "success",
        "success",
        "function_error",
        "timeout",
        "success",
    ]

    # When it is deleted, both of its containers go with it
    lam.delete_function(FunctionName="shouter")
    wait_until(lambda: not containers_of("shouter", node_id), what="containers removed")

    # And a create naming no local image, or a runtime beside an image, is refused by field
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as missing:
        lam.create_function(
            FunctionName="ghost",
            PackageType="Image",
            Code={"ImageUri": "no-such-image-here:1"},
            Role=ROLE,
        )
    assert missing.value.response["Error"]["Message"].startswith("Code.ImageUri ")
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as both:
        lam.create_function(
            FunctionName="ghost",
            PackageType="Image",
            Runtime="python3.11",
            Code={"ImageUri": image},
            Role=ROLE,
        )
    assert both.value.response["Error"]["Message"].startswith("Runtime ")


def test_an_image_function_through_v1_and_images_that_never_serve(
    api: httpx.Client, image: str
) -> None:
    # Given an image function created through /v1 with no zip at all
    made = api.post("/v1/functions", data={"name": "greeter", "image": image, "timeout_s": "2"})
    assert made.status_code == 201, made.text
    assert (made.json()["package_type"], made.json()["image"]) == ("Image", image)
    # When it is invoked
    answer = api.post("/v1/functions/greeter/invoke", json={"word": "hi"})
    # Then its image's CMD handler answered, and the call's output is in its logs
    assert answer.status_code == 200, answer.text
    assert answer.json()["word"] == "hi" and answer.json()["handler"] == "app.handler"
    request_id = answer.headers["X-Request-Id"]
    logs = api.get("/v1/functions/greeter/logs", params={"request_id": request_id}).json()
    assert "handler heard hi" in logs["logs"][0]["log"]

    # When an image is named that this server's engine does not have
    missing = api.post("/v1/functions", data={"name": "ghost", "image": "no-such-image:1"})
    # Then the create is refused, naming the field
    assert missing.status_code == 422
    assert missing.json()["field"] == "image"

    # When an image's entry point never asks for an event
    made = api.post(
        "/v1/functions",
        data={
            "name": "silent",
            "image": image,
            "timeout_s": "2",
            "image_config": json.dumps({"entry_point": ["sleep"], "command": ["60"]}),
        },
    )
    assert made.status_code == 201, made.text
    started = time.monotonic()
    silent = api.post("/v1/functions/silent/invoke", json={})
    # Then the call fails within the function's timeout, saying why
    assert time.monotonic() - started < 5
    assert silent.status_code == 500
    assert silent.json()["errorType"] == "Runtime.Unavailable"
    assert (
        "did not ask for an event within the function's timeout (2 s)"
        in silent.json()["errorMessage"]
    )

    # When an image function exhausts its memory
    made = api.post(
        "/v1/functions",
        data={"name": "hog", "image": image, "image_config": '{"command": ["app.hog"]}'},
    )
    assert made.status_code == 201, made.text
    hogged = api.post("/v1/functions/hog/invoke", json={})
    # Then it fails as out of memory, as a zip function does
    assert hogged.json()["errorType"] == "Runtime.OutOfMemory", hogged.text

    # When an image's entry point exits at once
    made = api.post(
        "/v1/functions",
        data={"name": "quitter", "image": image, "image_config": '{"entry_point": ["false"]}'},
    )
    assert made.status_code == 201, made.text
    quit_answer = api.post("/v1/functions/quitter/invoke", json={})
    # Then the call reports the runtime's exit, as Lambda does
    assert quit_answer.status_code == 500
    assert quit_answer.json()["errorType"] == "Runtime.ExitError"
    assert "exit status 1" in quit_answer.json()["errorMessage"]
