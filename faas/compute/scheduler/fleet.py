"""The node's instances by function, and the starts under way: what the caps count.

Every field is read and changed under ``lock``, except by the scheduler's
lock-free paths that say so. ``Fleet`` keeps the counts the caps need
current as instances come and go, so no call walks every function to count.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from faas.compute.instance import Instance
from faas.compute.pool import GenericPool, Profile
from faas.errors import FaasError
from faas.models import FunctionSpec

log = logging.getLogger(__name__)


class Fleet:
    """Instances by function, starts in flight, and each function's newest pool key."""

    def __init__(self, pool: GenericPool | None) -> None:
        self.lock = asyncio.Lock()
        self._by_function: dict[str, list[Instance]] = defaultdict(list)
        # Their number, kept as they come and go. Counting them was a walk over every
        # function, on every call that found no idle instance: 36 us at 1,000 functions.
        self._count = 0
        # function -> starts in flight; only functions with some (zeros are dropped).
        self._starting: Counter[str] = Counter()
        # Of those, keep-warm starts: no call waits on them, they come free when ready.
        self._warming: Counter[str] = Counter()
        # function -> (updated_at, pool key) of the newest spec seen.
        self._current: dict[str, tuple[float, str]] = {}
        # Instances made from generic sandboxes, until their cold start is over: the
        # profile whose pool owes a replacement.
        self._from_pool: dict[Instance, Profile] = {}
        self._pool = pool

    # -- the newest pool key of each function ------------------------------------

    def observe(self, spec: FunctionSpec) -> tuple[str, bool]:
        """Remember the newest pool key of a function (an older spec never wins):
        the spec's key, and whether it replaced another one."""
        key = spec.pool_key
        seen = self._current.get(spec.name)
        replaced = False
        if seen is None or spec.updated_at >= seen[0]:
            replaced = seen is not None and seen[1] != key
            self._current[spec.name] = (spec.updated_at, key)
        return key, replaced

    def current_key(self, name: str) -> str | None:
        seen = self._current.get(name)
        return None if seen is None else seen[1]

    def drop(self, name: str) -> None:
        """Forget a deleted function's key: any instance of it is stale."""
        self._current.pop(name, None)

    # -- instances -----------------------------------------------------------------

    def of(self, name: str) -> list[Instance]:
        """The function's instances (the live list, not a copy)."""
        return self._by_function[name]

    def serving(self, name: str, key: str) -> int:
        return sum(1 for i in self._by_function[name] if i.pool_key == key)

    def by_function(self) -> Iterable[tuple[str, list[Instance]]]:
        return self._by_function.items()

    def instances(self, name: str | None = None) -> list[Instance]:
        if name is not None:
            return list(self._by_function.get(name, []))
        return [i for lst in self._by_function.values() for i in lst]

    def add(self, instance: Instance, from_pool: Profile | None) -> None:
        self._by_function[instance.function].append(instance)
        self._count += 1
        if from_pool is not None:
            self._from_pool[instance] = from_pool

    def forget(self, instance: Instance) -> None:
        self.cold_start_over(instance)
        instances = self._by_function.get(instance.function, [])
        if instance in instances:
            instances.remove(instance)
            self._count -= 1

    def cold_start_over(self, instance: Instance) -> None:
        """Let the pool replace the generic container the instance was made from."""
        profile = self._from_pool.pop(instance, None)
        if profile is not None and self._pool is not None:
            self._pool.settle(profile)

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

    def function_count(self, name: str) -> int:
        return len(self._by_function[name]) + self._starting[name]

    def total(self) -> int:
        """Instances (not starts), as kept by ``add`` and ``forget``."""
        return self._count


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
