"""Runtime images: built locally, with or without a registry.

The runtime image is ``runtimes/Dockerfile`` built ``FROM`` a base image. The
base is ``FAAS_BASE_IMAGE`` (``python:3.11-slim``) when it is present or can be
pulled; when no registry answers, a base is made from Debian packages with
``debootstrap`` and ``docker import`` (``FAAS_OFFLINE_BASE_IMAGE``). The runtime
image's tag is a digest of the files it is built from, so a changed agent gives
a new image and never a stale one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import docker.errors

from faas.errors import BackendError, ImageUnavailable
from faas.settings import Settings

if TYPE_CHECKING:
    from faas.compute.docker.backend import DockerBackend

log = logging.getLogger(__name__)

RUNTIME_CONTEXT = Path(__file__).resolve().parents[3] / "runtimes"
OFFLINE_PACKAGES = ("python3", "python3-venv", "curl", "ca-certificates", "redis-server")
# Docs, man pages and package caches: nothing a function needs at run time.
TRIM_PATHS = ("usr/share/doc", "usr/share/man", "usr/share/info", "var/cache/apt/archives")


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


def runtime_tag(settings: Settings, context: Path = RUNTIME_CONTEXT) -> str:
    digest = hashlib.sha256()
    for name in runtime_files(context):
        digest.update(name.encode() + b"\0" + (context / name).read_bytes())
    return f"{settings.runtime_image_repo}:{digest.hexdigest()[:12]}"


class Images:
    """Makes sure the runtime image exists, building it at most once at a time."""

    def __init__(self, settings: Settings, client: docker.DockerClient) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()
        self._ready: str | None = None

    async def runtime_image(self, backend: DockerBackend) -> str:
        if self._ready is not None:
            return self._ready
        async with self._lock:
            if self._ready is None:
                self._ready = await backend.run_sync(self.ensure_runtime)
        return self._ready

    async def missing(self, backend: DockerBackend) -> str | None:
        """None if the runtime image is there, else what is wrong (for ``/readyz``)."""
        tag = runtime_tag(self._settings)
        if self._ready == tag or await backend.run_sync(self._exists, tag):
            return None
        if self._lock.locked():
            return f"runtime image {tag} is being built"
        return f"runtime image {tag} is missing (faas images build, or the first invoke builds it)"

    def ensure_runtime(self, rebuild: bool = False) -> str:
        """Blocking: return the runtime image tag, building what is missing."""
        tag = runtime_tag(self._settings)
        if not rebuild and self._exists(tag):
            return tag
        base = self.ensure_base()
        log.info("building runtime image %s from %s", tag, base)
        try:
            self._client.images.build(
                path=str(RUNTIME_CONTEXT),
                tag=tag,
                buildargs={"BASE_IMAGE": base},
                rm=True,
                forcerm=True,
                labels={"faas.managed": "1"},
            )
        except (docker.errors.BuildError, docker.errors.APIError) as exc:
            raise ImageUnavailable(f"building the runtime image {tag} failed: {exc}") from exc
        return tag

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


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise ImageUnavailable(f"{cmd[0]} failed ({done.returncode}): {' '.join(tail)}")
