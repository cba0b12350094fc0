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
    # runc mounts what this process sees (and image functions go through the engine).
    return docker_factory.volumes(settings)


def runtime_images(
    settings: Settings, rebuild: bool, runtimes: Sequence[str] | None
) -> dict[str, str]:
    # The Docker engine builds and keeps the images; runc starts from their exports.
    return docker_factory.runtime_images(settings, rebuild, runtimes)
