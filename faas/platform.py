"""The platform: the one object the gateway, the CLI and the worker call into.

It wires the store, the code store, the registry, the queue, the scheduler,
the backend and the runtime images together, and owns their start-up (check
Redis, reap containers of dead processes, start upkeep and the async worker)
and shut-down (drain the worker, remove every container).

Each process has an owner id, written on its containers and kept alive in
Redis by a heartbeat: any live process of the node reaps the containers of a
process whose heartbeat lapsed (it was killed), and a restarted ``faas serve``
reaps its own earlier run's at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import secrets
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from faas import http_trigger, keys, store
from faas.apigw import Context, HttpRequest, HttpResponse
from faas.backend import DockerBackend
from faas.bundle import BundleLimits
from faas.codestore import CodeRef, CodeStore
from faas.errors import (
    BackendError,
    FunctionExists,
    FunctionNotFound,
    InvalidRequest,
    ValidationFailed,
)
from faas.http_config import HttpConfig
from faas.images import Images
from faas.invocations import Invocation
from faas.lambda_env import function_arn
from faas.models import (
    AsyncConfig,
    FunctionConfig,
    FunctionSpec,
    InvocationResult,
    apply_patch,
    validate_config,
)
from faas.queue import Queue
from faas.registry import Registry
from faas.scheduler import Scheduler
from faas.schedules import parse_rules
from faas.settings import Settings
from faas.ticker import RuleView, ScheduleStore, Ticker
from faas.worker import Worker

log = logging.getLogger(__name__)

# Reap containers of dead processes every this many upkeep ticks.
ORPHAN_REAP_EVERY = 5


class Platform:
    """Functions and their invocations, end to end."""

    def __init__(self, settings: Settings, *, role: str = "serve", worker: bool | None = None):
        self.settings = settings
        # A server keeps its id across restarts (and reaps its earlier run);
        # each worker process is a new owner.
        self.owner_id = role if role == "serve" else f"{role}-{secrets.token_hex(4)}"
        self.codestore = CodeStore(settings.code_dir, BundleLimits())
        self.redis = store.connect(settings.redis_url)
        self.registry = Registry(self.redis)
        self.queue = Queue(self.redis, lease_s=settings.lease_s, result_ttl_s=settings.result_ttl_s)
        self.backend = DockerBackend(
            sockets_dir=settings.sockets_dir,
            node_id=settings.node_id,
            owner_id=self.owner_id,
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
            mounts_for=self._mounts,
        )
        self.worker: Worker | None = None
        if settings.worker if worker is None else worker:
            self.worker = Worker(
                self.queue,
                self.registry,
                functools.partial(self.scheduler.invoke, kind="async"),
                self.arn,
                consumer=f"{settings.node_id}-{self.owner_id}",
                concurrency=settings.worker_concurrency,
            )
        self.schedules = ScheduleStore(self.redis)
        self.ticker: Ticker | None = None
        if role == "serve" and settings.schedules:
            self.ticker = Ticker(self.schedules, self.queue, settings)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        async with store.redis_errors():
            await self.redis.ping()
        await self.queue.setup()
        await self.backend.ping()
        await self._heartbeat()
        reaped = await self.backend.reap(await self._live_owners(exclude=self.owner_id))
        if reaped:
            log.info("removed %d containers left by an earlier or dead process", reaped)
        self._tasks.append(asyncio.create_task(self.scheduler.run_upkeep(self.registry.list)))
        self._tasks.append(asyncio.create_task(self._housekeeping()))
        if self.ticker is not None:
            self._tasks.append(asyncio.create_task(self.ticker.run()))
        if self.worker is not None:
            self.worker.start()

    async def close(self) -> None:
        try:
            if self.worker is not None:
                await self.worker.stop(self.settings.drain_s)
        finally:
            for task in self._tasks:
                task.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await task
            try:
                await self.scheduler.close()
            finally:
                with contextlib.suppress(Exception):
                    await self.redis.zrem(keys.OWNERS, self._member)
                await self.redis.aclose()
                await self.backend.close()

    # -- liveness of the processes of this node ---------------------------------

    @property
    def _member(self) -> str:
        return f"{self.settings.node_id}/{self.owner_id}"

    async def _heartbeat(self) -> None:
        now = time.time()
        async with store.redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.OWNERS, {self._member: now + self.settings.heartbeat_ttl_s})
            pipe.zremrangebyscore(keys.OWNERS, "-inf", now - 86400)
            await pipe.execute()

    async def _live_owners(self, exclude: str | None = None) -> set[str]:
        async with store.redis_errors():
            live: list[bytes] = await self.redis.zrangebyscore(keys.OWNERS, time.time(), "+inf")  # type: ignore[assignment]
        # Owners are per node: another node's "serve" says nothing of this one's.
        prefix = f"{self.settings.node_id}/"
        mine = {m.decode()[len(prefix) :] for m in live if m.decode().startswith(prefix)}
        return mine - {exclude or ""}

    async def _housekeeping(self) -> None:
        # Apart from the scheduler's upkeep on purpose: keep-warm starts can take
        # tens of seconds, and a heartbeat waiting behind them would lapse and let
        # other processes reap this one's containers.
        tick = 0
        while True:
            await asyncio.sleep(self.settings.reap_interval_s)
            tick += 1
            try:
                await self._heartbeat()
                if tick % ORPHAN_REAP_EVERY == 0:
                    reaped = await self.backend.reap(await self._live_owners())
                    if reaped:
                        log.info("removed %d containers of dead processes", reaped)
            except Exception as exc:
                log.warning("housekeeping failed: %s", exc)

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

    def _mounts(self, spec: FunctionSpec) -> dict[Path, str]:
        root = self.settings.volumes_root
        return {root / name: inside for name, inside in spec.config.volumes.items()}

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

    async def set_async_config(self, name: str, config: AsyncConfig) -> FunctionSpec:
        for key, target in (("on_success", config.on_success), ("on_failure", config.on_failure)):
            if target is not None and not await self.registry.exists(target):
                raise ValidationFailed(f"destination function {target!r} not found", field=key)
        return await self.registry.update(
            name,
            lambda cur: dataclasses.replace(cur, async_config=config, updated_at=_after(cur)),
        )

    async def set_http_config(self, name: str, config: HttpConfig) -> FunctionSpec:
        return await self.registry.update(
            name, lambda cur: dataclasses.replace(cur, http=config, updated_at=_after(cur))
        )

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
        await self.schedules.delete(name)
        await self.scheduler.retire(name, deleted=True)

    # -- schedules ------------------------------------------------------------

    async def get_schedules(self, name: str) -> list[RuleView]:
        await self.registry.get(name)
        return await self.schedules.views(
            name, allow_seconds=self.settings.schedule_seconds, now=datetime.now(UTC)
        )

    async def put_schedules(self, name: str, data: object) -> list[RuleView]:
        """Replace the function's schedules (a rule left unchanged keeps its ticks)."""
        await self.registry.get(name)
        previous = await self.schedules.get(name)
        rules = parse_rules(
            data, time.time(), previous, allow_seconds=self.settings.schedule_seconds
        )
        await self.schedules.put(name, rules, previous)
        return await self.get_schedules(name)

    # -- invoking -------------------------------------------------------------

    async def invoke(
        self, name: str, event: bytes, request_id: str | None = None
    ) -> InvocationResult:
        spec = await self.registry.get(name)
        return await self.scheduler.invoke(spec, event, request_id or str(uuid.uuid4()))

    async def invoke_http(self, name: str, request: HttpRequest, domain: str) -> HttpResponse:
        """Serve an HTTP request to ``/fn/{name}/...`` as API Gateway would (``request.path``
        is relative to the function)."""
        spec = await self.registry.get(name)
        ctx = Context(
            request_id=str(uuid.uuid4()),
            account_id=self.settings.account_id,
            api_id=name,
            domain=domain,
        )
        return await http_trigger.handle(
            spec,
            request,
            ctx,
            invoke=functools.partial(self.scheduler.invoke, kind="http"),
            keys=self.settings.invoke_key_list,
        )

    async def invoke_async(self, name: str, event: bytes) -> str:
        """Queue an event; returns its request id once Redis holds it."""
        await self.registry.get(name)  # 404 for an unknown function, as Lambda
        request_id = str(uuid.uuid4())
        await self.queue.enqueue(
            Invocation(request_id=request_id, function=name, payload=event, enqueued_at=time.time())
        )
        return request_id

    async def get_invocation(self, request_id: str) -> Invocation:
        return await self.queue.get(request_id)

    async def dead_letters(
        self, name: str, offset: int, limit: int
    ) -> tuple[int, list[Invocation]]:
        return await self.queue.dead_letters(name, offset, limit)

    async def redrive(self, name: str, request_ids: list[str] | None) -> list[str]:
        if request_ids is not None and not request_ids:
            raise InvalidRequest("ids is empty; leave it out to redrive every dead letter")
        return await self.queue.redrive(name, request_ids)

    async def delete_dead_letter(self, name: str, request_id: str) -> None:
        await self.queue.delete_dead_letter(name, request_id)

    def arn(self, name: str) -> str:
        return function_arn(self.settings.region, self.settings.account_id, name)


def _after(spec: FunctionSpec) -> float:
    # updated_at orders versions of a spec: it must grow even within one clock tick.
    return max(time.time(), spec.updated_at + 1e-6)
