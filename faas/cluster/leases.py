"""Cluster-wide caps: a lease in Redis for each running handler of a capped function.

A function's reserved concurrency, and the account's concurrency when
``FAAS_ACCOUNT_CONCURRENCY`` is set, count the handlers running at once on every
node and process, not the containers: once a call of such a function holds an
instance (so on one node, where the local caps hold anyway, calls still queue in
the order they came) it takes a lease (one script: drop lapsed leases, count,
add), and it gives the lease back when the handler is done. A call that finds
the cap full waits the bounded time (``FAAS_THROTTLE_WAIT_S``), woken by the release of a lease
(pub/sub, ``faas.wakeups``), then gets ``Throttled`` (429) as on one node.

Each lease lapses ``FAAS_LEASE_TTL_S`` after its holder last renewed it (a loop
renews every held lease, one pipeline, a third of the TTL apart), so a killed
node's share of a cap comes back within the TTL, not never. Lapse times are the
Redis server's clock (``TIME`` in the scripts): the nodes' clocks never meet.

A function with no reserved concurrency, on a server with no account limit, takes
no lease: its calls pay no round trip (``docs/scaling.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from faas import keys, store
from faas.errors import Throttled
from faas.models import FunctionSpec
from faas.wakeups import Waiters

log = logging.getLogger(__name__)

# Waiters look again at least this often: a lease that lapsed (its node died) frees a
# place without a wake-up.
RECHECK_S = 0.5

# KEYS: the function's leases, the account's. ARGV: lapse after (ms), member, the
# function's cap (-1: none), the account's (0: none). 0: taken; 1: the function is
# full; 2: the account is.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local fcap = tonumber(ARGV[3])
local acap = tonumber(ARGV[4])
if fcap >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= fcap then return 1 end
end
if acap > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= acap then return 2 end
end
local lapse = now + tonumber(ARGV[1])
if fcap >= 0 then redis.call('ZADD', KEYS[1], lapse, ARGV[2]) end
if acap > 0 then redis.call('ZADD', KEYS[2], lapse, ARGV[2]) end
return 0
"""

# KEYS: the function's leases, the account's, their channels. ARGV: member, the
# function's cap (-1: none), the account's (0: none). Wakes waiters only when the cap
# was full: below it nobody waits.
_GIVE = """
local fcap = tonumber(ARGV[2])
local acap = tonumber(ARGV[3])
if fcap >= 0 then
  local n = redis.call('ZCARD', KEYS[1])
  if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 and n >= fcap then
    redis.call('PUBLISH', KEYS[3], '')
  end
end
if acap > 0 then
  local n = redis.call('ZCARD', KEYS[2])
  if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 and n >= acap then
    redis.call('PUBLISH', KEYS[4], '')
  end
end
return 0
"""

# KEYS: lease sets; ARGV: lapse after (ms), then one member per key. A lease already
# gone (lapsed and dropped while Redis was away) is not brought back.
_RENEW = """
local t = redis.call('TIME')
local lapse = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', lapse, ARGV[i + 1])
end
return 0
"""

FULL_FUNCTION = 1
FULL_ACCOUNT = 2


@dataclass(frozen=True)
class Lease:
    """A running handler's place under its caps: what to give back."""

    member: str
    function: str
    cap: int  # the function's, -1 for none
    account_cap: int  # 0 for none


def caps(spec: FunctionSpec, account_limit: int) -> tuple[int, int]:
    """(the function's cap or -1, the account's or 0): what a call of ``spec`` leases."""
    reserved = spec.config.concurrency
    return (-1 if reserved is None else reserved), account_limit


class Leases:
    """This process's leases: taken, given back, renewed; waits for a freed one."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        member_prefix: str,
        ttl_s: float,
        account_limit: int,
        wait_s: float,
        max_waiting: int,
    ) -> None:
        self._redis = client
        self._prefix = member_prefix
        self._ttl_ms = int(ttl_s * 1000)
        self._account = account_limit
        self._wait_s = wait_s
        self._max_waiting = max_waiting
        self._take = client.register_script(_TAKE)
        self._give = client.register_script(_GIVE)
        self._renew = client.register_script(_RENEW)
        self._seq = itertools.count(1)
        self._held: dict[str, Lease] = {}
        self._waiting: dict[str, int] = {}
        self._wakeups = Waiters(client, keys.running_freed)

    def needed(self, spec: FunctionSpec) -> bool:
        """Whether calls of ``spec`` take a lease (it is capped, or the account is)."""
        return spec.config.concurrency is not None or self._account > 0

    async def take(self, spec: FunctionSpec, wait_s: float | None = None) -> Lease:
        """A lease for one handler of ``spec``, waiting up to ``wait_s`` (default: the
        throttle wait) for a place; ``Throttled`` when none came free."""
        cap, account_cap = caps(spec, self._account)
        name = spec.name  # every version and alias of a function counts against its cap
        lease = Lease(f"{self._prefix}/{next(self._seq)}", name, cap, account_cap)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._wait_s if wait_s is None else max(0.0, wait_s))
        full = await self._try(lease)
        if not full:
            return lease
        if self._waiting.get(name, 0) >= self._max_waiting:
            raise _throttled(name, full, self._wait_s)
        self._waiting[name] = self._waiting.get(name, 0) + 1
        try:
            while True:
                channel = await self._wakeups.channel(name if full == FULL_FUNCTION else "")
                event = channel.event  # taken before the look: a wake-up in between counts
                full = await self._try(lease)
                if not full:
                    return lease
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise _throttled(name, full, self._wait_s)
                await self._wakeups.wait(event, min(remaining, RECHECK_S))
        finally:
            self._waiting[name] -= 1
            if not self._waiting[name]:
                del self._waiting[name]

    async def _try(self, lease: Lease) -> int:
        async with store.redis_errors():
            full = int(
                await self._take(
                    keys=[keys.running(lease.function), keys.RUNNING],
                    args=[self._ttl_ms, lease.member, lease.cap, lease.account_cap],
                )
            )
        if not full:
            self._held[lease.member] = lease
        return full

    async def give(self, lease: Lease) -> None:
        """Give a lease back (a failure is logged: the lease lapses by itself)."""
        self._held.pop(lease.member, None)
        try:
            await self._give(
                keys=[
                    keys.running(lease.function),
                    keys.RUNNING,
                    keys.running_freed(lease.function),
                    keys.running_freed(""),
                ],
                args=[lease.member, lease.cap, lease.account_cap],
            )
        except (RedisError, OSError) as exc:
            log.warning("could not give back a lease of %s (it lapses): %s", lease.function, exc)

    def held(self) -> int:
        return len(self._held)

    async def renew(self) -> None:
        """Push back the lapse of every lease held."""
        held = list(self._held.values())
        if not held:
            return
        lease_keys: list[str] = []
        members: list[str] = []
        for lease in held:
            if lease.cap >= 0:
                lease_keys.append(keys.running(lease.function))
                members.append(lease.member)
            if lease.account_cap > 0:
                lease_keys.append(keys.RUNNING)
                members.append(lease.member)
        async with store.redis_errors():
            await self._renew(keys=lease_keys, args=[self._ttl_ms, *members])

    async def run(self) -> None:
        """Forever: renew the leases held, a third of their TTL apart."""
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            try:
                await self.renew()
            except Exception as exc:  # the loop must outlive Redis outages
                log.warning("could not renew leases: %s", exc)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._wakeups.close()


def _throttled(name: str, full: int, wait_s: float) -> Throttled:
    if full == FULL_FUNCTION:
        return Throttled(
            f"function {name!r} is at its reserved concurrency across the cluster",
            retry_after_s=max(1, round(wait_s)),
            reserved=True,
        )
    return Throttled(
        "the account's concurrency limit (FAAS_ACCOUNT_CONCURRENCY) is reached across the cluster",
        retry_after_s=max(1, round(wait_s)),
    )
