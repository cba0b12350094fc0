"""The container backend: one protocol, and Docker as its only implementation.

The backend creates a sandbox (a started container whose agent listens on a
Unix socket in a per-container host directory), destroys it, and reaps what an
earlier run left behind. It knows nothing of pools or functions beyond what a
``SandboxSpec`` says.

Every docker-py call is blocking, so each runs in a bounded thread pool
(``anyio.to_thread`` with a capacity limiter): one slow Docker call must never
freeze the event loop. Docker exceptions become ``BackendError`` here.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
import anyio.to_thread
import docker
import docker.errors
import requests
from docker.types import Ulimit

from faas.errors import BackendError

LABEL_MANAGED = "faas.managed"
LABEL_NODE = "faas.node"
LABEL_FUNCTION = "faas.function"
LABEL_POOL = "faas.pool"
# The server or worker process that made the container, and its socket directory.
LABEL_OWNER = "faas.owner"
LABEL_TOKEN = "faas.token"
SOCKET_NAME = "agent.sock"
SANDBOX_SOCKET_DIR = "/run/faas"
SANDBOX_SECRETS_DIR = "/run/secrets"
TASK_ROOT = "/var/task"

T = TypeVar("T")


@dataclass(frozen=True)
class SandboxSpec:
    """Everything needed to start one container for a function."""

    function: str
    pool_key: str
    # Names the container, its socket directory and its log stream alike.
    token: str
    image: str
    code_dir: Path
    env: Mapping[str, str]
    memory_mb: int
    cpus: float
    network: bool
    labels: Mapping[str, str] = field(default_factory=dict)
    # Host directory -> path inside (read-write): the function's volumes.
    mounts: Mapping[Path, str] = field(default_factory=dict)
    # Secret name -> value: files under /run/secrets only the sandbox user can read.
    secrets: Mapping[str, bytes] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Sandbox:
    """A started container and the host path of its agent's socket."""

    container_id: str
    name: str
    socket_path: Path
    spec: SandboxSpec
    created_at: float


class Backend(Protocol):
    """What the scheduler needs from a container engine."""

    async def create(self, spec: SandboxSpec) -> Sandbox: ...

    async def destroy(self, sandbox: Sandbox) -> None: ...

    async def was_oom_killed(self, sandbox: Sandbox) -> bool: ...

    async def reap(self, spare_owners: Collection[str]) -> int: ...

    async def close(self) -> None: ...


class DockerBackend:
    """Sandboxes as hardened Docker containers, reached over bind-mounted sockets."""

    def __init__(
        self,
        *,
        sockets_dir: Path,
        node_id: str,
        owner_id: str,
        start_timeout_s: float,
        tmp_size_mb: int,
        pids_limit: int,
        nofile_limit: int,
        sandbox_uid: int,
        threads: int,
        client: docker.DockerClient | None = None,
    ) -> None:
        self._sockets_dir = sockets_dir
        self._node_id = node_id
        self._owner_id = owner_id
        self._start_timeout_s = start_timeout_s
        self._tmp_size_mb = tmp_size_mb
        self._pids_limit = pids_limit
        self._nofile_limit = nofile_limit
        self._uid = sandbox_uid
        self._limiter = anyio.CapacityLimiter(threads)
        self._client = client or connect()
        sockets_dir.mkdir(parents=True, exist_ok=True)

    @property
    def client(self) -> docker.DockerClient:
        return self._client

    async def run_sync(self, func: Callable[..., T], *args: Any) -> T:
        """Run a blocking docker-py call off the loop, translating its errors."""
        try:
            return await anyio.to_thread.run_sync(func, *args, limiter=self._limiter)
        except docker.errors.DockerException as exc:
            raise BackendError(f"Docker error: {_explain(exc)}") from exc
        except requests.exceptions.RequestException as exc:
            raise BackendError(f"the Docker engine is unreachable: {exc}") from exc

    async def ping(self) -> None:
        await self.run_sync(self._client.ping)

    async def create(self, spec: SandboxSpec) -> Sandbox:
        token = spec.token
        sock_dir = self._sockets_dir / token
        sock_dir.mkdir(mode=0o700)
        self._give_to_sandbox_user(sock_dir)
        secrets_dir = self._secrets_dir(token)
        if spec.secrets:
            try:
                self._write_secrets(secrets_dir, spec.secrets)
            except OSError as exc:
                shutil.rmtree(sock_dir, ignore_errors=True)
                shutil.rmtree(secrets_dir, ignore_errors=True)
                raise BackendError(
                    f"cannot hand the function's secrets to its container ({exc.strerror}): "
                    "the server must run as root to give them to the sandbox user"
                ) from None
        for host in spec.mounts:
            if not host.exists():
                # A new volume: the function's user may write to it.
                host.mkdir(parents=True, mode=0o755)
                self._give_to_sandbox_user(host)
        name = f"faas-{spec.function[:40]}-{token}"
        labels = {
            LABEL_MANAGED: "1",
            LABEL_NODE: self._node_id,
            LABEL_FUNCTION: spec.function,
            LABEL_POOL: spec.pool_key,
            LABEL_OWNER: self._owner_id,
            LABEL_TOKEN: token,
            **spec.labels,
        }
        env = {**spec.env, "FAAS_SOCKET_DIR": SANDBOX_SOCKET_DIR}
        memory = f"{spec.memory_mb}m"
        kwargs: dict[str, Any] = {
            "name": name,
            "detach": True,
            "labels": labels,
            "environment": env,
            "user": f"{self._uid}:{self._uid}",
            "read_only": True,
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={self._tmp_size_mb}m,mode=1777"},
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            # Equal memory and memory+swap: no swap beyond the limit, as on Lambda.
            "mem_limit": memory,
            "memswap_limit": memory,
            "nano_cpus": int(spec.cpus * 1e9),
            "pids_limit": self._pids_limit,
            "ulimits": [Ulimit(name="nofile", soft=self._nofile_limit, hard=self._nofile_limit)],
            "volumes": {
                str(spec.code_dir): {"bind": TASK_ROOT, "mode": "ro"},
                str(sock_dir): {"bind": SANDBOX_SOCKET_DIR, "mode": "rw"},
                **{
                    str(host): {"bind": inside, "mode": "rw"}
                    for host, inside in spec.mounts.items()
                },
                **(
                    {str(secrets_dir): {"bind": SANDBOX_SECRETS_DIR, "mode": "ro"}}
                    if spec.secrets
                    else {}
                ),
            },
            "network_mode": "bridge" if spec.network else "none",
        }
        started = time.monotonic()
        run = asyncio.ensure_future(
            self.run_sync(lambda: self._client.containers.run(spec.image, **kwargs))
        )
        try:
            container = await asyncio.shield(run)
        except BaseException:
            # A cancelled await leaves the Docker call running in its thread:
            # let it finish so that whatever it created is removed below.
            if not run.done():
                await asyncio.wait({run})
            shutil.rmtree(sock_dir, ignore_errors=True)
            shutil.rmtree(secrets_dir, ignore_errors=True)
            await self._remove_by_name(name)
            raise
        sandbox = Sandbox(
            container_id=container.id,
            name=name,
            socket_path=sock_dir / SOCKET_NAME,
            spec=spec,
            created_at=time.time(),
        )
        try:
            await self._wait_ready(sandbox, started)
        except BaseException:
            await self.destroy(sandbox)
            raise
        return sandbox

    async def _wait_ready(self, sandbox: Sandbox, started: float) -> None:
        # The agent renames its socket into place once it listens: its appearance
        # is the readiness signal. Poll the file cheaply; ask Docker only rarely
        # whether the container died meanwhile.
        deadline = started + self._start_timeout_s
        next_check = time.monotonic() + 0.5
        delay = 0.001
        while not sandbox.socket_path.exists():
            now = time.monotonic()
            if now > deadline:
                raise BackendError(
                    f"container {sandbox.name} did not become ready in {self._start_timeout_s:g}s"
                )
            if now > next_check:
                next_check = now + 0.5
                status, logs = await self.run_sync(self._status_and_logs, sandbox.container_id)
                if status not in ("created", "running"):
                    raise BackendError(f"container {sandbox.name} exited at start: {logs}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.01)

    def _status_and_logs(self, container_id: str) -> tuple[str, str]:
        container = self._client.containers.get(container_id)
        logs = container.logs(tail=20).decode("utf-8", "replace").strip()
        return str(container.status), logs

    async def destroy(self, sandbox: Sandbox) -> None:
        try:
            await self.run_sync(self._remove, sandbox.container_id)
        finally:
            shutil.rmtree(sandbox.socket_path.parent, ignore_errors=True)
            shutil.rmtree(self._secrets_dir(sandbox.spec.token), ignore_errors=True)

    def _remove(self, container_id: str) -> None:
        try:
            self._client.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            # A removal already under way is as good as done.
            if "already in progress" not in str(exc):
                raise

    async def _remove_by_name(self, name: str) -> None:
        try:
            await self.run_sync(self._remove, name)
        except BackendError:
            pass

    async def was_oom_killed(self, sandbox: Sandbox) -> bool:
        def inspect() -> bool:
            try:
                state = self._client.api.inspect_container(sandbox.container_id)["State"]
            except docker.errors.NotFound:
                return False
            return bool(state.get("OOMKilled"))

        return await self.run_sync(inspect)

    async def reap(self, spare_owners: Collection[str]) -> int:
        """Remove this node's containers whose owner is not spared (a dead process's).

        At start a process does not spare itself: containers under its own owner
        id are from an earlier run of it.
        """
        spare = set(spare_owners)

        def find() -> list[tuple[str, str]]:
            found = self._client.api.containers(
                all=True, filters={"label": [f"{LABEL_MANAGED}=1", f"{LABEL_NODE}={self._node_id}"]}
            )
            return [
                (c["Id"], c["Labels"].get(LABEL_TOKEN, ""))
                for c in found
                if c["Labels"].get(LABEL_OWNER) not in spare
            ]

        doomed = await self.run_sync(find)
        async with anyio.create_task_group() as tg:
            for container_id, _ in doomed:
                tg.start_soon(self.run_sync, self._remove, container_id)
        for _, token in doomed:
            if token:
                shutil.rmtree(self._sockets_dir / token, ignore_errors=True)
                shutil.rmtree(self._secrets_dir(token), ignore_errors=True)
        return len(doomed)

    async def close(self) -> None:
        await self.run_sync(self._client.close)

    def _secrets_dir(self, token: str) -> Path:
        return self._sockets_dir / f"{token}.secrets"

    def _write_secrets(self, directory: Path, secrets: Mapping[str, bytes]) -> None:
        """Files only the sandbox user can read (0400 in a 0500 directory it owns)."""
        directory.mkdir(mode=0o700)
        for name, value in secrets.items():
            path = directory / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            with os.fdopen(fd, "wb") as out:
                out.write(value)
            os.chown(path, self._uid, self._uid)
        os.chmod(directory, 0o500)
        os.chown(directory, self._uid, self._uid)

    def _give_to_sandbox_user(self, path: Path) -> None:
        # The agent runs as an unprivileged user and must create its socket here.
        try:
            os.chown(path, self._uid, self._uid)
        except PermissionError:
            os.chmod(path, 0o777)


def connect() -> docker.DockerClient:
    try:
        return docker.from_env(timeout=60)
    except docker.errors.DockerException as exc:
        raise BackendError(
            f"cannot reach the Docker engine ({_explain(exc)}); is dockerd running and "
            "DOCKER_HOST or /var/run/docker.sock set up?"
        ) from exc


def _explain(exc: docker.errors.DockerException) -> str:
    if isinstance(exc, docker.errors.APIError):
        return str(exc.explanation or exc)
    return str(exc)
