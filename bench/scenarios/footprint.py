"""Footprint: memory of an idle warm instance, and of the gateway under load.

(a) The no-op function's idle warm instance: PSS summed over the container's
processes (``docker top`` pids, ``/proc/<pid>/smaps_rollup``), so pages shared
with other processes count in proportion; RSS and the cgroup's rss +
mapped_file for information. Baseline: an idle container of the same image
running only ``python3 -c "import time; time.sleep(3600)"``, measured the same
way at the same moment.

(b) The ``faas serve`` process (and any children): VmRSS at start, then with
``plan.functions`` functions registered and at least ``plan.instances``
instances warm (functions invoked once each until the node has that many).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import docker.errors
import httpx

from bench import memory
from bench.harness import ATTEMPTS, Harness, Plan, container_pids, discard, gone, noop_source
from bench.model import Result
from tests.helpers import handler_zip, upload

FUNCTION = "noop"
SLEEPER = ["python3", "-c", "import time; time.sleep(3600)"]


def gateway_rss(h: Harness) -> float:
    return memory.rss(memory.descendants(h.pid)) / memory.MB


def at_start(h: Harness, result: Result) -> None:
    result.figures["gateway_start_rss_mb"] = gateway_rss(h)


def container_memory(container: Any) -> dict[str, float]:
    pids = container_pids(container)
    out = {
        "pss_mb": memory.pss(pids) / memory.MB,
        "rss_mb": memory.rss(pids) / memory.MB,
        "processes": float(len(pids)),
    }
    cgroup = memory.memory_cgroup(pids[0])
    if cgroup is not None and (cgroup / "memory.stat").exists():
        stat = memory.cgroup_stat(cgroup)
        used = stat.get("total_rss", stat.get("rss", 0)) + stat.get(
            "total_mapped_file", stat.get("mapped_file", 0)
        )
        out["cgroup_mb"] = used / memory.MB
    return out


def beside_sleeper(
    h: Harness, serving: Any, image: str, sleeper_argv: list[str], result: Result
) -> tuple[dict[str, float], dict[str, float]]:
    """The memory of the idle instance ``serving`` and of a baseline container of
    ``image`` idling in ``sleeper_argv``, both read while both run."""
    for attempt in range(ATTEMPTS):
        sleeper = h.run_container(image, entrypoint=sleeper_argv, mem_limit="128m")
        try:
            time.sleep(2)  # both idle: the instance's last call and the sleeper's start are over
            return container_memory(serving), container_memory(sleeper)
        except docker.errors.APIError:
            if attempt == ATTEMPTS - 1 or not gone(sleeper):
                raise
            result.notes.append("the baseline container was removed from outside the run: retried")
        finally:
            discard(sleeper)
    raise AssertionError("unreachable: the last attempt returns or raises")


def instance(h: Harness, plan: Plan, result: Result) -> None:
    inst, base = beside_sleeper(h, h.instance_of(FUNCTION), h.runtime_image(), SLEEPER, result)
    for key, value in inst.items():
        result.figures[f"instance_{key}"] = value
    for key, value in base.items():
        result.figures[f"sleeper_{key}"] = value
    label = "idle python3 sleep, same image"
    result.row(
        "idle instance PSS",
        "MB",
        "instance_pss_mb",
        inst["pss_mb"],
        baseline=base["pss_mb"],
        baseline_label=label,
    )
    result.row(
        "idle instance RSS",
        "MB",
        "instance_rss_mb",
        inst["rss_mb"],
        baseline=base["rss_mb"],
        baseline_label=label,
    )
    if "cgroup_mb" in inst and "cgroup_mb" in base:
        result.row(
            "idle instance cgroup rss+mapped_file",
            "MB",
            "instance_cgroup_mb",
            inst["cgroup_mb"],
            baseline=base["cgroup_mb"],
            baseline_label=label,
        )
    result.notes.append(
        f"idle instance: {inst['processes']:.0f} processes (agent and runtime); PSS counts pages "
        "shared with other processes in proportion, RSS counts them whole"
    )


def register(h: Harness, total: int) -> tuple[int, list[str]]:
    """Upload no-op functions (each with its own code) until ``total`` are registered.

    Returns the count registered and the names uploaded here (never invoked yet).
    """
    run_id = uuid.uuid4().hex[:6]
    names = [f"reg-{run_id}-{i:04d}" for i in range(total - h.function_count())]

    def one(api: httpx.Client, name: str) -> None:
        made = upload(api, name, handler_zip(noop_source(name)))
        if made.status_code != 201:
            raise RuntimeError(f"upload of {name}: {made.status_code} {made.text}")

    h.fan_out(names, 4, one)
    return h.function_count(), names


def warm_up_to(h: Harness, instances: int, fresh: list[str]) -> int:
    """Invoke functions of ``fresh`` once each until the node has ``instances`` instances."""
    missing = max(0, instances - round(h.instances_metric()))
    if missing > len(fresh):
        raise RuntimeError(f"{missing} more instances wanted, only {len(fresh)} fresh functions")

    def one(api: httpx.Client, name: str) -> None:
        reply = api.post(f"/v1/functions/{name}/invoke", json={})
        if reply.status_code != 200:
            raise RuntimeError(f"invoke of {name}: {reply.status_code} {reply.text}")

    h.fan_out(fresh[:missing], 8, one)
    return round(h.instances_metric())


def loaded(h: Harness, plan: Plan, result: Result, registered: int, fresh: list[str]) -> None:
    started = time.perf_counter()
    instances = warm_up_to(h, plan.instances, fresh)
    warm_s = time.perf_counter() - started
    time.sleep(1)
    rss = gateway_rss(h)
    f = result.figures
    f.update(
        {
            "functions": float(registered),
            "instances": float(instances),
            "containers": float(len(h.containers())),
            "gateway_loaded_rss_mb": rss,
            "warm_up_s": warm_s,
        }
    )
    result.row(
        f"gateway RSS, {registered} functions, {instances} instances",
        "MB",
        "gateway_loaded_rss_mb",
        rss,
        baseline=f.get("gateway_start_rss_mb"),
        baseline_label="the gateway at start",
    )
    result.notes.append(
        f"gateway: VmRSS of faas serve and its children; {instances} instances (faas_instances), "
        f"{f['containers']:.0f} containers of the run, reached in {warm_s:.0f} s"
    )
