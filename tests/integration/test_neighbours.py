"""Stories of neighbours: functions beside each other, servers beside each other.

Functions with network access reach the outside world but not each other's
ports; two installations sharing one Docker engine never remove each other's
containers, even under the same node id.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from faas.models import FunctionConfig
from faas.outcomes import Outcome
from faas.platform import Platform
from faas.settings import Settings
from tests.conftest import make_data_dir
from tests.helpers import RedisServer, handler_zip, ours

# Listens on a TCP port from its init on, and says where.
LISTENER = """
import socket, threading
server = socket.socket()
server.bind(("0.0.0.0", 7000))
server.listen()

def accept():
    while True:
        conn, _ = server.accept()
        conn.sendall(b"hello neighbour")
        conn.close()

threading.Thread(target=accept, daemon=True).start()

def handler(event, context):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect(("192.0.2.1", 9))  # no packet is sent: it only picks the interface
    ip = probe.getsockname()[0]
    with socket.create_connection((ip, 7000), timeout=2) as conn:
        return {"ip": ip, "self": conn.recv(100).decode()}
"""

# Tries to connect to a neighbour's port.
CALLER = """
import socket
def handler(event, context):
    try:
        with socket.create_connection((event["ip"], event["port"]), timeout=2) as conn:
            return "connected: " + conn.recv(100).decode()
    except OSError as exc:
        return "refused: " + type(exc).__name__
"""


@pytest.mark.runc_too
async def test_functions_cannot_reach_each_others_ports(platform: Platform, deploy) -> None:  # type: ignore[no-untyped-def]
    # Given a function with network access that listens on a TCP port (and reaches it)
    await deploy("listener", LISTENER)
    at = await platform.invoker.invoke("listener", b"{}")
    assert at.outcome is Outcome.SUCCESS, at
    listening = json.loads(at.payload)
    assert listening["self"] == "hello neighbour"
    ip = listening["ip"]
    # When another function with network access connects to it
    await deploy("caller", CALLER)
    result = await platform.invoker.invoke("caller", json.dumps({"ip": ip, "port": 7000}).encode())
    # Then the connection does not go through
    assert result.outcome is Outcome.SUCCESS, result
    assert json.loads(result.payload).startswith("refused"), result.payload


async def test_two_installations_on_one_engine_keep_their_containers(  # type: ignore[no-untyped-def]
    settings: Settings, docker_client, node_id: str, tmp_path: Path
) -> None:
    # Given a server with a warm function (and its pre-warmed generic containers)
    first = Platform(settings)
    await first.start()
    other_redis = RedisServer(Path(tempfile.mkdtemp(prefix="faas-redis-", dir="/tmp")))
    other_redis.start()
    other_dir = make_data_dir()
    second = None
    try:
        code = tmp_path / "hello.zip"
        code.write_bytes(handler_zip("def handler(e, c):\n    return 'hi'\n"))
        config = FunctionConfig(name="hello", runtime="python3.11", handler="app.handler")
        await first.functions.create(config, code)
        assert (await first.invoker.invoke("hello", b"{}")).outcome is Outcome.SUCCESS
        before = set(ours(node_id, client=docker_client))
        assert before
        # When a second installation (its own Redis, its own data dir) starts on the same
        # Docker engine under the same node id
        second = Platform(
            dataclasses.replace(settings, redis_url=other_redis.url, data_dir=other_dir)
        )
        await second.start()
        await second.backend.reap(await second.owners.live())
        # Then every container of the first is still there, and its function still warm
        assert before <= set(ours(node_id, client=docker_client))
        again = await first.invoker.invoke("hello", b"{}")
        assert again.outcome is Outcome.SUCCESS and not again.cold_start
    finally:
        if second is not None:
            await second.close()
        await first.close()
        other_redis.stop()
        shutil.rmtree(other_dir, ignore_errors=True)
        shutil.rmtree(other_redis.workdir, ignore_errors=True)
