"""Per-key rate limits across the cluster: one token bucket per key, in Redis.

Every node's requests with a key draw on the same bucket (``keys.rate``: its
tokens and when they were counted), taken in one script: refill at the key's rate
since the last take, up to one second's worth, then take one or say how long until
there is one. The bucket expires once it would be full again, so idle keys cost
nothing. A key with no rate (the default) is never looked up: its requests pay no
round trip. Nodes' clocks are compared here (the taker's ``now``), so keep them in
step (NTP); a clock behind the last take refills nothing rather than going back.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from faas import keys, store

# KEYS: the bucket. ARGV: rate (tokens/s), capacity, now (ms). Returns the seconds to
# wait as a string (Lua numbers become integers in replies): "0" when taken.
_TAKE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(held[1]) or capacity
local stamp = tonumber(held[2]) or now
if now > stamp then
  tokens = math.min(capacity, tokens + (now - stamp) / 1000 * rate)
  stamp = now
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(stamp))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return tostring(wait)
"""


def capacity(rate: float) -> float:
    """A bucket holds one second's worth of requests, and at least one."""
    return max(1.0, rate)


class RedisRates:
    """The cluster's token buckets."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._take = client.register_script(_TAKE)

    async def take(self, bucket: str, rate: float, now_s: float) -> float:
        """Take a token of ``bucket``: 0 if granted, else the seconds until one is there."""
        async with store.redis_errors():
            wait = await self._take(
                keys=[keys.rate(bucket)], args=[repr(rate), repr(capacity(rate)), int(now_s * 1000)]
            )
        return float(wait)
