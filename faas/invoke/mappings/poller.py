"""One mapping's pollers in this process: receive a batch, run the function, settle.

Each poller long-polls the queue, gathers a batch (up to ``BatchSize``, within
the batching window), drops what the filters do not keep (deleting it, as Lambda
does), runs the function through the platform's own invoke path
(``Invoker.run``, kind ``sqs``: logs, metrics and records as any invocation) and
then deletes what succeeded. What failed is left alone: it comes back after the
queue's visibility timeout, and the queue's redrive policy moves it on past
``maxReceiveCount``. With ``ReportBatchItemFailures`` only the items the function
names come back (``events.item_failures``); on a FIFO queue a group stops at its
first failure (``events.held_back``). A throttled invoke hands the whole batch
back at once (visibility 0) and pauses the poller.

How many pollers run is ``scaling``'s decision after each batch. Stopping is
cooperative: a poller finishes the receive under way (at most ``POLL_WAIT_S``)
and the batch it holds, so nothing it received is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from faas import metrics
from faas.errors import (
    BackendError,
    FunctionNotFound,
    InvalidRequest,
    StoreUnavailable,
    Throttled,
)
from faas.invoke.mappings import events, filters, scaling
from faas.invoke.mappings.events import Failures, Message
from faas.invoke.mappings.model import Mapping
from faas.models import FunctionSpec
from faas.outcomes import InvocationResult, Outcome

log = logging.getLogger(__name__)

# A receive waits this long at most: how soon a stopped poller notices.
POLL_WAIT_S = 1.0
# A batch stops gathering once its bodies pass this (Lambda's 6 MB sync payload, with
# room for one more receive of the largest messages and the records' framing).
BATCH_BYTES = 3 * 1024 * 1024
RECORD_OVERHEAD = 700
# After a throttle, a missing function, or a store outage: this poller waits so long.
PAUSE_S = 1.0
KIND = "sqs"


class Queues(Protocol):
    """What a poller asks of the queues (``faas.queues``)."""

    async def receive(
        self,
        name: str,
        *,
        max_messages: int = 1,
        wait_s: float | None = None,
        visibility_s: int | None = None,
    ) -> Sequence[Any]: ...

    async def delete_messages(self, name: str, receipt_handles: Iterable[str]) -> None: ...

    async def change_visibilities(
        self, name: str, changes: Sequence[tuple[str, int]]
    ) -> list[bool]: ...


Run = Callable[..., Awaitable[InvocationResult]]
Resolve = Callable[[str, str | None], Awaitable[tuple[FunctionSpec, str]]]


@dataclass(frozen=True)
class PollerDeps:
    """What every mapping's pollers share: the queues, the invoke path, the caps."""

    queues: Queues
    run: Run  # Invoker.run
    resolve: Resolve  # Qualifiers.resolve (an alias draws its version per batch)
    region: str
    default_concurrency: int


class MappingPoller:
    """The pollers of one mapping, in this process."""

    def __init__(self, mapping: Mapping, deps: PollerDeps) -> None:
        self._deps = deps
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self.update(mapping)

    @property
    def pollers(self) -> int:
        return len(self._tasks)

    def update(self, mapping: Mapping) -> None:
        """Follow a change of the mapping from its next batch on."""
        self.mapping = mapping
        self._patterns = [filters.parse(p) for p in mapping.filters]

    def start(self) -> None:
        self._spawn()

    async def stop(self, drain_s: float) -> None:
        """Take no more batches; let those held finish for ``drain_s``, then cancel them
        (their messages come back after the visibility timeout)."""
        self._stopping.set()
        tasks = list(self._tasks)
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=drain_s)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    def _spawn(self) -> None:
        task = asyncio.create_task(self._poll())
        self._tasks.add(task)
        task.add_done_callback(self._gone)
        metrics.MAPPING_POLLERS.labels(self.mapping.uuid).set(len(self._tasks))

    def _gone(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        metrics.MAPPING_POLLERS.labels(self.mapping.uuid).set(len(self._tasks))

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # -- one poller ------------------------------------------------------------

    async def _poll(self) -> None:
        away = False  # the last batch could not be had: said once, not every second
        while not self._stopping.is_set():
            try:
                step = await self._batch()
                away = False
            except (StoreUnavailable, InvalidRequest) as exc:
                # Redis is away, or the queue was deleted under the mapping.
                if not away:
                    log.warning("mapping %s: %s", self.mapping.uuid, exc.message)
                away = True
                await self._pause(PAUSE_S)
                continue
            except Exception:
                log.exception("mapping %s: a batch failed in the poller", self.mapping.uuid)
                await self._pause(PAUSE_S)
                continue
            if step is scaling.Step.GROW and not self._stopping.is_set():
                self._spawn()
            elif step is scaling.Step.SHRINK:
                # Out of the count now, not once the task is done: the pollers whose
                # long polls ended empty in the same turn of the loop must each see the
                # others leave, or all of them would, and nothing would poll again.
                task = asyncio.current_task()
                if task is not None:
                    self._gone(task)
                return

    async def _batch(self) -> scaling.Step:
        mapping = self.mapping
        try:
            spec, _ = await self._deps.resolve(mapping.function, mapping.qualifier)
        except FunctionNotFound:
            # Nothing is received for a function that is not there: the messages wait.
            await self._pause(PAUSE_S)
            return scaling.Step.STAY
        most = scaling.cap(
            mapping.max_concurrency, self._deps.default_concurrency, spec.config.concurrency
        )
        received = await self._gather(mapping)
        if received:
            await self._process(mapping, spec, received)
        return scaling.after_batch(
            pollers=len(self._tasks), received=len(received), wanted=mapping.batch_size, most=most
        )

    async def _gather(self, mapping: Mapping) -> list[Message]:
        queues = self._deps.queues
        batch = list(
            await queues.receive(
                mapping.queue, max_messages=min(10, mapping.batch_size), wait_s=POLL_WAIT_S
            )
        )
        if not batch or mapping.window_s == 0:
            return batch
        deadline = time.monotonic() + mapping.window_s
        size = sum(_size(m) for m in batch)
        while len(batch) < mapping.batch_size and size < BATCH_BYTES:
            left = deadline - time.monotonic()
            if left <= 0 or self._stopping.is_set():
                break
            more = await queues.receive(
                mapping.queue,
                max_messages=min(10, mapping.batch_size - len(batch)),
                wait_s=min(left, POLL_WAIT_S),
            )
            batch.extend(more)
            size += sum(_size(m) for m in more)
        return batch

    async def _process(self, mapping: Mapping, spec: FunctionSpec, batch: list[Message]) -> None:
        label = (mapping.uuid, mapping.function)
        records = [
            events.record(m, event_source_arn=mapping.event_source_arn, region=self._deps.region)
            for m in batch
        ]
        _observe_lag(mapping.uuid, batch)
        kept = [r for r in records if filters.keeps(self._patterns, r)]
        if len(kept) < len(records):
            ids = {r["messageId"] for r in kept}
            dropped = [m.receipt_handle for m in batch if m.message_id not in ids]
            metrics.MAPPING_MESSAGES.labels(*label, "filtered").inc(len(dropped))
            await self._delete(mapping.queue, dropped)
        if not kept:
            return
        metrics.MAPPING_BATCHES.labels(*label).observe(len(kept))
        try:
            result = await self._deps.run(spec, events.event(kept), str(uuid.uuid4()), kind=KIND)
        except Throttled:
            # Not the function's failure: the batch goes back at once, this poller rests.
            metrics.MAPPING_MESSAGES.labels(*label, "throttled").inc(len(kept))
            await self._release(mapping.queue, [r["receiptHandle"] for r in kept])
            await self._pause(PAUSE_S)
            return
        except BackendError as exc:
            log.warning("mapping %s: platform error: %s", mapping.uuid, exc.message)
            failures = events.ALL
        else:
            failures = _failures(mapping, result, [r["messageId"] for r in kept])
        if mapping.fifo:
            order = [(r["messageId"], r["attributes"].get("MessageGroupId", "")) for r in kept]
            failures = events.held_back(order, failures)
        done = [r["receiptHandle"] for r in kept if not failures.failed(r["messageId"])]
        if done:
            await self._delete(mapping.queue, done)
        metrics.MAPPING_MESSAGES.labels(*label, "processed").inc(len(done))
        if len(done) < len(kept):
            metrics.MAPPING_MESSAGES.labels(*label, "failed").inc(len(kept) - len(done))

    async def _delete(self, queue: str, handles: list[str]) -> None:
        try:
            await self._deps.queues.delete_messages(queue, handles)
        except InvalidRequest as exc:
            # A handle whose visibility lapsed (received again elsewhere): not ours now.
            log.info("queue %s: could not delete a batch: %s", queue, exc.message)

    async def _release(self, queue: str, handles: list[str]) -> None:
        try:
            await self._deps.queues.change_visibilities(queue, [(h, 0) for h in handles])
        except InvalidRequest as exc:
            log.info("queue %s: could not hand a batch back: %s", queue, exc.message)


def _failures(mapping: Mapping, result: InvocationResult, ids: list[str]) -> Failures:
    if result.outcome is not Outcome.SUCCESS:
        return events.ALL
    if not mapping.report_failures:
        return events.NONE
    return events.item_failures(result.payload, ids)


def _size(message: Message) -> int:
    return len(message.body) + RECORD_OVERHEAD


def _observe_lag(mapping_uuid: str, batch: list[Message]) -> None:
    sent = [m.attributes.get("SentTimestamp") for m in batch]
    stamps = [int(s) for s in sent if s and s.isdigit()]
    if stamps:
        metrics.MAPPING_LAG.labels(mapping_uuid).set(max(0.0, time.time() - min(stamps) / 1000))
