"""A call forwarded by a peer that had no warm instance (``faas.cluster.routing``).

The edge serves it, past FastAPI, as it serves ``/v1`` invokes: no key opens it,
the peer signs it (``faas.cluster.signatures``; on a server without keys, calls
from this host). It runs here as this node's own call (its log kept here) and is
never forwarded again; the answer is the result's facts and payload
(``routing.encode_result``). A function gone, or at its cap, is answered with its
error: the peer then runs the call itself or answers it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import Response
from starlette.types import Receive, Scope

from faas.cluster import routing, signatures
from faas.errors import Forbidden
from faas.models import LATEST
from faas.platform import Platform
from gateway.deps import PlatformDep
from gateway.edge import bodies
from gateway.edge.table import Endpoints

endpoint = Endpoints(tags=["internal"])


async def serve(
    platform: Platform, params: Mapping[str, str], scope: Scope, receive: Receive
) -> Response | None:
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    call = routing.forwarded_call(headers, platform.peer_secret, time.time())
    client = scope.get("client")
    host = client[0] if client else ""
    if not signatures.peer_allowed(platform.access.ring.open, host, call.signed):
        raise Forbidden("only a peer node may forward a call here")
    body = await bodies.read(receive)
    if body is None:
        return None
    name = params["name"]
    spec, _ = await platform.qualifiers.resolve(
        name, None if call.version == LATEST else call.version, draw=False
    )
    result = await platform.invoker.run(
        spec,
        body,
        call.request_id,
        kind=call.kind,
        client_context=call.client_context,
        forward=False,
    )
    return Response(routing.encode_result(result), media_type="application/octet-stream")


@endpoint(serve=serve, response_class=Response)
async def invoke_forwarded(platform: PlatformDep, request: Request, name: str) -> Response:
    """A peer's call of ``name``, run here (the edge serves it: ``serve``)."""
    raise AssertionError("served by the edge")  # pragma: no cover
