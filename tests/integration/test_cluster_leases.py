"""Caps across nodes, against a real Redis: each `Leases` below is one node's.

A function's reserved concurrency and the account's limit count running handlers
on every node; a place freed on one node wakes a call waiting on another; a node
that dies without giving its leases back loses them after the TTL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from faas import keys
from faas.cluster.leases import Leases
from faas.errors import Throttled
from faas.models import FunctionConfig, FunctionSpec

pytestmark = pytest.mark.process


def spec(name: str, concurrency: int | None) -> FunctionSpec:
    config = FunctionConfig(
        name=name, runtime="python3.11", handler="main.handler", concurrency=concurrency
    )
    return FunctionSpec(config, "a" * 64, 10, 1.0, 1.0)


def node(
    client: aioredis.Redis, name: str, *, ttl_s: float = 1.0, account: int = 0, wait_s: float = 2.0
) -> Leases:
    """One node's leases."""
    return Leases(
        client,
        member_prefix=f"{name}/serve",
        ttl_s=ttl_s,
        account_limit=account,
        wait_s=wait_s,
        max_waiting=10,
    )


@pytest.fixture
async def nodes(redis_client: aioredis.Redis) -> AsyncIterator[list[Leases]]:
    made = [node(redis_client, f"node-{n}") for n in (1, 2, 3)]
    yield made
    for leases in made:
        await leases.close()


async def test_a_reserved_concurrency_holds_across_nodes(
    nodes: list[Leases], redis_client: aioredis.Redis
) -> None:
    # Given a function with a reserved concurrency of 3, and three nodes
    capped = spec("capped", 3)
    # When each node takes a place, the cap is full for all of them
    held = [await leases.take(capped) for leases in nodes]
    # Then a fourth call on any node waits, and is throttled after the bounded wait
    short = node(redis_client, "node-4", wait_s=0.3)
    began = time.monotonic()
    with pytest.raises(Throttled) as refused:
        await short.take(capped)
    assert 0.3 <= time.monotonic() - began < 1.0
    assert refused.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    await short.close()
    # And an uncapped function on the same server takes no lease at all
    assert not nodes[0].needed(spec("free", None))
    for leases, lease in zip(nodes, held, strict=True):
        await leases.give(lease)


async def test_a_place_freed_on_one_node_wakes_a_call_waiting_on_another(
    nodes: list[Leases],
) -> None:
    capped = spec("one", 1)
    lease = await nodes[0].take(capped)
    waiting = asyncio.create_task(nodes[1].take(capped))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    freed_at = time.monotonic()
    await nodes[0].give(lease)
    second = await asyncio.wait_for(waiting, 1.0)
    # Woken by the release (pub/sub), well before the periodic look again
    assert time.monotonic() - freed_at < 0.3
    await nodes[1].give(second)


async def test_a_dead_nodes_places_come_back_after_the_ttl_and_a_live_ones_stay(
    nodes: list[Leases], redis_client: aioredis.Redis
) -> None:
    capped = spec("lapsing", 2)
    alive, dead = nodes[0], nodes[1]
    kept = await alive.take(capped)
    await dead.take(capped)  # its node dies now: never renewed, never given back
    renewing = asyncio.create_task(alive.run())
    try:
        # The third call waits for the dead node's lease to lapse (1 s TTL), not forever
        began = time.monotonic()
        third = await nodes[2].take(capped)
        assert 0.5 < time.monotonic() - began < 2.0
        # while the live node's lease, renewed, is still counted
        assert await redis_client.zscore(keys.running("lapsing"), kept.member) is not None
        assert await redis_client.zcard(keys.running("lapsing")) == 2
    finally:
        renewing.cancel()
    await alive.give(kept)
    await nodes[2].give(third)
    assert await redis_client.zcard(keys.running("lapsing")) == 0


async def test_the_accounts_limit_counts_every_function(redis_client: aioredis.Redis) -> None:
    made = [node(redis_client, f"acct-{n}", ttl_s=5.0, account=2, wait_s=0.2) for n in (1, 2)]
    a = await made[0].take(spec("a", None))
    b = await made[1].take(spec("b", 5))
    with pytest.raises(Throttled) as refused:
        await made[0].take(spec("c", None))
    assert refused.value.reason == "ConcurrentInvocationLimitExceeded"
    await made[1].give(b)
    c = await made[0].take(spec("c", None))
    for lease, leases in ((a, made[0]), (c, made[0])):
        await leases.give(lease)
    assert await redis_client.zcard(keys.RUNNING) == 0
    for leases in made:
        await leases.close()
