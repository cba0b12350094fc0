"""The scheduler: a warm pool of instances per function, indexed by pool key.

An invocation takes the freshest idle instance of its key, or starts one cold
when the function's cap and the node's cap allow and fewer than
``cold_starts_per_function`` starts are under way, or waits (bounded in time
and in the number of waiters) for one to come free; past that it is
``Throttled``. One invocation runs at a time per instance.

A cold start takes a generic container from the pool (``faas.compute.pool``)
when one of the function's profile is ready and the function has no volumes,
and gives it the function; otherwise it starts a container for the function.

A new code or config gives a new pool key (``faas.models.pool_key``): idle
instances of an old key are removed at once, busy ones when they finish, so
stale code never serves again. A background loop removes instances idle past
the keep-alive and keeps ``keep_warm`` instances ready ahead of traffic.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from faas import metrics
from faas.background import Background
from faas.compute import placement
from faas.compute.backend import Backend, Sandbox, SandboxSpec
from faas.compute.instance import Instance, InstanceState, InvokeRequest
from faas.compute.lambda_env import function_arn, lambda_environment, log_stream_name
from faas.compute.pool import GenericPool, Profile
from faas.errors import FaasError, Throttled
from faas.models import FunctionConfig, FunctionSpec, InvocationResult
from faas.settings import Settings

log = logging.getLogger(__name__)

# How long a function's invocations held back by the CPU quota count as a reason to scale out.
THROTTLE_MEMORY_S = 1.0

ImageProvider = Callable[[FunctionSpec], Awaitable[str]]
CodeProvider = Callable[[str], Awaitable[Path]]
# Prepares the function's volumes on the host: host directory -> path inside.
MountProvider = Callable[[FunctionSpec], Awaitable[dict[Path, str]]]
SecretProvider = Callable[[FunctionSpec], Awaitable[Mapping[str, bytes]]]
SpecLister = Callable[[], Awaitable[list[FunctionSpec]]]
OnStart = Callable[[], Awaitable[int]]


class Scheduler:
    """Places invocations on warm or cold instances within the caps."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        image_for: ImageProvider,
        code_dir_for: CodeProvider,
        mounts_for: MountProvider | None = None,
        secrets_for: SecretProvider | None = None,
    ) -> None:
        self._settings = settings
        self._backend = backend
        self._image_for = image_for
        self._code_dir_for = code_dir_for
        self._mounts_for = mounts_for
        self._secrets_for = secrets_for
        self._lock = asyncio.Lock()
        self._instances: dict[str, list[Instance]] = defaultdict(list)
        # Their number, kept as they come and go. Counting them was a walk over every
        # function, on every call that found no idle instance: 36 us at 1,000 functions.
        self._instance_count = 0
        # function -> starts in flight; only functions with some (zeros are dropped).
        self._starting: Counter[str] = Counter()
        # Of those, keep-warm starts: no call waits on them, they come free when ready.
        self._warming: Counter[str] = Counter()
        self._waiting: Counter[str] = Counter()
        # function -> (share of its recent invocations held back by the CPU quota, when
        # the last one ended).
        self._throttled: dict[str, tuple[float, float]] = {}
        # function -> calls waiting for one of its instances, longest waiting first:
        # each is handed an instance, or None to look again (``_wake_all``). Only
        # functions with waiting calls: every release walks it, and with an empty queue
        # left for each function that ever had one, that took 44 us at 1,000 functions.
        self._handoff: defaultdict[str, deque[asyncio.Future[Instance | None]]] = defaultdict(deque)
        # function -> (updated_at, pool key) of the newest spec seen.
        self._current: dict[str, tuple[float, str]] = {}
        self._background = Background()
        # Instances made from generic sandboxes, until their cold start is over: the
        # profile whose pool owes a replacement.
        self._from_pool: dict[Instance, Profile] = {}
        self._host_cpus = os.cpu_count() or 1
        self.pool = GenericPool(backend, settings.prewarm_pool) if settings.prewarm_pool else None

    # -- invoking ---------------------------------------------------------

    async def invoke(
        self,
        spec: FunctionSpec,
        event: bytes,
        request_id: str,
        on_start: OnStart | None = None,
        kind: str = "sync",
    ) -> InvocationResult:
        """Run ``event`` on an instance of ``spec``; raises ``Throttled`` or ``BackendError``.

        ``on_start`` is called once an instance is held, just before the event
        runs, and returns the attempt number the function is told (async retries).
        ``kind`` (sync, async, http, schedule) labels the invocation's metrics.
        """
        key = self._observe(spec)
        try:
            instance, cold, init_ms = await self._acquire(spec, key)
        except Throttled:
            metrics.THROTTLES.labels(spec.name, kind).inc()
            raise
        if cold:
            log.info("cold start: %s", instance.sandbox.name)
        attempt = 1
        if on_start is not None:
            try:
                attempt = await on_start()
            except BaseException:
                await self._release(instance)  # initialized: it can serve the next call
                raise
        running = metrics.CONCURRENT.labels(spec.name)
        running.inc()
        try:
            result = await instance.invoke(
                InvokeRequest(
                    request_id=request_id,
                    event=event,
                    timeout_s=float(spec.config.timeout_s),
                    function_arn=self._arn(spec.name),
                    cold_start=cold,
                    attempt=attempt,
                )
            )
        except BaseException:
            await self._discard(instance, "invocation failed in the platform")
            raise
        finally:
            running.dec()
            share, _ = self._throttled.get(spec.name, (0.0, 0.0))
            self._throttled[spec.name] = (
                placement.throttled_share(share, instance.cpu_throttled),
                asyncio.get_running_loop().time(),
            )
            await self._release(instance)
        if init_ms is not None and result.init_duration_ms is None:
            result = _with_init(result, init_ms)
        metrics.observe(spec.name, kind, result)
        return result

    def _observe(self, spec: FunctionSpec) -> str:
        """Remember the newest pool key of a function; an older spec never wins."""
        key = spec.pool_key
        seen = self._current.get(spec.name)
        if seen is None or spec.updated_at >= seen[0]:
            if seen is not None and seen[1] != key:
                self._spawn(self._retire_idle(spec.name, keep_key=key))
            self._current[spec.name] = (spec.updated_at, key)
        return key

    async def _acquire(self, spec: FunctionSpec, key: str) -> tuple[Instance, bool, float | None]:
        """An instance for the call: (it, whether it was started for it, its init ms)."""
        name = spec.name
        cap = spec.config.concurrency
        if cap == 0:
            raise Throttled(f"function {name!r} is paused (concurrency is 0)")
        loop = asyncio.get_running_loop()
        arrived = loop.time()
        deadline = arrived + self._settings.throttle_wait_s
        patience = self._settings.scale_up_wait_s
        async with self._lock:
            while True:
                warm = placement.pick_warm(self._instances[name], key)
                if warm is not None:
                    warm.state = InstanceState.BUSY
                    return warm, False, None
                recheck_at = None
                if self._can_start(name, cap):
                    serving = sum(1 for i in self._instances[name] if i.pool_key == key)
                    if placement.should_start(
                        self._starting[name],
                        self._warming[name],
                        self._waiting[name],
                        self._settings.cold_starts_per_function,
                        serving,
                        loop.time() - arrived,
                        patience,
                        self._throttled_recently(name, loop.time()),
                    ):
                        self._starting[name] += 1
                        break
                    if serving and loop.time() < arrived + patience:
                        recheck_at = arrived + patience  # then it may start one
                elif self._function_count(name) < (cap or self._settings.max_instances):
                    # Only the node is full: make room by evicting the coldest idle instance.
                    victim = placement.lru_idle(i for lst in self._instances.values() for i in lst)
                    if victim is not None:
                        self._forget(victim)
                        self._spawn(self._discard(victim, "evicted for capacity"))
                        continue
                handed = await self._wait_for_capacity(
                    name,
                    deadline - loop.time(),
                    None if recheck_at is None else recheck_at - loop.time(),
                )
                if handed is not None:
                    return handed, False, None
        start = asyncio.ensure_future(self._start_ready(spec, key))
        start.add_done_callback(lambda _: self._start_over(name))
        try:
            warm = await self._free_before(start, name, key)
        except BaseException:
            # The call is gone (cancelled): so is its start, container and all;
            # a start already over cannot be undone, so it joins the pool instead.
            start.cancel()
            await asyncio.wait({start})
            if not start.cancelled() and start.exception() is None:
                self._spawn(self._adopt(start))
            raise
        if warm is not None:
            # An instance came free first: this call takes it, and the new one
            # joins the pool when ready. A call bound to its own start (and the
            # function's init) waited for it even when others freed meanwhile.
            self._spawn(self._adopt(start))
            return warm, False, None
        instance, init_ms = start.result()
        return instance, True, init_ms

    async def _start_ready(self, spec: FunctionSpec, key: str) -> tuple[Instance, float | None]:
        """A new instance for a call, its runtime initialized; and its init ms."""
        instance = await self._start(spec, key, InstanceState.BUSY)
        try:
            return instance, await self._initialized(instance)
        except BaseException:
            await self._discard(instance, "its start was abandoned")
            raise

    def _throttled_recently(self, name: str, now: float) -> bool:
        """Whether the function's recent invocations (of the last second) were held back
        by the CPU quota often enough to make another instance worth it."""
        share, at = self._throttled.get(name, (0.0, 0.0))
        return share > placement.THROTTLED_SHARE and now - at < THROTTLE_MEMORY_S

    def _start_over(self, name: str) -> None:
        self._started(name)
        self._wake_all()

    def _started(self, name: str) -> None:
        """One start of ``name`` no longer in flight."""
        self._starting[name] -= 1
        if self._starting[name] <= 0:
            del self._starting[name]

    def _wake_all(self) -> None:
        """Every waiting call looks again (capacity or instances changed). Needs no
        lock: it only fills futures; each waiter takes the lock back to look."""
        for waiters in self._handoff.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        self._handoff.clear()

    async def _free_before(
        self, start: asyncio.Future[tuple[Instance, float | None]], name: str, key: str
    ) -> Instance | None:
        """An idle instance of ``key`` taken before ``start`` is done, or None once it is."""
        async with self._lock:
            while not start.done():
                warm = placement.pick_warm(self._instances[name], key)
                if warm is not None:
                    warm.state = InstanceState.BUSY
                    return warm
                handed, _ = await self._wait(name, None, start)
                if handed is not None:
                    return handed
        return None

    async def _adopt(self, start: asyncio.Future[tuple[Instance, float | None]]) -> None:
        """A start no call waits for any more: once ready, it serves as idle."""
        try:
            instance, _ = await start
        except Exception as exc:
            log.warning("a cold start nobody waited for failed: %s", exc)
            return
        if instance.init_failed:
            await self._discard(instance, "runtime init failed")
            return
        await self._release(instance)

    async def _wait_for_capacity(
        self, name: str, remaining: float, recheck_s: float | None = None
    ) -> Instance | None:
        """Wait (holding the lock) for an instance handed over, or a change worth a
        new look, or ``recheck_s`` (None); ``Throttled`` when the wait is over."""
        if remaining <= 0 or self._waiting[name] >= self._settings.throttle_queue_length:
            raise Throttled(
                f"function {name!r} is at its concurrency limit",
                retry_after_s=max(1, round(self._settings.throttle_wait_s)),
            )
        wait_s = remaining
        if recheck_s is not None and recheck_s < remaining:
            wait_s = max(0.0, recheck_s)
        handed, timed_out = await self._wait(name, wait_s)
        if timed_out and wait_s == remaining:
            raise Throttled(
                f"function {name!r} stayed at its concurrency limit for "
                f"{self._settings.throttle_wait_s:g}s",
                retry_after_s=max(1, round(self._settings.throttle_wait_s)),
            )
        return handed

    async def _wait(
        self, name: str, timeout_s: float | None, also: asyncio.Future[Any] | None = None
    ) -> tuple[Instance | None, bool]:
        """Wait, holding the lock (released meanwhile), for one of: an instance of
        ``name`` handed over by ``_release`` (returned), a wake-up to look again,
        ``also`` done, or the timeout (``(None, True)``).

        A freed instance goes to the longest waiting call directly, and wakes no
        one else: with a condition's ``notify_all`` every release woke every
        waiter, and under wrk -c32 the gateway spent its time waking 30 tasks per
        invocation (and a task per wait on top).
        """
        handed: asyncio.Future[Instance | None] = asyncio.get_running_loop().create_future()
        self._handoff[name].append(handed)
        self._waiting[name] += 1
        watched: set[asyncio.Future[Any]] = {handed} if also is None else {handed, also}
        self._lock.release()
        try:
            done, _ = await asyncio.wait(
                watched, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        except BaseException:
            got = await self._stop_waiting(name, handed)
            if got is not None:
                self._idle(got)  # handed to a call that is leaving with an error: give it back
            raise
        got = await self._stop_waiting(name, handed)
        return got, got is None and not done

    async def _stop_waiting(
        self, name: str, handed: asyncio.Future[Instance | None]
    ) -> Instance | None:
        """Take the lock back and leave the queue; the instance handed over, if any."""
        await _reacquire(self._lock)
        self._waiting[name] -= 1
        if not handed.done():
            handed.cancel()
            waiters = self._handoff[name]
            waiters.remove(handed)
            if not waiters:
                del self._handoff[name]
            return None
        return handed.result()

    def _can_start(self, name: str, cap: int | None) -> bool:
        if cap is not None and self._function_count(name) >= cap:
            return False
        return self._total_count() < self._settings.max_instances

    def _function_count(self, name: str) -> int:
        return len(self._instances[name]) + self._starting[name]

    def _total_count(self) -> int:
        return self._instance_count + sum(self._starting.values())

    async def _start(self, spec: FunctionSpec, key: str, state: InstanceState) -> Instance:
        image = await self._image_for(spec)
        code_dir = await self._code_dir_for(spec.code_sha256)
        mounts = await self._mounts_for(spec) if self._mounts_for is not None else {}
        values = (
            await self._secrets_for(spec)
            if self._secrets_for is not None and spec.secrets_version
            else {}
        )

        def sandbox_spec(token: str) -> SandboxSpec:
            return SandboxSpec(
                function=spec.name,
                pool_key=key,
                token=token,
                image=image,
                code_dir=code_dir,
                env=lambda_environment(
                    spec, region=self._settings.region, log_stream=log_stream_name(token)
                ),
                memory_mb=spec.config.memory_mb,
                cpus=self._cpus(spec),
                network=spec.config.network,
                mounts=mounts,
                secrets=values,
            )

        made: Sandbox | None = None
        profile = self._profile(spec, image)
        # Volumes are mounts, which a started container cannot gain: never generic.
        if self.pool is not None and not mounts:
            generic = await self.pool.take(profile)
            if generic is not None:
                made = await self._specialize(generic, sandbox_spec(generic.spec.token), profile)
        if made is None:
            sandbox = await self._backend.create(sandbox_spec(secrets.token_hex(6)))
        else:
            sandbox = made
        instance = Instance(sandbox, self._backend, self._on_destroyed)
        instance.state = state
        if made is not None:
            self._from_pool[instance] = profile
        # No await between create and registration: a cancellation here cannot
        # lose track of a container that exists.
        self._instances[spec.name].append(instance)
        self._instance_count += 1
        return instance

    async def _initialized(self, instance: Instance) -> float | None:
        """Wait for a new instance's init; its init ms."""
        try:
            return await instance.wait_initialized(self._settings.init_timeout_s)
        finally:
            self._cold_start_over(instance)

    def _cold_start_over(self, instance: Instance) -> None:
        """Let the pool replace the generic container the instance was made from."""
        profile = self._from_pool.pop(instance, None)
        if profile is not None and self.pool is not None:
            self.pool.settle(profile)

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
            await asyncio.shield(self._discard_sandbox(generic))
            if not isinstance(exc, FaasError):
                raise
            metrics.PREWARM_TAKES.labels("failed").inc()
            log.warning("could not specialize %s, starting anew: %s", generic.name, exc)
            return None

    async def _discard_sandbox(self, sandbox: Sandbox) -> None:
        try:
            await self._backend.destroy(sandbox)
        except FaasError as exc:
            log.warning("could not remove container %s: %s", sandbox.name, exc)

    def _cpus(self, spec: FunctionSpec) -> float:
        return placement.cpus_for(spec.config.memory_mb, self._settings.min_cpus, self._host_cpus)

    def _profile(self, spec: FunctionSpec, image: str) -> Profile:
        return Profile(image, spec.config.memory_mb, self._cpus(spec), spec.config.network)

    async def _release(self, instance: Instance) -> None:
        if instance.state is InstanceState.DEAD:
            return
        current = self._current.get(instance.function)
        if current is None or current[1] != instance.pool_key:
            await self._discard(instance, "its code or config was replaced")
            return
        async with self._lock:
            instance.last_used = time.monotonic()
            if not self._hand_over(instance):
                self._idle(instance)

    def _hand_over(self, instance: Instance) -> bool:
        """Give ``instance`` to the longest waiting call of its function, if any."""
        waiters = self._handoff.get(instance.function)
        if waiters is None:
            return False
        handed = False
        while waiters and not handed:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(instance)  # stays busy: it is the waiter's now
                handed = True
        if not waiters:
            del self._handoff[instance.function]
        return handed

    def _idle(self, instance: Instance) -> None:
        """Back in the pool (the lock held): any waiter may take it."""
        instance.state = InstanceState.IDLE
        self._wake_all()

    async def _discard(self, instance: Instance, reason: str) -> None:
        try:
            await instance.destroy(reason)
        except FaasError as exc:
            log.warning("could not remove container %s: %s", instance.sandbox.name, exc)

    async def _on_destroyed(self, instance: Instance, reason: str) -> None:
        log.info("removed %s (%s): %s", instance.sandbox.name, instance.function, reason)
        async with self._lock:
            self._forget(instance)
            self._wake_all()

    def _forget(self, instance: Instance) -> None:
        self._cold_start_over(instance)
        instances = self._instances.get(instance.function, [])
        if instance in instances:
            instances.remove(instance)
            self._instance_count -= 1

    def _arn(self, name: str) -> str:
        return function_arn(self._settings.region, self._settings.account_id, name)

    # -- lifecycle of a function -------------------------------------------

    async def retire(self, name: str, *, deleted: bool = False) -> None:
        """Remove a function's idle instances now; busy ones go when they finish.

        ``deleted`` removes busy ones too: a deleted function has no containers.
        """
        if deleted:
            self._current.pop(name, None)
            self._throttled.pop(name, None)
        await self._remove(lambda i: deleted or i.idle, "function changed or deleted", name)

    def update(self, spec: FunctionSpec) -> None:
        """Tell the scheduler a function changed, so stale instances go now."""
        self._observe(spec)

    async def _retire_idle(self, name: str, keep_key: str) -> None:
        await self._remove(
            lambda i: i.idle and i.pool_key != keep_key, "replaced by a new version", name
        )

    async def _remove(
        self, chosen: Callable[[Instance], bool], reason: str, name: str | None = None
    ) -> None:
        """Take the chosen instances (of ``name``, or all) out of service, then remove them."""
        async with self._lock:
            doomed = [i for i in self.instances(name) if chosen(i)]
            for instance in doomed:
                self._forget(instance)
        await asyncio.gather(*(self._discard(i, reason) for i in doomed))

    # -- background upkeep -------------------------------------------------

    async def run_upkeep(self, list_specs: SpecLister) -> None:
        """Forever: reap idle instances and keep ``keep_warm`` ones ready."""
        while True:
            try:
                await self.upkeep_once(await list_specs())
            except Exception:
                # Upkeep must outlive any one failure, or reaping stops for good.
                log.exception("upkeep failed")
            await asyncio.sleep(self._settings.reap_interval_s)

    async def upkeep_once(self, specs: list[FunctionSpec]) -> None:
        by_name = {s.name: s for s in specs}
        for spec in specs:
            self._observe(spec)
        if self.pool is not None:
            try:
                await self._keep_pool(specs)
            except FaasError as exc:
                # No runtime image yet, say: reaping below must still happen.
                log.warning("could not keep the generic pool: %s", exc)
        now = time.monotonic()
        doomed: list[Instance] = []
        async with self._lock:
            for name, instances in self._instances.items():
                known = by_name.get(name)
                if known is None:
                    # Deleted elsewhere: nothing of it may stay.
                    doomed.extend(i for i in instances if i.idle)
                    continue
                doomed.extend(
                    placement.expired(
                        instances,
                        self._current.get(name, (0.0, None))[1],
                        now,
                        self._settings.keep_alive_s,
                        known.config.keep_warm,
                    )
                )
            for instance in doomed:
                self._forget(instance)
        await asyncio.gather(*(self._discard(i, "idle past keep-alive") for i in doomed))
        await asyncio.gather(
            *(self._keep_warm(spec) for spec in specs if spec.config.keep_warm > 0),
            return_exceptions=True,
        )

    async def _keep_pool(self, specs: list[FunctionSpec]) -> None:
        """Generic containers for the default config's profile and the commonest others."""
        assert self.pool is not None
        default = FunctionSpec(
            FunctionConfig(name="", runtime="python3.11", handler=""), "", 0, 0.0, 0.0
        )
        eligible = [s for s in specs if not s.config.volumes and s.config.concurrency != 0]
        profiles = [self._profile(s, await self._image_for(s)) for s in eligible]
        self.pool.keep(
            placement.pool_profiles(
                self._profile(default, await self._image_for(default)),
                profiles,
                self._settings.prewarm_profiles,
            )
        )

    async def _keep_warm(self, spec: FunctionSpec) -> None:
        key = spec.pool_key
        if self._current.get(spec.name, (0.0, None))[1] != key:
            return  # an older spec than the newest seen: warming it would be wasted
        cap = spec.config.concurrency
        want = min(spec.config.keep_warm, cap if cap is not None else spec.config.keep_warm)
        async with self._lock:
            have = sum(1 for i in self._instances[spec.name] if i.pool_key == key)
            missing = max(0, want - have - self._starting[spec.name])
            grant = 0
            while grant < missing and self._can_start(spec.name, cap):
                self._starting[spec.name] += 1
                self._warming[spec.name] += 1
                grant += 1
        await asyncio.gather(*(self._prewarm(spec, key) for _ in range(grant)))

    async def _prewarm(self, spec: FunctionSpec, key: str) -> None:
        try:
            instance = await self._start(spec, key, InstanceState.STARTING)
        except FaasError as exc:
            log.warning("could not pre-warm %s: %s", spec.name, exc)
            return
        finally:
            self._started(spec.name)
            self._warming[spec.name] -= 1
            self._wake_all()
        try:
            await self._initialized(instance)
        except FaasError:
            await self._discard(instance, "init failed")
            return
        if instance.init_failed:
            # Its init error is reported when a call starts it cold; kept warm it
            # would only be rebuilt at every upkeep.
            await self._discard(instance, "runtime init failed")
            return
        await self._release(instance)

    # -- introspection and shutdown ----------------------------------------

    def instances(self, name: str | None = None) -> list[Instance]:
        if name is not None:
            return list(self._instances.get(name, []))
        return [i for lst in self._instances.values() for i in lst]

    def _spawn(self, coro: Awaitable[None]) -> None:
        self._background.spawn(coro)

    async def close(self) -> None:
        """Remove every instance; called at shutdown."""
        # Let evictions and retirements under way finish: they remove containers.
        await asyncio.gather(*self._background.pending(), return_exceptions=True)
        try:
            await self._remove(lambda _: True, "server shutting down")
        finally:
            if self.pool is not None:
                await self.pool.close()


def _with_init(result: InvocationResult, init_ms: float) -> InvocationResult:
    return dataclasses.replace(result, init_duration_ms=init_ms)


async def _reacquire(lock: asyncio.Lock) -> None:
    """Take ``lock`` back even if cancelled meanwhile (then re-raise), as a condition's
    wait does: the caller's ``async with`` will release it."""
    cancelled = False
    while True:
        try:
            await lock.acquire()
            break
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
