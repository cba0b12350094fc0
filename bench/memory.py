"""Memory of processes and containers, read from /proc and the cgroup v1 files (as root)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

MB = 1024 * 1024


def _kb_field(path: Path, name: str) -> int:
    """A ``Name:   123 kB`` line of a /proc file, in bytes (0 if the process is gone)."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def pss(pids: Iterable[int]) -> int:
    """Proportional set size of these processes together: shared pages counted once."""
    return sum(_kb_field(Path(f"/proc/{pid}/smaps_rollup"), "Pss") for pid in pids)


def rss(pids: Iterable[int]) -> int:
    return sum(_kb_field(Path(f"/proc/{pid}/status"), "VmRSS") for pid in pids)


def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += children.get(current, [])
    return out


def memory_cgroup(pid: int) -> Path | None:
    """The cgroup v1 memory directory of a process."""
    try:
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "memory" in controllers.split(","):
                return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
    except OSError:
        pass
    return None


def cgroup_stat(directory: Path) -> dict[str, int]:
    stat = {}
    for line in (directory / "memory.stat").read_text().splitlines():
        name, value = line.split()
        stat[name] = int(value)
    return stat
