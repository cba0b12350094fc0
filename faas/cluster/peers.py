"""The client of other nodes: a bundle fetched by its sha256 from the first live peer
that has it.

Which peer has it is not recorded: the live nodes are asked in turn (a 404 is one
round trip on a loopback-class network, paid once per bundle per node, on a cold
start that costs ~15 ms or more anyway), so nothing has to be written at upload or
cleaned at delete, and a node that lost its disk is not named as a holder.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from faas.cluster import signatures
from faas.cluster.nodes import Node

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024


class PeerRefused(Exception):
    """No live peer gave the bundle; the message says what each one answered."""


class Peers:
    """Downloads of bundles from the other nodes, signed with the peer secret."""

    def __init__(
        self,
        live: Callable[[], Awaitable[list[Node]]],
        secret: bytes,
        *,
        own_url: str | None,
        timeout_s: float = 30.0,
    ) -> None:
        self._live = live
        self._secret = secret
        self._own_url = own_url
        self._timeout = httpx.Timeout(timeout_s, connect=2.0)

    async def download(
        self, sha: str, spool_dir: Path, accept: Callable[[Path], object], max_bytes: int
    ) -> str:
        """Download ``sha`` into a temp file under ``spool_dir`` and hand it to ``accept``
        (which verifies and stores it, raising if the bytes are wrong; it runs in a
        thread), asking each live peer in turn; the id of the node it came from.
        ``PeerRefused`` if none served it; more than ``max_bytes`` is not read."""
        answers: list[str] = []
        peers = [n for n in await self._live() if n.url != self._own_url]
        async with httpx.AsyncClient(timeout=self._timeout, trust_env=False) as client:
            for node in peers:
                fd, name = tempfile.mkstemp(prefix=".tmp-peer-", suffix=".zip", dir=spool_dir)
                spool = Path(name)
                try:
                    status = await self._fetch(client, node, sha, fd, max_bytes)
                    if status != 200:
                        answers.append(f"{node.node_id}: HTTP {status}")
                        continue
                    try:
                        await asyncio.to_thread(accept, spool)
                    except Exception as exc:
                        log.warning(
                            "bundle %s from node %s refused: %s", sha[:12], node.node_id, exc
                        )
                        answers.append(f"{node.node_id}: {exc}")
                        continue
                    return node.node_id
                except httpx.HTTPError as exc:
                    answers.append(f"{node.node_id}: {type(exc).__name__} {exc}")
                finally:
                    await asyncio.to_thread(spool.unlink, missing_ok=True)
        said = "; ".join(answers) or "no other live node"
        raise PeerRefused(f"no peer served bundle {sha[:12]} intact ({said})")

    async def _fetch(
        self, client: httpx.AsyncClient, node: Node, sha: str, fd: int, max_bytes: int
    ) -> int:
        headers = {signatures.HEADER: signatures.sign(self._secret, sha, time.time())}
        with os.fdopen(fd, "wb") as out:
            async with client.stream(
                "GET", f"{node.url}/internal/code/{sha}", headers=headers
            ) as reply:
                if reply.status_code != 200:
                    return reply.status_code
                size = 0
                async for chunk in reply.aiter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise httpx.DecodingError(f"the bundle is over {max_bytes} bytes")
                    out.write(chunk)
        return 200
