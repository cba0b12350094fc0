"""The Docker backend as ``faas.compute.factory`` builds it from the settings."""

from __future__ import annotations

from collections.abc import Sequence

from faas.compute.docker.backend import DockerBackend, connect
from faas.compute.docker.images import Images
from faas.compute.docker.mounts import mounts_reach_engine
from faas.compute.volumes import Volumes
from faas.settings import Settings


def build(settings: Settings, owner_id: str) -> DockerBackend:
    return DockerBackend(settings, owner_id, connect())


def volumes(settings: Settings) -> Volumes:
    """The engine mounts volumes into containers: it must see what the server mounts."""
    return Volumes.from_settings(settings, mounts_reach_engine)


def runtime_images(
    settings: Settings, rebuild: bool, runtimes: Sequence[str] | None
) -> dict[str, str]:
    return Images(settings, connect()).ensure_all(rebuild, runtimes)
