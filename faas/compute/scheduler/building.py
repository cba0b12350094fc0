"""Building an instance's sandbox: from a generic container of the pool when one
of the function's profile is ready and the function has no volumes or layers
(mounts, which a started container cannot gain), or anew. An image function's
sandbox is always new: its container is of its own image, which no generic
container is.

The providers are the platform's: the runtime image, the unpacked code, the
mounts prepared on the host (volumes, and layers merged for ``/opt``), and the
secrets' values.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from faas import metrics
from faas.compute import placement
from faas.compute.backend import Backend, FunctionImage, Sandbox, SandboxSpec
from faas.compute.lambda_env import lambda_environment, log_stream_name
from faas.compute.pool import GenericPool, Profile
from faas.errors import FaasError
from faas.models import FunctionConfig, FunctionSpec
from faas.settings import Settings

log = logging.getLogger(__name__)

ImageProvider = Callable[[FunctionSpec], Awaitable[str]]
CodeProvider = Callable[[str], Awaitable[Path]]


@dataclass(frozen=True)
class Mounts:
    """What a function's sandboxes mount: host path -> path inside."""

    # Its volumes, read-write.
    volumes: dict[Path, str] = field(default_factory=dict)
    # Its layers' merged tree, entry by entry under /opt, read-only.
    layers: dict[Path, str] = field(default_factory=dict)


# Prepares the function's mounts on the host.
MountProvider = Callable[[FunctionSpec], Awaitable[Mounts]]
SecretProvider = Callable[[FunctionSpec], Awaitable[Mapping[str, bytes]]]
# The function's AWS SDK variables (lambda_env.sdk_environment's defaults and reserved).
SdkProvider = Callable[[FunctionSpec], tuple[dict[str, str], dict[str, str]]]


class Builder:
    """Makes the sandbox of a function's new instance; keeps the generic pool's profiles."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        image_for: ImageProvider,
        code_dir_for: CodeProvider,
        mounts_for: MountProvider | None = None,
        secrets_for: SecretProvider | None = None,
        sdk_for: SdkProvider | None = None,
    ) -> None:
        self._settings = settings
        self._backend = backend
        self._image_for = image_for
        self._code_dir_for = code_dir_for
        self._mounts_for = mounts_for
        self._secrets_for = secrets_for
        self._sdk_for = sdk_for
        self._host_cpus = os.cpu_count() or 1
        self.pool = GenericPool(backend, settings.prewarm_pool) if settings.prewarm_pool else None

    async def sandbox(self, spec: FunctionSpec, key: str) -> tuple[Sandbox, Profile | None]:
        """A sandbox of the function, and the profile of the pool it was asked of (None
        if none was): that pool is settled once the cold start is over, to replace the
        container taken or refill the pool found empty."""
        function_image = _function_image(spec)
        if function_image is not None:
            # The agent's image runs beside the function's; there is no zip to unpack.
            image = await self._backend.prepare()
            code_dir = Path("/nonexistent")
        else:
            image = await self._image_for(spec)
            code_dir = await self._code_dir_for(spec.code_sha256)
        mounts = await self._mounts_for(spec) if self._mounts_for is not None else Mounts()
        values = (
            await self._secrets_for(spec)
            if self._secrets_for is not None and spec.secrets_version
            else {}
        )

        def sandbox_spec(token: str) -> SandboxSpec:
            return SandboxSpec(
                function=spec.unit,
                pool_key=key,
                token=token,
                image=image,
                code_dir=code_dir,
                env=lambda_environment(
                    spec,
                    region=self._settings.region,
                    log_stream=log_stream_name(token, version=spec.version),
                    sdk=self._sdk_for(spec) if self._sdk_for is not None else ({}, {}),
                ),
                memory_mb=spec.config.memory_mb,
                cpus=self._cpus(spec),
                network=spec.config.network,
                mounts=mounts.volumes,
                readonly_mounts=mounts.layers,
                secrets=values,
                function_image=function_image,
            )

        profile = self._profile(spec, image)
        # Volumes and layers are mounts, which a started container cannot gain: never generic.
        generic_fits = function_image is None and not mounts.volumes and not mounts.layers
        if self.pool is None or not generic_fits:
            return await self._backend.create(sandbox_spec(secrets.token_hex(6))), None
        generic = await self.pool.take(profile)
        if generic is not None:
            made = await self._specialize(generic, sandbox_spec(generic.spec.token), profile)
            if made is not None:
                return made, profile
            # It failed, and settled the take (the pool refills): a plain start.
            return await self._backend.create(sandbox_spec(secrets.token_hex(6))), None
        try:
            return await self._backend.create(sandbox_spec(secrets.token_hex(6))), profile
        except BaseException:
            self.pool.settle(profile)
            raise

    async def _specialize(
        self, generic: Sandbox, spec: SandboxSpec, profile: Profile
    ) -> Sandbox | None:
        """The generic sandbox made the function's, or None (removed) if that failed."""
        try:
            return await self._backend.specialize(generic, spec)
        except BaseException as exc:
            assert self.pool is not None
            self.pool.settle(profile)
            # Shielded: a cancelled call must still not leak the container it took.
            await asyncio.shield(self._discard(generic))
            if not isinstance(exc, FaasError):
                raise
            metrics.PREWARM_TAKES.labels("failed").inc()
            log.warning("could not specialize %s, starting anew: %s", generic.name, exc)
            return None

    async def _discard(self, sandbox: Sandbox) -> None:
        try:
            await self._backend.destroy(sandbox)
        except FaasError as exc:
            log.warning("could not remove container %s: %s", sandbox.name, exc)

    def _cpus(self, spec: FunctionSpec) -> float:
        return placement.cpus_for(spec.config.memory_mb, self._settings.min_cpus, self._host_cpus)

    def _profile(self, spec: FunctionSpec, image: str) -> Profile:
        return Profile(image, spec.config.memory_mb, self._cpus(spec), spec.config.network)

    async def keep_pool(self, specs: list[FunctionSpec]) -> None:
        """Generic containers for the default config's profile and the commonest others."""
        if self.pool is None:
            return
        default = FunctionSpec(
            FunctionConfig(name="", runtime="python3.11", handler=""), "", 0, 0.0, 0.0
        )
        eligible = [
            s
            for s in specs
            if not s.config.volumes
            and not s.config.layers
            and not s.config.is_image
            and s.config.concurrency != 0
        ]
        profiles = [self._profile(s, await self._image_for(s)) for s in eligible]
        self.pool.keep(
            placement.pool_profiles(
                self._profile(default, await self._image_for(default)),
                profiles,
                self._settings.prewarm_profiles,
            )
        )


def _function_image(spec: FunctionSpec) -> FunctionImage | None:
    """What an image function's own container runs (None for a zip function)."""
    c = spec.config
    if not c.is_image:
        return None
    return FunctionImage(
        image=f"sha256:{spec.code_sha256}",
        entry_point=c.image_config.entry_point,
        command=c.image_config.command,
        working_directory=c.image_config.working_directory,
        init_timeout_s=float(c.timeout_s),
    )
