"""Code on this node: a bundle's files, fetched from a peer first if this node lacks it.

A missing bundle is fetched once per process however many cold starts want it at
the same moment (they await one download); two processes sharing a disk may both
fetch, and the code store's renames make that harmless.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path

from faas.catalog.codestore import CodeStore
from faas.cluster.peers import PeerRefused, Peers
from faas.errors import BackendError

log = logging.getLogger(__name__)


class LocalCode:
    """Bundles' files on this node's disk, from a peer when missing."""

    def __init__(self, codestore: CodeStore, peers: Peers) -> None:
        self._store = codestore
        self._peers = peers
        self._fetching: dict[str, asyncio.Future[None]] = {}

    async def unpacked(self, sha: str) -> Path:
        """The directory of ``sha``'s files; ``BackendError`` if no node has it intact."""
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
        accept = functools.partial(self._store.put_file, expect=sha)

        def store(path: Path) -> None:
            accept(path)
            self._store.unpacked(sha)  # unpacked now, as an upload is

        try:
            node = await self._peers.download(
                sha, self._store.tmp_dir, store, self._store.limits.max_zipped_bytes
            )
        except PeerRefused as exc:
            raise BackendError(f"code {sha[:12]} is not on this node: {exc}") from None
        log.info("bundle %s fetched from node %s", sha[:12], node)
