"""Self-hosting with docker compose, as a team runs it on its own server.

Given a fresh server, ``./deploy/up`` builds the images (from the offline
Debian base where no registry answers) and starts Redis and the gateway. The
user reads the admin key the gateway generated, deploys a function with the
CLI, invokes it sync, async and over an HTTP route, restarts the stack, finds
the function and its data again, and tears it all down leaving nothing behind.

The stack gets its own compose project, loopback port, data directory, gateway
image tag and node id, so it cannot touch another stack on the same engine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import pytest
import yaml

from faas.settings import Settings
from tests.helpers import ROOT, free_port, ours, wait_until

HELLO = """
calls = 0  # lives as long as the warm container


def handler(event, context):
    global calls
    calls += 1
    return {"greeting": f"hello {event.get('name', 'world')}", "calls": calls,
            "path": event.get("rawPath")}
"""


def compose_command() -> list[str] | None:
    """``docker compose`` (v2) if the docker CLI has it, else Debian's ``docker-compose``."""
    if shutil.which("docker"):
        v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if v2.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def clean_env() -> dict[str, str]:
    """The caller's environment without faas or compose settings that would change the stack."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("FAAS_", "COMPOSE_"))}


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


class Stack:
    """One compose project of this repository's docker-compose.yml."""

    def __init__(self, compose: list[str], node_id: str, docker_client: Any) -> None:
        self.compose = compose
        self.docker = docker_client
        self.project = f"fc{uuid.uuid4().hex[:8]}"
        # Short: container sockets live under it and Unix socket paths stop at 107 bytes.
        self.data_dir = Path(tempfile.mkdtemp(prefix="fc-", dir="/tmp"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.image = f"faas-gateway:{self.project}"
        self.node_id = node_id
        # The offline base (Redis runs from it too) unless the runner names other
        # images: once it exists, nothing is pulled.
        base = os.environ.get("FAAS_BASE_IMAGE") or Settings().offline_base_image
        redis = os.environ.get("FAAS_REDIS_IMAGE") or Settings().offline_base_image
        self.env = {
            **clean_env(),
            "COMPOSE_PROJECT_NAME": self.project,
            "FAAS_DATA_DIR": str(self.data_dir),
            "FAAS_PUBLISH": f"127.0.0.1:{self.port}",
            "FAAS_GATEWAY_IMAGE": self.image,
            "FAAS_NODE_ID": node_id,
            "FAAS_BASE_IMAGE": base,
            "FAAS_REDIS_IMAGE": redis,
            # No keys from a .env: the gateway must make its own.
            "FAAS_ADMIN_KEY": "",
            "FAAS_INVOKE_KEYS": "",
            # deploy/up builds wheels with the Python running this test.
            "FAAS_VENV": sys.prefix,
        }

    def run(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*self.compose, "-p", self.project, *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check:
            assert done.returncode == 0, (
                f"{' '.join(args)} failed ({done.returncode}):\n{tail(done.stdout + done.stderr)}"
            )
        return done

    def deploy_up(self) -> None:
        done = subprocess.run(
            [str(ROOT / "deploy" / "up")],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        assert done.returncode == 0, f"./deploy/up failed:\n{tail(done.stdout + done.stderr, 60)}"

    def admin_key(self) -> str:
        shown = self.run("exec", "-T", "gateway", "faas", "keys", "show", check=False)
        assert shown.returncode == 0, (
            "`faas keys show` in the gateway failed; the gateway must create FAAS_KEYS_FILE "
            "with an admin key at start (FAAS_KEYS_GENERATE=1):\n"
            + tail(shown.stdout + shown.stderr)
        )
        lines = [line.strip() for line in shown.stdout.splitlines() if line.strip()]
        assert lines, "`faas keys show` printed nothing"
        return lines[-1]

    def api(self, key: str) -> httpx.Client:
        """A client of the REST API with the key, as curl -H 'Authorization: Bearer ...'."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )

    def wait_healthy(self, within_s: float = 180) -> None:
        wait_until(
            lambda: httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200,
            what="the gateway to come up",
            within_s=within_s,
            ignoring=(httpx.HTTPError,),
            show=lambda: tail(self.run("logs", "--tail", "40", "gateway", check=False).stdout),
        )

    def gateway(self) -> Any:
        found = self.containers()
        gateways = [c for c in found if c.labels.get("com.docker.compose.service") == "gateway"]
        assert len(gateways) == 1, [c.name for c in found]
        return gateways[0]

    def containers(self) -> list[Any]:
        label = f"com.docker.compose.project={self.project}"
        return list(self.docker.containers.list(all=True, filters={"label": label}))

    def function_containers(self) -> list[Any]:
        labels = ["faas.managed=1", f"faas.node={self.node_id}"]
        return list(self.docker.containers.list(all=True, filters={"label": labels}))

    def volumes(self) -> list[str]:
        label = f"com.docker.compose.project={self.project}"
        return [v.name for v in self.docker.volumes.list(filters={"label": label})]

    def networks(self) -> list[str]:
        label = f"com.docker.compose.project={self.project}"
        return [n.name for n in self.docker.networks.list(filters={"label": label})]

    def destroy(self) -> None:
        """Whatever happened: no container, volume, network, image or directory left."""
        self.run("down", "-v", "--remove-orphans", timeout=180, check=False)
        for container in self.function_containers():
            container.remove(force=True)
        try:
            self.docker.images.remove(self.image)
        except docker.errors.APIError:
            pass
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture
def compose() -> list[str]:
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    return command


@pytest.fixture
def stack(compose: list[str], node_id: str, docker_client: Any) -> Iterator[Stack]:
    built = Stack(compose, node_id, docker_client)
    try:
        yield built
    finally:
        built.destroy()


def faas(stack: Stack, key: str, *args: str) -> str:
    """`faas ARGS...` with FAAS_URL and FAAS_KEY set, as a user's shell runs it; its stdout."""
    env = {**clean_env(), "FAAS_URL": stack.url, "FAAS_KEY": key}
    done = subprocess.run(
        [sys.executable, "-m", "faas.cli.main", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"faas {' '.join(args)} exited {done.returncode}: {done.stderr}"
    return done.stdout


def wait_succeeded(api: httpx.Client, request_id: str, within_s: float = 60) -> dict[str, Any]:
    def view() -> dict[str, Any]:
        record = api.get(f"/v1/invocations/{request_id}")
        assert record.status_code == 200, record.text
        found: dict[str, Any] = record.json()
        assert found["state"] in ("queued", "running", "succeeded"), found
        return found

    return wait_until(
        view,
        what=f"event {request_id} to succeed",
        done=lambda found: found["state"] == "succeeded",
        within_s=within_s,
    )


def test_compose_stack_serves_functions_across_a_restart_and_leaves_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    # Given a fresh server: no key configured, an empty data directory
    stack.deploy_up()
    gateway_id = stack.gateway().id

    # When the user reads the admin key the gateway generated
    key = stack.admin_key()
    keys_file = stack.data_dir / "keys.json"
    assert keys_file.exists() and keys_file.stat().st_mode & 0o777 == 0o600
    # Then the management API wants it
    assert httpx.get(f"{stack.url}/v1/functions").status_code == 401

    # When they deploy a function with the CLI
    code = tmp_path / "hello"
    code.mkdir()
    (code / "app.py").write_text(HELLO)
    faas(
        stack, key, "deploy", str(code), "--name", "hello", "--runtime", "python3.11",
        "--handler", "app.handler",
    )  # fmt: skip
    listed = json.loads(faas(stack, key, "ls", "--json"))
    assert [f["name"] for f in listed["functions"]] == ["hello"]

    # Then it answers sync, from a container the gateway started next to itself
    result = json.loads(faas(stack, key, "invoke", "hello", "--data", '{"name": "compose"}'))
    assert result["greeting"] == "hello compose"
    # (beside the generic containers it keeps ready for cold starts)
    hello = ours(stack.node_id, "hello", client=stack.docker)
    assert [stack.docker.containers.get(c).status for c in hello] == ["running"]

    with stack.api(key) as api:
        # And async: the CLI prints the request id, the record ends succeeded
        queued = faas(stack, key, "invoke", "hello", "--data", '{"name": "later"}', "--async")
        request_id = queued.strip()
        assert wait_succeeded(api, request_id)["result"]["greeting"] == "hello later"

        # And over an HTTP route, with no key (routes are public unless auth is "key")
        exposed = api.put("/v1/functions/hello/http", json={"enabled": True})
        assert exposed.status_code == 200, exposed.text
        page = httpx.get(f"{stack.url}/fn/hello/anything", timeout=60)
        assert page.status_code == 200, page.text
        assert page.json()["greeting"] == "hello world" and page.json()["path"] == "/anything"

    # When the stack stops: SIGTERM, a graceful stop within stop_grace_period
    stack.run("stop", timeout=180)
    # Then the gateway exited 0 and removed every function container it made
    assert stack.docker.containers.get(gateway_id).attrs["State"]["ExitCode"] == 0
    assert stack.function_containers() == []

    # When it comes back up from the same volume and data directory
    stack.run("down")
    assert stack.volumes(), "down without -v must keep Redis's volume"
    stack.run("up", "-d")
    stack.wait_healthy()

    # Then the key, the function, its code and the async record are all still there
    assert stack.admin_key() == key
    listed = json.loads(faas(stack, key, "ls", "--json"))
    assert [f["name"] for f in listed["functions"]] == ["hello"]
    with stack.api(key) as api:
        assert api.get(f"/v1/invocations/{request_id}").json()["state"] == "succeeded"
    # And the function runs again, in a new container (its module state starts over)
    again = json.loads(faas(stack, key, "invoke", "hello", "--data", '{"name": "again"}'))
    assert again == {"greeting": "hello again", "calls": 1, "path": None}
    assert httpx.get(f"{stack.url}/fn/hello/x", timeout=60).json()["path"] == "/x"

    # When the stack is torn down with its volumes
    stack.run("down", "-v", timeout=180)
    # Then no container, function container, volume or network of it is left
    assert stack.containers() == []
    assert stack.function_containers() == []
    assert stack.volumes() == []
    assert stack.networks() == []


def test_socket_proxy_override_takes_the_socket_away_from_the_gateway(
    compose: list[str],
) -> None:
    # Given the optional override that puts a socket proxy between gateway and engine
    files = ["-f", "docker-compose.yml", "-f", "deploy/docker-compose.socket-proxy.yml"]
    # When compose merges it into the stack
    done = subprocess.run(
        [*compose, *files, "config"],
        env=clean_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    gateway, proxy = services["gateway"], services["socket-proxy"]
    # Then the gateway talks to the proxy, and the host's socket is mounted only there
    assert gateway["environment"]["DOCKER_HOST"] == "tcp://socket-proxy:2375"
    sources = {target: source for source, target in map(mount, gateway["volumes"])}
    assert sources["/var/run/docker.sock"] == "/dev/null"
    assert ("/var/run/docker.sock", "/var/run/docker.sock") in map(mount, proxy["volumes"])
    # And nothing else can reach the proxy: its network is internal, shared with the gateway
    assert set(proxy["networks"]) == {"docker-api"}
    assert "docker-api" in gateway["networks"]
    assert "ports" not in proxy


def mount(volume: str | dict[str, Any]) -> tuple[str, str]:
    """(source, target) of a volume as `config` prints it: short syntax (1.29) or long (v2)."""
    if isinstance(volume, dict):
        return str(volume.get("source")), str(volume["target"])
    source, target = volume.split(":")[:2]
    return source, target
