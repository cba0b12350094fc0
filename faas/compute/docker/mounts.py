"""Whether mounts this server makes reach the Docker engine, which mounts them into containers.

A bounded volume is a filesystem the server loop-mounts on the host
(``faas.compute.volumes``); the engine bind-mounts that directory into each
container, so it must see the mount: it shares this process's mount
namespace, or the mount holding the volumes directory propagates to it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from faas.compute.volumes import propagates

ENGINE = "dockerd"


def mounts_reach_engine(root: Path) -> bool:
    """Whether a mount made under ``root`` is seen by the Docker engine: it shares this
    process's mount namespace, or the mount holding ``root`` propagates (shared) to the host."""
    own = os.readlink("/proc/self/ns/mnt")
    for pid in filter(str.isdecimal, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == ENGINE:
                if os.readlink(f"/proc/{pid}/ns/mnt") == own:
                    return True
    with open("/proc/self/mountinfo") as mountinfo:
        return propagates(Path(os.path.realpath(root)), mountinfo.read())
