"""New functions: one cold start that finds no generic container, and a burst of first
calls to many distinct functions, each against plain ``docker run``s in the same run.

Both are measured twice when runc is here (root): on a server of the runc backend
(``FAAS_BACKEND=runc``), whose figures the targets read, then on one of the Docker
backend (keys prefixed ``docker_``), each against its own baselines. Each runs on a
server of its own, started here (node ``bench-<random>``, a temporary
Redis): the burst needs room (``FAAS_MAX_INSTANCES`` is raised to ``BURST + 50``
from the default 64, which 100 functions would pass) and a server with none of the
other scenarios' instances.

Pool-empty cold start: a function whose profile the pre-warmed pool does not keep
(256 MB; the server keeps only the default profile, ``FAAS_PREWARM_PROFILES=1``),
uploaded, then a second later invoked once: the time of that first invoke. The
baseline is a ``docker run`` (create + start over the Docker API) of the same runtime
image with the agent as its entrypoint, until ``GET /health`` answers on its socket,
as in ``cold``. The two alternate, sample by sample, so the machine's load hits both.

Burst: ``BURST`` functions uploaded, then one first call to each, all at once (each
on its own connection, opened beforehand, released by a barrier); the figure is the
time from the first send to the last answer. The baseline is ``BURST`` ``docker run``s
of the runtime image with the same parallelism (one thread each, released by a
barrier), until each agent answers ``/health``; measured first, its containers
removed before the functions' burst.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import httpx

from bench import httpraw
from bench.harness import (
    ATTEMPTS,
    Harness,
    Plan,
    Vanished,
    deploy_noop,
    discard,
    gone,
    noop_source,
)
from bench.model import Result
from bench.scenarios.cold import SANDBOX_UID, state, wait_for
from bench.stats import summary
from faas.compute.docker.backend import FUNCTION_NETWORK
from tests.helpers import handler_zip, upload

BURST = 100
GAP_S = 1.0
# Not a profile the server keeps generic containers of (it keeps the default's only).
UNPOOLED_MB = 256
REMOVERS = 8
# A thread that failed before the barrier breaks it for the others after this long.
BARRIER_S = 120.0


def run(plan: Plan, result: Result) -> None:
    """On the runc backend (the targets' figures) when runc is here, then on the
    Docker backend (its figures beside them, keys prefixed ``docker_``)."""
    backends = (["runc"] if shutil.which("runc") and os.geteuid() == 0 else []) + ["docker"]
    for backend in backends:
        measure(plan, result, backend, prefix="" if backend == backends[0] else "docker_")


def measure(plan: Plan, result: Result, backend: str, prefix: str) -> None:
    h = Harness(max_instances=BURST + 50)
    h.env["FAAS_PREWARM_PROFILES"] = "1"
    h.env["FAAS_BACKEND"] = backend
    why: list[str] = []
    try:
        h.start()
        deploy_noop(h)  # the runtime image built and known
        baseline = Baseline(h)
        singles = 4 if plan.quick else 10
        project, base, same_net = pool_empty_starts(h, baseline, singles, result, prefix)
        base_s, base_calls = baseline.burst(BURST)
        burst_s, calls, statuses = first_calls(h, BURST, why)
    finally:
        h.close()
    p, b, n = summary(project), summary(base), summary(same_net)
    c, bc = summary(calls), summary(base_calls)
    failures = sum(v for k, v in statuses.items() if k != 200)
    on = f" ({backend} backend)"
    f = result.figures
    f.update(
        {
            f"{prefix}pool_empty_docker_run_p50_ms": b["p50"],
            f"{prefix}pool_empty_docker_run_functions_network_p50_ms": n["p50"],
            f"{prefix}burst_docker_runs_s": base_s,
            f"{prefix}burst_calls": float(BURST),
            f"{prefix}burst_throttled": float(statuses.get(429, 0)),
        }
    )
    label = "docker run until it answers"
    result.row(
        "pool-empty first invoke p50" + on,
        "ms",
        f"{prefix}pool_empty_p50_ms",
        p["p50"],
        baseline=b["p50"],
        baseline_label=label,
    )
    result.row(
        "pool-empty p50 ratio" + on,
        "x",
        f"{prefix}pool_empty_ratio",
        p["p50"] / b["p50"],
        chart=False,
    )
    result.row(
        "pool-empty first invoke p50" + on,
        "ms",
        "",
        p["p50"],
        baseline=n["p50"],
        baseline_label=f"docker run on the functions' network ({FUNCTION_NETWORK})",
        chart=False,
    )
    burst_label = f"{BURST} docker runs at once, until each answers"
    result.row(
        f"all {BURST} first calls answered" + on,
        "s",
        f"{prefix}burst_all_answered_s",
        burst_s,
        baseline=base_s,
        baseline_label=burst_label,
    )
    result.row(
        "first call p50" + on,
        "ms",
        f"{prefix}burst_call_p50_ms",
        c["p50"],
        baseline=bc["p50"],
        baseline_label=burst_label,
        chart=False,
    )
    result.row("burst speed-up" + on, "x", f"{prefix}burst_speedup", base_s / burst_s, chart=False)
    result.row(
        "burst calls not 200" + on, "", f"{prefix}burst_failures", float(failures), chart=False
    )
    result.notes.append(
        f"{backend} backend: its own server, FAAS_MAX_INSTANCES={BURST + 50} (the default 64 "
        f"is below {BURST} functions) and FAAS_PREWARM_PROFILES=1; {len(project)} pool-empty "
        f"first invokes ({UNPOOLED_MB} MB functions, no generic container of their profile), "
        f"{GAP_S:.0f} s after each upload, alternating with as many docker runs; "
        f"pool-empty p50 {p['p50']:.0f} ms (min {p['min']:.0f}, max {p['max']:.0f}), "
        f"docker run p50 {b['p50']:.0f} ms (min {b['min']:.0f}, max {b['max']:.0f})"
    )
    if baseline.vanished:
        result.notes.append(
            f"baseline containers removed by something outside the run while measured: "
            f"{baseline.vanished}, taken again (in the burst, left out of its figure)"
        )
    result.notes.append(
        f"{backend} backend: burst statuses {dict(sorted(statuses.items()))}; first call p50 "
        f"{c['p50']:.0f} ms, max {c['max']:.0f} ms; docker runs p50 {bc['p50']:.0f} ms, "
        f"max {bc['max']:.0f} ms" + (f"; answers not 200: {why}" if why else "")
    )


def pool_empty_starts(
    h: Harness, baseline: Baseline, n: int, result: Result, prefix: str
) -> tuple[list[float], list[float], list[float]]:
    """``n`` first invokes of new functions of a profile the pool does not keep, each
    followed by a ``docker run`` until it answers, and one on the functions' network
    (a user-defined bridge: Docker sets up its DNS in each container); all in ms."""
    project: list[float] = []
    base: list[float] = []
    same_net: list[float] = []
    cold = 0
    run_id = uuid.uuid4().hex[:6]
    with h.gateway() as gw:
        for i in range(n):
            name = f"empty-{run_id}-{i:03d}"
            h.upload(name, noop_source(f"{name} {uuid.uuid4()}"), memory_mb=str(UNPOOLED_MB))
            time.sleep(GAP_S)
            request = h.invoke_request(name)
            gw.fresh()
            started = time.perf_counter()
            reply = gw.send(request)
            project.append((time.perf_counter() - started) * 1000)
            if reply.status != 200:
                raise RuntimeError(f"first invoke of {name}: {reply.status} {reply.body[:300]!r}")
            cold += reply.headers.get("x-faas-cold-start") == "true"
            base.append(baseline.one())
            same_net.append(baseline.one(FUNCTION_NETWORK))
    result.figures[f"{prefix}pool_empty_reported_cold"] = float(cold)
    return project, base, same_net


def first_calls(h: Harness, n: int, why: list[str]) -> tuple[float, list[float], Counter[int]]:
    """``n`` new functions, then one first call to each at once: seconds until all
    answered, each call's ms, status counts; the first answers that were not 200
    go to ``why``."""
    run_id = uuid.uuid4().hex[:6]
    names = [f"many-{run_id}-{i:03d}" for i in range(n)]

    def make(api: httpx.Client, name: str) -> None:
        made = upload(api, name, handler_zip(noop_source(f"{name} {uuid.uuid4()}")))
        if made.status_code != 201:
            raise RuntimeError(f"upload of {name} failed: {made.status_code} {made.text}")

    h.fan_out(names, 4, make)
    time.sleep(GAP_S)  # as between an upload and its first call in `cold`
    barrier = threading.Barrier(n)
    starts, ends = [0.0] * n, [0.0] * n
    statuses = [0] * n

    def call(i: int) -> None:
        request = h.invoke_request(names[i])
        with h.gateway() as gw:
            gw.connect()
            barrier.wait(BARRIER_S)
            starts[i] = time.perf_counter()
            try:
                reply = gw.send(request)
                statuses[i] = reply.status
                if reply.status != 200 and len(why) < 3:
                    why.append(f"{reply.status} {reply.body[:200].decode(errors='replace')}")
            except OSError as exc:
                statuses[i] = -1
                if len(why) < 3:
                    why.append(repr(exc))
            ends[i] = time.perf_counter()

    together(call, n)
    calls = [(e - s) * 1000 for s, e in zip(starts, ends, strict=True)]
    return max(ends) - min(starts), calls, Counter(statuses)


class Baseline:
    """``docker run`` of the server's runtime image with the agent as its entrypoint,
    until ``GET /health`` answers on its socket (as ``cold``'s baseline)."""

    def __init__(self, h: Harness) -> None:
        self._h = h
        self._image = h.runtime_image()
        self._code = h.workdir / "new-functions-code"
        self._code.mkdir()
        (self._code / "app.py").write_text(noop_source())
        os.chmod(self._code, 0o755)
        os.chmod(self._code / "app.py", 0o644)
        self._env = {
            "FAAS_SOCKET_DIR": "/run/faas",
            "FAAS_RUNTIME": "python3.11",
            "_HANDLER": "app.handler",
            "LAMBDA_TASK_ROOT": "/var/task",
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
            "AWS_LAMBDA_FUNCTION_NAME": "noop",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        }
        self._made = 0
        # Samples whose container something outside the run removed while measured.
        self.vanished = 0

    def one(self, network: str | None = None) -> float:
        """One ``docker run`` until it answers, in ms; the container removed after.
        On Docker's default bridge, unless ``network`` is named."""
        for attempt in range(ATTEMPTS):
            try:
                container, ms = self._run(self._h.docker, network=network)
            except Vanished:
                self.vanished += 1
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            discard(container)
            return ms
        raise AssertionError("unreachable")

    def burst(self, n: int) -> tuple[float, list[float]]:
        """``n`` ``docker run``s at once: seconds until all answered, each one's ms."""
        client = docker.from_env(timeout=300, max_pool_size=n)
        made: list[Any] = [None] * n
        took = [0.0] * n
        starts, ends = [0.0] * n, [0.0] * n
        vanished = [False] * n
        barrier = threading.Barrier(n)
        # Prepared before the barrier, as the functions' calls open their connections.
        prepared = [self._sockets() for _ in range(n)]

        def start(i: int) -> None:
            barrier.wait(BARRIER_S)
            starts[i] = time.perf_counter()
            for attempt in range(ATTEMPTS):
                try:
                    made[i], took[i] = self._run(client, prepared[i] if attempt == 0 else None)
                    break
                except Vanished:
                    self.vanished += 1
                    vanished[i] = True
                    if attempt == ATTEMPTS - 1:
                        raise
            ends[i] = time.perf_counter()

        try:
            together(start, n)
        finally:
            # A few at a time: 100 removals at once stalled the engine for minutes here.
            with ThreadPoolExecutor(REMOVERS) as pool:
                list(pool.map(discard, [c for c in made if c]))
            client.close()
        if not all(made):
            raise RuntimeError("some baseline docker runs failed (see above)")
        # A sample taken again started later, with less to compete with: left out.
        kept = [i for i in range(n) if not vanished[i]]
        if len(kept) < n // 2:
            raise RuntimeError(f"{n - len(kept)} of {n} baseline containers removed by others")
        return max(ends[i] for i in kept) - min(starts), [took[i] for i in kept]

    def _sockets(self) -> Path:
        self._made += 1
        sockets = self._h.workdir / f"new-functions-run-{self._made}"
        sockets.mkdir(mode=0o700)
        os.chown(sockets, SANDBOX_UID, SANDBOX_UID)
        return sockets

    def _run(
        self, client: docker.DockerClient, sockets: Path | None = None, network: str | None = None
    ) -> tuple[Any, float]:
        sockets = sockets or self._sockets()
        more = {} if network is None else {"network_mode": network}
        sock = sockets / "agent.sock"
        labels = {"faas.bench": "1", "faas.node": self._h.node}
        started = time.perf_counter()
        container = client.containers.run(
            self._image,
            detach=True,
            labels=labels,
            environment=self._env,
            volumes={
                str(sockets): {"bind": "/run/faas", "mode": "rw"},
                str(self._code): {"bind": "/var/task", "mode": "ro"},
            },
            mem_limit="128m",
            **more,
        )
        try:
            if not wait_for(sock, started + 120):
                raise RuntimeError(f"no agent socket after 120 s in {container.short_id}")
            health(sock)
        except BaseException as exc:
            if isinstance(exc, Exception) and removed(container):
                discard(container)
                raise Vanished(str(exc)) from exc
            why = state(container)
            discard(container)
            if isinstance(exc, Exception):
                raise RuntimeError(f"baseline docker run failed ({exc!r}): {why}") from exc
            raise
        return container, (time.perf_counter() - started) * 1000


def removed(container: Any) -> bool:
    """Whether something outside the run removed the container (its removal can
    start a moment after its agent's connection dropped)."""
    deadline = time.perf_counter() + 1.0
    while not gone(container):
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.05)
    return True


def health(sock: Path) -> None:
    """``GET /health`` answered 200 on the agent's socket."""
    with httpraw.RawClient(unix=str(sock)) as agent:
        reply = agent.request("GET", "/health")
    if reply.status != 200:
        raise RuntimeError(f"baseline agent /health: {reply.status}")


def together(job: Any, n: int) -> None:
    """``job(i)`` for ``i`` in ``range(n)``, one thread each; the first error re-raised."""
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            job(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
