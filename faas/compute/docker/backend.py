"""The Docker backend: sandboxes as hardened containers, reached over bind-mounted sockets.

Each sandbox is a container of the runtime image (``faas.compute.docker.images``)
whose agent listens in a per-container host directory bind-mounted at
``/run/faas`` (``faas.compute.sandbox_dirs``). Every container is labelled
with its node, installation, owner and token, so that a restart or another
live process can reap what a dead process left behind.

A generic container's ``/var/task`` and ``/run/secrets`` are empty host
directories. ``specialize`` hard-links the code into the first, writes the
secrets into the second, then gives the agent the function's environment
(``POST /specialize``) while the container is renamed after the function; the
sandbox awaits that rename in its ``settled``, so it overlaps the runtime's init.

An image function's sandbox is two containers: this agent's, in image mode,
and the function's own image beside it (``faas.compute.docker.image_sandbox``).

Every docker-py call is blocking, so each runs in a bounded thread pool
(``anyio.to_thread`` with a capacity limiter): one slow Docker call must never
freeze the event loop. Docker exceptions become ``BackendError`` here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import docker
import docker.errors
import requests
from docker.types import Ulimit

from faas.compute.agent_client import AgentClient
from faas.compute.backend import SOCKET_NAME, Sandbox, SandboxSpec
from faas.compute.containers import (
    LABEL_INSTALLATION,
    LABEL_MANAGED,
    LABEL_NODE,
    LABEL_OWNER,
    LABEL_TOKEN,
    SANDBOX_SECRETS_DIR,
    SANDBOX_SOCKET_DIR,
    TASK_ROOT,
    container_name,
    sandbox_environment,
    sandbox_labels,
    sdk_environment,
)
from faas.compute.docker.image_sandbox import (
    AGENT_MEMORY_MB,
    LABEL_PART,
    FencedClient,
    ImageContainers,
    ImagePart,
    agent_environment,
)
from faas.compute.docker.images import Images
from faas.compute.lambda_env import API_SOCKET_DIR
from faas.compute.quota import DeferredQuota
from faas.compute.sandbox_dirs import (
    SandboxDirs,
    SocketSandbox,
    check_specializable,
    own,
    specialize_agent,
    wait_for_socket,
)
from faas.errors import BackendError, FaasError, ValidationFailed
from faas.models import DEFAULT_RUNTIME
from faas.settings import Settings

CPU_PERIOD_US = 10_000
# The bridge network of functions with network access: the outside world, not each
# other (inter-container traffic disabled), and not the gateway's or Redis's network.
FUNCTION_NETWORK = "faas-functions"
ICC_OPTION = "com.docker.network.bridge.enable_icc"
# How often a starting container is asked whether it exited. Every ask is a call to
# the engine; in a burst of 100 starts each waiting seconds, asking every 0.5 s with
# two calls (inspect, logs) was 400 calls a second queued with the starts themselves.
EXIT_CHECK_S = 2.0
# How long /readyz waits for the engine's answer.
PING_TIMEOUT_S = 2.0

# ``_run_options``'s keys that are the container's config; the others its host config.
_CONTAINER_OPTIONS = frozenset({"name", "detach", "labels", "environment", "user"})

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class DockerSandbox(SocketSandbox):
    """A started container."""

    container_id: str
    # Its rename after the function it was specialized for, while under way.
    renamed: asyncio.Future[None] | None = field(default=None, compare=False, repr=False)
    # An image function's own container, beside this one (whose agent is in image mode).
    image_part: ImagePart | None = None
    # Its CPU quota, applied once its runtime is initialized: the start and the init
    # run unthrottled, as Lambda boosts init (None: set at create, an image function's).
    quota: DeferredQuota | None = field(default=None, compare=False, repr=False)

    def client(self) -> AgentClient:
        if self.image_part is not None:
            return FencedClient(self, self.image_part)
        return super().client()

    def direct_client(self, socket: str) -> AgentClient | None:
        # An image function's runtime client is not ours: it serves no socket of its own.
        return None if self.image_part is not None else super().direct_client(socket)

    async def settled(self) -> None:
        # Before it serves: operators and tests find a function's containers by name.
        if self.renamed is not None:
            await self.renamed
        if self.quota is not None:
            # Not awaited: a Docker round trip (15-50 ms here) the first invoke need
            # not wait for; ``destroy`` does.
            self.quota.apply()


class DockerBackend:
    """Sandboxes as hardened Docker containers, reached over bind-mounted sockets."""

    def __init__(self, settings: Settings, owner_id: str, client: docker.DockerClient) -> None:
        self._settings = settings
        self._owner_id = owner_id
        self._client = client
        self._images = Images(settings, client)
        self._uid = settings.sandbox_uid
        self._dirs = SandboxDirs(settings.sockets_dir, self._uid, self._uid)
        self._limiter = anyio.CapacityLimiter(settings.docker_threads)
        self._installation = ""
        self._image_containers = ImageContainers(self, allow_image_user=settings.image_user)

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

    async def prepare(self, runtime: str = DEFAULT_RUNTIME) -> str:
        """``runtime``'s image, built if missing."""
        return await self._images.runtime_image(self, runtime)

    async def unavailable(self, runtime: str) -> str | None:
        return await self._images.unavailable(self, runtime)

    async def resolve_image(self, image: str) -> str:
        found = await self._image_containers.resolve(image)
        if found is None:
            raise ValidationFailed(
                f"image {image!r} is not on this server's Docker engine: build or pull it "
                "there first (docker build -t NAME .), then name it here",
                field="image",
            )
        return found

    async def readiness(self) -> dict[str, str]:
        unknown = "unknown: Docker is unreachable"
        try:
            await asyncio.wait_for(self.ping(), PING_TIMEOUT_S)
        except FaasError as exc:
            return {"docker": exc.message, "images": unknown}
        except TimeoutError:
            return {"docker": f"no answer within {PING_TIMEOUT_S:g} s", "images": unknown}
        missing = await self._images.missing(self)
        return {"docker": "ok", "images": "ok" if missing is None else missing}

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

    async def create(self, spec: SandboxSpec) -> DockerSandbox:
        token = spec.token
        self._dirs.prepare(spec)
        # "." is not allowed in function names: no function's container is named so.
        name = f"faas.pool-{token}" if spec.generic else container_name(spec.function, token)
        kwargs = self._run_options(spec, name)
        deferred = spec.function_image is None
        quota_us = kwargs["cpu_quota"]
        started = time.monotonic()
        run = asyncio.ensure_future(
            self.run_sync(self._create_and_start, spec.image, kwargs, deferred)
        )
        try:
            container_id = await asyncio.shield(run)
        except BaseException:
            # A cancelled await leaves the Docker call running in its thread:
            # let it finish so that whatever it created is removed below.
            if not run.done():
                await asyncio.wait({run})
            self._dirs.remove(token)
            await self._remove_by_name(name)
            raise
        sandbox = DockerSandbox(
            name=name,
            spec=spec,
            created_at=time.time(),
            socket_dir=self._dirs.sockets(token),
            socket_owner=self._uid,
            container_id=container_id,
            quota=DeferredQuota(self, container_id, quota_us) if deferred else None,
        )
        try:
            await wait_for_socket(
                sandbox.socket_dir / SOCKET_NAME,
                f"container {name}",
                started,
                self._settings.start_timeout_s,
                lambda: self._exited(sandbox.container_id),
                check_every_s=EXIT_CHECK_S,
            )
            self._dirs.seal(token)
            if spec.function_image is not None:
                # Only now, sealed: the function's code runs from here on.
                secrets = self._dirs.secrets(token) if spec.secrets else None
                part = await self._image_containers.start(
                    sandbox, spec.function_image, kwargs, str(secrets) if secrets else None
                )
                sandbox = dataclasses.replace(sandbox, image_part=part)
        except BaseException:
            await self.destroy(sandbox)
            raise
        return sandbox

    def _create_and_start(self, image: str, options: dict[str, Any], unthrottled: bool) -> str:
        """Blocking: the container made and started, its id; two calls to the engine.

        ``containers.run`` inspects the container between the two (a third round
        trip, which waits behind every other start during a burst); ``unthrottled``
        leaves the CPU quota out, for ``DeferredQuota``.
        """
        api = self._client.api
        host = {k: v for k, v in options.items() if k not in _CONTAINER_OPTIONS}
        if unthrottled:
            del host["cpu_period"], host["cpu_quota"]
        host["binds"] = host.pop("volumes")
        created = api.create_container(
            image,
            name=options["name"],
            labels=options["labels"],
            environment=options["environment"],
            user=options["user"],
            host_config=api.create_host_config(**host),
        )
        api.start(created["Id"])
        return str(created["Id"])

    async def set_quota(self, container_id: str, quota_us: int) -> None:
        """Give a started container its CPU quota (``DeferredQuota``); a container gone
        meanwhile needs none."""
        try:
            await self.run_sync(
                lambda: self._client.api.update_container(
                    container_id, cpu_period=CPU_PERIOD_US, cpu_quota=quota_us
                )
            )
        except BackendError as exc:
            log.info("no CPU quota for container %s: %s", container_id[:12], exc)

    def _run_options(self, spec: SandboxSpec, name: str) -> dict[str, Any]:
        """``containers.run``'s arguments for ``spec``: labels, limits, hardening, mounts."""
        labels = sandbox_labels(spec, self._settings.node_id, self._installation, self._owner_id)
        image_function = spec.function_image is not None
        if image_function:
            labels[LABEL_PART] = "agent"
            # The function runs in its own container (image_sandbox): none of it here.
            env = agent_environment(spec, SANDBOX_SOCKET_DIR) | sdk_environment()
        else:
            env = sandbox_environment(spec)
        memory = f"{AGENT_MEMORY_MB if image_function else spec.memory_mb}m"
        nofile = self._settings.nofile_limit
        volumes = {
            str(self._dirs.sockets(spec.token)): {"bind": SANDBOX_SOCKET_DIR, "mode": "rw"},
            str(self._settings.api_socket_dir): {"bind": API_SOCKET_DIR, "mode": "ro"},
        }
        if not image_function:  # else its code, volumes and secrets are the image's container's
            code_dir = self._dirs.task(spec.token) if spec.generic else spec.code_dir
            volumes[str(code_dir)] = {"bind": TASK_ROOT, "mode": "ro"}
            for host, inside in spec.mounts.items():
                volumes[str(host)] = {"bind": inside, "mode": "rw"}
            for host, inside in spec.readonly_mounts.items():
                volumes[str(host)] = {"bind": inside, "mode": "ro"}
            if spec.secrets or spec.generic:
                secrets_dir = self._dirs.secrets(spec.token)
                volumes[str(secrets_dir)] = {"bind": SANDBOX_SECRETS_DIR, "mode": "ro"}
        return {
            "name": name,
            "detach": True,
            "labels": labels,
            "environment": env,
            "user": f"{self._uid}:{self._uid}",
            "read_only": True,
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={self._settings.tmp_size_mb}m,mode=1777"},
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
            "pids_limit": self._settings.pids_limit,
            "ulimits": [Ulimit(name="nofile", soft=nofile, hard=nofile)],
            "volumes": volumes,
            "network_mode": FUNCTION_NETWORK if spec.network else "none",
        }

    async def specialize(self, sandbox: Sandbox, spec: SandboxSpec) -> DockerSandbox:
        """Make the generic ``sandbox`` the function's that ``spec`` describes.

        Its code and secrets are placed first; then the agent starts the runtime
        with the function's environment. Returns the function's sandbox once the
        agent has taken the function, with the rename of the container after the
        function still under way: its ``settled`` awaits it, so that the runtime's
        init overlaps it. On error the sandbox is left to the caller to destroy.
        """
        box = own(sandbox, DockerSandbox)
        check_specializable(box.spec, spec)
        if spec.function_image is not None:  # its container is of its own image
            raise ValueError("an image function's sandbox is never specialized")
        if spec.readonly_mounts:  # layers: mounts, which a started sandbox cannot gain
            raise ValueError("specialize takes a spec with no mounts")
        await anyio.to_thread.run_sync(self._dirs.place, spec, box.name, limiter=self._limiter)
        name = container_name(spec.function, spec.token)
        env = {**spec.env, "FAAS_SOCKET_DIR": SANDBOX_SOCKET_DIR}
        renamed = asyncio.ensure_future(
            self.run_sync(self._client.api.rename, box.container_id, name)
        )
        # Retrieved here so that a rename nobody awaits (its call was abandoned) is no warning.
        renamed.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            await specialize_agent(box, env, self._settings.start_timeout_s)
        except BaseException:
            # A rename left running in its thread could outlive the container's removal.
            await asyncio.wait({renamed})
            raise
        return dataclasses.replace(box, name=name, spec=spec, renamed=renamed)

    async def _exited(self, container_id: str) -> str | None:
        """Its last log lines if the container is no longer starting or running, else None."""
        return await self.run_sync(self._exit_logs, container_id)

    def _exit_logs(self, container_id: str) -> str | None:
        # One inspect while it starts; its logs only once it is gone.
        state = self._client.api.inspect_container(container_id)["State"]
        if state.get("Status") in ("created", "running"):
            return None
        logs: bytes = self._client.api.logs(container_id, tail=20)
        return logs.decode("utf-8", "replace").strip()

    async def destroy(self, sandbox: Sandbox) -> None:
        box = own(sandbox, DockerSandbox)
        if box.renamed is not None and not box.renamed.done():
            await asyncio.wait({box.renamed})  # else it could outlive the removal
        if box.quota is not None:
            await box.quota.over()
        try:
            if box.image_part is not None:
                await self._image_containers.stop(box.image_part)
            await self.run_sync(self._remove, box.container_id)
        finally:
            self._dirs.remove(box.spec.token)

    def remove_container(self, container_id: str) -> None:
        """Blocking: remove a container of ours, whatever its state (gone is removed)."""
        self._remove(container_id)

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
        box = own(sandbox, DockerSandbox)
        if box.image_part is not None:  # the function's own container is the one limited
            return await self._image_containers.was_oom_killed(box.image_part)
        container_id = box.container_id

        def inspect() -> bool:
            try:
                state = self._client.api.inspect_container(container_id)["State"]
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
            ours = [f"{LABEL_MANAGED}=1", f"{LABEL_NODE}={self._settings.node_id}"]
            found = self._client.api.containers(all=True, filters={"label": ours})
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
                self._dirs.remove(token)
        return len(doomed)

    async def close(self) -> None:
        await self.run_sync(self._client.close)


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
