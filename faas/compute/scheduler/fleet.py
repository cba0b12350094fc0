"""The node's instances by function, and the starts under way: what the caps count.

Instances are kept by unit: a function's ``$LATEST`` (its name) or one of its
published versions (``name:3``), each with its own newest pool key. A
function's cap (its reserved concurrency) counts every unit of it.

Every field is read and changed under ``lock``, except by the scheduler's
lock-free paths that say so. ``Fleet`` keeps the counts the caps need
current as instances come and go, so no call walks every function to count.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping

from faas.compute.instance import Instance
from faas.compute.pool import GenericPool, Profile
from faas.errors import FaasError
from faas.models import FunctionSpec

log = logging.getLogger(__name__)


class Fleet:
    """Instances by function, starts in flight, and each function's newest pool key."""

    def __init__(
        self, pool: GenericPool | None, on_change: Callable[[str, int], None] | None = None
    ) -> None:
        """``on_change(pool key, +1 or -1)`` hears of each instance that comes or goes
        (``faas.cluster.routing`` records them for warm routing)."""
        self.lock = asyncio.Lock()
        self._on_change = on_change
        self._by_function: dict[str, list[Instance]] = defaultdict(list)
        # Their number, kept as they come and go. Counting them was a walk over every
        # function, on every call that found no idle instance: 36 us at 1,000 functions.
        self._count = 0
        # function -> starts in flight; only functions with some (zeros are dropped).
        self._starting: Counter[str] = Counter()
        # Of those, keep-warm starts: no call waits on them, they come free when ready.
        self._warming: Counter[str] = Counter()
        # unit -> (updated_at, pool key) of the newest spec seen.
        self._current: dict[str, tuple[float, str]] = {}
        # function -> its units that ever had an instance (most have one: the function).
        self._units: defaultdict[str, set[str]] = defaultdict(set)
        # Instances made from generic sandboxes, until their cold start is over: the
        # profile whose pool owes a replacement.
        self._from_pool: dict[Instance, Profile] = {}
        # Instances taken out of service (``forget``) whose sandboxes are still being
        # removed: a function's deletion waits for those of upkeep or an eviction too.
        self._leaving: set[Instance] = set()
        # unit -> sandboxes being built for it, not yet instances; and the futures of
        # those waiting until none is (a deletion, shutdown): most of the time none.
        self._building: Counter[str] = Counter()
        self._built: dict[str, list[asyncio.Future[None]]] = defaultdict(list)
        self._pool = pool

    # -- the newest pool key of each function ------------------------------------

    def observe(self, spec: FunctionSpec) -> tuple[str, bool]:
        """Remember the newest pool key of a function (an older spec never wins):
        the spec's key, and whether it replaced another one."""
        key = spec.pool_key
        unit = spec.unit
        seen = self._current.get(unit)
        replaced = False
        if seen is None or spec.updated_at >= seen[0]:
            replaced = seen is not None and seen[1] != key
            self._current[unit] = (spec.updated_at, key)
        return key, replaced

    def current_key(self, unit: str) -> str | None:
        seen = self._current.get(unit)
        return None if seen is None else seen[1]

    def drop(self, name: str) -> None:
        """Forget a deleted function's keys: any instance of any of its units is stale."""
        self._current.pop(name, None)
        for unit in self._units.get(name, ()):
            self._current.pop(unit, None)

    # -- instances -----------------------------------------------------------------

    def of(self, unit: str) -> list[Instance]:
        """The unit's instances (the live list, not a copy)."""
        return self._by_function[unit]

    def has(self, unit: str, key: str) -> bool:
        """Whether the unit has an instance of ``key`` here, in any state, or one starting."""
        return self._starting[unit] > 0 or any(i.pool_key == key for i in self._by_function[unit])

    def serving(self, unit: str, key: str) -> int:
        return sum(1 for i in self._by_function[unit] if i.pool_key == key)

    def by_unit(self) -> Iterable[tuple[str, list[Instance]]]:
        return self._by_function.items()

    def instances(self, name: str | None = None) -> list[Instance]:
        """The instances of function ``name`` (every unit of it), or of all."""
        if name is None:
            return [i for lst in self._by_function.values() for i in lst]
        return [i for unit in self._units_of(name) for i in self._by_function.get(unit, [])]

    def _units_of(self, name: str) -> Iterable[str]:
        return self._units.get(name) or (name,)

    def add(self, instance: Instance, from_pool: Profile | None) -> None:
        unit = instance.function
        self._by_function[unit].append(instance)
        self._units[function_of(unit)].add(unit)
        self._count += 1
        if from_pool is not None:
            self._from_pool[instance] = from_pool
        if self._on_change is not None:
            self._on_change(instance.pool_key, 1)

    def forget(self, instance: Instance) -> None:
        """Take an instance out of service; it counts as leaving until ``gone``."""
        self.cold_start_over(instance)
        instances = self._by_function.get(instance.function, [])
        if instance in instances:
            instances.remove(instance)
            self._leaving.add(instance)
            self._count -= 1
            if self._on_change is not None:
                self._on_change(instance.pool_key, -1)

    def gone(self, instance: Instance) -> None:
        """An instance's sandbox is removed (or its removal failed): it is forgotten."""
        self.forget(instance)
        self._leaving.discard(instance)

    def leaving(self, name: str | None = None) -> list[Instance]:
        """Instances (of function ``name``, or of all) out of service, still being removed."""
        return [i for i in self._leaving if name is None or function_of(i.function) == name]

    def cold_start_over(self, instance: Instance) -> None:
        """Let the pool replace the generic container the instance was made from."""
        profile = self._from_pool.pop(instance, None)
        if profile is not None and self._pool is not None:
            self._pool.settle(profile)

    # -- sandboxes being built ---------------------------------------------------------

    def begin_build(self, unit: str) -> None:
        self._building[unit] += 1

    def build_over(self, unit: str) -> None:
        """A sandbox of ``unit`` is an instance now (``add``), or will never be."""
        _decrement(self._building, unit)
        if unit not in self._building:
            for waiter in self._built.pop(unit, ()):
                if not waiter.done():
                    waiter.set_result(None)

    async def builds_over(self, name: str | None = None) -> None:
        """Return once no sandbox of function ``name`` (or of any) is being built: each
        one under way is an instance by then, or failed."""
        while units := [u for u in self._building if name is None or function_of(u) == name]:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            for unit in units:
                self._built[unit].append(waiter)
            await asyncio.wait({waiter})

    # -- starts in flight and the caps ---------------------------------------------

    def starting(self, name: str) -> int:
        return self._starting[name]

    def warming(self, name: str) -> int:
        return self._warming[name]

    def starts(self) -> Mapping[str, int]:
        """Starts in flight by function (a copy)."""
        return dict(self._starting)

    def begin_start(self, name: str, *, warming: bool = False) -> None:
        self._starting[name] += 1
        if warming:
            self._warming[name] += 1

    def start_over(self, name: str, *, warming: bool = False) -> None:
        """One start of ``name`` no longer in flight."""
        _decrement(self._starting, name)
        if warming:
            _decrement(self._warming, name)

    def can_start(self, name: str, cap: int | None, max_instances: int) -> bool:
        if cap is not None and self.function_count(name) >= cap:
            return False
        return self._count + sum(self._starting.values()) < max_instances

    def function_count(self, unit: str) -> int:
        """Instances and starts of the unit's function, every unit of it counted."""
        units = self._units.get(function_of(unit))
        if not units or units == {unit}:
            return len(self._by_function[unit]) + self._starting[unit]
        return sum(len(self._by_function[u]) + self._starting[u] for u in units | {unit})

    def total(self) -> int:
        """Instances (not starts), as kept by ``add`` and ``forget``."""
        return self._count


def function_of(unit: str) -> str:
    """The function a unit is of: ``orders`` of ``orders:3`` (a name holds no colon)."""
    return unit.partition(":")[0]


def _decrement(counts: Counter[str], name: str) -> None:
    counts[name] -= 1
    if counts[name] <= 0:
        del counts[name]


async def discard(instance: Instance, reason: str) -> None:
    """Remove an instance's sandbox; a failure is logged, not raised."""
    try:
        await instance.destroy(reason)
    except FaasError as exc:
        log.warning("could not remove container %s: %s", instance.sandbox.name, exc)
