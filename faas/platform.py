"""The platform: the one object the gateway, the CLI and the worker call into.

It wires the store, the code store, the registry, the queue, the scheduler
and the sandbox backend (built by ``faas.compute.factory`` from the settings)
together, and owns their start-up (check Redis, reap sandboxes of dead
processes, start upkeep and the async worker) and shut-down (drain the worker,
remove every sandbox).

Each process has an owner id, written on its sandboxes and kept alive in
Redis by a heartbeat: any live process of the node reaps the sandboxes of a
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
from collections import Counter
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path

from faas import auth, keys, metrics, store
from faas.auth import Access
from faas.catalog import logs as function_logs
from faas.catalog import secrets as function_secrets
from faas.catalog.bundle import BundleLimits
from faas.catalog.codestore import CodeRef, CodeStore
from faas.catalog.logs import LogRecord, LogStore
from faas.catalog.registry import Registry
from faas.catalog.secrets import SecretStore
from faas.compute import factory
from faas.compute.instance import InstanceState
from faas.compute.lambda_env import function_arn
from faas.compute.scheduler import OnStart, Scheduler
from faas.errors import (
    BackendError,
    FaasError,
    FunctionExists,
    FunctionNotFound,
    InvalidRequest,
    ValidationFailed,
)
from faas.invoke.asyncq.queue import Queue
from faas.invoke.asyncq.records import Invocation
from faas.invoke.asyncq.worker import Worker
from faas.invoke.http import trigger as http_trigger
from faas.invoke.http.apigw import Context, HttpRequest
from faas.invoke.http.config import HttpConfig
from faas.invoke.http.responses import HttpResponse
from faas.invoke.schedules.rules import parse_rules
from faas.invoke.schedules.store import RuleView, ScheduleStore
from faas.invoke.schedules.ticker import Ticker
from faas.models import (
    AsyncConfig,
    FunctionConfig,
    FunctionSpec,
    InvocationResult,
    apply_patch,
    validate_config,
)
from faas.platform_log import invocation_context
from faas.settings import Settings

log = logging.getLogger(__name__)

# Reap containers of dead processes every this many upkeep ticks.
ORPHAN_REAP_EVERY = 5


def may_reap(beating_since: float, now: float, heartbeat_ttl_s: float) -> bool:
    """Whether a process may take a lapsed heartbeat for a dead process: only once its own
    heartbeats have reached Redis for a whole heartbeat lifetime. After Redis was away,
    every live process's heartbeat has lapsed, and each needs a turn to renew it before
    its containers may be taken for orphans."""
    return now - beating_since >= heartbeat_ttl_s


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
        self.backend = factory.build(settings, self.owner_id)
        self.access = Access(auth.KeyRing.from_settings(settings), settings.key_rate_per_s)
        self.logs = LogStore(
            self.redis,
            retention_s=settings.log_retention_s,
            max_entries=settings.log_max_entries,
            max_bytes=settings.log_max_bytes,
        )
        self.secrets = SecretStore(self.redis)
        self.volumes = factory.volumes(settings)
        self.scheduler = Scheduler(
            settings,
            self.backend,
            image_for=lambda _spec: self.backend.prepare(),
            code_dir_for=self._code_dir,
            mounts_for=self._mounts,
            secrets_for=lambda spec: self.secrets.values(spec.name),
        )
        self.worker: Worker | None = None
        if settings.worker if worker is None else worker:
            self.worker = Worker(
                self.queue,
                self.run,
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
        # Volume limits this host cannot enforce stop the server, rather than run unbounded.
        await self.volumes.check()
        async with store.redis_errors():
            await self.redis.ping()
        await self.queue.setup()
        await self.backend.start(await self._installation())
        await self._heartbeat()
        reaped = await self.backend.reap(await self._live_owners(exclude=self.owner_id))
        if reaped:
            log.info("removed %d containers left by an earlier or dead process", reaped)
        self._tasks.append(asyncio.create_task(self.scheduler.run_upkeep(self.registry.list)))
        self._tasks.append(asyncio.create_task(self.registry.watch()))
        # Build the runtime image now rather than on the first cold start (and /readyz waits).
        self._tasks.append(asyncio.create_task(self._prepare_backend()))
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
                    await self.logs.flush()
                with contextlib.suppress(Exception):
                    await self.redis.zrem(keys.OWNERS, self._member)
                await self.redis.aclose()
                await self.backend.close()

    async def _prepare_backend(self) -> None:
        try:
            await self.backend.prepare()
        except FaasError as exc:
            log.error("the runtime image is not available: %s", exc.message)

    # -- liveness of the processes of this node ---------------------------------

    async def _installation(self) -> str:
        """This installation's id, made by its first process and kept in its Redis."""
        async with store.redis_errors():
            await self.redis.set(keys.INSTALLATION, secrets.token_hex(8), nx=True)
            found: bytes = await self.redis.get(keys.INSTALLATION)  # type: ignore[assignment]
        return found.decode()

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
        # Since when this process's heartbeats reach Redis (always, until one fails).
        beating_since: float | None = float("-inf")
        while True:
            await asyncio.sleep(self.settings.reap_interval_s)
            tick += 1
            try:
                await self._heartbeat()
            except Exception as exc:
                log.warning("housekeeping failed: %s", exc)
                beating_since = None
                continue
            now = time.monotonic()
            if beating_since is None:
                beating_since = now
            if tick % ORPHAN_REAP_EVERY or not may_reap(
                beating_since, now, self.settings.heartbeat_ttl_s
            ):
                continue
            try:
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

    async def _mounts(self, spec: FunctionSpec) -> dict[Path, str]:
        return {
            await self.volumes.prepare(name): inside
            for name, inside in spec.config.volumes.items()
        }

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
        await self.secrets.delete(name)
        await self.logs.delete(name)
        await self.scheduler.retire(name, deleted=True)

    # -- secrets --------------------------------------------------------------

    async def secret_names(self, name: str) -> list[str]:
        await self.registry.get(name)
        return await self.secrets.names(name)

    async def put_secrets(self, name: str, data: object) -> list[str]:
        """Replace the function's secrets; its containers are replaced, as for env."""
        values = function_secrets.validate(data)
        await self.registry.get(name)
        await self.secrets.replace(name, values)
        await self._secrets_changed(name)
        return sorted(values)

    async def delete_secret(self, name: str, secret: str) -> None:
        await self.registry.get(name)
        if not await self.secrets.remove(name, secret):
            raise InvalidRequest(f"function {name!r} has no secret {secret!r}")
        await self._secrets_changed(name)

    async def _secrets_changed(self, name: str) -> None:
        version = secrets.token_hex(8)
        spec = await self.registry.update(
            name,
            lambda cur: dataclasses.replace(cur, secrets_version=version, updated_at=_after(cur)),
        )
        self.scheduler.update(spec)

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

    async def run(
        self,
        spec: FunctionSpec,
        event: bytes,
        request_id: str,
        on_start: OnStart | None = None,
        kind: str = "sync",
    ) -> InvocationResult:
        """Every invocation, whatever asked for it: run it, then keep its log.

        The result's ``log`` is the stored record's text (for ``X-Faas-Log-Type: Tail``).
        """
        with invocation_context(request_id, spec.name):
            start = time.time()
            result = await self.scheduler.invoke(spec, event, request_id, on_start, kind)
            end = time.time()
            text = function_logs.frame(result, spec.config.memory_mb, self.logs.max_bytes, end)
            record = LogRecord(
                request_id=request_id,
                function=spec.name,
                kind=kind,
                outcome=result.outcome.value,
                start=start,
                end=end,
                duration_ms=result.duration_ms,
                text=text,
            )
            self.logs.add(record)  # written behind the invocation, batched
            return dataclasses.replace(result, log=text)

    async def invoke(
        self, name: str, event: bytes, request_id: str | None = None
    ) -> InvocationResult:
        spec = await self.registry.get(name)
        return await self.run(spec, event, request_id or str(uuid.uuid4()))

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
            invoke=functools.partial(self.run, kind="http"),
            authorize=lambda key: self.access.route(key, name),
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

    # -- logs, metrics, readiness ---------------------------------------------

    async def function_logs(
        self, name: str, *, since: float | None, request_id: str | None, limit: int
    ) -> tuple[list[LogRecord], str]:
        await self.registry.get(name)
        return await self.logs.query(name, since=since, request_id=request_id, limit=limit)

    async def refresh_gauges(self) -> None:
        """Set the gauges ``/metrics`` shows that are read rather than counted."""
        counts: Counter[tuple[str, str]] = Counter(
            (i.function, i.state.value)
            for i in self.scheduler.instances()
            if i.state is not InstanceState.DEAD
        )
        metrics.set_instances(counts, {s.name for s in await self.registry.list()})
        stats = await self.queue.stats(time.time())
        metrics.set_queue(stats.queued, stats.running, stats.delayed, stats.oldest_age_s)

    async def readiness(self) -> dict[str, str]:
        """Each dependency: "ok" or what is wrong with it."""
        return {"redis": await _probe(self._ping_redis()), **await self.backend.readiness()}

    async def _ping_redis(self) -> None:
        async with store.redis_errors():
            await self.redis.ping()

    def arn(self, name: str) -> str:
        return function_arn(self.settings.region, self.settings.account_id, name)


async def _probe(check: Awaitable[None], timeout_s: float = 2.0) -> str:
    """ "ok", or why ``check`` failed."""
    try:
        await asyncio.wait_for(check, timeout_s)
    except FaasError as exc:
        return exc.message
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    return "ok"


def _after(spec: FunctionSpec) -> float:
    # updated_at orders versions of a spec: it must grow even within one clock tick.
    return max(time.time(), spec.updated_at + 1e-6)
