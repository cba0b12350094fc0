"""The platform's Redis connections pack commands with hiredis, byte for byte as redis-py does."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.exceptions import DataError

from faas import store

COMMANDS = [
    ("XADD", "faas:logs:noop", "MAXLEN", "~", 1000, "*", "rid", "r-1", "log", "START\n"),
    ("SET", "ké", b"\xff\x00bytes"),
    ("SET", "k", memoryview(b"a view")),
    ("SET", "k", bytearray(b"an array")),
    ("ZADD", "k", 1.5, "a", -3, "b", 10**20, "c", 1e-7, "d"),
    ("CONFIG GET", "maxmemory-policy"),  # a command name of two words: two arguments
    ("SET", "k", "x" * 100_000),  # past redis-py's buffer cutoff
    (b"SET", b"k", 0),  # a command name given as bytes
    (b"CONFIG GET", b"maxmemory-policy"),
    ("JSON.SET", "k", "$", "{}"),  # a module's command: not a plain word
    ("EVALSHA", "f" * 40, 2, "a", "b", *range(500), *("é" * 3 for _ in range(100))),
]


def python_packed(args: tuple[object, ...]) -> bytes:
    return b"".join(aioredis.Connection().pack_command(*args))


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: str(a[0]))
def test_a_command_is_packed_exactly_as_redis_py_packs_it(args: tuple[object, ...]) -> None:
    for connection_class in (
        aioredis.Connection,
        aioredis.UnixDomainSocketConnection,
        aioredis.SSLConnection,
    ):
        connection = store.hiredis_packing(connection_class)()
        assert b"".join(connection.pack_command(*args)) == python_packed(args)


def test_a_value_redis_cannot_take_is_refused_as_redis_py_refuses_it() -> None:
    connection = store.hiredis_packing(aioredis.Connection)()
    with pytest.raises(DataError):
        aioredis.Connection().pack_command("SET", "k", True)
    with pytest.raises(DataError):
        connection.pack_command("SET", "k", True)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("redis://127.0.0.1:1/0", aioredis.Connection),
        ("unix:///tmp/none/redis.sock", aioredis.UnixDomainSocketConnection),
    ],
)
async def test_the_platform_s_client_packs_with_hiredis(url: str, kind: type) -> None:
    client = store.connect(url)
    try:
        pool = client.connection_pool
        assert pool.connection_class is store.hiredis_packing(kind)
        assert pool.connection_kwargs["socket_connect_timeout"] == 5
    finally:
        await client.aclose()
