"""Running faas on an existing Docker Swarm, as an operator of one does.

Given this machine's engine as a swarm manager (made a single-node swarm for the
story when it is in no swarm, and left again afterwards), the gateway image that
``./deploy/up`` builds (the compose story's way, under its own tag), a keys file
in a Docker secret and a data directory on the node, ``docker stack deploy
--resolve-image never`` of ``deploy/swarm/faas-stack.yml`` brings up Redis and
one gateway per node. Through the gateway's port on 127.0.0.1 the operator
deploys a function from a zip, invokes it sync and async and over an HTTP route,
finds the node in ``/v1/nodes``, restarts Redis (``docker service update
--force``: its AOF on the volume brings every function back) and the gateway,
and ``docker stack rm`` plus the volume and the secret leave nothing behind.

Everything the story makes has a unique name or label (stack name, node id
prefix, secret, data directory, image tag) and is removed even when it fails.
The story changes the engine itself (swarm mode), so it runs last in its session
and alone on the engine (``tests/conftest.py``: the ``swarm`` marker).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import httpx
import pytest

from faas.settings import Settings
from tests.e2e.test_compose_story import (
    Stack,
    clean_env,
    compose_command,
    tail,
    wait_succeeded,
)
from tests.helpers import ROOT, free_port, handler_zip, upload, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.swarm]

STACK_FILE = ROOT / "deploy" / "swarm" / "faas-stack.yml"
LABEL = "faas.test.swarm"

HELLO = """
calls = 0  # lives as long as the warm container


def handler(event, context):
    global calls
    calls += 1
    return {"greeting": f"hello {event.get('name', 'world')}", "calls": calls,
            "path": event.get("rawPath")}
"""


def docker_cli(*args: str, timeout: float = 120, check: bool = True) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check:
        assert done.returncode == 0, f"docker {' '.join(args)}: {tail(done.stdout + done.stderr)}"
    return done.stdout


@pytest.fixture
def swarm(docker_client: Any) -> Iterator[None]:
    """This engine as a swarm manager; left as it was found afterwards."""
    if shutil.which("docker") is None:
        pytest.skip("the docker command is not installed")
    info = docker_client.info()["Swarm"]
    state = info.get("LocalNodeState")
    if state == "active" and not info.get("ControlAvailable"):
        pytest.skip("this engine is a swarm worker: `docker stack deploy` needs a manager")
    if state not in ("inactive", "active"):
        pytest.skip(f"this engine's swarm is {state!r}: neither free nor a working swarm")
    made = state == "inactive"
    # `swarm leave` keeps the gateway bridge it made: removed too, if it was not there.
    had_gwbridge = bool(docker_client.networks.list(names=["docker_gwbridge"]))
    if made:
        docker_cli("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        yield
    finally:
        if made:
            docker_cli("swarm", "leave", "--force", check=False)
            if not had_gwbridge:
                docker_cli("network", "rm", "docker_gwbridge", check=False)


class SwarmStack:
    """One ``docker stack`` of deploy/swarm/faas-stack.yml, with its secret and data dir."""

    def __init__(self, image: str, docker_client: Any) -> None:
        self.docker = docker_client
        self.name = f"fs{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Short: container sockets live under it (107 bytes for a Unix socket path).
        self.data_dir = Path(tempfile.mkdtemp(prefix="fs-", dir="/tmp"))
        self.key = secrets.token_urlsafe(24)
        self.secret = f"{self.name}_keys"
        # The gateway's node id: the stack file's prefix, then the node's hostname.
        self.node_id = f"{self.name}-{docker_client.info()['Name']}"
        offline = Settings().offline_base_image
        self.env = {
            **clean_env(),
            "FAAS_GATEWAY_IMAGE": image,
            "FAAS_REDIS_IMAGE": offline,
            "FAAS_BASE_IMAGE": offline,
            "FAAS_DATA_DIR": str(self.data_dir),
            "FAAS_PUBLISH_PORT": str(self.port),
            "FAAS_NODE_PREFIX": f"{self.name}-",
            "FAAS_KEYS_SECRET": self.secret,
        }

    def deploy(self) -> None:
        self.docker.secrets.create(
            name=self.secret,
            data=json.dumps({"admin": [self.key]}).encode(),
            labels={LABEL: self.name},
        )
        self.stack("deploy", "--resolve-image", "never", "-c", str(STACK_FILE), self.name)

    def stack(self, *args: str) -> None:
        done = subprocess.run(
            ["docker", "stack", *args], env=self.env, cwd=ROOT,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"stack {args[0]} failed:\n{tail(done.stdout + done.stderr)}"

    def replace(self, service: str, within_s: float = 90) -> Any:
        """``docker service update --force``: Swarm replaces the service's task; the new
        task's container, once it runs and the old one is gone."""
        (old,) = self.running(service)
        # --detach: waiting for what the story needs is quicker than the CLI's monitor.
        docker_cli("service", "update", "--force", "--detach", f"{self.name}_{service}")
        found = wait_until(
            lambda: [c for c in self.running(service) if c.id != old.id],
            what=f"a new task of {service}",
            done=lambda new: len(new) == 1 and old.id not in self.ids(service),
            within_s=within_s,
            show=self.logs,
        )
        return found[0]

    def ids(self, service: str) -> list[str]:
        return [c.id for c in self.running(service)]

    def logs(self) -> str:
        shown = docker_cli("stack", "ps", "--no-trunc", self.name, check=False)
        for service in ("gateway", "redis"):
            done = subprocess.run(
                ["docker", "service", "logs", "--tail", "30", f"{self.name}_{service}"],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            shown += done.stdout + done.stderr
        return tail(shown, 80)

    def wait_ready(self, within_s: float = 90) -> None:
        wait_until(
            lambda: httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200,
            what=f"the gateway of stack {self.name} to be ready",
            within_s=within_s,
            ignoring=(httpx.HTTPError,),
            show=self.logs,
        )

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=60
        )

    def running(self, service: str) -> list[Any]:
        """The service's running containers (the tasks Swarm replaced have exited)."""
        label = f"com.docker.swarm.service.name={self.name}_{service}"
        return self.containers([label], status="running")

    def service_containers(self) -> list[Any]:
        return self.containers([f"com.docker.stack.namespace={self.name}"])

    def function_containers(self) -> list[Any]:
        return self.containers(["faas.managed=1", f"faas.node={self.node_id}"])

    def containers(self, labels: list[str], status: str | None = None) -> list[Any]:
        filters: dict[str, Any] = {"label": labels}
        if status:
            filters["status"] = status
        # A container listed may be gone before it is inspected: list again.
        for _ in range(5):
            try:
                return list(self.docker.containers.list(all=True, filters=filters))
            except docker.errors.NotFound:
                time.sleep(0.2)
        return list(self.docker.containers.list(all=True, filters=filters))

    def networks(self) -> list[Any]:
        return list(self.docker.networks.list(filters={"label": self.namespace}))

    def volumes(self) -> list[Any]:
        return list(self.docker.volumes.list(filters={"label": self.namespace}))

    def secrets(self) -> list[Any]:
        return list(self.docker.secrets.list(filters={"label": f"{LABEL}={self.name}"}))

    @property
    def namespace(self) -> str:
        return f"com.docker.stack.namespace={self.name}"

    def remove(self, within_s: float = 90) -> None:
        """``docker stack rm``, then wait until the gateway has stopped and cleaned up
        and Swarm has removed the tasks' containers and the network."""
        docker_cli("stack", "rm", self.name, check=False)
        wait_until(
            lambda: (
                not (self.service_containers() or self.function_containers() or self.networks())
            ),
            what=f"stack {self.name}'s containers and network to be gone",
            within_s=within_s,
            show=lambda: [c.name for c in self.service_containers() + self.function_containers()],
        )

    def destroy(self) -> None:
        """Whatever happened: no service, container, volume, network, secret or directory."""
        try:
            self.remove(within_s=60)
        except (AssertionError, docker.errors.APIError, subprocess.SubprocessError):
            pass
        for container in self.service_containers() + self.function_containers():
            with _gone():
                container.remove(force=True, v=True)
        for found in self.networks() + self.volumes() + self.secrets():
            with _gone():
                found.remove()
        remove_dir(self.data_dir, self.docker)


class _gone:
    """Removing what another remover (Swarm, the gateway) may remove first."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: object, trace: object) -> bool:
        return isinstance(error, docker.errors.NotFound)


def remove_dir(path: Path, client: Any) -> None:
    """A data directory the gateway wrote, as root and as other users (sandboxes'
    secrets): by a container, as root, when this process may not remove it all."""
    shutil.rmtree(path, ignore_errors=True)
    if not path.exists():
        return
    client.containers.run(
        Settings().offline_base_image,
        ["rm", "-rf", f"/parent/{path.name}"],
        volumes={str(path.parent): {"bind": "/parent", "mode": "rw"}},
        network_mode="none",
        labels={LABEL: path.name},
        remove=True,
    )


@pytest.fixture
def gateway_image(node_id: str, docker_client: Any) -> Iterator[str]:
    """The gateway image ./deploy/up builds, as the compose story builds it (own tag)."""
    compose = compose_command()
    if compose is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    built = Stack(compose, node_id, docker_client)
    try:
        built.deploy_up()
        # Only the image is wanted: the compose stack goes at once.
        built.run("down", "-v", timeout=180)
        yield built.image
    finally:
        built.destroy()


@pytest.fixture
def stack(gateway_image: str, swarm: None, docker_client: Any) -> Iterator[SwarmStack]:
    made = SwarmStack(gateway_image, docker_client)
    try:
        yield made
    finally:
        made.destroy()


def test_swarm_stack_keeps_its_functions_through_restarts_and_leaves_nothing(
    stack: SwarmStack,
) -> None:
    # Given the stack deployed on the swarm, the admin key in a Docker secret
    stack.deploy()
    # When the gateway answers /readyz (Redis, Docker and the runtime image are there)
    stack.wait_ready()
    # Then the management API wants the key from the secret
    assert httpx.get(f"{stack.url}/v1/functions", timeout=10).status_code == 401

    with stack.api() as api:
        # When the operator deploys a function from a zip through the API
        created = upload(api, "hello", handler_zip(HELLO))
        assert created.status_code == 201, created.text

        # Then it answers sync, from a container the node's gateway started beside itself
        reply = api.post("/v1/functions/hello/invoke", json={"name": "swarm"})
        assert reply.status_code == 200, reply.text
        assert reply.json()["greeting"] == "hello swarm"
        assert [c for c in stack.function_containers() if c.status == "running"]

        # And async: accepted at once, then run by the gateway's worker
        queued = api.post(
            "/v1/functions/hello/invoke",
            json={"name": "later"},
            headers={"X-Faas-Invocation-Type": "Event"},
        )
        assert queued.status_code == 202, queued.text
        request_id = queued.json()["requestId"]
        assert wait_succeeded(api, request_id)["result"]["greeting"] == "hello later"

        # And over an HTTP route, with no key
        exposed = api.put("/v1/functions/hello/http", json={"enabled": True})
        assert exposed.status_code == 200, exposed.text
        page = httpx.get(f"{stack.url}/fn/hello/anything", timeout=60)
        assert page.status_code == 200, page.text
        assert page.json()["path"] == "/anything"

        # And the node is listed under the id the stack file gives it
        (node,) = api.get("/v1/nodes").json()["nodes"]
        assert node["id"] == stack.node_id

    # And Redis writes an append-only file, fsynced on every write
    (redis,) = stack.running("redis")
    config = redis.exec_run(["redis-cli", "config", "get", "append*"]).output.split()
    appending = dict(zip(config[::2], config[1::2], strict=True))
    assert (appending[b"appendonly"], appending[b"appendfsync"]) == (b"yes", b"always")

    # And another task on the stack's network reaches the gateway at the URL it
    # advertises to its peers (its task's address, not the node's loopback)
    probe = f"import urllib.request as u; print(u.urlopen('{node['url']}/healthz').status)"
    reached = redis.exec_run(["python3", "-c", probe])
    assert reached.output.split()[-1:] == [b"200"], (node["url"], reached.output)

    # When Swarm replaces the Redis task (a new container on the same volume)
    stack.replace("redis")
    # And replaces the gateway (stop-first: the node's port is the task's)
    stack.replace("gateway")
    stack.wait_ready()

    # Then the function, its HTTP route and the async record are all still there
    with stack.api() as api:
        listed = api.get("/v1/functions").json()["functions"]
        assert [f["name"] for f in listed] == ["hello"]
        assert api.get(f"/v1/invocations/{request_id}").json()["state"] == "succeeded"
        # And it runs again, in a new container (its module state starts over)
        again = api.post("/v1/functions/hello/invoke", json={"name": "again"})
        assert again.status_code == 200, again.text
        assert again.json() == {"greeting": "hello again", "calls": 1, "path": None}
        assert httpx.get(f"{stack.url}/fn/hello/x", timeout=60).json()["path"] == "/x"

    # When the operator removes the stack, then its volume and secret
    stack.remove()
    (volume,) = stack.volumes()
    assert volume.name == f"{stack.name}_redis-data", "stack rm keeps Redis's volume"
    volume.remove()
    (secret,) = stack.secrets()
    secret.remove()
    # Then no container, function container, network, volume or secret of it is left
    assert stack.service_containers() == []
    assert stack.function_containers() == []
    assert stack.networks() == []
    assert stack.volumes() == []
    assert stack.secrets() == []
