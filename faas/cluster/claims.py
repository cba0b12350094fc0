"""Uploads and deletions of one bundle kept apart, cluster-wide: one script each.

Bundles are content-addressed: a create uploading zip X may race a sweep deleting X
because the last function using it was just deleted. Before it writes X anywhere an
upload marks it (``uploading``: X's score in ``keys.CODE_UPLOADS`` becomes now), and
marks it again once X is on disk and in S3, just before its caller writes the spec
that refers to X. A sweep deletes X only under a claim (``claim``), which is refused
while X's mark is younger than the grace, and which an upload waits out (a mark is
refused while a claim is held). So either the sweep sees the mark and keeps X, or
the upload starts after the deletion has finished and stores X again; the grace
covers the upload's last step, from its second mark to its spec (a Redis write).

Times are Redis's own (``TIME``), so nodes' clocks do not matter. A claim lapses
after ``CLAIM_TTL_S`` should its sweeper die; an upload waits at most that long.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from faas import keys
from faas.errors import StoreUnavailable
from faas.store import redis_errors

# A sweeper that died holding a claim blocks uploads of that bundle this long.
CLAIM_TTL_S = 60
_RETRY_S = 0.05

# KEYS: uploads zset, the bundle's deleting counter; ARGV: sha. 1 marked, 0 claimed.
_MARK = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local now = redis.call('TIME')
redis.call('ZADD', KEYS[1], now[1] + now[2] / 1e6, ARGV[1])
return 1
"""
# KEYS: as _MARK; ARGV: sha, grace (s), claim TTL (s). 1 claimed, 0 uploaded recently.
_CLAIM = """
local now = redis.call('TIME')
local t = now[1] + now[2] / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t - tonumber(ARGV[2]))
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""
# KEYS: the bundle's deleting counter.
_RELEASE = """
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
return 1
"""


class Claims:
    """Marks of uploads and claims of deletions, on each bundle."""

    def __init__(self, client: aioredis.Redis, grace_s: float) -> None:
        self._redis = client
        self._grace_s = grace_s
        self._mark = client.register_script(_MARK)
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)

    async def uploading(self, sha: str) -> None:
        """Mark ``sha`` as being uploaded now, waiting out a deletion of it in progress."""
        for _ in range(int(CLAIM_TTL_S / _RETRY_S)):
            async with redis_errors():
                marked = await self._mark(
                    keys=[keys.CODE_UPLOADS, keys.code_deleting(sha)], args=[sha]
                )
            if marked:
                return
            await asyncio.sleep(_RETRY_S)
        raise StoreUnavailable(f"bundle {sha[:12]} is being deleted; try the upload again")

    async def claim(self, sha: str) -> bool:
        """Whether ``sha`` may be deleted now (then ``release`` it once it is)."""
        async with redis_errors():
            claimed = await self._claim(
                keys=[keys.CODE_UPLOADS, keys.code_deleting(sha)],
                args=[sha, self._grace_s, CLAIM_TTL_S],
            )
        return bool(claimed)

    async def release(self, sha: str) -> None:
        async with redis_errors():
            await self._release(keys=[keys.code_deleting(sha)])
