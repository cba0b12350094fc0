"""Cold start: the first invoke of a freshly uploaded function, against ``docker run``.

Project: ``plan.cold_functions`` new functions, each with unique code (a new
code hash, so nothing cached for it), uploaded and then, a second later,
invoked once; the time of that first invoke. The second between functions
lets the server do its background work (refilling any pool of pre-started
containers) as a server in steady state would between new functions.

Baseline: ``docker run`` (create + start over the Docker API, as the platform
calls it) of the same runtime image with the agent as its entrypoint, timed
until ``GET /health`` answers on its socket; the time until a first
``POST /invoke`` answers is kept too.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker.errors

from bench import httpraw
from bench.harness import ATTEMPTS, Harness, Plan, Vanished, discard, gone, noop_source
from bench.model import Result
from bench.scenarios.warm import direct_request
from bench.stats import summary
from faas.compute.lambda_env import function_arn

GAP_S = 1.0
SANDBOX_UID = 10001


def run(h: Harness, plan: Plan, result: Result) -> None:
    project = first_invokes(h, plan.cold_functions, result)
    vanished: list[int] = []
    base, base_invoke = docker_runs(h, plan.cold_functions, vanished)
    p, b, bi = summary(project), summary(base), summary(base_invoke)
    for name, s in (("", p), ("docker_run_", b), ("docker_run_invoke_", bi)):
        for stat in ("p50", "p90", "p99", "mean", "min", "max"):
            result.figures[f"{name}{stat}_ms"] = s[stat]
    label = "docker run until it answers"
    result.row(
        "first invoke p50", "ms", "p50_ms", p["p50"], baseline=b["p50"], baseline_label=label
    )
    result.row(
        "first invoke p99", "ms", "p99_ms", p["p99"], baseline=b["p99"], baseline_label=label
    )
    result.row(
        "first invoke p50",
        "ms",
        "",
        p["p50"],
        baseline=bi["p50"],
        baseline_label="docker run until a first invoke answers",
        chart=False,
    )
    if vanished:
        result.notes.append(
            f"baseline containers removed by something outside the run while measured: "
            f"{len(vanished)}, those samples taken again"
        )
    result.notes.append(
        f"{len(project)} new functions, one first invoke each, {GAP_S:.0f} s apart; baseline: "
        f"{len(base)} docker runs of the runtime image until GET /health answers on the agent "
        "socket"
    )


def first_invokes(
    h: Harness, n: int, result: Result, upload: Callable[[str, str], None] | None = None
) -> list[float]:
    """The first invoke of ``n`` new functions, each uploaded by ``upload(name, tag)``
    (a Python no-op by default) a second before, in ms."""
    out: list[float] = []
    cold = 0
    init_ms: list[float] = []
    run_id = uuid.uuid4().hex[:6]
    with h.gateway() as gw:
        for i in range(n):
            name = f"cold-{run_id}-{i:03d}"
            tag = f"{name} {uuid.uuid4()}"
            if upload is None:
                h.upload(name, noop_source(tag))
            else:
                upload(name, tag)
            time.sleep(GAP_S)
            request = h.invoke_request(name)
            gw.fresh()
            started = time.perf_counter()
            reply = gw.send(request)
            out.append((time.perf_counter() - started) * 1000)
            if reply.status != 200:
                raise RuntimeError(f"first invoke of {name}: {reply.status} {reply.body[:300]!r}")
            cold += reply.headers.get("x-faas-cold-start") == "true"
            if "x-faas-init-duration-ms" in reply.headers:
                init_ms.append(float(reply.headers["x-faas-init-duration-ms"]))
    result.figures["reported_cold_starts"] = float(cold)
    if init_ms:
        result.figures["init_duration_p50_ms"] = summary(init_ms)["p50"]
    return out


def docker_runs(h: Harness, n: int, vanished: list[int]) -> tuple[list[float], list[float]]:
    """``n`` times: ``docker run`` until the agent answers /health, and until a first invoke."""
    image = h.runtime_image()
    code = h.workdir / "baseline-code"
    code.mkdir(exist_ok=True)
    (code / "app.py").write_text(noop_source())
    os.chmod(code, 0o755)
    os.chmod(code / "app.py", 0o644)
    arn = function_arn(h.settings.region, h.settings.account_id, "noop")
    env = {
        "FAAS_SOCKET_DIR": "/run/faas",
        "FAAS_RUNTIME": "python3.11",
        "_HANDLER": "app.handler",
        "LAMBDA_TASK_ROOT": "/var/task",
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "AWS_LAMBDA_FUNCTION_NAME": "noop",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    }
    answers: list[float] = []
    invokes: list[float] = []
    for i in range(n):
        for attempt in range(ATTEMPTS):
            try:
                answer, invoke = docker_run(
                    h, image, env, code, arn, h.workdir / f"run-{i}-{attempt}"
                )
            except Vanished:
                if attempt == ATTEMPTS - 1:
                    raise
                vanished.append(i)
                continue
            answers.append(answer)
            invokes.append(invoke)
            break
    return answers, invokes


def docker_run(
    h: Harness, image: str, env: dict[str, str], code: Path, arn: str, sockets: Path
) -> tuple[float, float]:
    """One ``docker run``: ms until the agent answers /health, and until a first invoke."""
    sockets.mkdir(mode=0o700)
    os.chown(sockets, SANDBOX_UID, SANDBOX_UID)
    sock = sockets / "agent.sock"
    started = time.perf_counter()
    container = h.run_container(
        image,
        environment=env,
        volumes={
            str(sockets): {"bind": "/run/faas", "mode": "rw"},
            str(code): {"bind": "/var/task", "mode": "ro"},
        },
        mem_limit="128m",
    )
    try:
        with httpraw.RawClient(unix=str(sock)) as agent:
            if not wait_for(sock, started + 30):
                raise RuntimeError(f"no agent socket after 30 s: {state(container)}")
            reply = agent.request("GET", "/health")
            answer = (time.perf_counter() - started) * 1000
            if reply.status != 200:
                raise RuntimeError(f"baseline agent /health: {reply.status}")
            reply = agent.send(direct_request(arn))
            invoke = (time.perf_counter() - started) * 1000
            if reply.status != 200:
                raise RuntimeError(f"baseline agent /invoke: {reply.status}")
            return answer, invoke
    except (OSError, RuntimeError) as exc:
        if gone(container):
            raise Vanished(str(exc)) from exc
        raise
    finally:
        discard(container)


def wait_for(sock: Path, deadline: float) -> bool:
    """The agent renames its socket into place when it listens: poll for the name."""
    while not sock.exists():
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.0005)
    return True


def state(container: Any) -> str:
    """What became of a baseline container, for the error message."""
    try:
        container.reload()
        logs = container.logs(tail=5).decode(errors="replace").strip()
        return f"container {container.short_id} is {container.status}; last output: {logs!r}"
    except docker.errors.DockerException as exc:
        return f"container {container.short_id} is gone ({exc})"
