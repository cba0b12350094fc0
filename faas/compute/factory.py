"""Builds the sandbox backend that ``Settings.backend`` (``FAAS_BACKEND``) names.

Each backend is a package of ``faas.compute`` named as the setting says, whose
``factory`` module builds it, the functions' volumes as it can mount them, and
what it starts sandboxes from (``BackendFactory``). The platform and the CLI
ask here and import no backend themselves; a backend is imported only when
chosen, so a server on the process backend never loads a container engine's
client.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Protocol, cast

from faas.compute.backend import Backend
from faas.compute.volumes import Volumes
from faas.settings import BACKENDS, Settings


class BackendFactory(Protocol):
    """What each backend's ``factory`` module provides."""

    def build(self, settings: Settings, owner_id: str) -> Backend:
        """The backend of this process, whose sandboxes carry ``owner_id``."""
        ...

    def volumes(self, settings: Settings) -> Volumes:
        """The functions' volumes, checked to be mountable where sandboxes are made."""
        ...

    def runtime_images(
        self, settings: Settings, rebuild: bool, runtimes: Sequence[str] | None
    ) -> dict[str, str]:
        """Blocking: what each runtime's sandboxes start from (all of them, or those
        named), made if missing (or anew with ``rebuild``), or "unavailable: why";
        ``ValidationFailed`` for a backend that starts from nothing."""
        ...


def of(settings: Settings) -> BackendFactory:
    """The factory of the backend ``settings`` names."""
    assert settings.backend in BACKENDS, settings.backend
    return cast(BackendFactory, importlib.import_module(f"faas.compute.{settings.backend}.factory"))


def build(settings: Settings, owner_id: str) -> Backend:
    return of(settings).build(settings, owner_id)


def volumes(settings: Settings) -> Volumes:
    return of(settings).volumes(settings)


def build_runtime_images(
    settings: Settings, rebuild: bool, runtimes: Sequence[str] | None = None
) -> dict[str, str]:
    """For ``faas images build``: each runtime's image tag, or why it is unavailable."""
    return of(settings).runtime_images(settings, rebuild, runtimes)
