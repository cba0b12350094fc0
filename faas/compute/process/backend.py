"""The process backend: sandboxes as plain host processes, for development without Docker.

A sandbox is the agent (``runtimes/agent``) started on this host as the
server's own user, in a session of its own, with the function's code
directory as its working directory and ``LAMBDA_TASK_ROOT``; the agent forks
the runtime as it does in a container. The socket directories, their sealing,
secrets as files and generic sandboxes made a function's by ``specialize`` are
the Docker backend's (``faas.compute.sandbox_dirs``); the Runtime API listens
on a free loopback port instead of 9001, and the secrets directory is named by
``FAAS_SECRETS_DIR`` instead of being ``/run/secrets``.

It isolates nothing: function code runs with the server's user and rights,
sees its files, its network and the other functions' processes, and shares
``/tmp``. CPU, network access, pids and ``/tmp`` size are not limited; memory
only as address space (``RLIMIT_AS``), so an allocation past it fails inside
the function (``MemoryError``) rather than as ``Runtime.OutOfMemory``. Hence
``faas serve`` with this backend listens on loopback only (README.md, "Without
Docker: the process backend").
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import importlib.util
import logging
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from faas import models
from faas.compute import sandbox_dirs
from faas.compute.backend import SOCKET_NAME, Sandbox, SandboxSpec
from faas.compute.process import procs
from faas.compute.sandbox_dirs import SandboxDirs, SocketSandbox
from faas.errors import BackendError, ValidationFailed
from faas.models import DEFAULT_RUNTIME, NODE_RUNTIMES, PYTHON_RUNTIMES
from faas.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# The agent's package, and how it starts: as runtimes/Dockerfile's ENTRYPOINT does, from
# the directory holding the package, ignoring the function's ``PYTHON*`` variables (-E)
# and the user's site directory (-s).
RUNTIMES = "runtimes"
AGENT_ARGV = (sys.executable, "-E", "-s", "-c", "from runtimes.agent.agent import main; main()")
# What the runtime image sets for every process (runtimes/Dockerfile's ENV).
IMAGE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "TZ": ":UTC",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}
# Where a container has the code: replaced by the host directory in paths the function sees.
TASK_ROOT = "/var/task"
# What sandboxes start from: the host's Python, not an image.
HOST_IMAGE = "host"
# How often a starting agent is checked for an early exit (a waitpid: cheap).
EXIT_CHECK_S = 0.05
LOG_TAIL = 2000
START_ATTEMPTS = 3


@dataclass(frozen=True)
class ProcessSandbox(SocketSandbox):
    """A started agent process."""

    pid: int
    # Ours to wait for once it is killed (not a zombie left behind).
    process: subprocess.Popen[bytes] | None = field(default=None, compare=False, repr=False)


class ProcessBackend:
    """Sandboxes as host processes of the server's user. No isolation."""

    def __init__(self, settings: Settings, owner_id: str, threads: int = 16) -> None:
        self._settings = settings
        self._owner_id = owner_id
        # Sandboxes run as the server's own user: their directories are its.
        self._dirs = SandboxDirs(settings.sockets_dir, os.getuid(), os.getgid())
        self._limiter = anyio.CapacityLimiter(threads)
        self._installation = ""

    async def start(self, installation: str) -> None:
        await self.ping()
        self._installation = installation

    async def ping(self) -> None:
        if runtimes_root() is None:
            raise BackendError(f"the agent's package ({RUNTIMES}) is not installed here")

    async def prepare(self, runtime: str = DEFAULT_RUNTIME) -> str:
        return HOST_IMAGE

    async def unavailable(self, runtime: str) -> str | None:
        # node's version is asked (a process started, ~40 ms) only where it matters: for a
        # Node.js runtime, or to list what this host runs when refusing.
        node = await anyio.to_thread.run_sync(node_major) if runtime in NODE_RUNTIMES else None
        problem = host_runtime_problem(runtime, sys.version_info[:2], node)
        if problem is None:
            return None
        if runtime not in NODE_RUNTIMES:
            node = await anyio.to_thread.run_sync(node_major)
        ready = [
            r
            for r in models.RUNTIMES
            if host_runtime_problem(r, sys.version_info[:2], node) is None
        ]
        return f"{problem}. This server can run: {', '.join(ready)}"

    async def resolve_image(self, image: str) -> str:
        raise ValidationFailed(
            f"image {image!r} cannot run here: the process backend runs functions as host "
            "processes and has no container images; run image functions on the container "
            "backend (the default FAAS_BACKEND)",
            field="image",
        )

    async def readiness(self) -> dict[str, str]:
        try:
            await self.ping()
        except BackendError as exc:
            return {"process": exc.message}
        return {"process": "ok"}

    async def create(self, spec: SandboxSpec) -> ProcessSandbox:
        if spec.function_image is not None:
            raise BackendError(
                f"function {spec.function!r} is a container image, which the process backend "
                "cannot run: run it on the container backend (the default FAAS_BACKEND)"
            )
        if spec.mounts:
            # A host process sees the host's tree: there is nowhere to mount a volume.
            raise BackendError(
                f"function {spec.function!r} has volumes, which the process backend cannot "
                "mount: run it on the container backend (the default FAAS_BACKEND)"
            )
        if spec.readonly_mounts:
            # Nor is there an /opt of its own to place layers in.
            raise BackendError(
                f"function {spec.function!r} has layers, which the process backend cannot "
                "place at /opt: run it on the container backend (the default FAAS_BACKEND)"
            )
        token = spec.token
        self._dirs.prepare(spec)
        if spec.generic:
            # Nothing of any function: its environment arrives with /specialize.
            task_root = self._dirs.task(token)
            env = {"FAAS_GENERIC": "1"}
        else:
            task_root = spec.code_dir
            env = self._function_env(spec, task_root, bool(spec.secrets))
        env["FAAS_SOCKET_DIR"] = str(self._dirs.sockets(token))
        name = f"faas.pool-{token}" if spec.generic else _name(spec)
        for attempt in range(1, START_ATTEMPTS + 1):
            # The Runtime API's port is free when chosen, yet another process may take it
            # before the agent binds it: an agent that exits at start gets another port.
            api = {"AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{_free_port()}"}
            started = time.monotonic()
            sandbox = await self._start_agent(spec, name, IMAGE_ENV | env | api)
            try:
                await sandbox_dirs.wait_for_socket(
                    sandbox.socket_dir / SOCKET_NAME,
                    f"sandbox {name}",
                    started,
                    self._settings.start_timeout_s,
                    functools.partial(self._exited, sandbox),
                    check_every_s=EXIT_CHECK_S,
                )
                self._dirs.seal(token)
                return sandbox
            except BaseException as exc:
                exited = sandbox.process is not None and sandbox.process.poll() is not None
                if exited and isinstance(exc, BackendError) and attempt < START_ATTEMPTS:
                    log.info("%s; starting it again", exc)
                    await self._run(_stop, sandbox.process)
                    continue
                await asyncio.shield(self.destroy(sandbox))
                raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _start_agent(
        self, spec: SandboxSpec, name: str, env: Mapping[str, str]
    ) -> ProcessSandbox:
        """The agent's process started (not yet ready); its files removed if it failed."""
        spawn = asyncio.ensure_future(self._run(self._spawn, spec, env))
        try:
            process = await asyncio.shield(spawn)
        except BaseException:
            # A cancelled await leaves the spawn running in its thread: let it finish,
            # and end whatever it started.
            if not spawn.done():
                await asyncio.wait({spawn})
            if not spawn.cancelled() and spawn.exception() is None:
                await self._run(_stop, spawn.result())
            self._remove_files(spec.token)
            raise
        return ProcessSandbox(
            name=name,
            spec=spec,
            created_at=time.time(),
            socket_dir=self._dirs.sockets(spec.token),
            socket_owner=os.getuid(),
            pid=process.pid,
            process=process,
        )

    def _spawn(self, spec: SandboxSpec, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        """Blocking: the agent started in a session of its own, and its record written."""
        with open(self._log(spec.token), "wb") as log:
            process = subprocess.Popen(
                AGENT_ARGV,
                env=dict(env),
                # The image's WORKDIR: the agent imports its package from there.
                cwd=runtimes_root(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        limit = spec.memory_mb << 20
        try:
            # Inherited by the runtime it forks (at the platform's first request, or now
            # for a generic one: well after the interpreter has started).
            resource.prlimit(process.pid, resource.RLIMIT_AS, (limit, limit))
            procs.Record(
                pid=process.pid,
                started=procs.start_time(process.pid) or 0,
                node=self._settings.node_id,
                installation=self._installation,
                owner=self._owner_id,
                token=spec.token,
            ).write(self._record(spec.token))
        except BaseException:
            _stop(process)
            raise
        return process

    def _function_env(self, spec: SandboxSpec, task_root: Path, secrets: bool) -> dict[str, str]:
        """The function's environment with this host's paths where a container has its own."""
        runtime_dir = str(runtimes_root() or "")
        env = {**spec.env, "LAMBDA_TASK_ROOT": str(task_root), "LAMBDA_RUNTIME_DIR": runtime_dir}
        for name in ("PYTHONPATH", "LD_LIBRARY_PATH"):
            if name in env:
                env[name] = ":".join(
                    str(task_root) + entry[len(TASK_ROOT) :]
                    if entry == TASK_ROOT or entry.startswith(TASK_ROOT + "/")
                    else entry
                    for entry in env[name].split(":")
                )
        if secrets:
            env["FAAS_SECRETS_DIR"] = str(self._dirs.secrets(spec.token))
        return env

    async def specialize(self, sandbox: Sandbox, spec: SandboxSpec) -> ProcessSandbox:
        """Make the generic ``sandbox`` the function's: its code and secrets placed, then
        its agent given the function's environment. On error it is left to the caller."""
        box = sandbox_dirs.own(sandbox, ProcessSandbox)
        sandbox_dirs.check_specializable(box.spec, spec)
        if spec.readonly_mounts:  # layers: mounts, which a started sandbox cannot gain
            raise ValueError("specialize takes a spec with no mounts")
        await self._run(self._dirs.place, spec, box.name)
        env = self._function_env(spec, self._dirs.task(spec.token), secrets=True)
        env["FAAS_SOCKET_DIR"] = str(box.socket_dir)
        await sandbox_dirs.specialize_agent(box, env, self._settings.start_timeout_s)
        return dataclasses.replace(box, name=_name(spec), spec=spec)

    async def _exited(self, sandbox: ProcessSandbox) -> str | None:
        """The tail of its log if the agent has exited, else None."""
        if sandbox.process is None or sandbox.process.poll() is None:
            return None
        try:
            text = self._log(sandbox.spec.token).read_bytes()[-LOG_TAIL:]
        except OSError:
            text = b""
        code = sandbox.process.returncode
        return f"exit status {code}: {text.decode('utf-8', 'replace').strip()}"

    async def destroy(self, sandbox: Sandbox) -> None:
        box = sandbox_dirs.own(sandbox, ProcessSandbox)
        await self._run(self._end, box)

    def _end(self, sandbox: ProcessSandbox) -> None:
        """Blocking: kill its processes, wait for the agent, remove its files."""
        try:
            if sandbox.process is not None:
                _stop(sandbox.process)
            else:
                procs.kill_tree(sandbox.pid)
        finally:
            self._remove_files(sandbox.spec.token)

    async def was_oom_killed(self, sandbox: Sandbox) -> bool:
        return False  # no memory cgroup: an allocation past RLIMIT_AS fails instead

    async def reap(self, spare_owners: Collection[str]) -> int:
        """End this installation's sandboxes on this node whose owner is not spared
        (a dead process's), as found from their records; at start a process does not
        spare itself (they are an earlier run's)."""
        return await self._run(self._reap, set(spare_owners))

    def _reap(self, spare: set[str]) -> int:
        reaped = 0
        for path in self._dirs.root.glob("*.proc"):
            record = procs.Record.read(path)
            if record is None:
                continue
            if (
                record.node != self._settings.node_id
                or record.installation != self._installation
                or record.owner in spare
            ):
                continue
            procs.end(record)
            self._remove_files(record.token)
            reaped += 1
        return reaped

    async def close(self) -> None:
        return None

    def _remove_files(self, token: str) -> None:
        self._dirs.remove(token)
        for path in (self._record(token), self._log(token)):
            path.unlink(missing_ok=True)

    def _record(self, token: str) -> Path:
        return self._dirs.root / f"{token}.proc"

    def _log(self, token: str) -> Path:
        return self._dirs.root / f"{token}.log"

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        """A blocking call (files, fork and exec, waits) off the event loop."""
        return await anyio.to_thread.run_sync(func, *args, limiter=self._limiter)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Blocking: kill the agent we started and its runtime, and collect its exit."""
    procs.kill_tree(process.pid)
    process.wait()


def _name(spec: SandboxSpec) -> str:
    return f"faas-{spec.function[:40].replace(':', '-v')}-{spec.token}"


def runtimes_root() -> Path | None:
    """The directory holding the ``runtimes`` package (the image's ``/opt/faas``)."""
    found = importlib.util.find_spec(RUNTIMES)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations))).parent


def _free_port() -> int:
    """A loopback port free now, for the agent's Runtime API."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_major() -> int | None:
    """The major version of the ``node`` on this host's PATH, or None if there is none."""
    try:
        done = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = done.stdout.strip().lstrip("v").split(".", 1)[0]
    return int(version) if done.returncode == 0 and version.isdigit() else None


def host_runtime_problem(runtime: str, python: tuple[int, int], node: int | None) -> str | None:
    """Why this host cannot run ``runtime`` as a process (None if it can): its own Python
    is the only one, and ``node`` on its PATH the only Node.js (``node``: its major)."""
    have = f"python{python[0]}.{python[1]}"
    if runtime in PYTHON_RUNTIMES and runtime != have:
        return (
            f"the process backend runs functions on this host's Python ({have}), not "
            f"{runtime}: start the server with that Python, or use the container backend"
        )
    if runtime in NODE_RUNTIMES:
        want = int(runtime.removeprefix("nodejs").split(".", 1)[0])
        if node != want:
            found = "no node on its PATH" if node is None else f"node {node}"
            return (
                f"the process backend runs Node.js functions with this host's node ({found}), "
                f"and {runtime} needs node {want}: put it first on PATH, or use the "
                "container backend"
            )
    return None
