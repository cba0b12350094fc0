"""The Cluster page: nodes and their processes, instances, the generic pool, Redis's health.

What it can know, and from where:

- **nodes** (every ``faas serve`` on this Redis): their advertised URL and
  heartbeat, and their processes' heartbeats (``faas.cluster.census``, read
  from what the heartbeats write; a lapsed node is shown until it is forgotten);
- **instances per node**: for every process that can be reached (a server's),
  how many instances it has, from the warm-routing directory (per pool key, per
  process: ``faas.cluster.routing``), and by state (starting, idle, busy) as
  each process's heartbeat last wrote them; the functions they serve only for
  this process, from its own scheduler;
- **the generic pool** of this process (``faas.compute.pool``): per profile
  (image, memory, network), how many sandboxes are ready and the target;
- **Redis**: a ping's round trip, its version, memory used, clients, keys.

Only an admin key sees this page (an invoke key gets 403 and no link to it).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from faas.cluster.census import Census
from faas.compute.instance import InstanceState
from faas.errors import Forbidden
from faas.platform import Platform
from gateway.console import render
from gateway.console.pages.function import changing, failure
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints

endpoint = Endpoints(include_in_schema=False)

STATES = tuple(s.value for s in InstanceState if s is not InstanceState.DEAD)
# Functions listed under this process's instances, most instances first.
FUNCTIONS_SHOWN = 20


@dataclass(frozen=True)
class PoolRow:
    """A profile of the generic pool: what its sandboxes are started with, how many."""

    image: str
    memory_mb: int
    network: bool
    ready: int
    target: int


def here(platform: Platform) -> dict[str, Any]:
    """This process: its instances by state and by function, and its generic pool."""
    instances = [i for i in platform.scheduler.instances() if i.state is not InstanceState.DEAD]
    by_function = Counter(i.function for i in instances)
    pool = platform.scheduler.pool
    profiles = (
        [
            PoolRow(p.image, p.memory_mb, p.network, len(pool.ready(p)), pool.target(p))
            for p in pool.profiles
        ]
        if pool is not None
        else []
    )
    return {
        "member": f"{platform.settings.node_id}/{platform.owner_id}",
        "instances": len(instances),
        "by_state": platform.scheduler.by_state(),
        "by_function": by_function.most_common(FUNCTIONS_SHOWN),
        "functions": len(by_function),
        "pool_on": pool is not None,
        "pool_size": platform.settings.prewarm_pool,
        "pool": profiles,
    }


def by_state(counts: dict[str, int]) -> str:
    """Instances by state in a few words ("2 idle, 1 busy"), "—" when none is known."""
    shown = [f"{counts[state]} {state}" for state in STATES if counts.get(state)]
    return ", ".join(shown) if shown else "—"


def since(epoch: float | None, now: float | None = None) -> str:
    """How long ago a heartbeat was, to the second under a minute ("4 s ago")."""
    if epoch is None:
        return "—"
    seconds = max(0.0, (now or time.time()) - epoch)
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    return render.ago(epoch, now)


@endpoint()
async def page(request: Request, platform: PlatformDep) -> Response:
    try:
        changing(request)
    except Forbidden as exc:
        return failure(request, exc)
    census = Census(platform.redis)
    return render.render(
        request,
        "cluster.html",
        section="cluster",
        nodes=await census.nodes(),
        redis=await census.redis(),
        here=here(platform),
        node_id=platform.settings.node_id,
        backend=platform.settings.backend,
        since=since,
        by_state=by_state,
    )
