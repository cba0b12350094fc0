"""Pure scheduling decisions: which warm instance serves, which ones go, when a
call starts an instance rather than wait for one, which profiles of generic
containers are kept ready.

No I/O here; the scheduler carries these decisions out. Instances are seen
through the small ``Candidate`` protocol so tables of plain objects test them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from typing import Protocol, TypeVar

CPU_PER_MB = 1 / 1769  # Lambda: one full vCPU at 1,769 MB.
# Above this share of its recent invocations held back by the CPU quota, a function's
# calls start another instance rather than wait for a busy one (``should_start``).
THROTTLED_SHARE = 0.1
# Weight of the newest invocation in that share: about the last 16 count.
THROTTLED_WEIGHT = 1 / 16


class Candidate(Protocol):
    @property
    def pool_key(self) -> str: ...

    @property
    def idle(self) -> bool: ...

    @property
    def last_used(self) -> float: ...


C = TypeVar("C", bound=Candidate)
P = TypeVar("P", bound=Hashable)


def pick_warm(instances: Iterable[C], key: str) -> C | None:
    """The most recently used idle instance of ``key``.

    Most-recent-first keeps a hot set small and lets the rest age out, the way
    Lambda reuses the freshest execution environment.
    """
    best: C | None = None
    for inst in instances:
        if inst.idle and inst.pool_key == key and (best is None or inst.last_used > best.last_used):
            best = inst
    return best


def expired(
    instances: Sequence[C], current_key: str | None, now: float, keep_alive_s: float, keep_warm: int
) -> list[C]:
    """Idle instances to remove: any of a stale key, and the current key's
    instances idle past the keep-alive, sparing the ``keep_warm`` freshest."""
    stale = [i for i in instances if i.idle and i.pool_key != current_key]
    current = sorted(
        (i for i in instances if i.pool_key == current_key),
        key=lambda i: i.last_used,
        reverse=True,
    )
    # Busy instances count toward keep_warm too: they will be idle again soon.
    old = [i for i in current[keep_warm:] if i.idle and now - i.last_used > keep_alive_s]
    return stale + old


def lru_idle(instances: Iterable[C]) -> C | None:
    """The idle instance unused the longest: the one to evict for capacity."""
    victims = [i for i in instances if i.idle]
    return min(victims, key=lambda i: i.last_used) if victims else None


def cpus_for(memory_mb: int, floor: float, host_cpus: int) -> float:
    """CPU share in proportion to memory, as on Lambda, within what the host has."""
    return round(min(max(memory_mb * CPU_PER_MB, floor), float(host_cpus)), 3)


def throttled_share(previous: float, throttled: bool) -> float:
    """The running share of a function's invocations that ran into the CPU quota
    (an exponentially weighted mean), after one more that did or did not."""
    return previous + ((1.0 if throttled else 0.0) - previous) * THROTTLED_WEIGHT


def should_start(
    starting: int,
    spare: int,
    waiting: int,
    limit: int,
    serving: int = 0,
    waited_s: float = 0.0,
    patience_s: float = 0.0,
    throttled: bool = False,
) -> bool:
    """Whether a call that found no idle instance starts one, or waits for one.

    ``starting``: the function's starts in flight; ``spare``: those of them no
    call has claimed (keep-warm starts), which come free when ready; ``waiting``:
    calls already waiting; ``limit``: the most starts in flight per function;
    ``serving``: its instances (all busy), ``waited_s``: how long this call has
    waited, ``patience_s``: how long a call waits for a busy one before starting,
    ``throttled``: whether its recent invocations often ran into the CPU quota
    (``THROTTLED_SHARE``).

    A burst of first calls must not start a container each: tens of starts at
    once on a small host take seconds each, while a started instance serves the
    waiting calls one after another in milliseconds. For the same reason a call
    that can be served by a busy instance soon waits a little first.

    Not when its instances run into their CPU quota: each has a share of a CPU
    (in proportion to memory), so a function held to a few instances is held to
    their shares however short its calls, and waiting only queues behind the
    throttled ones (32 clients of a no-op function on the three instances that
    patience let start: 1,300 invokes/s at 23 ms p50, every instance throttled
    in most 10 ms periods). Then one more instance adds CPU; one at a time, so
    that it stops soon after the throttling does. An instance throttled now and
    then is no reason: an instance costs memory, and the CPU of every other one
    on the host (at 32 clients, 18 instances took 400 µs of CPU per invoke where
    10 took 250).
    """
    if spare > waiting:
        return False  # a start under way will come free for this call
    if serving and waited_s < patience_s and not (throttled and starting == 0):
        return False  # one of the busy ones will likely come free first
    return starting < limit


def pool_profiles(default: P, wanted: Iterable[P], cap: int) -> list[P]:
    """The profiles to keep generic containers of: ``default`` always, then the most
    common of ``wanted`` (one entry per function), at most ``cap`` in all.

    Ties keep the order first seen, so the choice is stable from one tick to the next.
    """
    counts = Counter(wanted)
    counts.pop(default, None)
    ranked = sorted(counts, key=lambda p: -counts[p])  # sorted() is stable
    return [default, *ranked][: max(cap, 1)]
