"""The sandbox backend: the one protocol the scheduler, the pool and instances use.

A sandbox is a started agent (``runtimes/agent``) that will run one
function: the platform talks to it over HTTP (``docs/container-protocol.md``)
through the client the sandbox hands out, and never learns how it is reached.
Two backends implement the protocol; ``faas.compute.factory`` builds the one
``Settings.backend`` names:

- the Docker backend (the sub-package of that name): hardened containers, one
  per sandbox, the default;
- the process backend (``faas.compute.process``): plain host processes, for
  development without Docker and for fast tests. No isolation at all.

A generic sandbox (``SandboxSpec.generic``) is started for no function: its
agent waits without a runtime, its code and secrets directories empty.
``specialize`` turns it into a function's. Whatever a backend still does to a
sandbox after that (Docker renames the container) it finishes in the
sandbox's ``settled``, which the instance awaits with the runtime's init.

An image function's sandbox (``SandboxSpec.function_image``) runs the user's
own container image beside the agent's; only the Docker backend has them
(``faas.compute.docker.image_sandbox``): ``resolve_image`` refuses them elsewhere.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from faas.compute.agent_client import AgentClient
from faas.models import DEFAULT_RUNTIME

# The pool key of a sandbox started for no function (a Docker label cannot change later).
GENERIC_POOL = "generic"
SOCKET_NAME = "agent.sock"
# What the agent binds in its socket directory before readiness: its own socket and
# the one our Python runtime serves once initialized (docs/container-protocol.md).
AGENT_SOCKETS = frozenset({SOCKET_NAME, "runtime.sock"})


@dataclass(frozen=True)
class FunctionImage:
    """What an image function's own container runs: the image (by id, as resolved when
    its code was set) and ``ImageConfig``'s overrides of its entry point, command and
    working directory (None: the image's own)."""

    image: str
    entry_point: tuple[str, ...] | None = None
    command: tuple[str, ...] | None = None
    working_directory: str | None = None
    # How long its runtime client may take to ask for its first event: the function's
    # timeout, not the platform's init timeout, so that a client that never asks fails
    # the invoke within the time the user gave it.
    init_timeout_s: float = 10.0


@dataclass(frozen=True)
class SandboxSpec:
    """Everything needed to start one sandbox for a function, or a generic one.

    A generic spec (``generic``) uses only the token, image, memory, cpus and
    network: the rest arrives with ``specialize``.
    """

    function: str
    pool_key: str
    # Names the sandbox, its socket directory and its log stream alike.
    token: str
    # What the sandbox starts from: a Docker image, or "host" for host processes.
    image: str
    code_dir: Path
    env: Mapping[str, str]
    memory_mb: int
    cpus: float
    network: bool
    labels: Mapping[str, str] = field(default_factory=dict)
    # Host directory -> path inside (read-write): the function's volumes.
    mounts: Mapping[Path, str] = field(default_factory=dict)
    # Host path -> path inside (read-only): its layers, entry by entry under /opt.
    readonly_mounts: Mapping[Path, str] = field(default_factory=dict)
    # Secret name -> value: files only the sandbox's user can read.
    secrets: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    generic: bool = False
    # An image function's container, run beside the agent's (``image`` is then the
    # agent's); None for a zip function, whose code the agent runs itself.
    function_image: FunctionImage | None = None


class Sandbox(Protocol):
    """A started sandbox, whatever runs it."""

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> SandboxSpec: ...

    def client(self) -> AgentClient:
        """A new connection to its agent."""
        ...

    def direct_client(self, socket: str) -> AgentClient | None:
        """A new connection to the socket its runtime serves (named by the agent's
        ``X-Faas-Direct``), or None if that name is not one it may connect to."""
        ...

    async def settled(self) -> None:
        """Return once the backend's own work on it is over (``BackendError`` if it failed)."""
        ...


class Backend(Protocol):
    """What the scheduler needs from whatever runs sandboxes."""

    async def start(self, installation: str) -> None:
        """Check the backend can run sandboxes; scope what it makes to ``installation``."""
        ...

    async def ping(self) -> None:
        """Return if the backend answers, else ``BackendError``."""
        ...

    async def prepare(self, runtime: str = DEFAULT_RUNTIME) -> str:
        """Make what ``runtime``'s sandboxes start from ready (an image); returns its name."""
        ...

    async def unavailable(self, runtime: str) -> str | None:
        """None if this backend can run functions of ``runtime`` (a name of
        ``models.RUNTIMES``), else why not and how to get it."""
        ...

    async def resolve_image(self, image: str) -> str:
        """The id (sha256 hex) of the local container image ``image`` names, for an image
        function; ``ValidationFailed`` (field ``image``) if there is none or this backend
        cannot run image functions."""
        ...

    async def readiness(self) -> dict[str, str]:
        """For ``/readyz``: each of the backend's checks, "ok" or what is wrong."""
        ...

    async def create(self, spec: SandboxSpec) -> Sandbox: ...

    async def specialize(self, sandbox: Sandbox, spec: SandboxSpec) -> Sandbox:
        """The generic ``sandbox`` given the function ``spec`` describes; on error it is
        left to the caller to destroy."""
        ...

    async def destroy(self, sandbox: Sandbox) -> None: ...

    async def was_oom_killed(self, sandbox: Sandbox) -> bool: ...

    async def reap(self, spare_owners: Collection[str]) -> int:
        """Remove this installation's sandboxes of owners not spared (dead processes')."""
        ...

    async def close(self) -> None: ...
