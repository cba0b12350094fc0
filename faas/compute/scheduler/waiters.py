"""Calls waiting for an instance of their function, longest waiting first.

A freed instance goes to the longest waiting call directly, and wakes no one
else: with a condition's ``notify_all`` every release woke every waiter, and
under wrk -c32 the gateway spent its time waking 30 tasks per invocation (and
a task per wait on top). Any other change (an instance idle for anyone, a
start over, an instance gone) wakes every waiter to look again.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict, deque
from collections.abc import Mapping
from typing import Any

from faas.compute.instance import Instance, InstanceState


class Waiters:
    """The waiting calls of each function, and their number."""

    def __init__(self) -> None:
        # function -> calls waiting for one of its instances, longest waiting first:
        # each is handed an instance, or None to look again (``wake_all``). Only
        # functions with waiting calls: every release walks it, and with an empty queue
        # left for each function that ever had one, that took 44 us at 1,000 functions.
        self._queues: defaultdict[str, deque[asyncio.Future[Instance | None]]] = defaultdict(deque)
        self._count: Counter[str] = Counter()

    def waiting(self, name: str) -> int:
        """Calls of ``name`` waiting now (each counted until it has the lock back)."""
        return self._count[name]

    def queued(self) -> Mapping[str, int]:
        """Futures queued by function, for the tests' look at what is left."""
        return {name: len(queue) for name, queue in self._queues.items()}

    def counts(self) -> Mapping[str, int]:
        return +self._count

    async def wait(
        self,
        lock: asyncio.Lock,
        name: str,
        timeout_s: float | None,
        also: asyncio.Future[Any] | None = None,
    ) -> tuple[Instance | None, bool]:
        """Wait, holding ``lock`` (released meanwhile), for one of: an instance of
        ``name`` handed over (returned), a wake-up to look again, ``also`` done, or
        the timeout (``(None, True)``)."""
        handed: asyncio.Future[Instance | None] = asyncio.get_running_loop().create_future()
        self._queues[name].append(handed)
        self._count[name] += 1
        watched: set[asyncio.Future[Any]] = {handed} if also is None else {handed, also}
        lock.release()
        try:
            done, _ = await asyncio.wait(
                watched, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        except BaseException:
            got = await self._stop_waiting(lock, name, handed)
            if got is not None:
                # Handed to a call that is leaving with an error: give it back.
                got.state = InstanceState.IDLE
                self.wake_all()
            raise
        got = await self._stop_waiting(lock, name, handed)
        return got, got is None and not done

    async def _stop_waiting(
        self, lock: asyncio.Lock, name: str, handed: asyncio.Future[Instance | None]
    ) -> Instance | None:
        """Take the lock back and leave the queue; the instance handed over, if any."""
        await _reacquire(lock)
        self._count[name] -= 1
        if not handed.done():
            handed.cancel()
            queue = self._queues[name]
            queue.remove(handed)
            if not queue:
                del self._queues[name]
            return None
        return handed.result()

    def hand_over(self, instance: Instance) -> bool:
        """Give ``instance`` to the longest waiting call of its function, if any."""
        queue = self._queues.get(instance.function)
        if queue is None:
            return False
        handed = False
        while queue and not handed:
            waiter = queue.popleft()
            if not waiter.done():
                waiter.set_result(instance)  # stays busy: it is the waiter's now
                handed = True
        if not queue:
            del self._queues[instance.function]
        return handed

    def wake_all(self) -> None:
        """Every waiting call looks again (capacity or instances changed). Needs no
        lock: it only fills futures; each waiter takes the lock back to look."""
        for queue in self._queues.values():
            for waiter in queue:
                if not waiter.done():
                    waiter.set_result(None)
        self._queues.clear()


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
