"""Every enabled mapping's pollers in this process, kept in step with the store.

Each ``faas serve`` and ``faas worker`` process runs pollers for every enabled
mapping: the queue's visibility timeout keeps two processes from running one
message at once, so nothing needs electing. A change of any mapping bumps one
revision number (``store``); this loop reads it every ``interval_s`` and only
then the mappings: a new or enabled mapping starts, a changed one follows at its
next batch, a disabled or deleted one stops (within ``interval_s`` plus a
receive's wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from faas.errors import StoreUnavailable
from faas.invoke.mappings.model import Mapping
from faas.invoke.mappings.poller import MappingPoller, PollerDeps
from faas.invoke.mappings.store import MappingStore

log = logging.getLogger(__name__)

CHECK_EVERY_S = 0.5
# A disabled mapping's batch under way may run up to Lambda's longest timeout.
RETIRE_DRAIN_S = 900.0


class Pollers:
    """The mappings this process polls."""

    def __init__(
        self, store: MappingStore, deps: PollerDeps, *, interval_s: float = CHECK_EVERY_S
    ) -> None:
        self._store = store
        self._deps = deps
        self._interval_s = interval_s
        self._running: dict[str, MappingPoller] = {}
        # Disabled or deleted: finishing the batch they hold.
        self._retiring: dict[MappingPoller, asyncio.Task[None]] = {}
        self._revision: int | None = None
        self._closed = False

    @property
    def running(self) -> dict[str, MappingPoller]:
        return dict(self._running)

    def polling(self, uuid: str) -> bool:
        """Whether a poller of the mapping still runs here (a stopped one finishing too)."""
        return uuid in self._running or any(p.mapping.uuid == uuid for p in self._retiring)

    async def run(self) -> None:
        """Forever (a task of the platform): follow the mappings."""
        away = False
        while True:
            try:
                revision = await self._store.revision()
                if revision != self._revision:
                    self.follow(await self._store.all())
                    self._revision = revision
                away = False
            except StoreUnavailable as exc:
                if not away:
                    log.warning("cannot read the event source mappings: %s", exc.message)
                away = True
            except Exception:
                log.exception("following the event source mappings failed")
            await asyncio.sleep(self._interval_s)

    def follow(self, mappings: list[Mapping]) -> None:
        """Start, change or stop pollers so that exactly the enabled ``mappings`` run."""
        if self._closed:
            return
        enabled = {m.uuid: m for m in mappings if m.enabled}
        for uuid in list(self._running):
            poller = self._running[uuid]
            wanted = enabled.get(uuid)
            if wanted is None or wanted.queue != poller.mapping.queue:
                del self._running[uuid]
                self._stop_later(poller)
        for uuid, mapping in enabled.items():
            found = self._running.get(uuid)
            if found is None:
                started = self._running[uuid] = MappingPoller(mapping, self._deps)
                started.start()
            elif found.mapping != mapping:
                found.update(mapping)

    def _stop_later(self, poller: MappingPoller) -> None:
        # A batch under way finishes (its messages are settled); nothing waits for it here.
        task = asyncio.create_task(poller.stop(drain_s=RETIRE_DRAIN_S))
        self._retiring[poller] = task
        task.add_done_callback(lambda _: self._retiring.pop(poller, None))

    async def close(self, drain_s: float) -> None:
        """Stop every poller: batches held finish within ``drain_s``, then are cancelled."""
        self._closed = True
        pollers = [*self._running.values(), *self._retiring]
        self._running.clear()
        await asyncio.gather(*(p.stop(drain_s) for p in pollers), return_exceptions=True)
        for task in list(self._retiring.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
