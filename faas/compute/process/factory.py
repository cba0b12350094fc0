"""The process backend as ``faas.compute.factory`` builds it from the settings."""

from __future__ import annotations

from collections.abc import Sequence

from faas.compute.process.backend import ProcessBackend
from faas.compute.volumes import Volumes
from faas.errors import ValidationFailed
from faas.settings import Settings


def build(settings: Settings, owner_id: str) -> ProcessBackend:
    return ProcessBackend(settings, owner_id)


def volumes(settings: Settings) -> Volumes:
    # Mounts made here are where the sandboxes are (though none can mount a volume).
    return Volumes.from_settings(settings)


def runtime_images(
    settings: Settings, rebuild: bool, runtimes: Sequence[str] | None
) -> dict[str, str]:
    raise ValidationFailed(
        "FAAS_BACKEND=process runs functions with this host's Python: it has no image to "
        "build (unset FAAS_BACKEND to build the container backend's runtime image)",
        field="backend",
    )
