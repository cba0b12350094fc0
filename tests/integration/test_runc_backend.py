"""Stories of the runc backend: the Docker backend's sandboxes, started by runc directly.

Each story runs a real server on ``FAAS_BACKEND=runc`` (root on this host, runc
from Debian's package) and looks at what runc itself reports (``runc list``).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import docker
import pytest

from faas.compute.backend import GENERIC_POOL, SandboxSpec
from faas.compute.runc.backend import RuncBackend
from faas.outcomes import Outcome
from faas.platform import Platform
from tests.helpers import make_zip, runc_containers

pytestmark = pytest.mark.runc

WHOAMI = """
import os
calls = 0

def handler(event, context):
    global calls
    calls += 1
    return {"host": os.uname().nodename, "uid": os.getuid(), "calls": calls}
"""


@pytest.fixture
def backend() -> str:
    return "runc"


async def invoke(platform: Platform, name: str, event: object = None):  # type: ignore[no-untyped-def]
    result = await platform.invoker.invoke(name, json.dumps(event or {}).encode())
    assert result.outcome is Outcome.SUCCESS, result
    return result, json.loads(result.payload)


async def test_a_function_runs_cold_then_warm_in_one_runc_container(platform, deploy, data_dir):  # type: ignore[no-untyped-def]
    # Given a function on the runc backend
    await deploy("whoami", WHOAMI)
    # When it is invoked twice
    first, body1 = await invoke(platform, "whoami")
    second, body2 = await invoke(platform, "whoami")
    # Then the first call was cold and the second warm, in the same container,
    # run as the unprivileged sandbox user
    assert (first.cold_start, second.cold_start) == (True, False)
    assert body1["host"] == body2["host"]
    assert (body1["calls"], body2["calls"]) == (1, 2)
    assert body1["uid"] == platform.settings.sandbox_uid
    # and runc lists it with the function's annotations
    assert len(runc_containers(data_dir, "whoami")) == 1
    # When the function is deleted, its container is gone
    await platform.functions.delete("whoami")
    assert runc_containers(data_dir, "whoami") == []


LOCKS = """
import ctypes, os

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return line.split()[1]

def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as exc:
        return type(exc).__name__

def handler(event, context):
    libc = ctypes.CDLL(None, use_errno=True)
    mounted = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)
    return {
        "caps": status("CapEff"),
        "no_new_privs": status("NoNewPrivs"),
        "seccomp": status("Seccomp"),
        "mount": [mounted, ctypes.get_errno()],
        "memory": read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        "swap": read("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
        "pids": read("/sys/fs/cgroup/pids/pids.max"),
        "keys": read("/proc/keys"),
        "write_root": os.access("/etc", os.W_OK),
    }
"""


async def test_a_runc_sandbox_is_locked_down_as_a_docker_one(platform, deploy, settings):  # type: ignore[no-untyped-def]
    # Given a function of 512 MB that looks at its own limits
    await deploy("locks", LOCKS, memory_mb=512)
    # When it runs
    _, body = await invoke(platform, "locks")
    # Then it has no capability, cannot gain any, and runs under a seccomp filter
    assert int(body["caps"], 16) == 0
    assert body["no_new_privs"] == "1"
    assert body["seccomp"] == "2"
    # which refuses mount(2) with EPERM
    assert body["mount"] == [-1, 1]
    # its memory is capped at its size, with no swap beyond it, and its processes too
    assert body["memory"] == str(512 * 1024 * 1024)
    assert body["swap"] in (str(512 * 1024 * 1024), "FileNotFoundError")
    assert body["pids"] == str(settings.pids_limit)
    # /proc/keys is masked (the host's keyrings), the root read-only
    assert body["keys"] == ""
    assert body["write_root"] is False


async def test_a_dead_owners_containers_and_addresses_are_reaped(settings, data_dir):  # type: ignore[no-untyped-def]
    # Given two owners' sandboxes on one node, each with network access
    dead = RuncBackend(settings, "dead-owner", docker.from_env())
    live = RuncBackend(settings, "live-owner", docker.from_env())
    image = await dead.prepare()
    for backend in (dead, live):
        await backend.start("install-1")
    doomed = await dead.create(generic_spec(image))
    kept = await live.create(generic_spec(image))
    assert {c["id"] for c in runc_containers(data_dir)} == {
        doomed.spec.token,
        kept.spec.token,
    }
    assert has_netns(doomed.spec.token)
    # When the live owner reaps what is not its own or another live owner's
    removed = await live.reap(["live-owner"])
    # Then the dead owner's container is gone, with its namespace and address
    assert removed == 1
    assert [c["id"] for c in runc_containers(data_dir)] == [kept.spec.token]
    assert not has_netns(doomed.spec.token)
    leases = sorted(p.read_text().split()[0] for p in (data_dir / "runc" / "leases").iterdir())
    assert leases == [kept.spec.token]
    # and the live one's still answers
    client = kept.client()
    try:
        reply = await client.request("GET", "/health", timeout_s=5)
    finally:
        client.close()
    assert reply.status == 200
    await live.destroy(kept)
    assert runc_containers(data_dir) == []
    assert list((data_dir / "runc" / "leases").iterdir()) == []
    for backend in (dead, live):
        await backend.close()


def has_netns(token: str) -> bool:
    return Path(f"/run/netns/faas-{token}").exists()


def generic_spec(image: str) -> SandboxSpec:
    return SandboxSpec(
        function="",
        pool_key=GENERIC_POOL,
        token=secrets.token_hex(6),
        image=image,
        code_dir=Path("/nonexistent"),
        env={},
        memory_mb=128,
        cpus=0.25,
        network=True,
        generic=True,
    )


async def test_a_nodejs_function_runs_on_runc(platform, deploy):  # type: ignore[no-untyped-def]
    # Given a Node.js function (its runtime's image exported as another root)
    code = make_zip(
        {
            "index.js": (
                "let calls = 0;\n"
                "exports.handler = async (event) => "
                "({ calls: ++calls, node: process.version.startsWith('v20'), got: event });\n"
            )
        }
    )
    await deploy("node", code, runtime="nodejs20.x", handler="index.handler")
    # When it is invoked twice
    first, body1 = await invoke(platform, "node", {"x": 1})
    second, body2 = await invoke(platform, "node", {"x": 2})
    # Then Node 20 answered, cold then warm, in one container
    assert body1 == {"calls": 1, "node": True, "got": {"x": 1}}
    assert body2 == {"calls": 2, "node": True, "got": {"x": 2}}
    assert (first.cold_start, second.cold_start) == (True, False)
