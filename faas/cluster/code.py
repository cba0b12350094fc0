"""Code on this node: uploads stored (here, and in S3 if one is configured), and a
bundle this node lacks fetched from a peer, else from S3, its sha256 verified.

A missing bundle is fetched once per process however many cold starts want it at
the same moment (they await one download); two processes sharing a disk may both
fetch, and the code store's renames make that harmless.

An upload is marked against sweeps before it is written anywhere and again once it
is on disk and in S3 (``faas.cluster.claims``): its caller then writes the spec that
refers to it within the grace.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import tempfile
from pathlib import Path

from faas.catalog.codestore import Check, CodeRef, CodeStore, sha256_of
from faas.cluster.claims import Claims
from faas.cluster.peers import PeerRefused, Peers
from faas.cluster.s3 import S3Error, S3Store
from faas.errors import BackendError, FaasError, StoreUnavailable

log = logging.getLogger(__name__)


class LocalCode:
    """Bundles' files on this node's disk, from a peer or S3 when missing."""

    def __init__(
        self,
        codestore: CodeStore,
        peers: Peers,
        *,
        s3: S3Store | None = None,
        claims: Claims | None = None,
    ) -> None:
        self._store = codestore
        self._peers = peers
        self._s3 = s3
        self._claims = claims
        self._fetching: dict[str, asyncio.Future[None]] = {}

    async def store(self, src: Path, check: Check | None = None) -> CodeRef:
        """Store the uploaded zip at ``src`` here, unpacked (``check`` sees its files), and
        in S3; ``StoreUnavailable`` if S3 does not take it (Redis neither)."""
        sha = await asyncio.to_thread(sha256_of, src)
        if self._claims is not None:
            await self._claims.uploading(sha)
        ref = await asyncio.to_thread(self._store.put_unpacked, src, expect=sha, check=check)
        if self._s3 is not None:
            try:
                await asyncio.to_thread(self._s3.put, sha, self._store.zip_path(sha))
            except S3Error as exc:
                raise StoreUnavailable(f"the S3 store did not take the bundle: {exc}") from None
        if self._claims is not None:
            await self._claims.uploading(sha)  # the grace runs from here to the spec
        return ref

    async def unpacked(self, sha: str) -> Path:
        """The directory of ``sha``'s files; ``BackendError`` if no node (nor S3) has it
        intact."""
        try:
            return await asyncio.to_thread(self._store.unpacked, sha)
        except FileNotFoundError:
            pass
        await self.ensure(sha)
        return await asyncio.to_thread(self._store.unpacked, sha)

    async def ensure(self, sha: str) -> None:
        """Have the zip of ``sha`` stored here, fetching it once if it is not."""
        if await asyncio.to_thread(self._store.has, sha):
            return
        running = self._fetching.get(sha)
        if running is None:
            running = asyncio.ensure_future(self._fetch(sha))
            self._fetching[sha] = running
            running.add_done_callback(lambda _: self._fetching.pop(sha, None))
        # A cancelled waiter (its client left) must not cancel the others' download.
        await asyncio.shield(running)

    async def _fetch(self, sha: str) -> None:
        try:
            node = await self._peers.download(
                sha, self._store.tmp_dir, self._accept(sha), self._store.limits.max_zipped_bytes
            )
        except PeerRefused as exc:
            refused = str(exc)
        else:
            log.info("bundle %s fetched from node %s", sha[:12], node)
            return
        s3 = self._s3
        if s3 is None:
            raise BackendError(f"code {sha[:12]} is not on this node: {refused}")
        try:
            found = await asyncio.to_thread(self._from_s3, s3, sha)
        except (S3Error, FaasError) as exc:
            raise BackendError(
                f"code {sha[:12]} is not on this node: {refused}; S3: {exc}"
            ) from None
        if not found:
            raise BackendError(
                f"code {sha[:12]} is not on this node: {refused}; S3: not in {s3.where}"
            )
        log.info("bundle %s fetched from S3", sha[:12])

    def _accept(self, sha: str) -> functools.partial[CodeRef]:
        """What takes a downloaded zip: stored if its sha256 is ``sha``, and unpacked."""
        return functools.partial(self._store.put_unpacked, expect=sha)

    def _from_s3(self, s3: S3Store, sha: str) -> bool:
        fd, name = tempfile.mkstemp(prefix=".tmp-s3-", suffix=".zip", dir=self._store.tmp_dir)
        spool = Path(name)
        try:
            if not s3.get(sha, fd, self._store.limits.max_zipped_bytes):
                return False
            self._accept(sha)(spool)
            return True
        finally:
            spool.unlink(missing_ok=True)
