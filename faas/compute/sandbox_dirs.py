"""The host directories of sandboxes, and sandboxes reached through them.

Both backends give each sandbox three directories under ``settings.sockets_dir``,
named by its token:

- ``<token>/``: where its agent binds its sockets (``/run/faas`` in a container).
  Given to the sandbox's user until the agent is ready, then **sealed**
  (docs/container-protocol.md, "Readiness"): taken back, made 0755, and
  checked to hold the agent's two sockets and nothing else;
- ``<token>.secrets/``: its secrets as files only its user can read (0400 in a
  0500 directory it owns), when it has secrets or is generic;
- ``<token>.task/``: a generic sandbox's code directory, empty until
  ``specialize`` hard-links the function's code into it.

The platform never follows a link there (``faas.compute.agent_client``).
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import stat
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TypeVar

from faas.compute.agent_client import AgentClient, AgentError
from faas.compute.backend import AGENT_SOCKETS, SOCKET_NAME, Sandbox, SandboxSpec
from faas.errors import BackendError


@dataclass(frozen=True)
class SocketSandbox:
    """A sandbox whose agent listens in its socket directory on this host."""

    name: str
    spec: SandboxSpec
    created_at: float
    socket_dir: Path
    # The uid its sockets belong to: the platform connects to no other.
    socket_owner: int

    def client(self) -> AgentClient:
        return AgentClient(self.socket_dir / SOCKET_NAME, self.socket_owner)

    def direct_client(self, socket: str) -> AgentClient | None:
        if not socket or PurePath(socket).name != socket:
            return None
        return AgentClient(self.socket_dir / socket, self.socket_owner)

    async def settled(self) -> None:
        return None


S = TypeVar("S", bound=SocketSandbox)


def own(sandbox: Sandbox, kind: type[S]) -> S:
    """``sandbox``, which a backend made, as the ``kind`` it made (``TypeError`` if not)."""
    if not isinstance(sandbox, kind):
        raise TypeError(f"not a {kind.__name__}: {sandbox!r}")
    return sandbox


class SandboxDirs:
    """The directories of one backend's sandboxes, owned by the sandboxes' user."""

    def __init__(self, root: Path, uid: int, gid: int) -> None:
        self.root = root
        self._uid = uid
        self._gid = gid
        root.mkdir(parents=True, exist_ok=True)

    def sockets(self, token: str) -> Path:
        return self.root / token

    def secrets(self, token: str) -> Path:
        return self.root / f"{token}.secrets"

    def task(self, token: str) -> Path:
        return self.root / f"{token}.task"

    def prepare(self, spec: SandboxSpec) -> None:
        """Blocking: its socket directory, and its secrets' and code's for a generic one
        (empty until ``place``). ``BackendError`` (nothing left behind) if that failed."""
        try:
            self._prepare(spec)
        except OSError as exc:
            self.remove(spec.token)
            raise BackendError(
                f"cannot hand the function's secrets to its sandbox ({exc.strerror}): "
                "the server must run as root to give them to the sandbox user"
            ) from None

    def _prepare(self, spec: SandboxSpec) -> None:
        sock_dir = self.sockets(spec.token)
        sock_dir.mkdir(mode=0o700)
        self._give_to_sandbox_user(sock_dir)
        secrets_dir = self.secrets(spec.token)
        if spec.generic:
            task_dir = self.task(spec.token)
            task_dir.mkdir()
            os.chmod(task_dir, 0o755)  # explicit: mkdir's mode is cut by the umask
            secrets_dir.mkdir(mode=0o700)
            try:
                os.chown(secrets_dir, self._uid, self._gid)
                os.chmod(secrets_dir, 0o500)
            except PermissionError:
                # Not root: no secrets can be placed later; an empty directory to list.
                os.chmod(secrets_dir, 0o755)
        elif spec.secrets:
            secrets_dir.mkdir(mode=0o700)
            self._write_secrets(secrets_dir, spec.secrets)

    def place(self, spec: SandboxSpec, name: str) -> None:
        """Blocking: a generic sandbox's code into its task directory, its secrets into
        theirs; ``BackendError`` if that failed."""
        try:
            link_tree(spec.code_dir, self.task(spec.token))
            if spec.secrets:
                self._write_secrets(self.secrets(spec.token), spec.secrets)
        except OSError as exc:
            raise BackendError(
                f"cannot place the function's code or secrets in {name} ({exc})"
            ) from None

    def _write_secrets(self, directory: Path, secrets: Mapping[str, bytes]) -> None:
        """Files only the sandbox user can read (0400 in a 0500 directory it owns)."""
        os.chmod(directory, 0o700)  # a generic sandbox's is 0500 already
        for name, value in secrets.items():
            path = directory / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            with os.fdopen(fd, "wb") as out:
                out.write(value)
            os.chown(path, self._uid, self._gid)
        os.chmod(directory, 0o500)
        os.chown(directory, self._uid, self._gid)

    def _give_to_sandbox_user(self, path: Path) -> None:
        # The agent may run as an unprivileged user and must create its socket here.
        try:
            os.chown(path, self._uid, self._gid)
        except PermissionError:
            os.chmod(path, 0o777)

    def seal(self, token: str) -> None:
        """Take the socket directory back from the sandbox user once its agent has bound
        its sockets, before any function code runs (the agent waits for the platform's
        first request, a generic one for ``/specialize``): function code can then neither
        swap a socket for a link nor write a byte into this host directory. Anything but
        the agent's two sockets found here means code ran too early: refused."""
        sock_dir = self.sockets(token)
        try:
            os.chown(sock_dir, os.getuid(), os.getgid())
            os.chmod(sock_dir, 0o755)
            found = {e.name: e.stat(follow_symlinks=False).st_mode for e in os.scandir(sock_dir)}
        except OSError as exc:
            raise BackendError(f"cannot seal the socket directory {sock_dir}: {exc}") from None
        for name, mode in found.items():
            if name not in AGENT_SOCKETS or not stat.S_ISSOCK(mode):
                raise BackendError(f"unexpected {name!r} in the socket directory {sock_dir}")

    def remove(self, token: str) -> None:
        for path in (self.sockets(token), self.secrets(token), self.task(token)):
            shutil.rmtree(path, ignore_errors=True)


async def wait_for_socket(
    path: Path,
    what: str,
    started: float,
    timeout_s: float,
    exited: Callable[[], Awaitable[str | None]],
    check_every_s: float,
) -> None:
    """Return once the agent's socket is at ``path``: it renames it into place once it
    listens, so its appearance is the readiness signal. The file is polled cheaply;
    ``exited`` (why the sandbox ``what`` is gone, or None) is asked every ``check_every_s``."""
    deadline = started + timeout_s
    next_check = time.monotonic() + check_every_s
    delay = 0.001
    # A stat of a local file: far cheaper than the thread hop that would carry it.
    while not path.exists():  # noqa: ASYNC240
        now = time.monotonic()
        if now > deadline:
            raise BackendError(f"{what} did not become ready in {timeout_s:g}s")
        if now > next_check:
            next_check = now + check_every_s
            why = await exited()
            if why is not None:
                raise BackendError(f"{what} exited at start: {why}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.01)


def check_specializable(generic: SandboxSpec, spec: SandboxSpec) -> None:
    """``specialize`` takes a generic sandbox and a spec of its token, with no mounts (a
    started sandbox cannot gain one: volumes, layers)."""
    if not generic.generic or spec.token != generic.token or spec.mounts or spec.readonly_mounts:
        raise ValueError("specialize takes a generic sandbox and a spec of its token, no mounts")


async def specialize_agent(sandbox: Sandbox, env: Mapping[str, str], timeout_s: float) -> None:
    """Give the generic sandbox's agent the function's environment (``POST /specialize``)."""
    client = sandbox.client()
    body = json.dumps({"env": dict(env)}).encode()
    try:
        reply = await client.request(
            "POST",
            "/specialize",
            body=body,
            headers={"Content-Type": "application/json"},
            timeout_s=timeout_s,
        )
    except AgentError as exc:
        raise BackendError(f"the agent of {sandbox.name} did not take the function: {exc}") from exc
    finally:
        client.close()
    if reply.status != 200:
        raise BackendError(
            f"the agent of {sandbox.name} refused the function ({reply.status}): "
            f"{reply.body[:200].decode('utf-8', 'replace')}"
        )


def link_tree(source: Path, target: Path) -> None:
    """Hard-link the files under ``source`` into the existing directory ``target``,
    keeping the tree and the modes; copy where a link cannot cross filesystems."""
    for root, dirs, files in os.walk(source):
        rel = os.path.relpath(root, source)
        into = target if rel == "." else target / rel
        for name in dirs:
            src = os.path.join(root, name)
            if os.path.islink(src):
                link_or_copy(src, into / name)
                continue
            (into / name).mkdir()
            os.chmod(into / name, os.stat(src).st_mode & 0o7777)
        for name in files:
            link_or_copy(os.path.join(root, name), into / name)


def link_or_copy(src: str, dst: Path) -> None:
    """``dst`` a hard link of ``src`` (not following a symlink), or a copy across devices."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copy2(src, dst, follow_symlinks=False)
