"""The platform: the one object the gateway and CLI call into.

It wires the code store, the registry, the scheduler, the backend and the
runtime images together, and owns their start-up (reap orphans of an earlier
run, start upkeep) and shut-down (remove every container).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from pathlib import Path

from faas.backend import DockerBackend
from faas.bundle import BundleLimits
from faas.codestore import CodeRef, CodeStore
from faas.errors import BackendError, FunctionExists, FunctionNotFound
from faas.images import Images
from faas.models import (
    FunctionConfig,
    FunctionSpec,
    InvocationResult,
    apply_patch,
    validate_config,
)
from faas.registry import Registry
from faas.scheduler import Scheduler
from faas.settings import Settings

log = logging.getLogger(__name__)


class Platform:
    """Functions and their invocations, end to end."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.codestore = CodeStore(settings.code_dir, BundleLimits())
        self.registry = Registry.from_url(settings.redis_url)
        self.backend = DockerBackend(
            sockets_dir=settings.sockets_dir,
            node_id=settings.node_id,
            start_timeout_s=settings.start_timeout_s,
            tmp_size_mb=settings.tmp_size_mb,
            pids_limit=settings.pids_limit,
            nofile_limit=settings.nofile_limit,
            sandbox_uid=settings.sandbox_uid,
            threads=settings.docker_threads,
        )
        self.images = Images(settings, self.backend.client)
        self.scheduler = Scheduler(
            settings,
            self.backend,
            image_for=lambda _spec: self.images.runtime_image(self.backend),
            code_dir_for=self._code_dir,
        )
        self._upkeep: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.registry.ping()
        await self.backend.ping()
        reaped = await self.backend.reap()
        if reaped:
            log.info("removed %d containers left by an earlier run", reaped)
        self._upkeep = asyncio.create_task(self.scheduler.run_upkeep(self.registry.list))

    async def close(self) -> None:
        if self._upkeep is not None:
            self._upkeep.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._upkeep
        try:
            await self.scheduler.close()
        finally:
            await self.registry.close()
            await self.backend.close()

    # -- management ---------------------------------------------------------

    async def create_function(self, config: FunctionConfig, code: Path) -> FunctionSpec:
        validate_config(config)
        # Refuse a taken name before storing code (create still checks atomically).
        if await self.registry.exists(config.name):
            raise FunctionExists(f"function {config.name!r} already exists")
        ref = await asyncio.to_thread(self._store, code)
        now = time.time()
        spec = FunctionSpec(config, ref.sha256, ref.size, created_at=now, updated_at=now)
        await self.registry.create(spec)
        return spec

    async def _code_dir(self, sha: str) -> Path:
        try:
            return await asyncio.to_thread(self.codestore.unpacked, sha)
        except FileNotFoundError:
            raise BackendError(f"code {sha[:12]} is missing from this server's store") from None

    def _store(self, code: Path) -> CodeRef:
        # Unpack at upload, not at the first invoke: a cold start should not pay for it.
        ref = self.codestore.put_file(code)
        self.codestore.unpacked(ref.sha256)
        return ref

    async def update_code(self, name: str, code: Path) -> FunctionSpec:
        await self.registry.get(name)  # 404 before storing anything
        ref = await asyncio.to_thread(self._store, code)
        spec = await self.registry.update(
            name,
            lambda cur: dataclasses.replace(
                cur, code_sha256=ref.sha256, code_size=ref.size, updated_at=_after(cur)
            ),
        )
        self.scheduler.update(spec)
        return spec

    async def update_config(self, name: str, changes: dict[str, object]) -> FunctionSpec:
        spec = await self.registry.update(
            name,
            lambda cur: dataclasses.replace(
                cur, config=apply_patch(cur.config, changes), updated_at=_after(cur)
            ),
        )
        self.scheduler.update(spec)
        return spec

    async def get_function(self, name: str) -> FunctionSpec:
        return await self.registry.get(name)

    async def list_functions(self) -> list[FunctionSpec]:
        return await self.registry.list()

    async def code_path(self, name: str) -> Path:
        spec = await self.registry.get(name)
        path = self.codestore.zip_path(spec.code_sha256)
        if not path.exists():
            raise FunctionNotFound(f"the code of function {name!r} is missing from the store")
        return path

    async def delete_function(self, name: str) -> None:
        await self.registry.delete(name)
        await self.scheduler.retire(name, deleted=True)

    # -- invoking -------------------------------------------------------------

    async def invoke(
        self, name: str, event: bytes, request_id: str | None = None
    ) -> InvocationResult:
        spec = await self.registry.get(name)
        return await self.scheduler.invoke(spec, event, request_id or str(uuid.uuid4()))


def _after(spec: FunctionSpec) -> float:
    # updated_at orders versions of a spec: it must grow even within one clock tick.
    return max(time.time(), spec.updated_at + 1e-6)
