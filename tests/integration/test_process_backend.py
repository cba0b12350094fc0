"""The user's story on the process backend: functions as host processes, no Docker.

A developer without Docker runs ``faas serve --backend process``: the same
platform, with each sandbox an agent process and its runtime on this host.
These stories need no Docker engine (marked ``process``, not ``docker``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from faas.compute import factory
from faas.compute.backend import GENERIC_POOL, SandboxSpec
from faas.compute.process import backend as process_backend
from faas.compute.process import procs
from faas.invoke.asyncq.records import State
from faas.outcomes import Outcome
from faas.platform import Platform
from faas.settings import Settings
from tests.helpers import ROOT, Server, free_port, handler_zip, upload, wait_until, wait_until_async

pytestmark = pytest.mark.process

HELLO = """
import os
CALLS = []
def handler(event, context):
    CALLS.append(1)
    return {"hello": event.get("name"), "pid": os.getpid(), "calls": len(CALLS),
            "root": os.environ["LAMBDA_TASK_ROOT"], "cwd": os.getcwd()}
"""

SLOW = """
import subprocess, time
def handler(event, context):
    child = subprocess.Popen(["sleep", "300"])
    with open(event["pidfile"], "w") as f:
        f.write(str(child.pid))
    time.sleep(event.get("sleep", 0))
    return "done"
"""


@pytest.fixture
def backend() -> str:
    return "process"


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed and not yet collected, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def files_in(directory: str) -> list[str]:
    return os.listdir(directory)


def sandboxes(settings: Settings) -> list[procs.Record]:
    """The process sandboxes of this data dir, as their records tell."""
    found = (procs.Record.read(p) for p in settings.sockets_dir.glob("*.proc"))
    return [r for r in found if r is not None]


async def test_a_function_runs_cold_then_warm_in_a_host_process(platform, deploy) -> None:  # type: ignore[no-untyped-def]
    # Given a function uploaded to a platform on the process backend
    await deploy("hello", HELLO)
    # When it is invoked twice
    first = await platform.invoker.invoke("hello", b'{"name": "x"}')
    second = await platform.invoker.invoke("hello", b'{"name": "y"}')
    # Then the handler answers, cold then warm, from the same process keeping its state
    assert first.outcome is Outcome.SUCCESS and second.outcome is Outcome.SUCCESS
    one, two = json.loads(first.payload), json.loads(second.payload)
    assert (one["hello"], two["hello"]) == ("x", "y")
    assert first.cold_start and not second.cold_start
    assert one["pid"] == two["pid"] and two["calls"] == 2
    # in a process of this host, its code directory the task root and working directory
    assert alive(one["pid"]) and one["pid"] != os.getpid()
    assert one["root"] == one["cwd"] and "app.py" in files_in(one["root"])


async def test_function_errors_keep_lambdas_shape(platform, deploy) -> None:  # type: ignore[no-untyped-def]
    # Given a handler that raises, and one whose module is missing
    await deploy("raiser", "def handler(e, c):\n    raise ValueError('bad input: 42')\n")
    await deploy("nomodule", "def handler(e, c):\n    return 1\n", handler="missing.handler")
    # When they are invoked
    raised = await platform.invoker.invoke("raiser", b"{}")
    missing = await platform.invoker.invoke("nomodule", b"{}")
    # Then the errors are Lambda's, as on Docker
    assert raised.outcome is Outcome.FUNCTION_ERROR and raised.error is not None
    assert raised.error["errorType"] == "ValueError"
    assert raised.error["errorMessage"] == "bad input: 42"
    assert any("raise ValueError" in line for line in raised.error["stackTrace"])
    assert missing.error is not None
    assert missing.error["errorType"] == "Runtime.ImportModuleError"
    # And a handled error keeps the process: the next call is warm
    assert (await platform.invoker.invoke("raiser", b"{}")).cold_start is False


async def test_a_timeout_kills_the_runtime_and_what_it_started(  # type: ignore[no-untyped-def]
    platform, deploy, settings, tmp_path
) -> None:
    # Given a warm function with a 1 s timeout whose handler starts a child process
    await deploy("slow", SLOW, timeout_s=1)
    pidfile = tmp_path / "child.pid"
    event = json.dumps({"pidfile": str(pidfile)}).encode()
    assert (await platform.invoker.invoke("slow", event)).cold_start
    (agent,) = [r for r in sandboxes(settings) if r.token in _tokens(platform, "slow")]
    # When a call sleeps past the timeout
    late = json.dumps({"pidfile": str(pidfile), "sleep": 30}).encode()
    result = await platform.invoker.invoke("slow", late)
    # Then it fails as Lambda's timeout does
    assert result.outcome is Outcome.TIMEOUT
    assert result.error is not None and result.error["errorType"] == "Sandbox.Timedout"
    assert result.error["errorMessage"] == "Task timed out after 1.00 seconds"
    # and the agent, the runtime and the handler's child are gone, with their files
    grandchild = int(pidfile.read_text())
    await wait_until_async(
        lambda: not alive(agent.pid) and not alive(grandchild),
        what="the timed-out sandbox's processes to end",
    )
    assert agent.token not in [r.token for r in sandboxes(settings)]
    assert not (settings.sockets_dir / agent.token).exists()
    # And the next call starts a fresh process that works
    after = await platform.invoker.invoke("slow", event)
    assert after.outcome is Outcome.SUCCESS and after.cold_start


def _tokens(platform: Platform, name: str) -> list[str]:
    return [i.sandbox.spec.token for i in platform.scheduler.instances(name)]


@pytest.mark.settings(schedule_seconds=True)
async def test_async_events_and_schedules_run_on_host_processes(platform, deploy) -> None:  # type: ignore[no-untyped-def]
    await deploy("hello", HELLO)
    # Given an event queued for the function
    request_id = await platform.invoker.invoke_async("hello", b'{"name": "queued"}')
    # Then the worker runs it and keeps its result
    done = await wait_until_async(
        lambda: platform.invoker.get_invocation(request_id),
        what="the async event to succeed",
        done=lambda inv: inv.state is State.SUCCEEDED,
        within_s=30,
    )
    assert json.loads(done.result)["hello"] == "queued"
    # And given a schedule every second, the function runs on its ticks
    await platform.schedules.put("hello", [{"name": "every", "expression": "rate(1 second)"}])

    async def ticks() -> list[str]:
        await platform.logs.flush()
        records, _ = await platform.functions.logs("hello", since=None, request_id=None, limit=50)
        return [r.outcome for r in records if r.kind == "schedule"]

    ran = await wait_until_async(ticks, what="a scheduled run", within_s=30)
    assert ran[0] == Outcome.SUCCESS.value


@pytest.mark.settings(prewarm_pool=1)
async def test_a_pre_warmed_process_is_given_the_function_and_its_secrets(  # type: ignore[no-untyped-def]
    platform, deploy
) -> None:
    # Given a generic sandbox ready in the pool
    pool = platform.scheduler.pool
    assert pool is not None
    (generic,) = await wait_until_async(pool.ready, what="a generic sandbox", within_s=30)
    source = (
        "import os\n"
        "def handler(e, c):\n"
        "    d = os.environ['FAAS_SECRETS_DIR']\n"
        "    return {'token': open(os.path.join(d, 'TOKEN')).read(),\n"
        "            'root': os.environ['LAMBDA_TASK_ROOT'], 'cwd': os.getcwd()}\n"
    )
    await deploy("secretive", source)
    await platform.functions.put_secrets("secretive", {"TOKEN": "s3cr3t"})
    # When the function's first call comes
    result = await platform.invoker.invoke("secretive", b"{}")
    # Then that sandbox took it: its code in its task directory, its secret readable
    body = json.loads(result.payload)
    assert result.outcome is Outcome.SUCCESS and result.cold_start
    assert _tokens(platform, "secretive") == [generic.spec.token]
    assert body == {
        "token": "s3cr3t",
        "root": str(platform.settings.sockets_dir / f"{generic.spec.token}.task"),
        "cwd": str(platform.settings.sockets_dir / f"{generic.spec.token}.task"),
    }


async def test_a_restarted_server_ends_the_processes_its_dead_run_left(settings: Settings) -> None:
    # Given a server with pre-warmed sandboxes that dies without cleaning up
    crashed = Platform(settings)
    await crashed.start()
    pool = crashed.scheduler.pool
    assert pool is not None
    await wait_until_async(pool.ready, what="the pool full", done=lambda r: len(r) == 2)
    left = sandboxes(settings)
    assert len(left) == 2 and all(alive(r.pid) for r in left)
    # When it starts again (same node, same owner)
    restarted = Platform(settings)
    await restarted.start()
    try:
        # Then the dead run's processes are gone at once
        assert not any(alive(r.pid) for r in left)
        assert {r.token for r in left}.isdisjoint(r.token for r in sandboxes(settings))
        # and the restarted server fills its own pool
        restarted_pool = restarted.scheduler.pool
        assert restarted_pool is not None
        await wait_until_async(
            restarted_pool.ready, what="the restarted pool full", done=lambda r: len(r) == 2
        )
        assert len(sandboxes(settings)) == 2
    finally:
        await restarted.close()
        await crashed.close()  # only to release its tasks and clients
    # And a clean shutdown leaves no process sandbox at all
    assert sandboxes(settings) == []


async def test_a_runtime_api_port_taken_meanwhile_costs_a_retry_not_the_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given another program that took the port chosen for an agent's Runtime API
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1]])
        free = process_backend._free_port
        monkeypatch.setattr(process_backend, "_free_port", lambda: next(ports, None) or free())
        backend = factory.build(settings, "serve")
        await backend.start("test")
        # When a sandbox is started
        spec = SandboxSpec(
            function="",
            pool_key=GENERIC_POOL,
            token="0123456789ab",
            image=await backend.prepare(),
            code_dir=Path(),
            env={},
            memory_mb=128,
            cpus=0.25,
            network=True,
            generic=True,
        )
        sandbox = await backend.create(spec)
    # Then it starts on another port, and answers
    client = sandbox.client()
    try:
        health = await client.request("GET", "/health", timeout_s=5)
        assert (health.status, health.body) == (200, b'{"state": "generic"}')
    finally:
        client.close()
        await backend.destroy(sandbox)
    assert sandboxes(settings) == []


def test_faas_serve_with_the_process_backend_refuses_to_listen_beyond_loopback(
    settings: Settings,
) -> None:
    # Given the process backend, which isolates nothing
    env = {**os.environ, "FAAS_REDIS_URL": settings.redis_url, "FAAS_ADMIN_KEY": "k" * 32}
    # When it is asked to listen on every address
    refused = subprocess.run(
        [
            *(sys.executable, "-m", "faas.cli.main", "serve", "--backend", "process"),
            *("--host", "0.0.0.0", "--data-dir", str(settings.data_dir)),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then it refuses, and says why
    assert refused.returncode == 2
    assert "loopback only" in refused.stderr and "no isolation" in refused.stderr


def test_faas_serve_with_the_process_backend_serves_on_loopback(
    settings: Settings, tmp_path: Path
) -> None:
    # Given `faas serve --backend process` on loopback, as the README shows
    env = {
        "FAAS_REDIS_URL": settings.redis_url,
        "FAAS_DATA_DIR": str(settings.data_dir),
        "FAAS_PORT": str(free_port()),
        "FAAS_NODE_ID": settings.node_id,
    }
    server = Server(env, tmp_path / "server.log", "--backend", "process")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as api:
            # When a function is uploaded and invoked over HTTP
            assert upload(api, "hello", handler_zip(HELLO)).status_code == 201
            reply = api.post("/v1/functions/hello/invoke", content=b'{"name": "web"}')
            ready = wait_until(
                lambda: api.get("/readyz"), what="/readyz", done=lambda r: r.status_code == 200
            )
        # Then it answers, and the server is ready with no Docker at all
        assert reply.status_code == 200, reply.text
        assert reply.json()["hello"] == "web"
        assert ready.json()["checks"] == {"redis": "ok", "process": "ok"}
    finally:
        assert server.stop() == 0
    # And stopping the server ended its processes
    assert sandboxes(settings) == []
