"""The cgroups of runc sandboxes, read and written directly (no process spawned).

runc makes each sandbox's cgroup at ``faas-runc/<token>``: under each controller on
cgroup v1, under the root on v2. Setting the CPU quota after init (``runc
update``) and asking whether the kernel killed for memory are a file write and a
read here, where a ``runc`` run costs a fork and exec of the server.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PARENT = "faas-runc"


def set_cpu_quota(token: str, period_us: int, quota_us: int, root: Path = ROOT) -> bool:
    """Blocking: the CFS quota of sandbox ``token``; False if its cgroup is gone."""
    v1 = root / "cpu" / PARENT / token
    try:
        if v1.is_dir():
            (v1 / "cpu.cfs_period_us").write_text(str(period_us))
            (v1 / "cpu.cfs_quota_us").write_text(str(quota_us))
        else:
            (root / PARENT / token / "cpu.max").write_text(f"{quota_us} {period_us}")
    except FileNotFoundError:
        return False
    return True


def oom_killed(token: str, root: Path = ROOT) -> bool:
    """Blocking: whether the kernel killed a process of sandbox ``token`` for memory
    (v1's ``memory.oom_control``, v2's ``memory.events``), while its cgroup exists."""
    for path in (
        root / "memory" / PARENT / token / "memory.oom_control",
        root / PARENT / token / "memory.events",
    ):
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and value.strip() not in ("", "0"):
                    return True
    return False
