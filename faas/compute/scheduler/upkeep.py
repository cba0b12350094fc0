"""Background upkeep of the warm pool: every ``reap_interval_s``, remove idle
instances past the keep-alive (and any of a deleted function or a stale key),
keep the generic pool's profiles, and start ``keep_warm`` instances ahead of
traffic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from faas.compute import placement
from faas.compute.instance import Instance
from faas.compute.scheduler.building import Builder
from faas.compute.scheduler.fleet import Fleet, discard, function_of
from faas.errors import FaasError
from faas.models import FunctionSpec
from faas.settings import Settings

log = logging.getLogger(__name__)

SpecLister = Callable[[], Awaitable[list[FunctionSpec]]]


class Warmer(Protocol):
    """What upkeep asks of the scheduler."""

    def update(self, spec: FunctionSpec) -> None: ...

    async def prewarm(self, spec: FunctionSpec, key: str) -> None: ...


class Upkeep:
    def __init__(self, settings: Settings, fleet: Fleet, builder: Builder, warmer: Warmer) -> None:
        self._settings = settings
        self._fleet = fleet
        self._builder = builder
        self._warmer = warmer

    async def run(self, list_specs: SpecLister) -> None:
        """Forever: reap idle instances and keep ``keep_warm`` ones ready."""
        while True:
            try:
                await self.once(await list_specs())
            except FaasError as exc:
                # Redis or the engine away: said in a line, as every other part says it.
                log.warning("upkeep skipped a round: %s", exc.message)
            except Exception:
                # Upkeep must outlive any one failure, or reaping stops for good.
                log.exception("upkeep failed")
            await asyncio.sleep(self._settings.reap_interval_s)

    async def once(self, specs: list[FunctionSpec]) -> None:
        for spec in specs:
            self._warmer.update(spec)
        try:
            await self._builder.keep_pool(specs)
        except FaasError as exc:
            # No runtime image yet, say: reaping below must still happen.
            log.warning("could not keep the generic pool: %s", exc)
        await self._reap({s.name: s for s in specs})
        await asyncio.gather(
            *(self._keep_warm(spec) for spec in specs if spec.config.keep_warm > 0),
            return_exceptions=True,
        )

    async def _reap(self, by_name: dict[str, FunctionSpec]) -> None:
        now = time.monotonic()
        doomed: list[Instance] = []
        fleet = self._fleet
        async with fleet.lock:
            for unit, instances in fleet.by_unit():
                known = by_name.get(function_of(unit))
                if known is None:
                    # Deleted elsewhere: nothing of it may stay.
                    doomed.extend(i for i in instances if i.idle)
                    continue
                doomed.extend(
                    placement.expired(
                        instances,
                        fleet.current_key(unit),
                        now,
                        self._settings.keep_alive_s,
                        # keep_warm is the function's ($LATEST's): its versions keep none.
                        known.config.keep_warm if unit == known.name else 0,
                    )
                )
            for instance in doomed:
                fleet.forget(instance)
        await asyncio.gather(*(discard(i, "idle past keep-alive") for i in doomed))

    async def _keep_warm(self, spec: FunctionSpec) -> None:
        key = spec.pool_key
        fleet = self._fleet
        if fleet.current_key(spec.name) != key:
            return  # an older spec than the newest seen: warming it would be wasted
        cap = spec.config.concurrency
        want = min(spec.config.keep_warm, cap if cap is not None else spec.config.keep_warm)
        async with fleet.lock:
            missing = max(0, want - fleet.serving(spec.name, key) - fleet.starting(spec.name))
            grant = 0
            while grant < missing and fleet.can_start(spec.name, cap, self._settings.max_instances):
                fleet.begin_start(spec.name, warming=True)
                grant += 1
        await asyncio.gather(*(self._warmer.prewarm(spec, key) for _ in range(grant)))
