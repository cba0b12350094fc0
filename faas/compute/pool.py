"""Generic sandboxes started ahead of need, per profile, for fast cold starts.

A cold start from nothing starts a sandbox and waits until its agent answers
(a container: about 280 ms on two cores). A generic sandbox is that much done
in advance for no function in particular: the pool keeps ``size`` of them ready per profile
(image, memory, cpus, network: all a container cannot change once started),
and the scheduler takes one and specializes it (``Backend.specialize``) when a
function's first call finds no warm instance, as OpenWhisk's stem cells and
Fission's pool manager do. When none is ready but one is being started and no
other call has claimed it, the call waits for it: it is ready sooner than a
container started now.

A taken container is replaced in the background once the cold start that took
it is over (``settle``): a replacement started at once would compete with that
cold start for the CPU and for the backend (Docker renames the taken
container). Measured on 2 cores, deferring it halved the first-invoke p50. A
call that finds the pool empty starts a container of its own, and the pool
refills once that start is over too: in a burst of first calls to new
functions every call is already a start, and a refill beside them is one more
in the engine's queue (the pool fills again as the burst's last starts end).

A profile's pool grows with demand: after calls found it empty, it keeps as
many ready as did so within the last minute (``GROWTH_WINDOW_S``), up to
``GROWTH`` times its size, and shrinks back once they age (``keep``, at every
upkeep tick). The next burst of new functions then finds that many started.

A container leaves the pool once, to serve one function until it is removed:
it never returns, so nothing of one function reaches another. Pool containers
are not instances and are not counted in ``max_instances``: they are bounded
by ``size`` times ``GROWTH`` times the number of profiles
(``Settings.prewarm_pool`` and ``prewarm_profiles``). The scheduler takes one
only when the caps let it start an instance.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from faas import metrics
from faas.background import Background
from faas.compute.backend import GENERIC_POOL, Backend, Sandbox, SandboxSpec
from faas.errors import FaasError

log = logging.getLogger(__name__)

# A profile's pool grows with demand: to as many as calls found it empty within the
# last GROWTH_WINDOW_S, at most GROWTH times its size; back to its size once they age.
GROWTH_WINDOW_S = 60.0
GROWTH = 8


@dataclass(frozen=True)
class Profile:
    """What a container is started with that it cannot change later."""

    image: str
    memory_mb: int
    cpus: float
    network: bool


class GenericPool:
    """Ready generic sandboxes by profile, refilled in the background."""

    def __init__(
        self,
        backend: Backend,
        size: int,
        parallel_starts: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backend = backend
        self._size = size
        self._clock = clock
        # When calls found a profile's pool empty, within the last GROWTH_WINDOW_S.
        self._misses: dict[Profile, deque[float]] = defaultdict(deque)
        self._ready: dict[Profile, list[Sandbox]] = defaultdict(list)
        self._starting: Counter[Profile] = Counter()
        # Of those, the ones past the semaphore: the backend is creating them now.
        self._running: Counter[Profile] = Counter()
        # Calls waiting for a running start, first come first served.
        self._waiters: dict[Profile, list[asyncio.Future[Sandbox | None]]] = defaultdict(list)
        # Taken containers whose replacement waits for the taker's ``settle``.
        self._owed: Counter[Profile] = Counter()
        self._wanted: list[Profile] = []
        # Refills compete with cold starts for a small host's CPU: a few at a time.
        self._starts = asyncio.Semaphore(parallel_starts)
        self._background = Background()
        self._closed = False

    async def take(self, profile: Profile) -> Sandbox | None:
        """A generic sandbox of ``profile``, now the caller's, or None.

        A ready one at once; else, if a start is running that no other call has
        claimed, that one when it is up (None if it fails); else None. Every caller
        calls ``settle`` once its cold start is over (or failed), whatever it was
        given: the pool replaces what it took, or refills what it found empty.
        """
        ready = self._ready.get(profile)
        if ready:
            sandbox: Sandbox | None = ready.pop(0)
            self._owed[profile] += 1
            result = "hit"
        elif self._running[profile] > len(self._live_waiters(profile)):
            sandbox = await self._wait_for_start(profile)
            result = "waited" if sandbox is not None else "miss"
        else:
            sandbox = None
            result = "miss"
        metrics.PREWARM_TAKES.labels(result).inc()
        if sandbox is None and result == "miss":
            # The call starts a container of its own now: a refill alongside would
            # compete with it (and, in a burst of new functions, with every other
            # start). The pool refills once the call's start is over (``settle``).
            self._owed[profile] += 1
            self._misses[profile].append(self._clock())
        self._show(profile)
        return sandbox

    def settle(self, profile: Profile) -> None:
        """The cold start that took a sandbox of ``profile``, or found none, is over
        (or failed): replace what it took, refill what it found empty."""
        if self._owed[profile] > 0:
            self._owed[profile] -= 1
        self._refill(profile)

    async def _wait_for_start(self, profile: Profile) -> Sandbox | None:
        waiter: asyncio.Future[Sandbox | None] = asyncio.get_running_loop().create_future()
        self._waiters[profile].append(waiter)
        # The claimed start no longer counts for the pool; its replacement is owed.
        self._owed[profile] += 1
        try:
            sandbox = await waiter
        except asyncio.CancelledError:
            if waiter in self._waiters[profile]:
                self._waiters[profile].remove(waiter)
            elif waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                given = waiter.result()
                assert given is not None
                self._ready[profile].insert(0, given)  # handed over as we left: keep it
            self.settle(profile)
            raise
        if sandbox is None:
            self._owed[profile] -= 1  # the start failed: nothing was taken (take owes it)
        return sandbox

    def keep(self, profiles: list[Profile]) -> None:
        """Keep ``size`` ready of each of ``profiles``; remove those of any other."""
        self._wanted = list(profiles)
        for profile in [p for p in self._ready if p not in profiles]:
            for sandbox in self._ready.pop(profile):
                self._spawn(self._destroy(sandbox, "its profile is no longer kept"))
            self._show(profile)
        for profile in profiles:
            ready = self._ready[profile]
            while len(ready) > self.target(profile):
                # Grown for a burst long past: back towards its size, newest first.
                self._spawn(self._destroy(ready.pop(), "the pool shrinks after a burst"))
                self._show(profile)
            self._refill(profile)

    def target(self, profile: Profile) -> int:
        """How many of ``profile`` the pool keeps ready now: its size, or as many as
        calls recently found it empty (within ``GROWTH`` times its size)."""
        misses = self._misses.get(profile)
        if not misses:
            return self._size
        horizon = self._clock() - GROWTH_WINDOW_S
        while misses and misses[0] < horizon:
            misses.popleft()
        return max(self._size, min(len(misses), self._size * GROWTH))

    def ready(self, profile: Profile | None = None) -> list[Sandbox]:
        """The ready sandboxes (of one profile)."""
        if profile is not None:
            return list(self._ready.get(profile, []))
        return [s for lst in self._ready.values() for s in lst]

    @property
    def profiles(self) -> list[Profile]:
        return list(self._wanted)

    async def settled(self) -> None:
        """Wait until the starts and removals under way are over (tests, shutdown)."""
        while tasks := self._background.pending():
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """Remove every ready sandbox and stop refilling; called at shutdown."""
        self._closed = True
        # A start under way removes what it made once it sees the pool closed.
        await self.settled()
        doomed = self.ready()
        for profile in list(self._ready):
            self._ready.pop(profile)
            self._show(profile)
        await asyncio.gather(*(self._destroy(s, "server shutting down") for s in doomed))

    def _refill(self, profile: Profile) -> None:
        if self._closed or profile not in self._wanted:
            return
        # Starts claimed by waiting calls do not count: they will not be in the pool.
        unclaimed = self._starting[profile] - len(self._live_waiters(profile))
        missing = self.target(profile) - len(self._ready[profile]) - unclaimed - self._owed[profile]
        for _ in range(missing):
            self._starting[profile] += 1
            self._spawn(self._start(profile))

    async def _start(self, profile: Profile) -> None:
        sandbox: Sandbox | None = None
        try:
            async with self._starts:
                if self._closed:
                    return
                self._running[profile] += 1
                try:
                    sandbox = await self._backend.create(_generic_spec(profile))
                finally:
                    self._running[profile] -= 1
        except FaasError as exc:
            # The next take or upkeep tick tries again.
            log.warning("could not start a generic container: %s", exc)
        finally:
            self._starting[profile] -= 1
            if sandbox is not None and self._hand_over(profile, sandbox, first=True):
                sandbox = None
            # Waiters beyond the starts still running would wait for nothing.
            while len(self._live_waiters(profile)) > self._running[profile]:
                self._hand_over(profile, None, first=False)
        if sandbox is None:
            return
        if self._closed or profile not in self._wanted:
            await self._destroy(sandbox, "its profile is no longer kept")
            return
        self._ready[profile].append(sandbox)
        self._show(profile)

    def _live_waiters(self, profile: Profile) -> list[asyncio.Future[Sandbox | None]]:
        # A cancelled call's future stays listed until its task runs again.
        waiters = self._waiters[profile]
        waiters[:] = [w for w in waiters if not w.done()]
        return waiters

    def _hand_over(self, profile: Profile, sandbox: Sandbox | None, *, first: bool) -> bool:
        """Give ``sandbox`` (None: nothing) to the first (or last) waiting call, if any."""
        waiters = self._live_waiters(profile)
        if not waiters:
            return False
        waiters.pop(0 if first else -1).set_result(sandbox)
        return True

    async def _destroy(self, sandbox: Sandbox, reason: str) -> None:
        log.info("removing generic container %s: %s", sandbox.name, reason)
        try:
            await self._backend.destroy(sandbox)
        except FaasError as exc:
            log.warning("could not remove container %s: %s", sandbox.name, exc)

    def _show(self, profile: Profile) -> None:
        metrics.set_prewarm_ready(
            profile.memory_mb, profile.network, len(self._ready.get(profile, []))
        )

    def _spawn(self, coro: Awaitable[None]) -> None:
        self._background.spawn(coro)


def _generic_spec(profile: Profile) -> SandboxSpec:
    return SandboxSpec(
        function="",
        pool_key=GENERIC_POOL,
        token=secrets.token_hex(6),
        image=profile.image,
        code_dir=Path(),
        env={},
        memory_mb=profile.memory_mb,
        cpus=profile.cpus,
        network=profile.network,
        generic=True,
    )
