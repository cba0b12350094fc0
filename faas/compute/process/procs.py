"""Host processes of the process backend: their records on disk, and how they end.

A sandbox is an agent process in a session of its own, and the runtime the
agent forks in another (the agent makes it a session leader, so that stopping
the runtime takes the handler's children too). Ending a sandbox ends both
sessions: the agent is stopped first, so it forks nothing meanwhile, then its
children's process groups and its own are killed.

Each sandbox leaves a record ``<token>.proc`` (JSON: pid, its start time in
clock ticks since boot, and the node, installation and owner that made it)
beside its socket directory, so that another process of the installation can
find and end the sandboxes of a dead one, as Docker's labels allow. The start
time tells a live agent from an unrelated process that got its pid later.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Record:
    """What identifies a sandbox's agent process, and who made it."""

    pid: int
    started: int
    node: str
    installation: str
    owner: str
    token: str

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def read(cls, path: Path) -> Record | None:
        """The record at ``path``, or None if it is gone or unreadable."""
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None if there is no such process."""
    fields = _stat(pid)
    return None if fields is None else int(fields[19])


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` from the state on, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command may hold spaces and parentheses: the fields follow the last ')'.
    return stat.rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    """The processes ``pid`` forked (the agent has one thread: its task lists them)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def end(record: Record, wait_s: float = 5.0) -> bool:
    """Kill the agent of ``record`` and its runtime's session, and wait (a while) until
    the agent is gone; False if it was gone already."""
    if not _runs(record):
        return False  # exited already; the pid may be someone else's now
    kill_tree(record.pid)
    deadline = time.monotonic() + wait_s
    while _runs(record) and time.monotonic() < deadline:
        time.sleep(0.002)  # a killed process takes a moment to die
    return True


def _runs(record: Record) -> bool:
    """Whether the agent of ``record`` still runs (a zombie, dead but not collected
    by its parent, does not)."""
    fields = _stat(record.pid)
    return fields is not None and fields[0] != "Z" and int(fields[19]) == record.started


def kill_tree(pid: int) -> None:
    """SIGKILL the session of the agent ``pid`` and those of its children."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGSTOP)  # it forks nothing more while we look
    for child in children(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
