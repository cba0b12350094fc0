"""Redis through Sentinel: what a ``redis+sentinel://`` URL names, and the one client
built from it (no server needed: nothing connects until a command is sent)."""

from __future__ import annotations

import pytest
from redis.asyncio.sentinel import SentinelConnectionPool, SentinelManagedConnection

from faas import store
from faas.errors import ValidationFailed
from faas.settings import SentinelUrl, Settings, sentinel_url


@pytest.mark.parametrize(
    ("url", "named"),
    [
        pytest.param("redis://r:6379/1", None, id="a-plain-url-is-not-sentinel"),
        pytest.param("unix:///run/redis.sock", None, id="nor-a-socket"),
        pytest.param(
            "redis+sentinel://10.0.0.1:26380,10.0.0.2/faas",
            SentinelUrl((("10.0.0.1", 26380), ("10.0.0.2", 26379)), "faas", "redis://sentinel/0"),
            id="sentinels-default-port-and-db",
        ),
        pytest.param(
            "redis+sentinel://:s3cret@a:1,b:2/faas/3?sentinel_password=x",
            SentinelUrl(
                (("a", 1), ("b", 2)), "faas", "redis://:s3cret@sentinel/3?sentinel_password=x"
            ),
            id="credentials-db-and-options-for-redis-py",
        ),
        pytest.param(
            "redis+sentinel://[::1]:26379,[fd00::2]/faas",
            SentinelUrl((("::1", 26379), ("fd00::2", 26379)), "faas", "redis://sentinel/0"),
            id="ipv6",
        ),
    ],
)
def test_a_sentinel_url_names_its_sentinels_and_master(url: str, named: SentinelUrl) -> None:
    assert sentinel_url(url) == named


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://a:1,b:2",  # no master
        "redis+sentinel://a:1/",
        "redis+sentinel:///faas",  # no sentinel
        "redis+sentinel://a,,b/faas",
        "redis+sentinel://a:port/faas",
        "redis+sentinel://a:70000/faas",
        "redis+sentinel://a/faas/zero",
    ],
)
def test_a_malformed_sentinel_url_says_how_it_reads(url: str) -> None:
    with pytest.raises(ValidationFailed, match="redis\\+sentinel://\\[\\[user\\]") as refused:
        Settings.from_env({"FAAS_REDIS_URL": url})
    assert refused.value.field == "redis_url"


def test_the_replicas_an_enqueue_waits_for_are_read_and_checked() -> None:
    assert Settings().redis_wait_replicas == 0
    assert Settings.from_env({"FAAS_REDIS_WAIT_REPLICAS": "1"}).redis_wait_replicas == 1
    with pytest.raises(ValidationFailed, match="FAAS_REDIS_WAIT_REPLICAS") as refused:
        Settings.from_env({"FAAS_REDIS_WAIT_REPLICAS": "-1"})
    assert refused.value.field == "redis_wait_replicas"


async def test_the_client_of_a_sentinel_url_asks_the_sentinels_for_the_master() -> None:
    client = store.connect(
        "redis+sentinel://:pw@127.0.0.1:1,127.0.0.1:2/faas/2?sentinel_password=sp"
    )
    try:
        pool = client.connection_pool
        assert isinstance(pool, SentinelConnectionPool)
        assert pool.service_name == "faas" and pool.is_master
        # Its connections are Sentinel's (they re-ask at each connect), packed by hiredis
        assert issubclass(pool.connection_class, SentinelManagedConnection)
        assert issubclass(pool.connection_class, store._HiredisPacking)
        kwargs = pool.connection_kwargs
        assert (kwargs["db"], kwargs["password"]) == (2, "pw")
        assert kwargs["socket_connect_timeout"] == 5
        asked = pool.sentinel_manager.sentinels
        assert [s.connection_pool.connection_kwargs["port"] for s in asked] == [1, 2]
        assert all(s.connection_pool.connection_kwargs["password"] == "sp" for s in asked)
    finally:
        await client.aclose()
