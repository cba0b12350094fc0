"""Warm-aware routing: a call that would start cold here runs where a warm instance is.

Each process records in Redis which code-and-config (pool key) it has instances of
(``keys.warm``: member -> how many; ``keys.MEMBERS``: member -> the URL that reaches
that very process). The record changes only when an instance comes or goes, behind
the call that caused it (one pipeline, coalesced): warm calls never write.

A call that finds no instance of its pool key in this process asks which live
member has one (one script, against the members' heartbeats in ``keys.OWNERS``) and
forwards the call there, signed, over a kept-alive connection: a loopback-class hop
(about half a millisecond here) against a cold start's 15 ms or more. Which member
has one is remembered for a second, so a run of forwarded calls asks Redis once.
The member runs it as its own (its log kept there, once) and never forwards it
again. If no member has one, or the member cannot be reached before the call is
sent, the call starts cold here as before; a member that fails after the call was
sent fails the call (it may have run).

One call of a pool key at a time is forwarded from a process: a call that comes
while one is out runs here, so concurrent traffic starts instances where it lands
rather than queueing on another member's. Only calls that wait for their answer
are forwarded (sync invokes, HTTP routes, the Lambda API); async events and
mapping batches run where a worker took them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from faas import keys, store
from faas.cluster import signatures
from faas.compute.agent_client import MAX_TRAILERS, AgentClient, AgentError
from faas.errors import BackendError
from faas.models import LATEST, FunctionSpec
from faas.outcomes import InvocationResult, Outcome

log = logging.getLogger(__name__)

# The route a member serves forwarded calls at (gateway.api.internal).
PATH = "/internal/invoke/"
# Headers of a forwarded call.
REQUEST_ID = "x-faas-request-id"
KIND = "x-faas-kind"
CLIENT_CONTEXT = "x-faas-client-context"
VERSION = "x-faas-version"

# KEYS: the pool key's members, the owners' heartbeats, the members' URLs. ARGV: this
# member. A live member other than this one that has an instance, at random; or nil.
_PICK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local held = redis.call('HGETALL', KEYS[1])
local urls = {}
for i = 1, #held, 2 do
  local member = held[i]
  if member ~= ARGV[1] and tonumber(held[i + 1]) > 0 then
    local lapse = redis.call('ZSCORE', KEYS[2], member)
    if lapse and tonumber(lapse) > now then
      local url = redis.call('HGET', KEYS[3], member)
      if url then urls[#urls + 1] = url end
    end
  end
end
if #urls == 0 then return false end
return urls[math.random(#urls)]
"""


class Directory:
    """Which members have instances of which pool keys, in Redis."""

    def __init__(self, client: aioredis.Redis, member: str, url: str | None) -> None:
        self._redis = client
        self.member = member
        self._url = url
        self._pick = client.register_script(_PICK)
        self._pending: dict[str, int] = {}
        self._flushing: asyncio.Task[None] | None = None

    async def join(self) -> None:
        """Forget what an earlier run of this member recorded; say where it is reached."""
        async with store.redis_errors():
            async for key in self._redis.scan_iter(match=keys.warm("*"), count=500):
                await self._redis.hdel(key, self.member)
            if self._url:
                await self._redis.hset(keys.MEMBERS, self.member, self._url)

    async def leave(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._redis.hdel(keys.MEMBERS, self.member)

    def changed(self, pool_key: str, delta: int) -> None:
        """An instance of ``pool_key`` came (+1) or went (-1) here: recorded behind
        (by a process that peers can reach: ``faas serve``'s)."""
        if not self._url:
            return
        self._pending[pool_key] = self._pending.get(pool_key, 0) + delta
        if self._flushing is None or self._flushing.done():
            with contextlib.suppress(RuntimeError):  # no loop: nothing to record for
                self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending:
            pending, self._pending = self._pending, {}
            changed = [(k, d) for k, d in pending.items() if d]
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for pool_key, delta in changed:
                        pipe.hincrby(keys.warm(pool_key), self.member, delta)
                    results = await pipe.execute()
                gone = [k for (k, _), n in zip(changed, results, strict=True) if int(n) <= 0]
                if gone:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for pool_key in gone:
                            pipe.hdel(keys.warm(pool_key), self.member)
                        await pipe.execute()
            except (RedisError, OSError) as exc:
                log.warning("could not record warm instances: %s", exc)
                for pool_key, delta in pending.items():  # retried with the next change
                    self._pending[pool_key] = self._pending.get(pool_key, 0) + delta
                return

    async def elsewhere(self, pool_key: str) -> str | None:
        """The URL of a live member that has an instance of ``pool_key``, if any."""
        async with store.redis_errors():
            found = await self._pick(
                keys=[keys.warm(pool_key), keys.OWNERS, keys.MEMBERS], args=[self.member]
            )
        if found is None:
            return None
        return found.decode() if isinstance(found, bytes) else str(found)


@dataclass(frozen=True)
class Forwarded:
    """A call as its member receives it: whether a peer signed it, and what it is."""

    signed: bool
    request_id: str
    kind: str
    client_context: str | None
    version: str


def encode_result(result: InvocationResult) -> bytes:
    """A forwarded call's answer: its facts as JSON, length-prefixed, then the payload."""
    head = json.dumps(
        {
            "outcome": result.outcome.value,
            "cold_start": result.cold_start,
            "duration_ms": result.duration_ms,
            "init_duration_ms": result.init_duration_ms,
            "log": result.log,
        }
    ).encode()
    return struct.pack(">I", len(head)) + head + result.payload


def decode_result(request_id: str, body: bytes) -> InvocationResult:
    (size,) = struct.unpack(">I", body[:4])
    head = json.loads(body[4 : 4 + size])
    return InvocationResult(
        request_id=request_id,
        outcome=Outcome(head["outcome"]),
        payload=body[4 + size :],
        cold_start=bool(head["cold_start"]),
        duration_ms=float(head["duration_ms"]),
        init_duration_ms=head["init_duration_ms"],
        log=head["log"],
    )


# A member's answers that mean it did not run the call: it may run here instead.
_NOT_RUN = frozenset({403, 404, 409, 429, 503})
# A kept-alive connection to a member is dropped after this long idle: well before the
# member's keep-alive timeout (5 s) could close it under a call being sent (which
# could not be sent again: it may have run).
IDLE_S = 2.0
# A member found to have an instance of a pool key is asked again after this long.
REMEMBER_S = 1.0


class PeerConnection(AgentClient):
    """One kept-alive HTTP/1.1 connection to a member (the agents' client, over TCP:
    httpx cost ~0.7 ms a round trip, this ~0.1 ms; ``faas.compute.agent_client``)."""

    def __init__(self, url: str) -> None:
        super().__init__(Path(url))
        parts = urlsplit(url)
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._tls else 80)
        self.used = 0.0

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        context = ssl.create_default_context() if self._tls else None
        return await asyncio.open_connection(
            self._host, self._port, ssl=context, limit=MAX_TRAILERS
        )


class Router:
    """Forwards a call that would start cold here to a member with a warm instance."""

    def __init__(self, directory: Directory, secret: bytes) -> None:
        self.directory = directory
        self._secret = secret
        self._idle: dict[str, list[PeerConnection]] = {}
        # pool key -> (a member's URL, until when it is believed)
        self._known: dict[str, tuple[str, float]] = {}
        # pool keys with a call forwarded and not answered yet
        self._in_flight: set[str] = set()

    async def _member(self, pool_key: str) -> str | None:
        now = time.monotonic()
        known = self._known.get(pool_key)
        if known is not None and known[1] > now:
            return known[0]
        url = await self.directory.elsewhere(pool_key)
        if url is None:
            self._known.pop(pool_key, None)
        else:
            self._known[pool_key] = (url, now + REMEMBER_S)
        return url

    def _connection(self, url: str) -> PeerConnection:
        idle = self._idle.get(url)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if now - connection.used < IDLE_S:
                return connection
            connection.close()
        return PeerConnection(url)

    async def forward(
        self, spec: FunctionSpec, event: bytes, request_id: str, kind: str, cc: str | None
    ) -> InvocationResult | None:
        """The call run by a member with a warm instance of ``spec``, or None when none
        has one (or it could not be reached): then it runs here.

        One call of a pool key at a time is forwarded: while it is out, the next runs
        here (and starts the instance this process lacks), so concurrent traffic
        scales out instead of queueing on the member's one instance."""
        key = spec.pool_key
        if key in self._in_flight:
            return None
        self._in_flight.add(key)
        try:
            return await self._forward(spec, event, request_id, kind, cc)
        finally:
            self._in_flight.discard(key)

    async def _forward(
        self, spec: FunctionSpec, event: bytes, request_id: str, kind: str, cc: str | None
    ) -> InvocationResult | None:
        try:
            url = await self._member(spec.pool_key)
        except Exception as exc:  # Redis away: the call can still run here
            log.warning("warm routing: %s", exc)
            return None
        if url is None:
            return None
        headers = {
            signatures.HEADER: signatures.sign(self._secret, f"invoke/{request_id}", time.time()),
            REQUEST_ID: request_id,
            KIND: kind,
            VERSION: spec.version,
            "Content-Type": "application/json",
        }
        if cc is not None:
            headers[CLIENT_CONTEXT] = cc
        connection = self._connection(url)
        try:
            await connection.connect()
        except AgentError as exc:
            self._known.pop(spec.pool_key, None)
            log.info("warm routing: %s unreachable (%s); running here", url, exc)
            return None
        path = f"{PATH}{spec.name}"
        try:
            answer = await connection.request(
                "POST", path, body=event, headers=headers, timeout_s=spec.config.timeout_s + 30.0
            )
        except AgentError as exc:
            raise BackendError(
                f"the node running this call went away before it answered ({exc})"
            ) from None
        connection.used = time.monotonic()
        self._idle.setdefault(url, []).append(connection)
        if answer.status in _NOT_RUN:
            self._known.pop(spec.pool_key, None)
            return None
        if answer.status != 200:
            text = answer.body[:200].decode("utf-8", "replace")
            raise BackendError(f"the node running this call failed: HTTP {answer.status} {text}")
        return decode_result(request_id, answer.body)

    async def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        await self.directory.leave()


def forwarded_call(headers: Mapping[str, str], secret: bytes, now: float) -> Forwarded:
    """The call a peer forwarded, read off its headers, and whether its signature holds."""
    request_id = headers.get(REQUEST_ID, "")
    header = headers.get(signatures.HEADER, "")
    signed = bool(request_id) and signatures.verify(secret, f"invoke/{request_id}", header, now)
    return Forwarded(
        signed,
        request_id,
        headers.get(KIND, "sync"),
        headers.get(CLIENT_CONTEXT),
        headers.get(VERSION, LATEST),
    )
