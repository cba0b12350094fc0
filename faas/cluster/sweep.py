"""The code sweep: every node removes the bundles nothing refers to any more, from its
disk and from S3.

Bundles are content-addressed and shared (functions' ``$LATEST``, their versions,
layer versions: ``faas.catalog.references``), so a deletion removes a bundle only
when nothing else names it. Each node decides for its own disk, from Redis:

* when: a deletion (of a function, a version or a layer version) publishes on
  ``keys.CODE_SWEEP`` and every node sweeps at once; each also sweeps every
  ``SWEEP_EVERY_S`` (what a node missed while it was down, and code replaced by an
  update), and ``grace`` after a sweep that found something unreferenced;
* what: a bundle found unreferenced by two sweeps at least ``grace`` apart, so an
  operation that read a reference before the first (publishing a version of code
  about to be replaced, a create naming a layer version being deleted) has written
  its own by the second; and not uploaded within ``grace`` (``faas.cluster.claims``:
  a create storing the same zip has not written its spec yet);
* S3: a node deleting a bundle from its disk deletes its object too (an idempotent
  DELETE); the objects no node holds (their uploader's disk lost) are found by
  listing the bucket, once per period by one node (``keys.CODE_S3_SWEEP``).

A bundle removed while a sandbox of a deleted function still runs from it: that
sandbox is being retired anyway (its function is gone on every node).

The same sweep removes this node's merges of layers under ``/opt``
(``faas.compute.opt_dirs``) that no function or version lists any more: found so
by two sweeps a grace apart, and neither made nor used within the grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from faas import keys
from faas.catalog.codestore import CodeStore
from faas.catalog.references import References
from faas.cluster.claims import Claims
from faas.cluster.s3 import S3Error, S3Store
from faas.compute.opt_dirs import OptDirs, merge_key
from faas.store import redis_errors

log = logging.getLogger(__name__)

# Every node sweeps this often whatever happens: reading every spec, version and layer
# (faas.catalog.references) is a pipeline per 1,000 functions.
SWEEP_EVERY_S = 600.0
_RESUBSCRIBE_S = 1.0


class Sweeper:
    """The sweeps of this node's bundles (and of S3's)."""

    def __init__(
        self,
        client: aioredis.Redis,
        codestore: CodeStore,
        references: References,
        claims: Claims,
        *,
        s3: S3Store | None,
        grace_s: float,
        every_s: float = SWEEP_EVERY_S,
        opt_dirs: OptDirs | None = None,
    ) -> None:
        self._redis = client
        self._store = codestore
        self._references = references
        self._claims = claims
        self._s3 = s3
        self._grace_s = grace_s
        self._every_s = every_s
        # sha -> when (monotonic) a sweep first found it unreferenced; the objects of S3
        # that no disk here holds (found by the last listing).
        self._seen: dict[str, float] = {}
        self._only_in_s3: set[str] = set()
        self._opt = opt_dirs
        self._seen_merges: dict[str, float] = {}  # merge -> when first found unlisted
        self._wake = asyncio.Event()

    async def request(self, *_: object) -> None:
        """Ask every node to sweep now (after a deletion; any arguments are ignored)."""
        self._wake.set()
        async with redis_errors():
            await self._redis.publish(keys.CODE_SWEEP, "1")

    async def run(self) -> None:
        """Forever: sweep when asked, when something found is due, and every period."""
        listener = asyncio.create_task(self._listen())
        next_full = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                full = now >= next_full
                if full:
                    next_full = now + self._every_s
                try:
                    due = await self.sweep(list_s3=await self._s3_turn(full))
                except Exception:
                    # The sweep must outlive any one failure (Redis, S3, the disk).
                    log.exception("code sweep failed")
                    due = None
                wait = min(due if due is not None else self._every_s, next_full - now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(wait, 0.05))
                self._wake.clear()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def sweep(self, *, list_s3: bool = False) -> float | None:
        """Remove what is due; the seconds until the next thing found is, if any.
        ``list_s3``: also look for objects of S3 that no node holds."""
        now = time.monotonic()
        kept = await self._references.read()
        found = await asyncio.to_thread(self._store.shas)
        if list_s3 and self._s3 is not None:
            self._only_in_s3 = set(await asyncio.to_thread(_listed, self._s3)) - found
        self._seen = _sightings(self._seen, (found | self._only_in_s3) - kept.bundles, now)
        merges_due = await self._sweep_merges(kept.layer_lists, now)
        for sha, since in list(self._seen.items()):
            if now - since >= self._grace_s and await self._remove(sha):
                del self._seen[sha]
                self._only_in_s3.discard(sha)
            elif now - since >= self._grace_s:
                self._seen[sha] = now  # uploaded just now, or S3 failed: look again later
        due = self._next_due(self._seen, now)
        return min((d for d in (due, merges_due) if d is not None), default=None)

    async def _sweep_merges(self, listed: set[tuple[str, ...]] | None, now: float) -> float | None:
        """Remove the merges of layers due; the seconds until the next one found is."""
        if self._opt is None or listed is None:
            self._seen_merges = {}
            return None
        wanted = {merge_key(shas) for shas in listed}
        on_disk = await asyncio.to_thread(self._opt.keys)
        used_before = time.time() - self._grace_s
        self._seen_merges = _sightings(self._seen_merges, on_disk.keys() - wanted, now)
        for key, since in list(self._seen_merges.items()):
            if now - since < self._grace_s:
                continue
            if on_disk[key] > used_before:  # made or used within the grace: look again
                self._seen_merges[key] = now
                continue
            await asyncio.to_thread(self._opt.remove, key)
            del self._seen_merges[key]
            log.info("layers merge %s removed: no function lists its layers", key[:12])
        return self._next_due(self._seen_merges, now)

    def _next_due(self, seen: dict[str, float], now: float) -> float | None:
        """Seconds until the first of ``seen`` (thing -> when first found unreferenced)
        is due, a grace after it was found; None if nothing is waiting."""
        if not seen:
            return None
        return max(0.0, self._grace_s - (now - min(seen.values())))  # exact when found now

    async def _remove(self, sha: str) -> bool:
        """Remove ``sha`` here and from S3 under a claim; False if it was uploaded recently
        (or S3 failed: the next sweep tries again)."""
        if not await self._claims.claim(sha):
            return False
        try:
            await asyncio.to_thread(self._store.remove, sha)
            if self._s3 is not None:
                try:
                    await asyncio.to_thread(self._s3.delete, sha)
                except S3Error as exc:
                    log.warning("bundle %s: not deleted from S3: %s", sha[:12], exc)
                    return False
        finally:
            await self._claims.release(sha)
        log.info("bundle %s removed: nothing refers to it", sha[:12])
        return True

    async def _s3_turn(self, full: bool) -> bool:
        """Whether this sweep lists S3: this node's turn of the period, or a follow-up of
        a listing that found something."""
        if self._s3 is None:
            return False
        if self._only_in_s3:
            return True
        if not full:
            return False
        async with redis_errors():
            won = await self._redis.set(
                keys.CODE_S3_SWEEP, "1", nx=True, ex=max(1, int(self._every_s))
            )
        return bool(won)

    async def _listen(self) -> None:
        """Forever: wake the sweep when any node asks (``keys.CODE_SWEEP``)."""
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(keys.CODE_SWEEP)
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self._wake.set()
            except (RedisError, OSError) as exc:
                log.debug("code sweep subscription lost: %s", exc)
            await asyncio.sleep(_RESUBSCRIBE_S)


def _sightings(seen: dict[str, float], found: Iterable[str], now: float) -> dict[str, float]:
    """Each of ``found`` with when it was first found unreferenced (``now`` if new); what
    is no longer found is forgotten."""
    return {thing: seen.get(thing, now) for thing in found}


def _listed(s3: S3Store) -> list[str]:
    return list(s3.shas())
