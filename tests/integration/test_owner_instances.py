"""Each process's heartbeat says how many instances it has in each state, for the
console's Cluster page; a process that leaves, or that the heartbeats forgot, says
nothing any more."""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis

from faas import keys
from faas.cluster.census import Census
from faas.compute.backend import Backend
from faas.compute.owners import Owners


def process(client: aioredis.Redis, owner: str, counts: dict[str, int]) -> Owners:
    # Beating, leaving and forgetting never touch the backend (only reaping does).
    return Owners(
        client,
        cast(Backend, None),
        node_id="n1",
        owner_id=owner,
        heartbeat_ttl_s=30,
        interval_s=5,
        instances=lambda: counts,
    )


async def test_every_process_of_a_node_shows_its_instances_by_state(
    redis_client: aioredis.Redis,
) -> None:
    # Given two processes of one node, each with instances in some states
    serve = process(redis_client, "serve", {"starting": 0, "idle": 2, "busy": 1})
    worker = process(redis_client, "worker-1", {"starting": 1, "idle": 0, "busy": 3})
    await serve.beat()
    await worker.beat()
    # Then the census shows each, and the node's total
    (node,) = await Census(redis_client).nodes()
    assert {p.owner: p.states for p in node.processes} == {
        "serve": {"starting": 0, "idle": 2, "busy": 1},
        "worker-1": {"starting": 1, "idle": 0, "busy": 3},
    }
    assert node.states == {"starting": 1, "idle": 2, "busy": 4}

    # When one leaves, its counts go with it
    await worker.leave()
    (node,) = await Census(redis_client).nodes()
    assert [p.owner for p in node.processes] == ["serve"]
    assert await redis_client.hkeys(keys.OWNER_INSTANCES) == [b"n1/serve"]  # type: ignore[misc]


async def test_the_counts_of_a_process_the_heartbeats_forgot_are_dropped(
    redis_client: aioredis.Redis,
) -> None:
    # Given a process that died without leaving, and that the heartbeats forgot
    dead, alive = process(redis_client, "dead", {"idle": 5}), process(redis_client, "alive", {})
    await dead.beat()
    await alive.beat()
    await redis_client.zrem(keys.OWNERS, "n1/dead")
    # When a live process tidies up (as it does when it reaps)
    await alive._forget_counts()
    # Then only the live one's counts are left
    assert await redis_client.hkeys(keys.OWNER_INSTANCES) == [b"n1/alive"]  # type: ignore[misc]
