"""A bundle this node lacks is fetched once, however many cold starts ask at once."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import httpx
import pytest

from faas.catalog.bundle import BundleLimits
from faas.catalog.codestore import CodeStore
from faas.cluster.code import LocalCode
from faas.cluster.nodes import Node
from faas.cluster.peers import Peers
from faas.errors import BackendError
from tests.zips import zip_bytes

CODE = zip_bytes(("app.py", b"def handler(event, context):\n    return event\n"))
SHA = hashlib.sha256(CODE).hexdigest()


class Peer(Peers):
    """A peer that serves ``served`` (slowly, so the callers overlap) and counts its calls;
    only the HTTP exchange is replaced (the server's side is the e2e story's)."""

    def __init__(self, served: bytes) -> None:
        super().__init__(self._nodes, b"secret", own_url=None)
        self.served = served
        self.calls = 0

    async def _nodes(self) -> list[Node]:
        return [Node("peer", "http://127.0.0.1:9", 0.0)]

    async def _fetch(
        self, client: httpx.AsyncClient, node: Node, sha: str, fd: int, max_bytes: int
    ) -> int:
        # The HTTP exchange only: what the peer answers; the rest is the real client's.
        self.calls += 1
        await asyncio.sleep(0.05)
        with os.fdopen(fd, "wb") as out:
            out.write(self.served)
        return 200


async def test_concurrent_cold_starts_fetch_a_missing_bundle_once(tmp_path: Path) -> None:
    # Given a node without the bundle, and a peer that has it
    store = CodeStore(tmp_path / "code", BundleLimits())
    peer = Peer(CODE)
    code = LocalCode(store, peer)
    # When ten cold starts ask for its files at once
    dirs = await asyncio.gather(*(code.unpacked(SHA) for _ in range(10)))
    # Then it was fetched once, and they all got its files
    assert peer.calls == 1
    assert {d.name for d in dirs} == {SHA}
    assert (dirs[0] / "app.py").is_file()
    # And a later one finds it here
    await code.unpacked(SHA)
    assert peer.calls == 1


async def test_a_bundle_no_peer_serves_intact_is_a_backend_error(tmp_path: Path) -> None:
    # Given a peer whose copy has other bytes
    store = CodeStore(tmp_path / "code", BundleLimits())
    code = LocalCode(store, Peer(zip_bytes(("app.py", b"tampered = True\n"))))
    # Then the cold start fails, saying why, and nothing is kept
    with pytest.raises(BackendError, match="peer: hash mismatch"):
        await code.unpacked(SHA)
    assert not store.has(SHA)
