"""The runtime images' files as directories runc starts sandboxes from.

The runtime images are built and kept by the Docker engine (``faas images
build``, ``faas.compute.docker.images``); the runc backend exports each one
once, by image id, into ``<data>/runc/rootfs/<id>/`` with its config (entry
point, command, environment, working directory) beside it, and mounts it
read-only into every sandbox of that image. An image rebuilt gets a new id, so
a new directory; the export is made under a temporary name and renamed into
place, so a half-made one is never used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from faas.errors import BackendError


@dataclass(frozen=True)
class RootFilesystem:
    path: Path
    args: list[str]
    env: dict[str, str]
    cwd: str


class RootFilesystems:
    """Exports of images, made once each."""

    def __init__(self, root: Path, client: docker.DockerClient) -> None:
        self._root = root
        self._client = client
        self._lock = threading.Lock()
        self._known: dict[str, RootFilesystem] = {}

    def get(self, image: str) -> RootFilesystem:
        """Blocking: ``image``'s root filesystem, exported first if missing."""
        found = self._known.get(image)
        if found is not None:
            return found
        with self._lock:  # one export of an image at a time, not one per start of a burst
            found = self._known.get(image)
            if found is None:
                found = self._known[image] = self._load_or_export(image)
        return found

    def _load_or_export(self, image: str) -> RootFilesystem:
        client = self._client
        try:
            attrs = client.api.inspect_image(image)
        except docker.errors.DockerException as exc:
            raise BackendError(
                f"cannot read image {image!r} from the Docker engine: {exc}"
            ) from exc
        image_id = str(attrs["Id"]).removeprefix("sha256:")[:32]
        target = self._root / image_id
        if not target.is_dir():
            self._export(client, image, target)
        return _from_config(target, attrs.get("Config") or {})

    def _export(self, client: docker.DockerClient, image: str, target: Path) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        # Another process of the node may export the same image at once: each into a
        # directory of its own, the first renamed into place wins.
        partial = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=self._root))
        os.chmod(partial, 0o755)  # the root of every sandbox: its user must walk it
        try:
            self._unpack(client, image, partial)
            partial.rename(target)
        except OSError:
            if not target.is_dir():
                raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)  # gone once renamed

    def _unpack(self, client: docker.DockerClient, image: str, into: Path) -> None:
        try:
            container = client.api.create_container(image, labels={"faas.export": "1"})
        except docker.errors.DockerException as exc:
            raise BackendError(f"cannot export image {image!r}: {exc}") from exc
        try:
            with subprocess.Popen(
                ["tar", "-x", "--numeric-owner", "-C", str(into)],
                stdin=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ) as tar:
                assert tar.stdin is not None and tar.stderr is not None
                for chunk in client.api.export(container["Id"]):
                    tar.stdin.write(chunk)
                tar.stdin.close()
                why = tar.stderr.read()
                if tar.wait() != 0:
                    raise BackendError(f"cannot unpack image {image!r}: {why!r}")
        finally:
            client.api.remove_container(container["Id"], force=True)


def _from_config(path: Path, config: dict[str, Any]) -> RootFilesystem:
    args = list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])
    if not args:
        raise BackendError(f"image at {path} has neither an entry point nor a command")
    env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
    return RootFilesystem(path, args, env, config.get("WorkingDir") or "/")
