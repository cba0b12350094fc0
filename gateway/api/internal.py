"""Routes between nodes, for peers only: a bundle by its sha256 (``faas.cluster.peers``
is the client). No key opens them: a peer signs its call (``faas.cluster.signatures``),
or, on a server without keys, calls from this host."""

from __future__ import annotations

import asyncio
import time

from fastapi import Request
from fastapi.responses import FileResponse

from faas.cluster import signatures
from faas.errors import Forbidden, FunctionNotFound, InvalidRequest
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints

endpoint = Endpoints(tags=["internal"])


@endpoint(response_class=FileResponse)
async def get_code(platform: PlatformDep, request: Request, sha256: str) -> FileResponse:
    """The zip of ``sha256`` as this node stores it, for a peer that lacks it."""
    header = request.headers.get(signatures.HEADER, "")
    signed = signatures.verify(platform.peer_secret, sha256, header, time.time())
    client = request.client.host if request.client else ""
    if not signatures.peer_allowed(platform.access.ring.open, client, signed):
        raise Forbidden("only a peer node may fetch code here")
    try:
        path = platform.codestore.zip_path(sha256)
    except ValueError:
        raise InvalidRequest("not a sha256 hex digest") from None
    if not await asyncio.to_thread(path.is_file):
        raise FunctionNotFound(f"bundle {sha256[:12]} is not on this node")
    return FileResponse(path, media_type="application/zip")
