"""The generic pool's bookkeeping, against a backend that only counts its starts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from faas.compute.backend import SandboxSpec
from faas.compute.pool import GROWTH, GROWTH_WINDOW_S, GenericPool, Profile

PROFILE = Profile("image", 128, 0.25, True)


@dataclass(frozen=True)
class Box:
    name: str
    spec: SandboxSpec


class CountingBackend:
    """Starts a sandbox whenever ``gate`` is open; counts what it started and removed."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.created = 0
        self.destroyed = 0

    async def create(self, spec: SandboxSpec) -> Box:
        await self.gate.wait()
        self.created += 1
        return Box(f"box-{self.created}", spec)

    async def destroy(self, sandbox: Any) -> None:
        self.destroyed += 1


async def filled(size: int) -> tuple[GenericPool, CountingBackend]:
    backend = CountingBackend()
    pool = GenericPool(backend, size)  # type: ignore[arg-type]
    pool.keep([PROFILE])
    await pool.settled()
    assert len(pool.ready(PROFILE)) == size
    return pool, backend


async def test_a_call_finding_the_pool_empty_starts_no_refill_until_its_start_is_over() -> None:
    # Given a pool of two, both taken
    pool, backend = await filled(2)
    taken = [await pool.take(PROFILE), await pool.take(PROFILE)]
    assert all(taken)
    # When a third call finds it empty (and starts a container of its own)
    assert await pool.take(PROFILE) is None
    await pool.settled()
    # Then nothing is started beside those cold starts
    assert backend.created == 2
    # and once all three are over, the pool is filled again, with two
    for _ in range(3):
        pool.settle(PROFILE)
    await pool.settled()
    assert len(pool.ready(PROFILE)) == 2
    assert backend.created == 4
    await pool.close()


async def test_a_burst_of_calls_on_an_empty_pool_adds_no_start_of_its_own() -> None:
    # Given a pool of two
    pool, backend = await filled(2)
    # When 50 calls take from it at once
    got = await asyncio.gather(*(pool.take(PROFILE) for _ in range(50)))
    await pool.settled()
    # Then two get its containers, the others none, and the pool starts nothing meanwhile
    assert sum(1 for g in got if g is not None) == 2
    assert backend.created == 2
    # and it refills as the last of those starts end, to as many as found it empty
    # (its growth, within a bound), not before
    for _ in range(50 - pool.target(PROFILE)):
        pool.settle(PROFILE)
    await pool.settled()
    assert pool.ready(PROFILE) == []
    for _ in range(pool.target(PROFILE)):
        pool.settle(PROFILE)
    await pool.settled()
    assert len(pool.ready(PROFILE)) == pool.target(PROFILE) == 2 * GROWTH
    await pool.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_pool_grows_after_a_burst_and_shrinks_back_once_it_is_past() -> None:
    # Given a pool of two, on a clock of our own
    clock = Clock()
    backend = CountingBackend()
    pool = GenericPool(backend, 2, clock=clock)  # type: ignore[arg-type]
    pool.keep([PROFILE])
    await pool.settled()
    # When 12 calls come at once (two take its containers, ten find it empty) and end
    got = await asyncio.gather(*(pool.take(PROFILE) for _ in range(12)))
    for _ in got:
        pool.settle(PROFILE)
    await pool.settled()
    # Then it keeps ten ready, for the next burst
    assert pool.target(PROFILE) == 10
    assert len(pool.ready(PROFILE)) == 10
    # and a minute later, the burst past, it keeps its size again
    clock.now += GROWTH_WINDOW_S + 1
    pool.keep([PROFILE])
    await pool.settled()
    assert len(pool.ready(PROFILE)) == 2
    assert backend.destroyed == 8
    await pool.close()


async def test_growth_is_bounded_by_a_multiple_of_the_size() -> None:
    clock = Clock()
    pool = GenericPool(CountingBackend(), 1, clock=clock)  # type: ignore[arg-type]
    pool.keep([PROFILE])
    await pool.settled()
    got = await asyncio.gather(*(pool.take(PROFILE) for _ in range(50)))
    assert pool.target(PROFILE) == GROWTH
    for _ in got:
        pool.settle(PROFILE)
    await pool.settled()
    assert len(pool.ready(PROFILE)) == GROWTH
    await pool.close()
