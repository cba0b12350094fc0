"""The cluster's live nodes: each ``faas serve`` sharing this Redis, as its heartbeat says."""

from __future__ import annotations

from pydantic import BaseModel

from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints

endpoint = Endpoints(tags=["nodes"])


class NodeOut(BaseModel):
    id: str
    url: str
    heartbeat: float  # epoch seconds of its last heartbeat


class NodesOut(BaseModel):
    nodes: list[NodeOut]


@endpoint(response_model=NodesOut)
async def list_nodes(platform: PlatformDep) -> NodesOut:
    """Live nodes: id, the URL peers reach it at, its last heartbeat."""
    live = await platform.nodes.live()
    return NodesOut(nodes=[NodeOut(id=n.node_id, url=n.url, heartbeat=n.heartbeat) for n in live])
