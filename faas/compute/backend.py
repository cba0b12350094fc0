"""The container backend: one protocol, and Docker as its only implementation.

The backend creates a sandbox (a started container whose agent listens on a
Unix socket in a per-container host directory), destroys it, and reaps what an
earlier run left behind. It knows nothing of pools or functions beyond what a
``SandboxSpec`` says.

A generic sandbox (``SandboxSpec.generic``) is started for no function: its
agent waits without a runtime, its ``/var/task`` and ``/run/secrets`` are empty
per-container host directories. ``specialize`` turns it into a function's: the
code is hard-linked into its task directory, the secrets written into its
secrets directory, then the agent is given the function's environment
(``POST /specialize``) while the container is renamed after the function.

Every docker-py call is blocking, so each runs in a bounded thread pool
(``anyio.to_thread`` with a capacity limiter): one slow Docker call must never
freeze the event loop. Docker exceptions become ``BackendError`` here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import os
import shutil
import stat
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

from faas.compute.agent_client import AgentClient, AgentError
from faas.errors import BackendError

LABEL_MANAGED = "faas.managed"
LABEL_NODE = "faas.node"
LABEL_FUNCTION = "faas.function"
LABEL_POOL = "faas.pool"
# The installation (an id kept in its Redis): servers with other Redis databases on
# the same Docker engine, even under the same node id, never reap each other's.
LABEL_INSTALLATION = "faas.installation"
# The server or worker process that made the container, and its socket directory.
LABEL_OWNER = "faas.owner"
LABEL_TOKEN = "faas.token"
# faas.pool of a container started for no function (labels cannot change later).
GENERIC_POOL = "generic"
SOCKET_NAME = "agent.sock"
# What the agent binds in its socket directory before readiness: its own socket and
# the one our Python runtime serves once initialized (docs/container-protocol.md).
AGENT_SOCKETS = frozenset({SOCKET_NAME, "runtime.sock"})
CPU_PERIOD_US = 10_000
# The bridge network of functions with network access: the outside world, not each
# other (inter-container traffic disabled), and not the gateway's or Redis's network.
FUNCTION_NETWORK = "faas-functions"
ICC_OPTION = "com.docker.network.bridge.enable_icc"
SANDBOX_SOCKET_DIR = "/run/faas"
SANDBOX_SECRETS_DIR = "/run/secrets"
TASK_ROOT = "/var/task"

T = TypeVar("T")


@dataclass(frozen=True)
class SandboxSpec:
    """Everything needed to start one container for a function, or a generic one.

    A generic spec (``generic``) uses only the token, image, memory, cpus and
    network: the rest arrives with ``specialize``.
    """

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
    generic: bool = False


@dataclass(frozen=True)
class Sandbox:
    """A started container and the host path of its agent's socket."""

    container_id: str
    name: str
    socket_path: Path
    spec: SandboxSpec
    created_at: float
    # The uid the agent's sockets belong to: the platform connects to no other.
    socket_owner: int | None = None


class Backend(Protocol):
    """What the scheduler needs from a container engine."""

    async def start(self, installation: str) -> None: ...

    async def create(self, spec: SandboxSpec) -> Sandbox: ...

    async def specialize(
        self, sandbox: Sandbox, spec: SandboxSpec
    ) -> tuple[Sandbox, asyncio.Future[None]]: ...

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
        self._installation = ""
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

    async def start(self, installation: str) -> None:
        """Check the engine, scope what this process makes and reaps to ``installation``,
        and make the functions' network if it is missing."""
        await self.ping()
        self._installation = installation
        await self.run_sync(self._ensure_network)

    def _ensure_network(self) -> None:
        found = self._client.api.networks(names=[FUNCTION_NETWORK])
        if any(n.get("Name") == FUNCTION_NETWORK for n in found):
            return
        try:
            self._client.api.create_network(
                FUNCTION_NETWORK,
                driver="bridge",
                options={ICC_OPTION: "false"},
                labels={LABEL_MANAGED: "1"},
                check_duplicate=True,
            )
        except docker.errors.APIError as exc:
            # Another server on this engine made it meanwhile.
            if exc.status_code != 409:
                raise

    async def create(self, spec: SandboxSpec) -> Sandbox:
        token = spec.token
        sock_dir = self._sockets_dir / token
        secrets_dir = self._secrets_dir(token)
        task_dir = self._task_dir(token)
        try:
            self._prepare_dirs(spec)
        except OSError as exc:
            self._remove_dirs(token)
            raise BackendError(
                f"cannot hand the function's secrets to its container ({exc.strerror}): "
                "the server must run as root to give them to the sandbox user"
            ) from None
        # "." is not allowed in function names: no function's container is named so.
        name = f"faas.pool-{token}" if spec.generic else container_name(spec.function, token)
        labels = {
            LABEL_MANAGED: "1",
            LABEL_NODE: self._node_id,
            LABEL_FUNCTION: "" if spec.generic else spec.function,
            LABEL_POOL: GENERIC_POOL if spec.generic else spec.pool_key,
            LABEL_INSTALLATION: self._installation,
            LABEL_OWNER: self._owner_id,
            LABEL_TOKEN: token,
            **spec.labels,
        }
        if spec.generic:
            # Nothing of any function: its environment arrives with /specialize.
            env = {"FAAS_SOCKET_DIR": SANDBOX_SOCKET_DIR, "FAAS_GENERIC": "1"}
            code_dir = task_dir
        else:
            env = {**spec.env, "FAAS_SOCKET_DIR": SANDBOX_SOCKET_DIR}
            code_dir = spec.code_dir
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
            # The CPU share as a CFS quota over a 10 ms period rather than Docker's
            # 100 ms: a 0.25-CPU container that used its share waits at most 7.5 ms,
            # not 75 ms, which a busy warm instance felt at every p99.
            "cpu_period": CPU_PERIOD_US,
            "cpu_quota": max(1000, int(spec.cpus * CPU_PERIOD_US)),
            "pids_limit": self._pids_limit,
            "ulimits": [Ulimit(name="nofile", soft=self._nofile_limit, hard=self._nofile_limit)],
            "volumes": {
                str(code_dir): {"bind": TASK_ROOT, "mode": "ro"},
                str(sock_dir): {"bind": SANDBOX_SOCKET_DIR, "mode": "rw"},
                **{
                    str(host): {"bind": inside, "mode": "rw"}
                    for host, inside in spec.mounts.items()
                },
                **(
                    {str(secrets_dir): {"bind": SANDBOX_SECRETS_DIR, "mode": "ro"}}
                    if spec.secrets or spec.generic
                    else {}
                ),
            },
            "network_mode": FUNCTION_NETWORK if spec.network else "none",
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
            self._remove_dirs(token)
            await self._remove_by_name(name)
            raise
        sandbox = Sandbox(
            container_id=container.id,
            name=name,
            socket_path=sock_dir / SOCKET_NAME,
            spec=spec,
            created_at=time.time(),
            socket_owner=self._uid,
        )
        try:
            await self._wait_ready(sandbox, started)
            self._seal(sock_dir)
        except BaseException:
            await self.destroy(sandbox)
            raise
        return sandbox

    async def specialize(
        self, sandbox: Sandbox, spec: SandboxSpec
    ) -> tuple[Sandbox, asyncio.Future[None]]:
        """Make the generic ``sandbox`` the function's that ``spec`` describes.

        Its code and secrets are placed first; then the agent starts the runtime
        with the function's environment. Returns the function's sandbox once the
        agent has taken the function, and the rename of the container after the
        function, still under way: the caller awaits it before the sandbox serves,
        so that the runtime's init overlaps it. On error the sandbox is left to
        the caller to destroy.
        """
        if not sandbox.spec.generic or spec.token != sandbox.spec.token or spec.mounts:
            raise ValueError(
                "specialize takes a generic sandbox and a spec of its token, no mounts"
            )
        try:
            await anyio.to_thread.run_sync(self._place, spec, limiter=self._limiter)
        except OSError as exc:
            raise BackendError(
                f"cannot place the function's code or secrets in {sandbox.name} ({exc})"
            ) from None
        name = container_name(spec.function, spec.token)
        env = {**spec.env, "FAAS_SOCKET_DIR": SANDBOX_SOCKET_DIR}
        renamed = asyncio.ensure_future(
            self.run_sync(self._client.api.rename, sandbox.container_id, name)
        )
        # Retrieved here so that a rename nobody awaits (its call was abandoned) is no warning.
        renamed.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            await self._post_specialize(sandbox, env)
        except BaseException:
            # A rename left running in its thread could outlive the container's removal.
            await asyncio.wait({renamed})
            raise
        return dataclasses.replace(sandbox, name=name, spec=spec), renamed

    def _place(self, spec: SandboxSpec) -> None:
        """Blocking: the code into the task directory, the secrets into theirs."""
        link_tree(spec.code_dir, self._task_dir(spec.token))
        if spec.secrets:
            self._write_secrets(self._secrets_dir(spec.token), spec.secrets)

    async def _post_specialize(self, sandbox: Sandbox, env: Mapping[str, str]) -> None:
        client = AgentClient(sandbox.socket_path, sandbox.socket_owner)
        body = json.dumps({"env": dict(env)}).encode()
        try:
            reply = await client.request(
                "POST",
                "/specialize",
                body=body,
                headers={"Content-Type": "application/json"},
                timeout_s=self._start_timeout_s,
            )
        except AgentError as exc:
            raise BackendError(
                f"the agent of {sandbox.name} did not take the function: {exc}"
            ) from exc
        finally:
            client.close()
        if reply.status != 200:
            raise BackendError(
                f"the agent of {sandbox.name} refused the function ({reply.status}): "
                f"{reply.body[:200].decode('utf-8', 'replace')}"
            )

    def _prepare_dirs(self, spec: SandboxSpec) -> None:
        """The host directories a container mounts: its socket's, and its secrets'
        and code's for a generic one (empty until ``specialize``)."""
        sock_dir = self._sockets_dir / spec.token
        sock_dir.mkdir(mode=0o700)
        self._give_to_sandbox_user(sock_dir)
        secrets_dir = self._secrets_dir(spec.token)
        if spec.generic:
            task_dir = self._task_dir(spec.token)
            task_dir.mkdir()
            os.chmod(task_dir, 0o755)  # explicit: mkdir's mode is cut by the umask
            secrets_dir.mkdir(mode=0o700)
            try:
                os.chown(secrets_dir, self._uid, self._uid)
                os.chmod(secrets_dir, 0o500)
            except PermissionError:
                # Not root: no secrets can be placed later; an empty directory to list.
                os.chmod(secrets_dir, 0o755)
        elif spec.secrets:
            secrets_dir.mkdir(mode=0o700)
            self._write_secrets(secrets_dir, spec.secrets)

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

    def _seal(self, sock_dir: Path) -> None:
        """Take the socket directory back from the sandbox user once its agent has bound
        its sockets, before any function code runs (the agent waits for the platform's
        first request, a generic one for ``/specialize``): function code can then neither
        swap a socket for a link nor write a byte into this host directory. Anything but
        the agent's two sockets found here means code ran too early: refused."""
        try:
            os.chown(sock_dir, os.getuid(), os.getgid())
            os.chmod(sock_dir, 0o755)
            found = {e.name: e.stat(follow_symlinks=False).st_mode for e in os.scandir(sock_dir)}
        except OSError as exc:
            raise BackendError(f"cannot seal the socket directory {sock_dir}: {exc}") from None
        for name, mode in found.items():
            if name not in AGENT_SOCKETS or not stat.S_ISSOCK(mode):
                raise BackendError(f"unexpected {name!r} in the socket directory {sock_dir}")

    def _status_and_logs(self, container_id: str) -> tuple[str, str]:
        container = self._client.containers.get(container_id)
        logs = container.logs(tail=20).decode("utf-8", "replace").strip()
        return str(container.status), logs

    async def destroy(self, sandbox: Sandbox) -> None:
        try:
            await self.run_sync(self._remove, sandbox.container_id)
        finally:
            self._remove_dirs(sandbox.spec.token)

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
        """Remove this installation's containers on this node whose owner is not spared
        (a dead process's).

        At start a process does not spare itself: containers under its own owner
        id are from an earlier run of it. Containers without an installation label
        are from a version that had none: this node's, and reaped too.
        """
        spare = set(spare_owners)

        def find() -> list[tuple[str, str]]:
            found = self._client.api.containers(
                all=True, filters={"label": [f"{LABEL_MANAGED}=1", f"{LABEL_NODE}={self._node_id}"]}
            )
            return [
                (c["Id"], c["Labels"].get(LABEL_TOKEN, ""))
                for c in found
                if c["Labels"].get(LABEL_INSTALLATION, self._installation) == self._installation
                and c["Labels"].get(LABEL_OWNER) not in spare
            ]

        doomed = await self.run_sync(find)
        async with anyio.create_task_group() as tg:
            for container_id, _ in doomed:
                tg.start_soon(self.run_sync, self._remove, container_id)
        for _, token in doomed:
            if token:
                self._remove_dirs(token)
        return len(doomed)

    async def close(self) -> None:
        await self.run_sync(self._client.close)

    def _secrets_dir(self, token: str) -> Path:
        return self._sockets_dir / f"{token}.secrets"

    def _task_dir(self, token: str) -> Path:
        return self._sockets_dir / f"{token}.task"

    def _remove_dirs(self, token: str) -> None:
        for path in (self._sockets_dir / token, self._secrets_dir(token), self._task_dir(token)):
            shutil.rmtree(path, ignore_errors=True)

    def _write_secrets(self, directory: Path, secrets: Mapping[str, bytes]) -> None:
        """Files only the sandbox user can read (0400 in a 0500 directory it owns)."""
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


def container_name(function: str, token: str) -> str:
    """A function's container's name: operators and tests find its containers by it
    (a container made generic keeps an empty ``faas.function`` label)."""
    return f"faas-{function[:40]}-{token}"


def link_tree(source: Path, target: Path) -> None:
    """Hard-link the files under ``source`` into the existing directory ``target``,
    keeping the tree and the modes; copy where a link cannot cross filesystems."""
    for root, dirs, files in os.walk(source):
        rel = os.path.relpath(root, source)
        into = target if rel == "." else target / rel
        for name in dirs:
            src = os.path.join(root, name)
            if os.path.islink(src):
                _link(src, into / name)
                continue
            (into / name).mkdir()
            os.chmod(into / name, os.stat(src).st_mode & 0o7777)
        for name in files:
            _link(os.path.join(root, name), into / name)


def _link(src: str, dst: Path) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copy2(src, dst, follow_symlinks=False)


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
