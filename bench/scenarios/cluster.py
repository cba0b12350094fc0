"""Three nodes on one Redis: warm-aware routing, and what cluster-wide caps cost.

Node 1 is the harness's server (its redis-server); nodes 2 and 3 are two more
``faas serve`` processes on the same Redis, each with its own id, data dir and
port, as three hosts would be (here on one Docker engine).

**Warm routing.** 20 functions are deployed and invoked once each through node 1
(cold there); then 600 sequential invokes go round-robin over the three nodes and
the share answered warm (``X-Faas-Cold-Start: false``) is counted. The baseline is
the same with nodes 2 and 3 restarted with ``FAAS_WARM_ROUTING=0`` and 20 fresh
functions: each node's first call of each function is then cold (about 93%).

**Forwarding.** A warm no-op through node 1 against the same through node 2, which
has no instance and forwards to node 1: the hop's cost at p50, against the cold
start it saves (``cold.first_invoke_p50_ms`` of the same run, when it ran).

**Leases.** A warm no-op of a function with a reserved concurrency (a lease taken
and given back in Redis per call: two scripts) against one without, through node 1.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import httpx

from bench import httpraw
from bench.harness import Harness, Plan, noop_source
from bench.model import Result
from bench.scenarios.warm import interleaved
from bench.stats import summary
from tests.helpers import Server, free_port

FUNCTIONS = 20
ROUND_ROBIN = 600


class Peers:
    """Nodes 2 and 3 of the harness's cluster."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.dirs = [Path(tempfile.mkdtemp(prefix="faas-bench-peer-", dir="/tmp")) for _ in "23"]
        self.nodes: list[Server] = []

    def start(self, **env: str) -> list[Server]:
        self.stop()
        for number, data_dir in zip((2, 3), self.dirs, strict=True):
            node_env = {
                **self.h.env,
                "FAAS_DATA_DIR": str(data_dir),
                "FAAS_PORT": str(free_port()),
                "FAAS_NODE_ID": f"{self.h.node}-{number}",
                "FAAS_PREWARM_POOL": "0",
                **env,
            }
            server = Server(node_env, data_dir.parent / f"{data_dir.name}.log")
            server.start()
            self.nodes.append(server)
        return self.nodes

    def stop(self) -> None:
        for server in self.nodes:
            server.stop(timeout=120)
        self.nodes = []

    def close(self) -> None:
        try:
            self.stop()
        finally:
            for number in (2, 3):
                label = f"faas.node={self.h.node}-{number}"
                for container in self.h.docker.containers.list(all=True, filters={"label": label}):
                    container.remove(force=True)
            for data_dir in self.dirs:
                shutil.rmtree(data_dir, ignore_errors=True)


def warm_share(h: Harness, nodes: list[Server], tag: str) -> float:
    """Deploy and call 20 functions once through node 1, then 600 calls round-robin over
    the three nodes: the share of those answered warm."""
    names = [f"rr-{tag}-{i}" for i in range(FUNCTIONS)]
    auth = {"Authorization": f"Bearer {h.admin_key}"}
    urls = [f"http://127.0.0.1:{h.port}", *(n.url for n in nodes)]
    clients = [httpx.Client(base_url=u, timeout=60, headers=auth) for u in urls]
    try:
        for name in names:
            h.upload(name, noop_source(name))
            _invoke(clients[0], name)
        cold = sum(_invoke(clients[i % 3], names[i % FUNCTIONS]) for i in range(ROUND_ROBIN))
    finally:
        for client in clients:
            client.close()
    return (ROUND_ROBIN - cold) / ROUND_ROBIN


def _invoke(client: httpx.Client, name: str) -> bool:
    """Invoke; whether it started cold."""
    reply = client.post(f"/v1/functions/{name}/invoke", json={})
    if reply.status_code != 200:
        raise RuntimeError(f"invoke of {name} answered {reply.status_code}: {reply.text[:300]}")
    return reply.headers["X-Faas-Cold-Start"] == "true"


def run(h: Harness, plan: Plan, result: Result) -> None:
    peers = Peers(h)
    try:
        tag = uuid.uuid4().hex[:6]
        routed = warm_share(h, peers.start(), f"{tag}r")

        # Forwarding: node 2 has no instance of "fwd" and forwards to node 1, which has.
        h.upload("fwd")
        h.upload("capped")
        h.client().patch("/v1/functions/capped", json={"concurrency": 1000}).raise_for_status()
        _invoke(h.client(), "fwd")
        n = max(500, plan.warm_calls // 4)
        node2 = ("127.0.0.1", peers.nodes[0].port)
        with (
            h.gateway() as one,
            httpraw.RawClient(tcp=node2) as two,
            h.gateway() as again,
        ):
            direct, forwarded, capped = interleaved(
                [
                    (one, lambda: h.invoke_request("fwd")),
                    (two, lambda: h.invoke_request("fwd")),
                    (again, lambda: h.invoke_request("capped")),
                ],
                n,
            )
        unrouted = warm_share(h, peers.start(FAAS_WARM_ROUTING="0"), f"{tag}u")
    finally:
        peers.close()
    d, f, c = summary(direct), summary(forwarded), summary(capped)
    result.row(
        "warm share, 600 calls round-robin over 3 nodes",
        "%",
        "warm_share_pct",
        routed * 100,
        baseline=unrouted * 100,
        baseline_label="the same with warm routing off (each node's first call cold)",
    )
    result.row(
        "a forwarded warm invoke, p50",
        "ms",
        "forwarded_p50_ms",
        f["p50"],
        baseline=d["p50"],
        baseline_label="the same invoke through the node that has the instance",
    )
    result.row("added by forwarding, p50", "ms", "forward_added_p50_ms", f["p50"] - d["p50"])
    result.row(
        "a warm invoke of a capped function (a lease per call), p50",
        "ms",
        "capped_p50_ms",
        c["p50"],
        baseline=d["p50"],
        baseline_label="the same invoke of an uncapped function",
    )
    result.row("added by the lease, p50", "ms", "lease_added_p50_ms", c["p50"] - d["p50"])
    result.notes.append(
        f"{FUNCTIONS} functions called once through node 1, then {ROUND_ROBIN} sequential "
        f"calls round-robin over 3 nodes on one Redis; latencies: {n} sequential calls each "
        "side on one keep-alive connection, in alternating blocks"
    )
