"""Per-key rate limits, counted across the cluster in one Redis token bucket per key.

Every node's ``Access`` draws on the same bucket (``faas.cluster.rates``); the
clocks below are moved by hand (``now`` is the taker's), Redis is real.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis

from faas import keys
from faas.auth import Access, ApiKey
from faas.cluster.rates import RedisRates
from faas.errors import Forbidden, RateLimited, Throttled
from tests.unit.test_auth import ADMIN, ANY, CI, STRANGER, Clock, ring_of, write_keys

pytestmark = pytest.mark.process


@pytest.fixture
def rates(redis_client: aioredis.Redis) -> RedisRates:
    return RedisRates(redis_client)


async def admit(access: Access, key: ApiKey | None) -> ApiKey | None:
    """A request as the edge decides it: its key (checked by the caller), then its rate."""
    await access.limit(key)
    return key


async def test_a_key_over_its_rate_is_told_when_to_retry(rates: RedisRates) -> None:
    clock = Clock()
    access = Access(ring_of(admin_key=ADMIN), rates, default_rate_per_s=2, clock=clock)
    await admit(access, access.admin(ADMIN))
    await admit(access, access.admin(ADMIN))

    with pytest.raises(RateLimited) as caught:
        await admit(access, access.admin(ADMIN))

    assert isinstance(caught.value, Throttled)  # the gateway answers 429 for both
    assert caught.value.retry_after_s >= 1
    assert "over its rate of 2 requests a second" in caught.value.message
    clock.advance(0.5)
    assert await admit(access, access.admin(ADMIN)) is not None


async def test_the_rate_is_unlimited_by_default(rates: RedisRates) -> None:
    access = Access(ring_of(admin_key=ADMIN), rates, clock=Clock())

    assert all([await admit(access, access.admin(ADMIN)) is not None for _ in range(1000)])


async def test_a_slow_rate_asks_for_a_longer_wait(rates: RedisRates) -> None:
    clock = Clock()
    access = Access(ring_of(admin_key=ADMIN), rates, default_rate_per_s=0.25, clock=clock)
    await admit(access, access.admin(ADMIN))

    with pytest.raises(RateLimited) as caught:
        await admit(access, access.admin(ADMIN))

    assert caught.value.retry_after_s == 4
    clock.advance(3.9)
    with pytest.raises(RateLimited):
        await admit(access, access.admin(ADMIN))
    clock.advance(0.1)
    assert await admit(access, access.admin(ADMIN)) is not None


async def test_a_key_from_the_file_has_its_own_rate(rates: RedisRates, tmp_path: Path) -> None:
    keys_file = write_keys(
        tmp_path,
        {
            "admin": [ADMIN],
            "invoke": [
                {"key": CI, "name": "ci", "rate_per_s": 1},
                {"key": ANY, "name": "batch", "rate_per_s": 0},
            ],
        },
    )
    access = Access(ring_of(keys_file=keys_file), rates, default_rate_per_s=100, clock=Clock())
    await admit(access, access.invoke(CI, "build"))

    with pytest.raises(RateLimited):
        await admit(access, access.invoke(CI, "build"))
    # rate_per_s 0 is unlimited, whatever the default.
    assert all([await admit(access, access.invoke(ANY, "build")) is not None for _ in range(200)])


async def test_keys_are_limited_independently(rates: RedisRates) -> None:
    ring = ring_of(admin_key=ADMIN, invoke_keys=f"{ANY},{CI}")
    access = Access(ring, rates, default_rate_per_s=1, clock=Clock())
    await admit(access, access.invoke(CI, "build"))
    with pytest.raises(RateLimited):
        await admit(access, access.invoke(CI, "build"))

    assert await admit(access, access.invoke(ANY, "build")) is not None
    assert await admit(access, access.admin(ADMIN)) is not None


async def test_wrong_keys_do_not_spend_a_real_keys_allowance(rates: RedisRates) -> None:
    access = Access(ring_of(admin_key=ADMIN), rates, default_rate_per_s=1, clock=Clock())
    for _ in range(5):
        with pytest.raises(Forbidden):
            await admit(access, access.admin(STRANGER))

    assert await admit(access, access.admin(ADMIN)) is not None


async def test_two_keys_that_share_a_name_are_still_limited_independently(
    rates: RedisRates, tmp_path: Path
) -> None:
    keys_file = write_keys(
        tmp_path,
        {
            "admin": [ADMIN],
            "invoke": [
                {"key": CI, "name": "ci", "rate_per_s": 1},
                {"key": ANY, "name": "ci", "rate_per_s": 1},
            ],
        },
    )
    access = Access(ring_of(keys_file=keys_file), rates, clock=Clock())
    await admit(access, access.invoke(CI, "build"))

    assert await admit(access, access.invoke(ANY, "build")) is not None


async def test_a_slow_key_cannot_borrow_a_fast_keys_allowance_by_sharing_its_name(
    rates: RedisRates,
    tmp_path: Path,
) -> None:
    keys_file = write_keys(
        tmp_path,
        {
            "admin": [ADMIN],
            "invoke": [
                {"key": CI, "name": "ci", "rate_per_s": 1},
                {"key": ANY, "name": "ci", "rate_per_s": 100},
            ],
        },
    )
    access = Access(ring_of(keys_file=keys_file), rates, clock=Clock())
    await admit(access, access.invoke(CI, "build"))
    await admit(access, access.invoke(ANY, "build"))

    with pytest.raises(RateLimited):
        await admit(access, access.invoke(CI, "build"))


@pytest.mark.parametrize(
    ("rate", "takes_at", "expected"),
    [
        # Two a second: a burst of two, then half a second for the next.
        (2.0, [0, 0, 0], [0.0, 0.0, 0.5]),
        (2.0, [0, 0, 0.25], [0.0, 0.0, 0.25]),
        (2.0, [0, 0, 0.5], [0.0, 0.0, 0.0]),
        # Below one a second the burst is still one request.
        (0.5, [0, 0], [0.0, 2.0]),
        (0.5, [0, 2], [0.0, 0.0]),
        # An idle bucket refills to one second's worth, no more.
        (2.0, [0, 0, 60, 60, 60], [0.0, 0.0, 0.0, 0.0, 0.5]),
        # A node whose clock is behind the last take refills nothing, takes nothing back.
        (2.0, [10, 10, 9], [0.0, 0.0, 0.5]),
    ],
)
async def test_the_shared_token_bucket(
    rates: RedisRates, rate: float, takes_at: list[float], expected: list[float]
) -> None:
    waits = [await rates.take("bucket", rate, 1000.0 + now) for now in takes_at]

    assert waits == pytest.approx(expected)


async def test_a_refused_take_spends_nothing(rates: RedisRates) -> None:
    await rates.take("bucket", 1.0, 0.0)
    for _ in range(10):
        assert await rates.take("bucket", 1.0, 0.0) == pytest.approx(1.0)

    assert await rates.take("bucket", 1.0, 1.0) == 0.0


async def test_two_nodes_draw_on_one_bucket(redis_client: aioredis.Redis) -> None:
    # Each node has its own Access and its own client; the key's rate is the cluster's.
    ring = ring_of(admin_key=ADMIN)
    clock = Clock()
    nodes = [
        Access(ring, RedisRates(redis_client), default_rate_per_s=2, clock=clock) for _ in "ab"
    ]
    await admit(nodes[0], nodes[0].admin(ADMIN))
    await admit(nodes[1], nodes[1].admin(ADMIN))

    for node in nodes:
        with pytest.raises(RateLimited):
            await admit(node, node.admin(ADMIN))
    clock.advance(0.5)
    assert await admit(nodes[1], nodes[1].admin(ADMIN)) is not None


async def test_an_idle_keys_bucket_expires(rates: RedisRates, redis_client: aioredis.Redis) -> None:
    await rates.take("idle", 100.0, 0.0)

    ttl_ms = await redis_client.pttl(keys.rate("idle"))
    # refilled in 10 ms, kept a second beyond that
    assert 0 < ttl_ms <= 1010
