"""Function specs are cached per process and every process hears of every change."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio as aioredis

from faas import keys, store
from faas.catalog.registry import Registry
from faas.errors import FunctionNotFound, StoreUnavailable
from faas.models import FunctionConfig, FunctionSpec
from tests.helpers import RedisServer, killable_redis, wait_until_async


def spec(name: str, memory_mb: int = 128) -> FunctionSpec:
    config = FunctionConfig(name, "python3.11", "app.handler", memory_mb=memory_mb)
    return FunctionSpec(config, "0" * 64, 10, 1.0, 1.0)


async def watching(registry: Registry) -> asyncio.Task[None]:
    task = asyncio.create_task(registry.watch())
    await wait_until_async(lambda: registry._caching, what="the registry to subscribe", within_s=2)
    return task


@pytest.fixture
async def two_processes(
    redis_flushed: str,
) -> AsyncIterator[tuple[Registry, Registry, aioredis.Redis]]:
    """Two registries on their own connections, as a server and a worker have."""
    a_client = aioredis.Redis.from_url(redis_flushed)
    b_client = aioredis.Redis.from_url(redis_flushed)
    a, b = Registry(a_client), Registry(b_client)
    tasks = [await watching(a), await watching(b)]
    yield a, b, a_client
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await a_client.aclose()
    await b_client.aclose()


async def commands(client: aioredis.Redis) -> int:
    return int((await client.info("stats"))["total_commands_processed"])


async def test_a_cached_lookup_does_not_ask_redis(two_processes) -> None:  # type: ignore[no-untyped-def]
    a, _, client = two_processes
    await a.create(spec("hot"))
    await asyncio.sleep(0.2)  # a process hears its own change too: let that message pass
    await a.get("hot")
    before = await commands(client)
    idle = await commands(client) - before  # what asking INFO itself costs
    before = await commands(client)
    for _ in range(100):
        assert (await a.get("hot")).name == "hot"
    assert await commands(client) - before == idle


async def test_a_change_in_one_process_reaches_the_other(two_processes) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = two_processes
    await a.create(spec("shared"))
    assert (await b.get("shared")).config.memory_mb == 128  # b caches it
    await a.update(
        "shared",
        lambda s: dataclasses.replace(
            s, config=dataclasses.replace(s.config, memory_mb=512), updated_at=2.0
        ),
    )

    await wait_until_async(
        lambda: b.get("shared"),
        what="the other process to see 512 MB",
        done=lambda seen: seen.config.memory_mb == 512,
        within_s=2,
    )


async def test_a_deletion_in_one_process_reaches_the_other(two_processes) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = two_processes
    await a.create(spec("doomed"))
    await b.get("doomed")
    await a.delete("doomed")

    async def b_has_none() -> bool:
        try:
            await b.get("doomed")
        except FunctionNotFound:
            return True
        return False

    await wait_until_async(b_has_none, what="the other process to forget it", within_s=2)


async def test_without_the_subscription_nothing_is_cached(redis_flushed: str) -> None:
    client = aioredis.Redis.from_url(redis_flushed)
    registry = Registry(client)  # nobody runs watch(): another process's change could be missed
    await registry.create(spec("cold"))
    await registry.get("cold")
    await client.set(
        "faas:fn:cold", dataclasses.replace(spec("cold", 256), updated_at=3.0).to_json()
    )
    assert (await registry.get("cold")).config.memory_mb == 256
    await client.aclose()


async def test_listing_reads_only_what_is_not_cached_and_sees_changes(two_processes) -> None:  # type: ignore[no-untyped-def]
    a, b, client = two_processes
    for n in range(20):
        await a.create(spec(f"many-{n}"))
    await asyncio.sleep(0.2)
    assert [s.name for s in await b.list()] == sorted(f"many-{n}" for n in range(20))
    before = await commands(client)
    idle = await commands(client) - before
    before = await commands(client)
    await b.list()
    assert await commands(client) - before == idle + 1  # SMEMBERS, no MGET
    await a.update(
        "many-3",
        lambda s: dataclasses.replace(
            s, config=dataclasses.replace(s.config, memory_mb=1024), updated_at=2.0
        ),
    )
    await a.delete("many-7")

    async def b_lists_the_change() -> bool:
        listed = {s.name: s for s in await b.list()}
        return "many-7" not in listed and listed["many-3"].config.memory_mb == 1024

    await wait_until_async(b_lists_the_change, what="the other process to list it", within_s=2)
    assert len(await b.list()) == 19


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this story's own, to kill: with AOF, it restarts with its data."""
    with killable_redis() as server:
        yield server


async def test_cached_specs_outlive_a_redis_crash_and_are_read_again_after_it(
    own_redis: RedisServer,
) -> None:
    # Given a process that subscribed and looked a function up (as a warm invoke does)
    client = store.connect(own_redis.url)
    registry = Registry(client)
    task = await watching(registry)
    await registry.create(spec("warm"))
    await registry.create(spec("never-looked-up"))
    await asyncio.sleep(0.2)  # its own change messages pass
    assert (await registry.get("warm")).config.memory_mb == 128
    try:
        # When Redis is killed and the process notices its subscription is gone
        own_redis.kill()
        await wait_until_async(
            lambda: not registry._caching, what="the registry to drop its cache", within_s=1
        )
        # Then the function it knew is still served its last spec, as often as asked
        for _ in range(50):
            assert (await registry.get("warm")).config.memory_mb == 128
            await asyncio.sleep(0.01)
        # And one it never looked up needs Redis: unavailable, not made up
        with pytest.raises(StoreUnavailable):
            await registry.get("never-looked-up")
        # When Redis is back with its data and another process changes the function
        # before this one subscribed again (the loop is blocked: it cannot have), so
        # the change's message reaches nobody
        own_redis.start()
        changed = dataclasses.replace(spec("warm", 512), updated_at=2.0)
        with redis.Redis.from_url(own_redis.url) as other:
            other.set(keys.function("warm"), changed.to_json())
            assert other.publish(keys.FUNCTION_CHANGED, "warm") == 0
        assert not registry._caching
        # Then a listing, which reads Redis, already shows the change
        assert [s.config.memory_mb for s in await registry.list()] == [128, 512]
        # And lookups see it within a second or two (once subscribed again)

        await wait_until_async(
            lambda: registry.get("warm"),
            what="lookups to see 512 MB",
            done=lambda seen: seen.config.memory_mb == 512,
            within_s=2,
        )
        assert registry._caching
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()


async def test_a_burst_of_commands_past_a_hundred_in_flight_is_served(redis_flushed: str) -> None:
    # redis-py's pool once refused the 101st command in flight ("Too many connections"):
    # a burst of 100 first calls answered 503s.
    from faas import store

    client = store.connect(redis_flushed)
    try:
        answers = await asyncio.gather(*(client.blpop([f"empty-{i}"], 0.2) for i in range(300)))
        assert answers == [None] * 300
    finally:
        await client.aclose()
