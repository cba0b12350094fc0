"""The runc backend: the Docker backend's sandboxes, started by runc directly.

A start through dockerd costs the machine about 100 ms of CPU and 200-400 ms of
wall time; runc alone starts the same container, with the same limits and
hardening, in about 50 ms (docs/scaling.md). So this backend keeps everything
but the start: the runtime images are built and kept by the Docker engine
(``faas images build``), each exported once as a read-only root
(``faas.compute.runc.rootfs``); a sandbox is a runc container of it
(``faas.compute.runc.spec``) whose agent listens in the same socket directory
(``faas.compute.sandbox_dirs``) as on the Docker backend, in a network namespace
of its own on our bridge (``faas.compute.runc.network``), or with loopback only.

Image functions (a user's own image, run beside the agent) stay on Docker: this
backend hands them to the Docker backend it holds.

Containers live under ``<data>/runc/state`` (runc's ``--root``), their bundles
under ``<data>/runc/bundles/<token>``; each carries its node, installation,
owner and token as annotations, which ``runc list`` shows and reaping reads.
The server must run as root on the host (not in a container).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio.to_thread
import docker

from faas.compute.backend import SOCKET_NAME, Sandbox, SandboxSpec
from faas.compute.containers import (
    LABEL_INSTALLATION,
    LABEL_NODE,
    LABEL_OWNER,
    SANDBOX_SECRETS_DIR,
    SANDBOX_SOCKET_DIR,
    TASK_ROOT,
    container_name,
    sandbox_environment,
    sandbox_labels,
)
from faas.compute.docker.backend import EXIT_CHECK_S, DockerBackend, DockerSandbox
from faas.compute.lambda_env import API_SOCKET_DIR
from faas.compute.quota import DeferredQuota
from faas.compute.runc import cgroups
from faas.compute.runc import spec as oci
from faas.compute.runc.network import Network, resolv_conf
from faas.compute.runc.rootfs import RootFilesystems
from faas.compute.sandbox_dirs import (
    SandboxDirs,
    SocketSandbox,
    check_specializable,
    own,
    specialize_agent,
    wait_for_socket,
)
from faas.errors import BackendError
from faas.models import DEFAULT_RUNTIME
from faas.settings import Settings

CGROUP_PARENT = cgroups.PARENT
SPAWNERS = 16
OUTPUT_LOG = "output.log"
# A container's name (as the Docker backend names it), in its bundle.
NAME_FILE = "name"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuncSandbox(SocketSandbox):
    """A started runc container."""

    # runc's id of it: its token.
    container_id: str
    quota: DeferredQuota | None = field(default=None, compare=False, repr=False)

    async def settled(self) -> None:
        if self.quota is not None:
            self.quota.apply()


class RuncBackend:
    """Sandboxes as runc containers of the Docker backend's runtime images."""

    def __init__(self, settings: Settings, owner_id: str, client: docker.DockerClient) -> None:
        self._settings = settings
        self._owner_id = owner_id
        self._docker = DockerBackend(settings, owner_id, client)
        self._uid = settings.sandbox_uid
        self._dirs = SandboxDirs(settings.sockets_dir, self._uid, self._uid)
        root = settings.data_dir / "runc"
        self._state = root / "state"
        self._bundles = root / "bundles"
        self._etc = root / "etc"
        self._rootfs = RootFilesystems(settings.runc_rootfs, client)
        self._network = Network(root / "leases")
        self._installation = ""
        # Threads that spawn runc and ip (a burst of starts runs many at once).
        self._spawners = anyio.CapacityLimiter(SPAWNERS)

    # -- what the Docker backend does alike ---------------------------------------

    async def ping(self) -> None:
        await self._docker.ping()

    async def prepare(self, runtime: str = DEFAULT_RUNTIME) -> str:
        image = await self._docker.prepare(runtime)
        await anyio.to_thread.run_sync(self._rootfs.get, image)
        return image

    async def unavailable(self, runtime: str) -> str | None:
        return await self._docker.unavailable(runtime)

    async def resolve_image(self, image: str) -> str:
        return await self._docker.resolve_image(image)

    async def readiness(self) -> dict[str, str]:
        checks = await self._docker.readiness()
        checks["runc"] = "ok" if shutil.which("runc") else "runc is not installed"
        return checks

    async def start(self, installation: str) -> None:
        """Check runc and the engine, and make the bridge and directories if missing."""
        if shutil.which("runc") is None:
            raise BackendError("FAAS_BACKEND=runc needs runc on the host (apt-get install runc)")
        if os.geteuid() != 0:
            raise BackendError("FAAS_BACKEND=runc needs the server to run as root")
        await self._docker.start(installation)
        self._installation = installation
        await anyio.to_thread.run_sync(self._make_dirs)

    def _make_dirs(self) -> None:
        # Docker makes a missing bind source; runc refuses it: the API's socket
        # directory is made before the server's API listens in it.
        for path in (self._state, self._bundles, self._etc, self._settings.api_socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        self._network.ensure()
        host = Path("/etc/resolv.conf")
        (self._etc / "resolv.conf").write_text(
            resolv_conf(host.read_text() if host.exists() else "")
        )
        (self._etc / "hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost\n")

    # -- sandboxes -----------------------------------------------------------------

    async def create(self, spec: SandboxSpec) -> Sandbox:
        if spec.function_image is not None:
            return await self._docker.create(spec)
        started = time.monotonic()
        fs = await anyio.to_thread.run_sync(self._rootfs.get, spec.image)
        token = spec.token
        bundle = self._bundles / token
        name = f"faas.pool-{token}" if spec.generic else container_name(spec.function, token)
        netns: str | None = None
        try:
            await anyio.to_thread.run_sync(self._dirs.prepare, spec)
            if spec.network:
                netns = await self._network.attach(token, self._owner_id)
            config = oci.oci_config(
                rootfs=fs.path,
                args=fs.args,
                env={**fs.env, **sandbox_environment(spec)},
                cwd=fs.cwd,
                uid=self._uid,
                hostname=token,
                binds=self._binds(spec, netns is not None),
                tmp_size_mb=self._settings.tmp_size_mb,
                memory_mb=spec.memory_mb,
                pids_limit=self._settings.pids_limit,
                nofile=self._settings.nofile_limit,
                cgroup=f"/{CGROUP_PARENT}/{token}",
                netns=netns,
                annotations=sandbox_labels(
                    spec, self._settings.node_id, self._installation, self._owner_id
                ),
            )
            await anyio.to_thread.run_sync(_write_bundle, bundle, config, name)
            await self._runc("run", "--detach", "--bundle", str(bundle), token, output=bundle)
        except BaseException:
            await asyncio.shield(self._remove(token))
            raise
        quota_us = max(1000, int(spec.cpus * oci.CPU_PERIOD_US))
        sandbox = RuncSandbox(
            name=name,
            spec=spec,
            created_at=time.time(),
            socket_dir=self._dirs.sockets(token),
            socket_owner=self._uid,
            container_id=token,
            quota=DeferredQuota(self, token, quota_us),
        )
        try:
            await wait_for_socket(
                sandbox.socket_dir / SOCKET_NAME,
                f"container {name}",
                started,
                self._settings.start_timeout_s,
                lambda: self._exited(token),
                check_every_s=EXIT_CHECK_S,
            )
            await anyio.to_thread.run_sync(self._dirs.seal, token)
        except BaseException:
            await asyncio.shield(self.destroy(sandbox))
            raise
        return sandbox

    def _binds(self, spec: SandboxSpec, network: bool) -> list[dict[str, Any]]:
        binds = [
            oci.bind(self._dirs.sockets(spec.token), SANDBOX_SOCKET_DIR, writable=True),
            oci.bind(self._settings.api_socket_dir, API_SOCKET_DIR, writable=False),
            oci.bind(
                self._dirs.task(spec.token) if spec.generic else spec.code_dir,
                TASK_ROOT,
                writable=False,
            ),
            oci.bind(self._etc / "hosts", "/etc/hosts", writable=False),
        ]
        if network:
            binds.append(oci.bind(self._etc / "resolv.conf", "/etc/resolv.conf", writable=False))
        binds += [oci.bind(h, inside, writable=True) for h, inside in spec.mounts.items()]
        binds += [oci.bind(h, i, writable=False) for h, i in spec.readonly_mounts.items()]
        if spec.secrets or spec.generic:
            binds.append(
                oci.bind(self._dirs.secrets(spec.token), SANDBOX_SECRETS_DIR, writable=False)
            )
        return binds

    async def specialize(self, sandbox: Sandbox, spec: SandboxSpec) -> Sandbox:
        """The generic ``sandbox`` given the function: its code and secrets placed, then
        the function's environment handed to its agent (``POST /specialize``)."""
        box = own(sandbox, RuncSandbox)
        check_specializable(box.spec, spec)
        if spec.function_image is not None:
            raise ValueError("an image function's sandbox is never specialized")
        await anyio.to_thread.run_sync(self._dirs.place, spec, box.name)
        env = {**spec.env, "FAAS_SOCKET_DIR": SANDBOX_SOCKET_DIR}
        await specialize_agent(box, env, self._settings.start_timeout_s)
        name = container_name(spec.function, spec.token)
        # Its name, where operators and tests look (runc ids cannot change).
        await anyio.to_thread.run_sync((self._bundles / spec.token / NAME_FILE).write_text, name)
        return dataclasses.replace(box, name=name, spec=spec)

    async def set_quota(self, container_id: str, quota_us: int) -> None:
        period = oci.CPU_PERIOD_US
        set_quota = cgroups.set_cpu_quota
        if not await anyio.to_thread.run_sync(set_quota, container_id, period, quota_us):
            log.info("no CPU quota for container %s: its cgroup is gone", container_id)

    async def destroy(self, sandbox: Sandbox) -> None:
        if isinstance(sandbox, DockerSandbox):
            await self._docker.destroy(sandbox)
            return
        box = own(sandbox, RuncSandbox)
        if box.quota is not None:
            await box.quota.over()
        await self._remove(box.spec.token)

    async def _remove(self, token: str, *, ours: bool = True) -> None:
        """The container of ``token`` gone, with its namespace, bundle and directories
        (not ``ours``: another process's)."""
        try:
            await self._runc("delete", "--force", token, missing_ok=True)
        finally:
            await self._network.detach(token, ours=ours)
            await anyio.to_thread.run_sync(self._forget, token)

    def _forget(self, token: str) -> None:
        shutil.rmtree(self._bundles / token, ignore_errors=True)
        self._dirs.remove(token)

    async def was_oom_killed(self, sandbox: Sandbox) -> bool:
        if isinstance(sandbox, DockerSandbox):
            return await self._docker.was_oom_killed(sandbox)
        return await anyio.to_thread.run_sync(cgroups.oom_killed, sandbox.spec.token)

    async def _exited(self, token: str) -> str | None:
        """Its output's last lines if the container's process is gone, else None."""
        if await anyio.to_thread.run_sync(self._running, token):
            return None
        text = await anyio.to_thread.run_sync(_tail, self._bundles / token / OUTPUT_LOG)
        return text or "its process is gone"

    def _running(self, token: str) -> bool:
        """Blocking: whether the container's first process runs (runc's state file
        names it; reading it spares a ``runc state`` run every check)."""
        try:
            state = json.loads((self._state / token / "state.json").read_text())
            stat = Path(f"/proc/{int(state['init_process_pid'])}/stat").read_text()
        except (OSError, ValueError, KeyError):
            return False
        return stat.rpartition(")")[2].split()[0] not in ("Z", "X")

    async def reap(self, spare_owners: Collection[str]) -> int:
        """Remove this installation's containers (runc's and Docker's) on this node whose
        owner is not spared, and the addresses they held."""
        spare = set(spare_owners)
        found = json.loads(await self._runc("list", "--format", "json") or "null") or []
        doomed = [
            c["id"]
            for c in found
            if (c.get("annotations") or {}).get(LABEL_NODE) == self._settings.node_id
            and (c.get("annotations") or {}).get(LABEL_INSTALLATION, self._installation)
            == self._installation
            and (c.get("annotations") or {}).get(LABEL_OWNER) not in spare
        ]
        live = {c["id"] for c in found}
        # Addresses of starts a dead owner never finished (no container came of them).
        leases = await anyio.to_thread.run_sync(self._network.leases)
        stray = [x.token for x in leases if x.owner not in spare and x.token not in live]
        async with anyio.create_task_group() as tg:
            for token in doomed + stray:
                tg.start_soon(partial(self._remove, token, ours=False))
        return len(doomed) + await self._docker.reap(spare_owners)

    async def close(self) -> None:
        await self._docker.close()

    async def _runc(self, *args: str, output: Path | None = None, missing_ok: bool = False) -> str:
        """Run ``runc --root <state> args``; its stdout (or, with ``output``, the
        container's stdout and stderr go to a log in that directory). Spawned from
        a thread: a fork and exec on the event loop held it ~5 ms a start in a burst."""
        argv = ["runc", "--root", str(self._state), *args]
        done = await anyio.to_thread.run_sync(_run, argv, output, limiter=self._spawners)
        if done.returncode != 0:
            why = (done.stderr or b"").decode(errors="replace").strip()
            if output is not None:
                why = await anyio.to_thread.run_sync(_tail, output / OUTPUT_LOG)
            if missing_ok and "does not exist" in why:
                return ""
            raise BackendError(f"runc {args[0]} failed: {why[-500:]}")
        return (done.stdout or b"").decode()


def _run(argv: list[str], output: Path | None) -> subprocess.CompletedProcess[bytes]:
    if output is None:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    with open(output / OUTPUT_LOG, "ab") as log_file:
        return subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, check=False
        )


def _write_bundle(bundle: Path, config: dict[str, Any], name: str) -> None:
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "config.json").write_text(json.dumps(config))
    (bundle / NAME_FILE).write_text(name)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])
