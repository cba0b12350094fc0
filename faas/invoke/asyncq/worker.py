"""The async worker: takes events from the queue and runs them like sync calls.

A worker runs up to ``FAAS_WORKER_CONCURRENCY`` events at once, each through
the same scheduler (and so the same per-function and node caps) as a sync
call. Settling an event takes the next one into its slot in the same round
trip, so a busy worker reads no more than it settles. It renews the leases of
what it runs, promotes due retries and sweeps lapsed leases back to the queue.
What to do after a run is decided by the pure functions of ``faas.invoke.asyncq.retry``;
this module only carries it out.

Stopping (SIGTERM) stops taking events, lets running ones finish within the
drain budget, and hands the rest back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable

from faas import metrics
from faas.errors import BackendError, FaasError, FunctionNotFound, StoreUnavailable, Throttled
from faas.invoke.asyncq import retry
from faas.invoke.asyncq.queue import FUNCTION_GONE, Delivery, Queue, Taken
from faas.invoke.asyncq.records import Invocation, State, destination_record
from faas.models import FunctionSpec
from faas.outcomes import InvocationResult, Outcome, error_payload

log = logging.getLogger(__name__)

# on_start() spends an attempt and returns its number; the runner calls it once
# it has an instance, just before the event runs.
OnStart = Callable[[], Awaitable[int]]
Runner = Callable[[FunctionSpec, bytes, str, OnStart, str], Awaitable[InvocationResult]]
ArnOf = Callable[[str], str]
# The spec a qualifier of the function names (a version, or an alias's draw).
Resolve = Callable[[FunctionSpec, str], Awaitable[FunctionSpec]]

PROMOTE_EVERY_S = 0.1
READ_BLOCK_MS = 500
# Consumers (worker processes) idle this long with nothing pending are forgotten.
CONSUMER_IDLE_S = 24 * 3600


class Worker:
    """Consumes the queue as one consumer of its group."""

    def __init__(
        self,
        queue: Queue,
        run: Runner,
        arn_of: ArnOf,
        *,
        consumer: str,
        concurrency: int,
        resolve: Resolve | None = None,
    ) -> None:
        self._queue = queue
        self._run = run
        self._resolve = resolve
        self._arn_of = arn_of
        self.consumer = consumer
        self._concurrency = concurrency
        self._running: dict[Delivery, asyncio.Task[None]] = {}
        # Deliveries whose lease this worker still holds: taken, not yet settled or
        # handed back. Only these are renewed, so that an entry settled while a
        # renewal was under way is not taken for a lost lease.
        self._leased: set[Delivery] = set()
        # The last look found fewer new entries than it asked for: wait on a
        # blocking read rather than look again with a script.
        self._drained = False
        self._slot_free = asyncio.Event()
        self._stopping = False
        self._reader: asyncio.Task[None] | None = None
        self._upkeep: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def start(self) -> None:
        self._stopping = False
        self._reader = asyncio.create_task(self._read_loop())
        self._upkeep = asyncio.create_task(self._upkeep_loop())

    async def stop(self, drain_s: float) -> None:
        """Take no more events; let running ones finish for ``drain_s``, hand back the rest."""
        self._stopping = True
        self._slot_free.set()
        if self._reader is not None:
            # A read under way returns within its block time; what it got is handed back.
            try:
                await asyncio.wait_for(self._reader, READ_BLOCK_MS / 1000 + 5)
            except (TimeoutError, asyncio.CancelledError):
                pass
        running = list(self._running.values())
        if running:
            log.info("draining %d async invocations (up to %gs)", len(running), drain_s)
            _, late = await asyncio.wait(running, timeout=drain_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._upkeep is not None:
            self._upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._upkeep

    # -- taking events ---------------------------------------------------------

    async def _read_loop(self) -> None:
        away = False  # Redis failed the last read: said once, not every second
        while not self._stopping:
            free = self._concurrency - len(self._running)
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            try:
                taken = await self._take(free)
            except StoreUnavailable as exc:
                if not away:
                    log.warning("cannot read the queue, trying every second: %s", exc.message)
                away = True
                await asyncio.sleep(1)
                continue
            if away:
                log.info("reading the queue again")
                away = False
            await self._start_all(taken)

    async def _take(self, free: int) -> list[Taken]:
        # Busy: one round trip reads and takes a batch. Idle: wait on a blocking
        # read (a script cannot block), then take what it brought.
        if not self._drained:
            taken = await self._queue.take(self.consumer, free)
            self._drained = len(taken) < free
            if taken:
                return taken
        deliveries = await self._queue.read(self.consumer, free, READ_BLOCK_MS)
        if not deliveries:
            return []
        self._drained = len(deliveries) < free
        return await self._queue.take(self.consumer, free, deliveries)

    async def _start_all(self, taken: list[Taken]) -> None:
        for event in taken:
            if self._stopping:
                await self._give_back(event.delivery, refund=False)
                continue
            task = asyncio.create_task(self._handle(event))
            self._leased.add(event.delivery)
            self._running[event.delivery] = task
            task.add_done_callback(functools.partial(self._done, event.delivery))

    def _done(self, delivery: Delivery, _task: asyncio.Task[None]) -> None:
        self._running.pop(delivery, None)
        self._leased.discard(delivery)
        self._slot_free.set()

    async def _give_back(self, delivery: Delivery, *, refund: bool) -> None:
        try:
            self._leased.discard(delivery)
            await self._queue.hand_back(delivery, refund_attempt=refund)
        except FaasError as exc:
            # Not lost: its lease lapses and a sweeper gives it back.
            log.warning("could not hand back %s: %s", delivery.request_id, exc.message)

    # -- running one event -----------------------------------------------------

    async def _handle(self, event: Taken) -> None:
        delivery, invocation, spec = event.delivery, event.invocation, event.spec
        began = False
        try:
            if spec is None or not _queued_for(invocation, spec):
                # Deleted (and perhaps made again under its name) since it was queued:
                # a new function never runs the old one's events (nor dead-letters them).
                message = (
                    f"function {invocation.function!r} was deleted after the event was "
                    "queued (a function made again under its name does not run it)"
                )
                await self._settle(
                    delivery,
                    _finished(invocation, State.FAILED, error=_error("ResourceNotFound", message)),
                )
                return
            policy = spec.async_config
            decision = retry.before_attempt(
                attempts=invocation.attempts,
                workers_lost=invocation.workers_lost,
                age_s=_age(invocation),
                policy=policy,
            )
            if decision.reason is not None:
                await self._dead_letter(delivery, invocation, spec, decision.reason)
                return

            target = spec
            if invocation.qualifier is not None and self._resolve is not None:
                try:
                    target = await self._resolve(spec, invocation.qualifier)
                except FunctionNotFound:
                    message = f"function {invocation.function}:{invocation.qualifier} not found"
                    await self._settle(
                        delivery,
                        _finished(
                            invocation,
                            State.FAILED,
                            error=_error("ResourceNotFound", message),
                        ),
                    )
                    return
            code_sha256 = target.code_sha256

            async def on_start() -> int:
                nonlocal invocation, began
                invocation = await self._queue.begin_attempt(invocation, code_sha256)
                began = True
                return invocation.attempts

            try:
                result = await self._run(
                    target, invocation.payload, invocation.request_id, on_start, invocation.source
                )
            except Throttled:
                await self._free_retry(delivery, invocation, spec, retry.Failure.THROTTLED)
            except BackendError as exc:
                log.warning("async %s: platform error: %s", invocation.request_id, exc.message)
                await self._free_retry(delivery, invocation, spec, retry.Failure.PLATFORM)
            else:
                await self._after_run(delivery, invocation, spec, result)
        except asyncio.CancelledError:
            # Stopping past the drain budget: the event goes back, its attempt refunded
            # (the platform stopped it, the function did not fail).
            await asyncio.shield(self._give_back(delivery, refund=began))
            raise
        except StoreUnavailable as exc:
            log.warning("async %s: %s; its lease will return it", delivery.request_id, exc.message)
        except Exception:
            log.exception("async %s failed in the worker", delivery.request_id)

    async def _settle(
        self,
        delivery: Delivery,
        outcome: Invocation,
        *,
        retry_in_s: float | None = None,
        then: list[Invocation] | None = None,
    ) -> int:
        """Settle a delivery and, unless stopping, take the next event into its slot;
        says how it recorded (``queue.RECORDED``...)."""
        self._leased.discard(delivery)
        more = 0 if self._stopping else 1
        recorded, taken = await self._queue.settle_and_take(
            delivery,
            outcome,
            consumer=self.consumer,
            count=more,
            retry_in_s=retry_in_s,
            then=then or (),
        )
        if more:
            self._drained = not taken
        # This task ends right after: its successor takes its slot (for a moment
        # both count, and the read loop waits).
        await self._start_all(taken)
        return recorded

    async def _after_run(
        self,
        delivery: Delivery,
        invocation: Invocation,
        spec: FunctionSpec,
        result: InvocationResult,
    ) -> None:
        if result.outcome is Outcome.SUCCESS:
            outcome = _finished(
                invocation, State.SUCCEEDED, result=result.payload, error=None, reason=None
            )
            then = self._destination(spec.async_config.on_success, outcome, "Success", result)
            await self._settle(delivery, outcome, then=then)
            return
        failed = dataclasses.replace(invocation, error=result.error)
        await self._retry_later(delivery, failed, spec, retry.Failure.FUNCTION, result)

    async def _free_retry(
        self, delivery: Delivery, invocation: Invocation, spec: FunctionSpec, failure: retry.Failure
    ) -> None:
        waiting = dataclasses.replace(invocation, free_retries=invocation.free_retries + 1)
        await self._retry_later(delivery, waiting, spec, failure)

    async def _retry_later(
        self,
        delivery: Delivery,
        invocation: Invocation,
        spec: FunctionSpec,
        failure: retry.Failure,
        result: InvocationResult | None = None,
    ) -> None:
        """Queue the event again after the backoff ``retry`` decides, or dead-letter it."""
        decision = retry.after_failure(
            failure=failure,
            attempts=invocation.attempts,
            free_retries=invocation.free_retries,
            age_s=_age(invocation),
            policy=spec.async_config,
            rand=random.random(),
        )
        if decision.reason is not None:
            await self._dead_letter(delivery, invocation, spec, decision.reason, result)
            return
        metrics.RETRIES.labels(spec.name, failure.value).inc()
        state = State.RETRYING if invocation.attempts else State.QUEUED
        await self._settle(
            delivery, dataclasses.replace(invocation, state=state), retry_in_s=decision.delay_s
        )

    async def _dead_letter(
        self,
        delivery: Delivery,
        invocation: Invocation,
        spec: FunctionSpec,
        reason: retry.Reason,
        result: InvocationResult | None = None,
    ) -> None:
        error = invocation.error or _error(reason.value, _why(reason, invocation, spec))
        outcome = _finished(invocation, State.DEAD_LETTERED, error=error, reason=reason.value)
        then = self._destination(spec.async_config.on_failure, outcome, reason.value, result)
        if await self._settle(delivery, outcome, then=then) == FUNCTION_GONE:
            log.info(
                "async %s of %s failed: the function was deleted", invocation.request_id, spec.name
            )
            return
        log.info("async %s of %s dead-lettered: %s", invocation.request_id, spec.name, reason)
        metrics.DEAD_LETTERS.labels(spec.name, reason.value).inc()

    def _destination(
        self,
        target: str | None,
        invocation: Invocation,
        condition: str,
        result: InvocationResult | None,
    ) -> list[Invocation]:
        if target is None:
            return []
        response = result.payload if result is not None else None
        if response is None and invocation.attempts and invocation.error:
            response = error_payload(
                invocation.error.get("errorType", ""), invocation.error.get("errorMessage", "")
            )
        record = destination_record(
            invocation,
            condition=condition,
            function_arn=self._arn_of(invocation.function),
            response=response,
            function_error=condition != "Success",
            now=time.time(),
        )
        return [
            Invocation(
                request_id=str(uuid.uuid4()),
                function=target,
                payload=record,
                enqueued_at=time.time(),
            )
        ]

    # -- leases and retries ------------------------------------------------------

    async def _upkeep_loop(self) -> None:
        lease = self._queue.lease_s
        next_renew = next_sweep = 0.0
        away = False  # Redis failed the last round: said once, not ten times a second
        while True:
            try:
                now = time.monotonic()
                await self._queue.promote_due()
                if now >= next_renew:
                    next_renew = now + lease / 3
                    lost = await self._queue.renew(self.consumer, list(self._leased))
                    for delivery in lost & self._leased:
                        log.warning("lost the lease of %s; it may run twice", delivery.request_id)
                if now >= next_sweep:
                    next_sweep = now + lease / 2
                    swept = await self._queue.sweep(self.consumer)
                    if swept:
                        log.info("gave %d events with lapsed leases back to the queue", swept)
                    await self._queue.forget_idle_consumers(CONSUMER_IDLE_S)
                away = False
            except StoreUnavailable as exc:
                if not away:
                    log.warning("queue upkeep: %s", exc.message)
                away = True
            except Exception:
                log.exception("queue upkeep failed")
            await asyncio.sleep(PROMOTE_EVERY_S)


def _queued_for(invocation: Invocation, spec: FunctionSpec) -> bool:
    """Whether ``spec`` is the function the event was queued for, not one made again
    under its name (an event queued before the stamp was kept is taken to be)."""
    created = invocation.function_created_at
    return created is None or created == spec.created_at


def _age(invocation: Invocation) -> float:
    return time.time() - invocation.enqueued_at


def _finished(invocation: Invocation, state: State, **changes: object) -> Invocation:
    return dataclasses.replace(invocation, state=state, finished_at=time.time(), **changes)  # type: ignore[arg-type]


def _error(error_type: str, message: str) -> dict[str, object]:
    return {"errorType": error_type, "errorMessage": message, "stackTrace": []}


def _why(reason: retry.Reason, invocation: Invocation, spec: FunctionSpec) -> str:
    if reason is retry.Reason.EVENT_AGE_EXCEEDED:
        return (
            f"the event was older than {spec.async_config.max_event_age_s}s after "
            f"{invocation.attempts} attempts and {invocation.free_retries} throttled retries"
        )
    if reason is retry.Reason.WORKER_LOST:
        return (
            "the worker running it died (or stalled past its lease) "
            f"{invocation.workers_lost} times"
        )
    return f"out of attempts after {invocation.attempts}"
