"""Stories of one sandbox: errors, timeouts, memory, limits, custom runtimes."""

from __future__ import annotations

import json
import os

import docker
import pytest

from faas.compute.docker.backend import CPU_PERIOD_US
from faas.compute.placement import cpus_for
from faas.outcomes import Outcome
from faas.platform import Platform
from tests.helpers import make_zip, wait_until_async


async def invoke(platform: Platform, name: str, event: object = None):  # type: ignore[no-untyped-def]
    return await platform.invoker.invoke(
        name, json.dumps(event if event is not None else {}).encode()
    )


@pytest.mark.both_backends
async def test_a_raised_exception_is_reported_as_lambda_does(platform, deploy):  # type: ignore[no-untyped-def]
    await deploy("raiser", "def handler(e, c):\n    raise ValueError('bad input: 42')\n")
    result = await invoke(platform, "raiser")
    assert result.outcome is Outcome.FUNCTION_ERROR
    error = result.error
    assert error is not None
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "bad input: 42"
    assert any("raise ValueError" in line for line in error["stackTrace"])
    # A handled error keeps the container: the next call is warm.
    again = await invoke(platform, "raiser")
    assert again.cold_start is False


@pytest.mark.both_backends
async def test_missing_module_and_missing_handler_use_lambdas_names(platform, deploy):  # type: ignore[no-untyped-def]
    await deploy("nomodule", "def handler(e, c):\n    return 1\n", handler="missing.handler")
    await deploy("nohandler", "def other(e, c):\n    return 1\n")
    missing_module = await invoke(platform, "nomodule")
    missing_handler = await invoke(platform, "nohandler")
    assert missing_module.error is not None and missing_handler.error is not None
    assert missing_module.error["errorType"] == "Runtime.ImportModuleError"
    assert "missing" in missing_module.error["errorMessage"]
    assert missing_handler.error["errorType"] == "Runtime.HandlerNotFound"


@pytest.mark.runc_too
async def test_a_timeout_kills_the_container_and_the_next_call_starts_clean(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of
):
    # Given a function with a 1 s timeout that sleeps when asked
    source = "import time\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n    return 'ok'\n"
    await deploy("slow", source, timeout_s=1)
    await invoke(platform, "slow")  # warm it up so the timeout is the handler's alone
    # When a call sleeps past the timeout
    result = await invoke(platform, "slow", {"sleep": 30})
    # Then it fails as Lambda's timeout does, about when the timeout passes
    assert result.outcome is Outcome.TIMEOUT
    assert result.error == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "Task timed out after 1.00 seconds",
        "stackTrace": [],
    }
    assert result.duration_ms < 3000
    # and the container is gone; the next call gets a fresh one that works
    assert containers_of("slow") == []
    after = await invoke(platform, "slow")
    assert after.outcome is Outcome.SUCCESS and after.cold_start


@pytest.mark.runc_too
async def test_out_of_memory_is_reported_and_the_platform_stays_healthy(platform, deploy):  # type: ignore[no-untyped-def]
    source = (
        "def handler(e, c):\n"
        "    if e.get('hog'):\n"
        "        chunks = [bytearray(16 * 1024 * 1024) for _ in range(64)]\n"
        "        return len(chunks)\n"
        "    return 'fine'\n"
    )
    await deploy("hog", source, memory_mb=128, timeout_s=20)
    result = await invoke(platform, "hog", {"hog": True})
    assert result.outcome is Outcome.OUT_OF_MEMORY
    assert result.error is not None and result.error["errorType"] == "Runtime.OutOfMemory"
    after = await invoke(platform, "hog")
    assert after.outcome is Outcome.SUCCESS and json.loads(after.payload) == "fine"


@pytest.mark.runc_too
async def test_a_function_that_exits_mid_invoke_is_reported_with_its_output(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of
):
    # Given a warm function (its runtime serving its own socket) that can exit
    source = (
        "import sys\n"
        "def handler(e, c):\n"
        "    if e.get('exit'):\n"
        "        print('leaving now')\n"
        "        sys.exit(3)\n"
        "    return 'here'\n"
    )
    await deploy("quitter", source)
    await invoke(platform, "quitter")
    (before,) = containers_of("quitter")
    # When the handler exits the runtime
    result = await invoke(platform, "quitter", {"exit": True})
    # Then the call fails as on Lambda, with what the function wrote in its log
    assert result.outcome is Outcome.FUNCTION_ERROR
    assert result.error is not None
    assert result.error["errorType"] == "Runtime.ExitError"
    assert result.error["errorMessage"].endswith("Runtime exited with error: exit status 3")
    assert result.output == b"leaving now\n"
    assert "leaving now" in result.log
    # And the container is gone; the next call starts a new one that answers
    after = await invoke(platform, "quitter")
    assert after.outcome is Outcome.SUCCESS and after.cold_start
    assert before not in containers_of("quitter")


async def test_context_and_environment_are_lambdas(platform, deploy, containers_of):  # type: ignore[no-untyped-def]
    source = """
import os
def handler(event, context):
    return {
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "log_group": context.log_group_name,
        "log_stream": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "env": {k: os.environ.get(k) for k in (
            "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "_HANDLER",
            "LAMBDA_TASK_ROOT", "AWS_REGION", "GREETING")},
        "event": event,
    }
"""
    await deploy("ctx", source, memory_mb=256, timeout_s=5, env={"GREETING": "hi"})
    result = await platform.invoker.invoke("ctx", b'{"name": "x"}', "req-123")
    body = json.loads(result.payload)
    assert body["request_id"] == "req-123"
    assert body["function_name"] == "ctx"
    assert body["function_version"] == "$LATEST"
    assert int(body["memory"]) == 256
    assert body["arn"].endswith(":function:ctx")
    assert body["log_group"] == "/aws/lambda/ctx"
    # The log stream names the container, as Lambda's names the execution environment
    [cid] = containers_of("ctx")
    name = docker.from_env().containers.get(cid).name
    assert body["log_stream"].endswith("]" + name.rsplit("-", 1)[1])
    assert 0 < body["remaining"] <= 5000
    assert body["env"] == {
        "AWS_LAMBDA_FUNCTION_NAME": "ctx",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "_HANDLER": "app.handler",
        "LAMBDA_TASK_ROOT": "/var/task",
        "AWS_REGION": "local-1",
        "GREETING": "hi",
    }
    assert body["event"] == {"name": "x"}


@pytest.mark.runc_too
async def test_the_sandbox_is_locked_down(platform, deploy):  # type: ignore[no-untyped-def]
    source = """
import os, socket
def try_(f):
    try:
        f()
        return "ok"
    except OSError as exc:
        return type(exc).__name__

def handler(event, context):
    def connect():
        s = socket.create_connection(("1.1.1.1", 53), timeout=1)
        s.close()
    return {
        "uid": os.getuid(),
        "write_task": try_(lambda: open("/var/task/x", "w")),
        "write_root": try_(lambda: open("/etc/x", "w")),
        "write_tmp": try_(lambda: open("/tmp/x", "w").write("hi")),
        "interfaces": sorted(os.listdir("/sys/class/net")),
    }
"""
    await deploy("locked", source, network=False)
    body = json.loads((await invoke(platform, "locked")).payload)
    assert body["uid"] != 0
    assert body["write_task"] != "ok"
    assert body["write_root"] != "ok"
    assert body["write_tmp"] == "ok"
    # With network off, only loopback exists.
    assert body["interfaces"] == ["lo"]


async def test_memory_and_hardening_reach_docker(  # type: ignore[no-untyped-def]
    platform, deploy, docker_client, containers_of, settings
):
    await deploy("limits", "def handler(e, c):\n    return 1\n", memory_mb=512)
    await invoke(platform, "limits")
    [cid] = containers_of("limits")
    host = docker_client.api.inspect_container(cid)["HostConfig"]
    assert host["Memory"] == 512 * 1024 * 1024
    assert host["MemorySwap"] == host["Memory"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["PidsLimit"] > 0
    # CPU in proportion to memory, as a quota over a short period (waits of ms, not 75 ms),
    # set once the runtime's init is over (the start and the init run unthrottled)
    share = cpus_for(512, settings.min_cpus, os.cpu_count() or 1)
    limits = await wait_until_async(
        lambda: docker_client.api.inspect_container(cid)["HostConfig"],
        what="the CPU quota set after init",
        done=lambda h: h["CpuQuota"] != 0,
        within_s=10,
    )
    assert limits["CpuPeriod"] == CPU_PERIOD_US
    assert limits["CpuQuota"] == int(share * CPU_PERIOD_US)


@pytest.mark.both_backends
async def test_a_custom_bootstrap_speaking_the_runtime_api_runs_unchanged(platform, deploy):  # type: ignore[no-untyped-def]
    # Given a `provided` function whose zip holds a shell bootstrap, as on Lambda
    bootstrap = """#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS=$(mktemp)
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  ID=$(grep -i Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  BODY="{\\"echo\\": $EVENT, \\"by\\": \\"sh\\"}"
  curl -sS -X POST "$API/invocation/$ID/response" -d "$BODY" >/dev/null
done
"""
    code = make_zip({"bootstrap": bootstrap}, executable=("bootstrap",))
    await deploy("custom", code, runtime="provided", handler="function.handler")
    # When it is invoked
    result = await invoke(platform, "custom", {"x": 1})
    # Then the bootstrap's response comes back
    assert result.outcome is Outcome.SUCCESS
    assert json.loads(result.payload) == {"echo": {"x": 1}, "by": "sh"}


QUOTA_SOURCE = """
import os

def quota():
    # cgroup v1, else v2's cpu.max ("max 100000" when unlimited)
    if os.path.exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"):
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            return int(f.read())
    with open("/sys/fs/cgroup/cpu.max") as f:
        limit = f.read().split()[0]
    return -1 if limit == "max" else int(limit)

AT_INIT = quota()

def handler(event, context):
    return {"init": AT_INIT, "now": quota()}
"""


@pytest.mark.runc_too
async def test_a_new_instance_initializes_unthrottled_then_keeps_to_its_cpu_share(  # type: ignore[no-untyped-def]
    platform, deploy, containers_of, settings
):
    # Given a function that reads its container's CPU quota at import and at each call
    await deploy("boosted", QUOTA_SOURCE)
    # When it is called for the first time
    first = json.loads((await invoke(platform, "boosted")).payload)
    # Then its init ran without a quota, as Lambda boosts init
    assert first["init"] == -1
    # and once initialized its container keeps to its share of the CPU
    share = int(cpus_for(128, settings.min_cpus, os.cpu_count() or 1) * CPU_PERIOD_US)

    async def seen() -> int:
        return int(json.loads((await invoke(platform, "boosted")).payload)["now"])

    await wait_until_async(
        seen, what="the CPU quota set after init", done=lambda q: q == share, within_s=10
    )
    assert len(containers_of("boosted")) == 1
