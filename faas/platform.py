"""The platform: the composition root the gateway, the CLI and the worker start.

It builds the parts and wires them together; each part holds its concern:

- ``functions`` (``faas.catalog.functions``): create, change, read and delete
  functions, their secrets and logs;
- ``schedules`` (``faas.invoke.schedules.admin``): their schedules;
- ``invoker`` (``faas.invoke.invoker``): every invocation, sync, HTTP or queued;
- ``dead_letters`` (``faas.invoke.asyncq.deadletters``): what is done with them;
- ``health`` (``faas.health``): readiness, and the gauges of ``/metrics``;
- ``stats`` (``faas.stats``): every function's invocations per minute, cluster-wide,
  for the console's charts and lists;
- ``owners`` (``faas.compute.owners``): this process's heartbeat, and the
  reaping of the sandboxes of this node's dead processes;
- beneath them the store, code store, registry, queue, scheduler and the
  sandbox backend (built by ``faas.compute.factory`` from the settings).

It owns their start-up (check Redis, reap sandboxes of dead processes, start
upkeep, the heartbeat and the async worker) and shut-down (drain the worker,
remove every sandbox), in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from pathlib import Path

from faas import auth, keys, store
from faas.auth import Access
from faas.background import Background
from faas.catalog.aliases import Aliases
from faas.catalog.bundle import BundleLimits
from faas.catalog.codestore import Check, CodeRef, CodeStore
from faas.catalog.functions import Functions
from faas.catalog.layers import Layers
from faas.catalog.logs import LogStore
from faas.catalog.qualifiers import Qualifiers
from faas.catalog.references import References
from faas.catalog.registry import Registry
from faas.catalog.saved_events import SavedEvents
from faas.catalog.secrets import SecretStore
from faas.catalog.versions import Versions
from faas.cluster import nodes, signatures
from faas.cluster.claims import Claims
from faas.cluster.code import LocalCode
from faas.cluster.leases import Leases
from faas.cluster.peers import Peers
from faas.cluster.rates import RedisRates
from faas.cluster.routing import Directory, Router
from faas.cluster.s3 import S3Store
from faas.cluster.sweep import Sweeper
from faas.compute import factory, owners
from faas.compute.lambda_env import SDK_PORT, sdk_environment
from faas.compute.opt_dirs import OptDirs
from faas.compute.owners import Owners
from faas.compute.scheduler import Scheduler
from faas.compute.scheduler.building import Builder, Mounts
from faas.errors import BackendError, FaasError, ValidationFailed
from faas.health import Health
from faas.invoke.asyncq.deadletters import DeadLetters
from faas.invoke.asyncq.queue import Queue
from faas.invoke.asyncq.worker import Worker
from faas.invoke.invoker import Invoker
from faas.invoke.mappings.admin import MappingAdmin
from faas.invoke.mappings.poller import PollerDeps
from faas.invoke.mappings.pollers import Pollers
from faas.invoke.mappings.store import MappingStore
from faas.invoke.schedules.admin import ScheduleAdmin
from faas.invoke.schedules.store import ScheduleStore
from faas.invoke.schedules.ticker import Ticker
from faas.models import RUNTIMES, FunctionSpec
from faas.queues.queues import Queues
from faas.settings import Settings
from faas.stats import Stats
from faas.topics.arns import Place
from faas.topics.topics import Topics

log = logging.getLogger(__name__)
# The credentials a function of a server without keys gets: nothing checks them.
OPEN_SERVER_KEY_ID = "FAASOPENSERVERKEY"


class Platform:
    """Functions and their invocations, end to end: the parts, built and started."""

    def __init__(self, settings: Settings, *, role: str = "serve", worker: bool | None = None):
        self.settings = settings
        # A server keeps its id across restarts (and reaps its earlier run), as does
        # each worker process of ``faas serve --workers`` ("serve-<i>", from the
        # supervisor); each ``faas worker`` process is a new owner.
        if role == "serve":
            self.owner_id = settings.owner_id or role
        else:
            self.owner_id = f"{role}-{secrets.token_hex(4)}"
        self.codestore = CodeStore(settings.code_dir, BundleLimits())
        self.redis = store.connect(settings.redis_url)
        self.registry = Registry(self.redis)
        # A deletion asks every node to sweep the bundles nothing refers to any more.
        self.versions = Versions(self.redis, self.registry, on_delete=self._code_deleted)
        self.aliases = Aliases(self.redis)
        self.layers = Layers(
            self.redis,
            self.codestore,
            region=settings.region,
            account_id=settings.account_id,
            store_code=self._store_code,
            on_delete=self._code_deleted,
        )
        self.opt_dirs = OptDirs(settings.data_dir / "opt")
        self.qualifiers = Qualifiers(self.registry, self.versions, self.aliases)
        self.queue = Queue(
            self.redis,
            lease_s=settings.lease_s,
            result_ttl_s=settings.result_ttl_s,
            wait_replicas=settings.redis_wait_replicas,
        )
        self.dead_letters = DeadLetters(self.redis)
        # SQS-compatible queues (faas.queues); ``self.queue`` above is the async invocations'.
        self.queues = Queues(self.redis, region=settings.region, account_id=settings.account_id)
        self.backend = factory.build(settings, self.owner_id)
        # A server advertises the URL its peers reach it at (faas.cluster.nodes).
        self.advertise_url = nodes.advertise_url(settings) if role == "serve" else None
        # The URL that reaches this very process (and its warm instances): a worker
        # process's own port, or the node's URL when the node has one process.
        self.process_url = settings.process_url or self.advertise_url
        self.owners = Owners(
            self.redis,
            self.backend,
            node_id=settings.node_id,
            owner_id=self.owner_id,
            heartbeat_ttl_s=settings.heartbeat_ttl_s,
            interval_s=settings.reap_interval_s,
            advertise_url=self.advertise_url,
            instances=lambda: self.scheduler.by_state(),
        )
        self.access = Access(
            auth.KeyRing.from_settings(settings), RedisRates(self.redis), settings.key_rate_per_s
        )
        # Any process fetches a bundle it lacks from a peer (faas.cluster), signing its
        # calls with a secret of the keys every node shares.
        self.nodes = nodes.Nodes(self.redis)
        self.peer_secret = signatures.peer_secret(self.access.ring.link_secret)
        # Uploads go to S3 too when one is configured; a bundle no peer has comes from it.
        self.s3 = S3Store.from_settings(settings)
        self.claims = Claims(self.redis, settings.code_grace_s)
        self.code = LocalCode(
            self.codestore,
            Peers(self.nodes.live, self.peer_secret, own_url=self.advertise_url),
            s3=self.s3,
            claims=self.claims,
        )
        self.sweeper = Sweeper(
            self.redis,
            self.codestore,
            References(self.redis, self.registry),
            self.claims,
            s3=self.s3,
            grace_s=settings.code_grace_s,
            opt_dirs=self.opt_dirs,
        )
        self.logs = LogStore(
            self.redis,
            retention_s=settings.log_retention_s,
            max_entries=settings.log_max_entries,
            max_bytes=settings.log_max_bytes,
        )
        self.secrets = SecretStore(self.redis)
        # Per function and minute, written behind the invocations once a second.
        self.stats = Stats(self.redis)
        self.volumes = factory.volumes(settings)
        # Warm routing: which process has instances of what, and the forwarding of a call
        # that would start cold here to one that has (faas.cluster.routing).
        self.directory = Directory(
            self.redis, f"{settings.node_id}/{self.owner_id}", self.process_url
        )
        self.router = (
            Router(self.directory, self.peer_secret)
            if settings.warm_routing and role == "serve" and self.process_url
            else None
        )
        # Reserved and account concurrency hold across every node: leases in Redis.
        self.leases = Leases(
            self.redis,
            member_prefix=f"{settings.node_id}/{self.owner_id}",
            ttl_s=settings.lease_ttl_s,
            account_limit=settings.account_concurrency,
            wait_s=settings.throttle_wait_s,
            max_waiting=settings.throttle_queue_length,
        )
        self.scheduler = Scheduler(
            settings,
            self.backend,
            Builder(
                settings,
                self.backend,
                image_for=lambda spec: self.backend.prepare(spec.config.runtime),
                code_dir_for=self._code_dir,
                mounts_for=self._mounts,
                secrets_for=lambda spec: self.secrets.values(spec.name),
                sdk_for=self._sdk_for,
            ),
            self.leases,
            self.directory.changed,
            self.stats.recorder,
        )
        # A version deleted through any node: every node retires its instances.
        self._background = Background()
        self.registry.listen(self._function_changed)
        self.schedule_store = ScheduleStore(self.redis)
        self.schedules = ScheduleAdmin(
            self.registry, self.schedule_store, allow_seconds=settings.schedule_seconds
        )
        self.functions = Functions(
            self.registry,
            self.codestore,
            self.secrets,
            self.logs,
            SavedEvents(self.redis),
            on_change=self.scheduler.update,
            on_delete=(
                self.schedule_store.delete,
                self.versions.delete_all,
                self.aliases.delete_all,
                self.queue.forget_recent,
                self.dead_letters.delete_all,
                lambda name: self.scheduler.retire(name, deleted=True),
                self.sweeper.request,
            ),
            check_runtime=self._check_runtime,
            resolve_image=self.backend.resolve_image,
            store_code=self._store_code,
            fetch_code=self.code.ensure,
        )
        self.invoker = Invoker(
            settings,
            self.registry,
            self.scheduler,
            self.queue,
            self.logs,
            self.access,
            self.qualifiers,
            self.router,
            stats=self.stats.recorder,
        )
        # SNS-compatible topics (faas.topics): Publish delivers through the invoker's Event
        # path (functions) and the queues (queues).
        self.topics = Topics(
            self.redis,
            Place(settings.region, settings.account_id),
            settings.topics_url or f"http://{settings.host}:{settings.port}",
            self.invoker.invoke_async,
            lambda: self.queues,
        )
        self.health = Health(self.redis, self.backend, self.registry, self.scheduler, self.queue)
        self.health.gauges.append(self.queues.refresh_gauges)
        self.worker: Worker | None = None
        if settings.worker if worker is None else worker:
            self.worker = Worker(
                self.queue,
                self.invoker.run,
                self.invoker.arn,
                consumer=f"{settings.node_id}-{self.owner_id}",
                concurrency=settings.worker_concurrency,
                resolve=self.qualifiers.resolve_spec,
            )
        # Event source mappings: what the APIs change, and (where async events run) the
        # pollers that read their queues into their functions.
        self.mapping_store = MappingStore(self.redis)
        self.mappings = MappingAdmin(
            self.mapping_store,
            self.queues,
            functools.partial(self.qualifiers.resolve, draw=False),
            region=settings.region,
            account_id=settings.account_id,
        )
        self.pollers: Pollers | None = None
        if (settings.worker if worker is None else worker) and settings.mappings:
            deps = PollerDeps(
                queues=self.queues,
                run=self.invoker.run,
                resolve=self.qualifiers.resolve,
                region=settings.region,
                default_concurrency=settings.mapping_concurrency,
            )
            self.pollers = Pollers(self.mapping_store, deps)
        self.ticker: Ticker | None = None
        if role == "serve" and settings.schedules:
            self.ticker = Ticker(self.schedule_store, self.queue, settings)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        # Volume limits this host cannot enforce stop the server, rather than run unbounded.
        await self.volumes.check()
        await store.reach(self.redis, self.settings.start_timeout_s)
        await self.queue.setup()
        await self.backend.start(await owners.installation(self.redis))
        await self.owners.join()
        await self.directory.join()
        self._tasks.append(asyncio.create_task(self.scheduler.run_upkeep(self.registry.list)))
        self._tasks.append(asyncio.create_task(self.registry.watch()))
        self._tasks.append(asyncio.create_task(self.sweeper.run()))
        # Build the runtime image now rather than on the first cold start (and /readyz waits).
        self._tasks.append(asyncio.create_task(self._prepare_backend()))
        self._tasks.append(asyncio.create_task(self.owners.run()))
        self._tasks.append(asyncio.create_task(self.leases.run()))
        self._tasks.append(asyncio.create_task(self.stats.run()))
        if self.ticker is not None:
            self._tasks.append(asyncio.create_task(self.ticker.run()))
        if self.pollers is not None:
            self._tasks.append(asyncio.create_task(self.pollers.run()))
        if self.worker is not None:
            self.worker.start()

    def stopping(self) -> None:
        """The server begins to stop: end what streams to its clients until they leave
        (log follows), so their connections close before it waits for them."""
        self.logs.stop_following()

    async def close(self) -> None:
        try:
            if self.pollers is not None:
                await self.pollers.close(self.settings.drain_s)
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
                    await self.stats.close()
                with contextlib.suppress(Exception):
                    await self.owners.leave()
                with contextlib.suppress(Exception):
                    await self.queues.close()
                await self.leases.close()
                if self.router is not None:
                    await self.router.close()
                await self.redis.aclose()
                await self.backend.close()
                if self.s3 is not None:
                    self.s3.close()

    # -- wiring: what the scheduler asks of the catalog and the volumes ---------

    async def _prepare_backend(self) -> None:
        try:
            await self.backend.prepare()
        except FaasError as exc:
            log.error("the runtime image is not available: %s", exc.message)

    def _sdk_for(self, spec: FunctionSpec) -> tuple[dict[str, str], dict[str, str]]:
        """The function's AWS SDK variables: this server's endpoint as the sandbox
        reaches it (a container through its agent's loopback port, which forwards to
        the server's socket; a host process straight), and the function's own key."""
        ring = self.access.ring
        if ring.open:  # no signature is checked: any credentials do
            key_id, secret = OPEN_SERVER_KEY_ID, OPEN_SERVER_KEY_ID
        else:
            key = ring.function_key(spec.name)
            key_id, secret = key.access_key_id, key.secret
        port = self.settings.port if self.settings.backend == "process" else SDK_PORT
        return sdk_environment(f"http://127.0.0.1:{port}", key_id, secret)

    async def _check_runtime(self, runtime: str) -> None:
        """Refuse a runtime this server cannot run (an unknown one is validation's)."""
        if runtime not in RUNTIMES:
            return
        problem = await self.backend.unavailable(runtime)
        if problem is not None:
            raise ValidationFailed(
                f"runtime {runtime} is not available on this server: {problem}", field="runtime"
            )

    async def _store_code(self, path: Path, check: Check | None) -> CodeRef:
        return await self.code.store(path, check)

    async def _code_deleted(self) -> None:
        await self.sweeper.request()

    def _function_changed(self, name: str) -> None:
        """Function ``name`` changed somewhere (its spec, or a version deleted)."""
        units = [u for u in self.scheduler.units(name) if ":" in u] if name else []
        if units:
            self._background.spawn(self._retire_deleted_versions(name, units))

    async def _retire_deleted_versions(self, name: str, units: list[str]) -> None:
        """Remove the instances here of versions of ``name`` that no longer exist."""
        try:
            async with store.redis_errors():
                pipe = self.redis.pipeline(transaction=False)
                for unit in units:
                    pipe.hexists(keys.versions(name), unit.partition(":")[2])
                found = await pipe.execute()
        except FaasError as exc:
            log.warning("could not check the versions of %s: %s", name, exc.message)
            return
        for unit, exists in zip(units, found, strict=True):
            if not exists:
                await self.scheduler.retire_unit(unit)

    async def _code_dir(self, sha: str) -> Path:
        return await self.code.unpacked(sha)

    async def _mounts(self, spec: FunctionSpec) -> Mounts:
        volumes = {
            await self.volumes.prepare(name): inside for name, inside in spec.config.volumes.items()
        }
        if not spec.config.layers:
            return Mounts(volumes)
        try:
            for layer in await self.layers.pinned(spec.config.layers):
                await self.code.ensure(layer.code_sha256)
            trees = await self.layers.trees(spec.config.layers)
        except FileNotFoundError as exc:
            raise BackendError(f"a layer of {spec.name!r} is missing: {exc}") from None
        return Mounts(volumes, await asyncio.to_thread(self.opt_dirs.mounts, trees))
