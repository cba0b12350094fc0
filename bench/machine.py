"""The machine a run was made on, for the results files."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _first(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def _run(*args: str) -> str:
    try:
        # wrk --version exits 1 after printing it: keep the output whatever the code.
        return subprocess.run(
            args, cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def describe() -> dict[str, Any]:
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    docker_version = "?"
    try:
        import docker

        client = docker.from_env()
        docker_version = str(client.version().get("Version", "?"))
        client.close()
    except Exception:  # the figure is informative only
        pass
    dirty = _run("git", "status", "--porcelain", "--untracked-files=no")
    return {
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "ram_gb": round(int(mem_kb) / 1024 / 1024, 1) if mem_kb.isdigit() else "?",
        "kernel": platform.release(),
        "docker_version": docker_version,
        "python_version": platform.python_version(),
        "cgroup": "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1",
        "wrk_version": _run("wrk", "--version").split(" [")[0] or "?",
        "git_commit": _run("git", "rev-parse", "--short=12", "HEAD"),
        "git_dirty": dirty not in ("", "?"),
        "loadavg_at_start": os.getloadavg()[0],
    }


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
