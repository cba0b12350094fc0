"""Which runtime a function's container starts and how: its kind, what of the environment
it reads only at start (so whether a pre-started one fits), the environment a
``/specialize`` carries, and the argv of our Python and Node.js runtimes. Pure;
standard library only, as all of the agent."""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# The directory that holds our package (/opt/faas in the image). Our Python runtime is
# started as a module of it, this directory first on its path (``python_runtime``).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON_RUNTIME = "runtimes.python.bootstrap"
PYTHON_BOOTSTRAP = os.path.join(ROOT, *PYTHON_RUNTIME.split(".")) + ".py"
# Our Node.js runtime, started as ``node NODE_FLAGS NODE_BOOTSTRAP`` (docs/runtimes.md).
NODE_BOOTSTRAP = os.path.join(ROOT, "runtimes", "nodejs", "bootstrap.js")
# A young generation of 1 MB semi-spaces instead of up to 16: an idle instance keeps
# ~5 MB less, and a function's scavenges stay short (V8 grows nothing it does not need).
NODE_FLAGS = ("--max-semi-space-size=1",)
# Variables Python reads only when the interpreter starts (besides PYTHONPATH, which the
# pre-started runtime applies itself). The image sets these two for every function.
IMAGE_PYTHON_DEFAULTS = frozenset({"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"})
# FAAS_RUNTIME of a function whose own container runs its runtime client (an image
# function, docs/container-protocol.md): the agent starts nothing and serves the
# Runtime API to that container.
IMAGE_RUNTIME = "image"


def specialization_env(body: bytes) -> dict[str, str] | None:
    """The environment a ``/specialize`` body carries, or None if it is malformed."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    env = data.get("env") if isinstance(data, dict) else None
    if not isinstance(env, dict):
        return None
    for name, value in env.items():
        # execve takes NAME=value C strings: no NUL anywhere, no '=' in a name.
        if not (isinstance(value, str) and name) or "=" in name or "\0" in name + value:
            return None
    return env


def runtime_kind(runtime: str) -> str:
    """Which bootstrap a ``FAAS_RUNTIME`` starts: "python" or "nodejs" (ours),
    "provided" (the function's own), "image" (none here), or "" (unknown)."""
    if runtime.startswith("python3"):
        return "python"
    if runtime.startswith("nodejs"):
        return "nodejs"
    if runtime in ("provided", IMAGE_RUNTIME):
        return runtime
    return ""


def startup_vars(env: Mapping[str, str], kind: str = "python") -> dict[str, str]:
    """What of ``env`` the runtime of ``kind`` reads only at start: a Python
    interpreter's ``PYTHON*`` (PYTHONPATH aside), ``LANG`` and ``LC_*``; node's
    ``NODE_*`` (NODE_PATH aside: our runtime applies it) and libuv's ``UV_*``."""
    if kind == "nodejs":
        return {
            name: value
            for name, value in env.items()
            if (name.startswith("NODE_") and name != "NODE_PATH") or name.startswith("UV_")
        }
    return {
        name: value
        for name, value in env.items()
        if (name.startswith("PYTHON") and name != "PYTHONPATH")
        or name == "LANG"
        or name.startswith("LC_")
    }


def prestart_fits(
    env: Mapping[str, str], prestarted_with: Mapping[str, str], kind: str = "python"
) -> bool:
    """Whether a runtime of ``kind`` pre-started with ``prestarted_with`` can become the
    function's.

    It can apply its environment, TZ and its module path itself; what it reads only at
    start must be what the function asks for, or the image's defaults the function
    leaves unset.
    """
    want, have = startup_vars(env, kind), startup_vars(prestarted_with, kind)
    if any(have.get(name) != value for name, value in want.items()):
        return False
    return set(have) - set(want) <= IMAGE_PYTHON_DEFAULTS


def inherited(passed: Mapping[str, str]) -> list[int]:
    """The descriptors named by the ``*_FD`` variables of ``passed``: the child keeps them."""
    return [int(value) for name, value in passed.items() if name.endswith("_FD")]


def python_runtime(env: Mapping[str, str], *args: str) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that start our Python runtime with ``env``.

    A module of our package, found in ``ROOT``, which leads PYTHONPATH; ``-P`` keeps
    the working directory (the function's code) off the path, so no module of the
    function's can stand in for ours. The runtime gives PYTHONPATH back its own value
    and leaves ``ROOT`` off ``sys.path`` before the function's code runs.
    """
    theirs = env.get("PYTHONPATH")
    path = ROOT if theirs is None else ROOT + os.pathsep + theirs
    return [sys.executable, "-P", "-m", PYTHON_RUNTIME, *args], {**env, "PYTHONPATH": path}


def find_program(name: str, path: str | None) -> str | None:
    """``name`` as the first executable file of that name on ``path`` (shutil.which's
    job, without importing shutil into PID 1)."""
    for directory in (path or os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def node_runtime(env: Mapping[str, str], *args: str) -> list[str] | None:
    """The argv that starts our Node.js runtime (None if there is no node on PATH)."""
    node = find_program("node", env.get("PATH"))
    return None if node is None else [node, *NODE_FLAGS, NODE_BOOTSTRAP, *args]
