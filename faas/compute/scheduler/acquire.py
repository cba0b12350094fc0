"""Acquire and release: which instance an invocation runs on.

An invocation takes the freshest idle instance of its key, or starts one cold
when the function's cap and the node's cap allow and fewer than
``cold_starts_per_function`` starts are under way, or waits (bounded in time
and in the number of waiters, ``waiters``) for one to come free; past that it
is ``Throttled``. One invocation runs at a time per instance. A released
instance goes to the longest waiting call of its function, else back to idle.

A new code or config gives a new pool key (``faas.models.pool_key``): idle
instances of an old key are removed at once, busy ones when they finish, so
stale code never serves again. Sandboxes are built by ``building``; the
background loop (``upkeep``) removes instances idle past the keep-alive and
keeps ``keep_warm`` instances ready ahead of traffic.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from faas import metrics
from faas.background import Background
from faas.compute import placement
from faas.compute.agent_client import ChunkSink
from faas.compute.backend import Backend
from faas.compute.instance import Instance, InstanceState, InvokeRequest
from faas.compute.lambda_env import function_arn
from faas.compute.scheduler.building import (
    Builder,
)
from faas.compute.scheduler.fleet import Fleet, discard, function_of
from faas.compute.scheduler.upkeep import SpecLister, Upkeep
from faas.compute.scheduler.waiters import Waiters
from faas.errors import FaasError, Throttled
from faas.models import FunctionSpec
from faas.outcomes import InvocationResult
from faas.settings import Settings
from faas.stats import Recorder

log = logging.getLogger(__name__)

# How long a function's invocations held back by the CPU quota count as a reason to scale out.
THROTTLE_MEMORY_S = 1.0

OnStart = Callable[[], Awaitable[int]]
Start = asyncio.Future[tuple[Instance, float | None]]


class Gate(Protocol):
    """Caps that hold beyond this process: a place taken before a capped call runs and
    given back after (``faas.cluster.leases``: leases in Redis)."""

    def needed(self, spec: FunctionSpec) -> bool: ...

    async def take(self, spec: FunctionSpec, wait_s: float) -> Any: ...

    async def give(self, place: Any) -> None: ...


class Scheduler:
    """Places invocations on warm or cold instances within the caps."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        builder: Builder,
        gate: Gate | None = None,
        on_change: Callable[[str, int], None] | None = None,
        stats: Recorder | None = None,
    ) -> None:
        """``builder`` makes the sandboxes of new instances (``building``); ``gate``
        holds the caps across processes and nodes, if any; ``on_change(pool key,
        delta)`` hears of instances as they come and go; ``stats`` of handlers as they
        start and end (concurrent executions)."""
        self._settings = settings
        self._stats = stats
        self._gate = gate
        self._builder = builder
        self.pool = builder.pool
        self._backend = backend
        self.fleet = Fleet(self.pool, on_change)
        self.waiters = Waiters()
        self._lock = self.fleet.lock
        # function -> (share of its recent invocations held back by the CPU quota, when
        # the last one ended).
        self._throttled: dict[str, tuple[float, float]] = {}
        self._background = Background()
        self._upkeep = Upkeep(settings, self.fleet, self._builder, self)

    # -- invoking ---------------------------------------------------------

    async def invoke(
        self,
        spec: FunctionSpec,
        event: bytes,
        request_id: str,
        on_start: OnStart | None = None,
        kind: str = "sync",
        client_context: str | None = None,
        sink: ChunkSink | None = None,
    ) -> InvocationResult:
        """Run ``event`` on an instance of ``spec``; raises ``Throttled`` or ``BackendError``.

        ``on_start`` is called once an instance is held, just before the event
        runs, and returns the attempt number the function is told (async retries).
        ``kind`` (sync, async, http, schedule) labels the invocation's metrics;
        ``client_context`` is the caller's (base64 JSON), for the handler's context;
        a streamed response goes to ``sink`` as it arrives (``faas.invoke.streaming``).
        """
        key = self._observe(spec)
        arrived = time.monotonic()
        try:
            instance, cold, init_ms = await self._acquire(spec, key)
            place = await self._enter(spec, instance, arrived)
        except Throttled:
            metrics.THROTTLES.labels(spec.name, kind).inc()
            raise
        try:
            return await self._run(
                spec, instance, cold, init_ms, event, request_id, on_start, kind,
                client_context, sink,
            )  # fmt: skip
        finally:
            if place is not None:
                assert self._gate is not None
                # Given back behind the answer: a round trip off the call's path.
                self._spawn(self._gate.give(place))

    async def _enter(self, spec: FunctionSpec, instance: Instance, arrived: float) -> Any:
        """The call's place under caps held beyond this process (``Gate``), if the
        function has any, taken once it holds an instance: on one node the local caps
        already hold, so calls queue for instances in the order they came."""
        gate = self._gate
        if gate is None or not gate.needed(spec):
            return None
        remaining = self._settings.throttle_wait_s - (time.monotonic() - arrived)
        try:
            return await gate.take(spec, remaining)
        except BaseException:
            await self._release(instance)
            raise

    async def _run(
        self,
        spec: FunctionSpec,
        instance: Instance,
        cold: bool,
        init_ms: float | None,
        event: bytes,
        request_id: str,
        on_start: OnStart | None,
        kind: str,
        client_context: str | None,
        sink: ChunkSink | None,
    ) -> InvocationResult:
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
        if self._stats is not None:
            self._stats.started(spec.name)
        try:
            result = await instance.invoke(
                InvokeRequest(
                    request_id=request_id,
                    event=event,
                    timeout_s=float(spec.config.timeout_s),
                    function_arn=self._arn(spec.unit),
                    cold_start=cold,
                    attempt=attempt,
                    client_context=client_context,
                    sink=sink,
                )
            )
        except BaseException:
            await discard(instance, "invocation failed in the platform")
            raise
        finally:
            running.dec()
            if self._stats is not None:
                self._stats.finished(spec.name)
            share, _ = self._throttled.get(spec.name, (0.0, 0.0))
            self._throttled[spec.name] = (
                placement.throttled_share(share, instance.cpu_throttled),
                asyncio.get_running_loop().time(),
            )
            await self._release(instance)
        if init_ms is not None and result.init_duration_ms is None:
            result = dataclasses.replace(result, init_duration_ms=init_ms)
        metrics.observe(spec.name, kind, result)
        return result

    def _observe(self, spec: FunctionSpec) -> str:
        """Remember the newest pool key of a function; a new one retires the old's idle."""
        key, replaced = self.fleet.observe(spec)
        if replaced:
            self._spawn(self._retire_idle(spec.unit, keep_key=key))
        return key

    async def _acquire(self, spec: FunctionSpec, key: str) -> tuple[Instance, bool, float | None]:
        """An instance for the call: (it, whether it was started for it, its init ms)."""
        name = spec.unit  # a function's version has instances of its own
        cap = spec.config.concurrency
        if cap == 0:
            raise Throttled(f"function {name!r} is paused (concurrency is 0)", reserved=True)
        fleet = self.fleet
        max_instances = self._settings.max_instances
        loop = asyncio.get_running_loop()
        arrived = loop.time()
        deadline = arrived + self._settings.throttle_wait_s
        patience = self._settings.scale_up_wait_s
        async with self._lock:
            while True:
                warm = placement.pick_warm(fleet.of(name), key)
                if warm is not None:
                    warm.state = InstanceState.BUSY
                    return warm, False, None
                recheck_at = None
                if fleet.can_start(name, cap, max_instances):
                    serving = fleet.serving(name, key)
                    if placement.should_start(
                        fleet.starting(name),
                        fleet.warming(name),
                        self.waiters.waiting(name),
                        self._settings.cold_starts_per_function,
                        serving,
                        loop.time() - arrived,
                        patience,
                        self._throttled_recently(name, loop.time()),
                    ):
                        fleet.begin_start(name)
                        break
                    if serving and loop.time() < arrived + patience:
                        recheck_at = arrived + patience  # then it may start one
                elif fleet.function_count(name) < (cap or max_instances):
                    # Only the node is full: make room by evicting the coldest idle instance.
                    victim = placement.lru_idle(fleet.instances())
                    if victim is not None:
                        fleet.forget(victim)
                        self._spawn(discard(victim, "evicted for capacity"))
                        continue
                handed = await self._wait_for_capacity(
                    name,
                    deadline - loop.time(),
                    None if recheck_at is None else recheck_at - loop.time(),
                    reserved=cap is not None,
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
            await discard(instance, "its start was abandoned")
            raise

    def _throttled_recently(self, name: str, now: float) -> bool:
        """Whether the function's recent invocations (of the last second) were held back
        by the CPU quota often enough to make another instance worth it."""
        share, at = self._throttled.get(name, (0.0, 0.0))
        return share > placement.THROTTLED_SHARE and now - at < THROTTLE_MEMORY_S

    def _start_over(self, name: str, *, warming: bool = False) -> None:
        self.fleet.start_over(name, warming=warming)
        self.waiters.wake_all()

    async def _free_before(self, start: Start, name: str, key: str) -> Instance | None:
        """An idle instance of ``key`` taken before ``start`` is done, or None once it is."""
        async with self._lock:
            while not start.done():
                warm = placement.pick_warm(self.fleet.of(name), key)
                if warm is not None:
                    warm.state = InstanceState.BUSY
                    return warm
                handed, _ = await self.waiters.wait(self._lock, name, None, start)
                if handed is not None:
                    return handed
        return None

    async def _adopt(self, start: Start) -> None:
        """A start no call waits for any more: once ready, it serves as idle."""
        try:
            instance, _ = await start
        except Exception as exc:
            log.warning("a cold start nobody waited for failed: %s", exc)
            return
        if instance.init_failed:
            await discard(instance, "runtime init failed")
            return
        await self._release(instance)

    async def _wait_for_capacity(
        self, name: str, remaining: float, recheck_s: float | None = None, *, reserved: bool
    ) -> Instance | None:
        """Wait (holding the lock) for an instance handed over, or a change worth a
        new look, or ``recheck_s`` (None); ``Throttled`` when the wait is over
        (``reserved``: the function has a concurrency of its own, Lambda's reserved)."""
        if remaining <= 0 or self.waiters.waiting(name) >= self._settings.throttle_queue_length:
            raise Throttled(
                f"function {name!r} is at its concurrency limit",
                retry_after_s=max(1, round(self._settings.throttle_wait_s)),
                reserved=reserved,
            )
        wait_s = remaining
        if recheck_s is not None and recheck_s < remaining:
            wait_s = max(0.0, recheck_s)
        handed, timed_out = await self.waiters.wait(self._lock, name, wait_s)
        if timed_out and wait_s == remaining:
            raise Throttled(
                f"function {name!r} stayed at its concurrency limit for "
                f"{self._settings.throttle_wait_s:g}s",
                retry_after_s=max(1, round(self._settings.throttle_wait_s)),
                reserved=reserved,
            )
        return handed

    async def _start(self, spec: FunctionSpec, key: str, state: InstanceState) -> Instance:
        # Counted while built: a deletion waits for it, to remove it once it is an instance.
        self.fleet.begin_build(spec.unit)
        try:
            sandbox, from_pool = await self._builder.sandbox(spec, key)
            instance = Instance(sandbox, self._backend, self._on_destroyed)
            instance.state = state
            # No await between create and registration: a cancellation here cannot
            # lose track of a container that exists.
            self.fleet.add(instance, from_pool)
        finally:
            self.fleet.build_over(spec.unit)
        return instance

    async def _initialized(self, instance: Instance) -> float | None:
        """Wait for a new instance's init; its init ms."""
        try:
            return await instance.wait_initialized(self._settings.init_timeout_s)
        finally:
            self.fleet.cold_start_over(instance)

    async def _release(self, instance: Instance) -> None:
        if instance.state is InstanceState.DEAD:
            return
        if self.fleet.current_key(instance.function) != instance.pool_key:
            await discard(instance, "its code or config was replaced")
            return
        async with self._lock:
            instance.last_used = time.monotonic()
            if not self.waiters.hand_over(instance):
                instance.state = InstanceState.IDLE  # any waiter may take it
                self.waiters.wake_all()

    async def _on_destroyed(self, instance: Instance, reason: str) -> None:
        log.info("removed %s (%s): %s", instance.sandbox.name, instance.function, reason)
        async with self._lock:
            self.fleet.gone(instance)
            self.waiters.wake_all()

    def _arn(self, name: str) -> str:
        return function_arn(self._settings.region, self._settings.account_id, name)

    # -- lifecycle of a function -------------------------------------------

    async def retire(self, name: str, *, deleted: bool = False) -> None:
        """Remove a function's idle instances now; busy ones go when they finish.

        ``deleted`` removes busy ones too, and returns once every container of the
        function is gone: the sandboxes being built for it (once they are instances),
        and those that upkeep or an eviction took out of service and is still removing.
        """
        if not deleted:
            await self._remove(lambda i: i.idle, "function changed", name)
            return
        self.fleet.drop(name)
        self._throttled.pop(name, None)
        await self.fleet.builds_over(name)
        await self._remove(lambda _: True, "function deleted", name, leaving=True)

    def units(self, name: str) -> set[str]:
        """The units of function ``name`` that have instances here."""
        return {i.function for i in self.fleet.instances(name)}

    async def retire_unit(self, unit: str) -> None:
        """Remove every instance of one unit (a deleted version), busy ones too."""
        await self._remove(lambda i: i.function == unit, "version deleted", function_of(unit))

    def update(self, spec: FunctionSpec) -> None:
        """Tell the scheduler a function changed, so stale instances go now."""
        self._observe(spec)

    async def _retire_idle(self, unit: str, keep_key: str) -> None:
        await self._remove(
            lambda i: i.function == unit and i.idle and i.pool_key != keep_key,
            "replaced by a new version",
            function_of(unit),
        )

    async def _remove(
        self,
        chosen: Callable[[Instance], bool],
        reason: str,
        name: str | None = None,
        *,
        leaving: bool = False,
    ) -> None:
        """Take the chosen instances (of function ``name``, every unit of it, or of all) out
        of service, then remove them; with ``leaving``, also wait for those already out
        of service whose removal is under way (``discard`` waits for it)."""
        async with self._lock:
            doomed = [i for i in self.fleet.instances(name) if chosen(i)]
            for instance in doomed:
                self.fleet.forget(instance)
            if leaving:
                doomed = self.fleet.leaving(name)
        await asyncio.gather(*(discard(i, reason) for i in doomed))

    # -- keeping warm --------------------------------------------------------

    async def run_upkeep(self, list_specs: SpecLister) -> None:
        """Forever: reap idle instances and keep ``keep_warm`` ones ready."""
        await self._upkeep.run(list_specs)

    async def upkeep_once(self, specs: list[FunctionSpec]) -> None:
        await self._upkeep.once(specs)

    async def prewarm(self, spec: FunctionSpec, key: str) -> None:
        """Carry out one keep-warm start granted by upkeep (counted as starting)."""
        try:
            instance = await self._start(spec, key, InstanceState.STARTING)
        except FaasError as exc:
            log.warning("could not pre-warm %s: %s", spec.name, exc)
            return
        finally:
            self._start_over(spec.name, warming=True)
        try:
            await self._initialized(instance)
        except FaasError:
            await discard(instance, "init failed")
            return
        if instance.init_failed:
            # Its init error is reported when a call starts it cold; kept warm it
            # would only be rebuilt at every upkeep.
            await discard(instance, "runtime init failed")
            return
        await self._release(instance)

    # -- introspection and shutdown ----------------------------------------

    def instances(self, name: str | None = None) -> list[Instance]:
        return self.fleet.instances(name)

    def by_state(self) -> dict[str, int]:
        """How many live instances this process has in each state (starting, idle, busy)."""
        counts = {state.value: 0 for state in InstanceState if state is not InstanceState.DEAD}
        for instance in self.fleet.instances():
            if instance.state is not InstanceState.DEAD:
                counts[instance.state.value] += 1
        return counts

    def has_instance(self, spec: FunctionSpec) -> bool:
        """Whether a call of ``spec`` would find an instance of its code here (idle, busy
        or starting): if not, it would start one cold."""
        return self.fleet.has(spec.unit, spec.pool_key)

    def _spawn(self, coro: Awaitable[None]) -> None:
        self._background.spawn(coro)

    async def close(self) -> None:
        """Remove every instance; called at shutdown."""
        # Let evictions and retirements under way finish: they remove containers.
        await asyncio.gather(*self._background.pending(), return_exceptions=True)
        try:
            # A sandbox still being built would be an instance after the removal below.
            await self.fleet.builds_over()
            await self._remove(lambda _: True, "server shutting down", leaving=True)
        finally:
            if self.pool is not None:
                await self.pool.close()
