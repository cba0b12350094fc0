"""``faas serve --workers 2``: two processes share the node's port, each with its own
containers; a worker SIGKILLed is replaced and what it left is reaped; SIGTERM stops
them all and leaves no container behind.

Which process is which comes from the supervisor's log ("worker serve-1 started
(pid N)"); whose a container is, from its ``faas.owner`` label.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from faas.compute.containers import container_name
from tests.helpers import Server, handler_zip, upload, wait_until

SLOW = """
import time

def handler(event, context):
    time.sleep(0.5)
    return {"ok": True}
"""
NAME = "slow"


@pytest.fixture
def workers(server_env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    # Each process's own instances: no call forwarded to the one with warm instances
    # (warm routing has stories of its own).
    env = {
        **server_env,
        "FAAS_REAP_INTERVAL_S": "0.5",
        "FAAS_THROTTLE_WAIT_S": "10",
        "FAAS_WARM_ROUTING": "0",
    }
    server = Server(env, tmp_path / "server.log", "--workers", "2", "--log-level", "info")
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.stop(timeout=120)


def call_all(url: str, count: int) -> list[int]:
    """``count`` calls at once, each on a connection of its own (the kernel spreads
    new connections over the workers)."""

    def one(_: int) -> int:
        with httpx.Client(base_url=url, timeout=60) as client:
            return client.post(f"/v1/functions/{NAME}/invoke", json={}).status_code

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def instances(client: docker.DockerClient, node: str) -> dict[str, set[str]]:
    """The function's running containers by owner: {owner: {container id}}."""
    found: dict[str, set[str]] = {}
    for c in client.containers.list(filters={"label": [f"faas.node={node}", "faas.managed=1"]}):
        token = c.labels.get("faas.token", "")
        if c.labels.get("faas.function") == NAME or c.name == container_name(NAME, token):
            found.setdefault(c.labels["faas.owner"], set()).add(c.id)
    return found


def pid_of(server: Server, owner: str, after: int = 0) -> int:
    """The pid of the last worker ``owner`` the supervisor started, if other than ``after``."""
    started = re.findall(rf"worker {owner} started \(pid (\d+)\)", server.log_path.read_text())
    pid = int(started[-1]) if started else 0
    return pid if pid != after else 0


def serves(server: Server, owner: str, pid: int) -> bool:
    return f"worker {owner} (pid {pid}) serves" in server.log_path.read_text()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet waited for by the supervisor) is not alive.
    state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    return state != "Z"


def test_two_workers_share_the_port_survive_a_kill_and_stop_together(
    workers: Server, server_env: dict[str, str], docker_client: Any
) -> None:
    node = server_env["FAAS_NODE_ID"]
    # Given a server of two worker processes, each serving
    first = {
        owner: wait_until(lambda o=owner: pid_of(workers, o), what=f"{owner} started")
        for owner in ("serve-0", "serve-1")
    }
    for owner, pid in first.items():
        wait_until(lambda o=owner, p=pid: serves(workers, o, p), what=f"{owner} serves")
    with httpx.Client(base_url=workers.url, timeout=60) as api:
        assert upload(api, NAME, handler_zip(SLOW)).status_code == 201

    # When 16 clients call a slow function at once, each on its own connection
    assert call_all(workers.url, 16) == [200] * 16

    # Then both processes ran some: each has instances of the function, under its owner id
    running = instances(docker_client, node)
    assert set(running) == {"serve-0", "serve-1"}, running

    # When worker serve-1 is killed outright
    os.kill(first["serve-1"], signal.SIGKILL)

    # Then the supervisor starts another serve-1, which reaps the dead one's containers
    second = wait_until(
        lambda: pid_of(workers, "serve-1", after=first["serve-1"]), what="serve-1 restarted"
    )
    wait_until(lambda: serves(workers, "serve-1", second), what="the new serve-1 serves")
    gone = running["serve-1"]
    wait_until(
        lambda: not gone & instances(docker_client, node).get("serve-1", set()),
        what="the killed worker's containers removed",
        within_s=30,
    )
    # and serve-0 was untouched: its instances are still there (starts the calls began
    # may have added some since)
    assert running["serve-0"] <= instances(docker_client, node)["serve-0"]
    # and the node answers every call, on both processes again
    assert call_all(workers.url, 16) == [200] * 16
    assert set(instances(docker_client, node)) == {"serve-0", "serve-1"}

    # When the operator stops the node
    assert workers.stop(timeout=120) == 0

    # Then every worker has exited and no container of the node is left
    assert not any(alive(pid) for pid in (first["serve-0"], second))
    left = docker_client.containers.list(all=True, filters={"label": f"faas.node={node}"})
    assert left == []
