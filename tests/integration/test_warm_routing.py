"""Warm routing's directory, against a real Redis: which live member has an instance.

Members record the pool keys they have instances of as instances come and go; a
member looking for a warm one elsewhere is given a live member's URL, never its
own, never a member whose heartbeat lapsed, and none once the instances are gone.
"""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from faas import keys
from faas.cluster import routing
from faas.cluster.routing import Directory
from faas.outcomes import InvocationResult, Outcome
from tests.helpers import wait_until_async

pytestmark = pytest.mark.process


async def beating(client: aioredis.Redis, member: str, lapses_in_s: float) -> None:
    """A member's heartbeat, as ``faas.compute.owners`` writes it."""
    await client.zadd(keys.OWNERS, {member: time.time() + lapses_in_s})


async def test_a_member_finds_the_live_member_that_has_an_instance(
    redis_client: aioredis.Redis,
) -> None:
    one = Directory(redis_client, "n1/serve", "http://127.0.0.1:1001")
    two = Directory(redis_client, "n2/serve", "http://127.0.0.1:1002")
    for member in (one, two):
        await member.join()
        await beating(redis_client, member.member, 30)
    # Given an instance of key K on member one
    one.changed("K", 1)
    found = await wait_until_async(
        lambda: two.elsewhere("K"), what="member one listed for K", within_s=2
    )
    # Then member two is sent there, and member one is never sent to itself
    assert found == "http://127.0.0.1:1001"
    assert await one.elsewhere("K") is None
    # When member one's heartbeat lapses, it is not named any more
    await beating(redis_client, "n1/serve", -1)
    assert await two.elsewhere("K") is None
    # When it beats again but its instance is gone, it is not named either
    await beating(redis_client, "n1/serve", 30)
    one.changed("K", -1)
    await wait_until_async(
        lambda: redis_client.hget(keys.warm("K"), "n1/serve"),
        what="the instance's record gone",
        done=lambda v: v is None,
        within_s=2,
    )
    assert await two.elsewhere("K") is None


async def test_a_restarted_member_forgets_what_its_earlier_run_recorded(
    redis_client: aioredis.Redis,
) -> None:
    earlier = Directory(redis_client, "n1/serve", "http://127.0.0.1:1001")
    earlier.changed("K", 2)
    await wait_until_async(
        lambda: redis_client.hget(keys.warm("K"), "n1/serve"), what="recorded", within_s=2
    )
    await Directory(redis_client, "n1/serve", "http://127.0.0.1:1001").join()
    assert await redis_client.hget(keys.warm("K"), "n1/serve") is None


def test_a_forwarded_result_comes_back_as_it_was() -> None:
    result = InvocationResult(
        request_id="r1",
        outcome=Outcome.FUNCTION_ERROR,
        payload=b'{"errorMessage": "no"}',
        cold_start=False,
        duration_ms=1.5,
        init_duration_ms=None,
        log="START\nEND\n",
    )
    assert routing.decode_result("r1", routing.encode_result(result)) == result


def test_a_forwarded_call_is_signed_for_its_request_id_only() -> None:
    secret = b"s" * 32
    now = time.time()
    signed = routing.forwarded_call(
        {
            "x-faas-peer": routing.signatures.sign(secret, "invoke/r1", now),
            routing.REQUEST_ID: "r1",
            routing.VERSION: "3",
        },
        secret,
        now,
    )
    assert signed.signed and signed.version == "3" and signed.kind == "sync"
    replayed = routing.forwarded_call(
        {
            "x-faas-peer": routing.signatures.sign(secret, "invoke/r1", now),
            routing.REQUEST_ID: "r2",
        },
        secret,
        now,
    )
    assert not replayed.signed
