"""The runc backend as ``faas.compute.factory`` builds it from the settings."""

from __future__ import annotations

from collections.abc import Sequence

from faas.compute.docker import factory as docker_factory
from faas.compute.docker.backend import connect
from faas.compute.runc.backend import RuncBackend
from faas.compute.volumes import Volumes
from faas.settings import Settings


def build(settings: Settings, owner_id: str) -> RuncBackend:
    return RuncBackend(settings, owner_id, connect())


def volumes(settings: Settings) -> Volumes:
    # runc starts sandboxes in this process's mount namespace: what it mounts, they see.
    # (An image function with a volume goes through the engine, which may not.)
    return Volumes.from_settings(settings)


def runtime_images(
    settings: Settings, rebuild: bool, runtimes: Sequence[str] | None
) -> dict[str, str]:
    # The Docker engine builds and keeps the images; runc starts from their exports.
    return docker_factory.runtime_images(settings, rebuild, runtimes)
