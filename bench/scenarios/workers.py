"""Worker processes: sync invokes/s at 32 connections with ``faas serve --workers 2``,
against the same server with one process, both running in this run, and where the CPU goes.

Three servers are started (each its own redis-server, node id and containers): one
with ``FAAS_WORKERS=1``, two with ``FAAS_WORKERS=2``, of which one with warm routing
off (``FAAS_WARM_ROUTING=0``): the figure of worker processes themselves. The other
keeps the default, where a worker with no instance of a function forwards its calls
to the worker that has some (``faas.cluster.routing``): what that costs shows beside
it. Each gets the no-op function, warmed by ``wrk -c32``; then ``wrk -t1 -c32`` runs
against each in turn, in a rotating order over a few rounds, so a change in the
machine's load (other test runs share it) hits all alike. The figure of each side is
its median round.

During each round the CPU time of what took part is read from ``/proc``: the
server's processes (supervisor and workers), its runtime containers' processes,
its redis-server, wrk itself, and the whole machine's busy time (the rest is the
kernel's softirqs, dockerd and whatever else runs here). Divided by the requests
answered it is the CPU each invoke costs each party: on 2 cores the invokes/s
cannot pass 2 s of CPU over the sum (docs/scaling.md, "Worker processes").
"""

from __future__ import annotations

import os
import resource
import statistics
from pathlib import Path
from typing import Any

import docker.errors

from bench.harness import Harness, Plan, container_pids, deploy_noop
from bench.model import Result
from bench.scenarios.throughput import wrk

FUNCTION = "noop"
CONNECTIONS = 32
# Clock ticks per second of /proc's CPU times.
TICKS = os.sysconf("SC_CLK_TCK")
# What the CPU of a run is split into: the server's processes and its containers'
# (user and kernel time apart), its redis-server, wrk, and every core's busy time.
PARTS = ("gateway_user", "gateway_sys", "containers_user", "containers_sys")
PARTS += ("redis", "wrk", "machine")
# Each side: its label, and the environment of its server.
SIDES = {
    "w1": ("faas serve, 1 process", {"FAAS_WORKERS": "1"}),
    "w2": ("2 workers", {"FAAS_WORKERS": "2", "FAAS_WARM_ROUTING": "0"}),
    "w2r": ("2 workers, warm routing on", {"FAAS_WORKERS": "2"}),
}
# Sides whose GET /healthz is measured too: the web server alone, with no container.
HEALTHZ = ("w1", "w2")


def run(plan: Plan, result: Result) -> None:
    rounds = 2 if plan.quick else 4
    servers = {side: _server(env) for side, (_, env) in SIDES.items()}
    seen: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    seen.update({f"{side}_healthz": [] for side in HEALTHZ})
    invoke = f"/v1/functions/{FUNCTION}/invoke"
    runs = [(side, invoke) for side in SIDES] + [(f"{s}_healthz", "/healthz") for s in HEALTHZ]
    try:
        for h in servers.values():
            h.start()
            deploy_noop(h)
            wrk(h, invoke, CONNECTIONS, 3, script=True)  # instances up to 32 connections
        for i in range(rounds):
            for name, path in runs[i % len(runs) :] + runs[: i % len(runs)]:
                h = servers[name.split("_")[0]]
                seen[name].append(_measured(h, path, plan.wrk_seconds))
        for side, h in servers.items():
            # Each worker starts instances of its own: what that costs in containers.
            result.figures[f"{side}_instances"] = float(len(h.containers(FUNCTION)))
    finally:
        for h in servers.values():
            h.close()
    _report(result, seen, plan, rounds)


def _server(env: dict[str, str]) -> Harness:
    h = Harness(max_instances=200)
    h.env.update(env)
    return h


def _measured(h: Harness, path: str, seconds: int) -> dict[str, float]:
    """One wrk run, with the CPU seconds each party spent during it."""
    gateway = [h.pid, *_children(h.pid)]
    containers = [pid for c in h.containers(FUNCTION) for pid in _pids(c)]
    redis = [h.redis.proc.pid] if h.redis.proc is not None else []

    def now() -> dict[str, float]:
        gateway_cpu, containers_cpu = _cpu(gateway), _cpu(containers)
        return {
            "gateway_user": gateway_cpu[0],
            "gateway_sys": gateway_cpu[1],
            "containers_user": containers_cpu[0],
            "containers_sys": containers_cpu[1],
            "redis": sum(_cpu(redis)),
            "wrk": _children_cpu(),
            "machine": _machine_busy(),
        }

    before = now()
    figures = wrk(h, path, CONNECTIONS, seconds, script=path != "/healthz")
    after = now()
    requests = figures["requests_per_s"] * seconds
    for part in PARTS:
        spent = after[part] - before[part]
        figures[f"{part}_cpu_s"] = spent
        figures[f"{part}_us_per_invoke"] = spent / requests * 1e6 if requests else 0.0
    return figures


def _report(
    result: Result, seen: dict[str, list[dict[str, float]]], plan: Plan, rounds: int
) -> None:
    median = {side: _median_round(runs) for side, runs in seen.items()}
    for side, figures in median.items():
        for key, value in figures.items():
            result.figures[f"{side}_{key}"] = value
    one, two = median["w1"], median["w2"]
    label = SIDES["w1"][0]
    rate1 = one["requests_per_s"]
    result.row(
        "c=32 invokes/s, 2 workers",
        "/s",
        "c32_invokes_per_s",
        two["requests_per_s"],
        baseline=rate1,
        baseline_label=label,
    )
    result.row("speed-up of 2 workers", "x", "speedup", two["requests_per_s"] / rate1)
    result.row(
        "c=32 invokes/s, 2 workers, warm routing on",
        "/s",
        "c32_routed_invokes_per_s",
        median["w2r"]["requests_per_s"],
        baseline=rate1,
        baseline_label=label,
    )
    result.row(
        "c=32 GET /healthz/s, 2 workers",
        "/s",
        "c32_healthz_per_s",
        median["w2_healthz"]["requests_per_s"],
        baseline=median["w1_healthz"]["requests_per_s"],
        baseline_label=f"{label}, GET /healthz",
    )
    for pct in ("p50", "p99"):
        result.row(
            f"c=32 {pct}, 2 workers",
            "ms",
            f"c32_{pct}_ms",
            two.get(f"{pct}_ms"),
            baseline=one.get(f"{pct}_ms"),
            baseline_label=label,
            chart=False,
        )
    result.row(
        "instances of the function, 2 workers",
        "",
        "instances",
        result.figures.get("w2_instances"),
        baseline=result.figures.get("w1_instances"),
        baseline_label=label,
        chart=False,
    )
    errors = sum(r["errors"] for runs in seen.values() for r in runs)
    result.row("errors, every side", "", "c32_errors", errors, chart=False)
    for part in PARTS:
        result.row(
            f"CPU per invoke: {part.replace('_', ' ')}, 2 workers",
            "us",
            f"{part}_us_per_invoke",
            two[f"{part}_us_per_invoke"],
            baseline=one[f"{part}_us_per_invoke"],
            baseline_label=label,
            chart=False,
        )
    result.row(
        "machine CPU busy, 2 workers",
        "cores",
        "machine_busy_cores",
        two["machine_cpu_s"] / plan.wrk_seconds,
        baseline=one["machine_cpu_s"] / plan.wrk_seconds,
        baseline_label=label,
        chart=False,
    )
    result.notes.append(
        f"wrk -t1 -c{CONNECTIONS} -d{plan.wrk_seconds}s against a server with FAAS_WORKERS=1, "
        "one with 2 (warm routing off) and one with 2 (warm routing on), and GET /healthz "
        f"of the first two, in turn, {rounds} rounds each, the median round of each; CPU "
        "per invoke from /proc (gateway: supervisor and workers; containers: the no-op's "
        "processes; machine: every core's busy time, other runs on this host included)"
    )


def _median_round(runs: list[dict[str, float]]) -> dict[str, float]:
    """The round whose invokes/s is the median (its own figures, kept together)."""
    ranked = sorted(runs, key=lambda r: r["requests_per_s"])
    middle = statistics.median_low([r["requests_per_s"] for r in ranked])
    return next(r for r in ranked if r["requests_per_s"] == middle)


def _pids(container: Any) -> list[int]:
    """A container's host pids; none if it went meanwhile (a reaped or removed one)."""
    try:
        return container_pids(container)
    except docker.errors.NotFound:
        return []


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(p) for p in task.read_text().split()]
    return found


def _cpu(pids: list[int]) -> tuple[float, float]:
    """CPU seconds in user space and in the kernel the live processes of ``pids`` used."""
    user = system = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        user, system = user + int(fields[11]), system + int(fields[12])  # utime, stime
    return user / TICKS, system / TICKS


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_busy() -> float:
    """CPU seconds every core of this machine spent not idle."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / TICKS
