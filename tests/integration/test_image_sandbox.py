"""An image function's sandbox on real Docker: the function's own container beside the
agent's, hardened as every function's, in the agent's network namespace, and reaped
with it. The image is the offline base itself, its entry point overridden: nothing of
ours is in it."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from faas.compute.backend import FunctionImage, SandboxSpec
from faas.image_config import ImageConfig
from faas.models import FunctionConfig
from faas.outcomes import Outcome
from faas.platform import Platform
from faas.settings import Settings

pytestmark = pytest.mark.docker


def parts(docker_client: Any, node_id: str, function: str) -> dict[str, Any]:
    found = docker_client.containers.list(
        all=True, filters={"label": [f"faas.node={node_id}", f"faas.function={function}"]}
    )
    return {c.labels["faas.part"]: c for c in found}


@pytest.mark.settings(prewarm_pool=0)
async def test_an_image_sandbox_is_two_hardened_containers_reaped_together(
    platform: Platform, settings: Settings, docker_client: Any, node_id: str, tmp_path: Path
) -> None:
    # Given an image function whose image is the bare base, printing then sleeping
    config = FunctionConfig(
        name="bare",
        runtime="",
        handler="",
        package_type="Image",
        image=settings.offline_base_image,
        memory_mb=256,
        timeout_s=1,
        image_config=ImageConfig(
            entry_point=("sh", "-c"), command=("echo started as $(id -u); sleep 60",)
        ),
    )
    await platform.functions.create(config, None)
    # When it is invoked: its client never asks for an event
    result = await platform.invoker.invoke("bare", b"{}")
    # Then the call fails within its timeout, with what the entry point wrote
    assert result.outcome is Outcome.FUNCTION_ERROR
    assert result.error is not None and result.error["errorType"] == "Runtime.Unavailable"
    assert b"started as 10001" in result.output
    assert parts(docker_client, node_id, "bare") == {}  # removed, both

    # Given one started again by the backend and left running
    spec = await platform.functions.get("bare")
    sandbox = await platform.backend.create(
        SandboxSpec(
            function="bare",
            pool_key="test-pool",
            token=secrets.token_hex(6),
            image=await platform.backend.prepare(),
            code_dir=tmp_path,
            env={"AWS_LAMBDA_FUNCTION_NAME": "bare"},
            memory_mb=256,
            cpus=0.5,
            network=False,
            function_image=FunctionImage(
                image=f"sha256:{spec.code_sha256}", entry_point=("sleep",), command=("60",)
            ),
        )
    )
    made = parts(docker_client, node_id, "bare")
    assert set(made) == {"agent", "function"}
    agent, function = made["agent"].attrs["HostConfig"], made["function"].attrs["HostConfig"]
    # Then the function's container is hardened as a zip function's, with its memory
    assert function["ReadonlyRootfs"] and function["CapDrop"] == ["ALL"]
    assert function["SecurityOpt"] == ["no-new-privileges"]
    assert function["Memory"] == 256 * 1024 * 1024
    assert function["PidsLimit"] == settings.pids_limit
    assert (
        made["function"].attrs["Config"]["User"] == f"{settings.sandbox_uid}:{settings.sandbox_uid}"
    )
    # in the agent's network namespace, the agent holding nothing of the function's
    assert function["NetworkMode"] == f"container:{made['agent'].id}"
    # (its sockets, and the server's API socket read-only, for the function's SDK calls)
    mounts = {m["Destination"]: m["RW"] for m in made["agent"].attrs["Mounts"]}
    assert mounts == {"/run/faas": True, "/run/faas-api": False}
    assert agent["ReadonlyRootfs"] and agent["CapDrop"] == ["ALL"]
    # When its owner is reaped as a dead process's
    removed = await platform.backend.reap(spare_owners=())
    # Then both of its containers are gone
    assert removed == 2
    assert parts(docker_client, node_id, "bare") == {}
    await platform.backend.destroy(sandbox)  # gone already: a no-op
