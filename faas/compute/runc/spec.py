"""A sandbox's OCI runtime spec (``config.json``): what Docker would have asked runc for.

Pure data, unit-tested alone. The container gets what the Docker backend's
``_run_options`` asks of the engine, spelled for runc directly:

- the runtime image's files as a read-only root (``faas.compute.runc.rootfs``),
  ``/tmp`` a bounded tmpfs, the sandbox's directories bind-mounted as the Docker
  backend mounts them (sockets rw, code and secrets ro, volumes rw, layers ro);
- its own pid, ipc, uts, mount and cgroup namespaces, and a network namespace
  (empty but loopback, or one made by ``faas.compute.runc.network``);
- no capabilities, ``no_new_privs``, the unprivileged sandbox user;
- memory = memory + swap, a pids limit, ``RLIMIT_NOFILE``, and the CPU quota (set
  after init, as the Docker backend's ``DeferredQuota`` does);
- Docker's masked and read-only paths of ``/proc`` and ``/sys``, and a seccomp
  filter refusing the system calls Docker's default profile refuses to a container
  without capabilities (``BLOCKED_SYSCALLS``).

Labels travel as annotations: ``runc list`` shows them, and reaping reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

CPU_PERIOD_US = 10_000

# /proc and /sys entries Docker hides from containers (moby's oci defaults).
MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

# System calls refused with EPERM: those Docker's default seccomp profile allows only
# with a capability this sandbox does not have, or never (kernel keyrings, module
# loading, clock setting, mount, namespaces beyond its own, tracing, reboot, swap).
BLOCKED_SYSCALLS = (
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "fanotify_init",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "personality",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setdomainname",
    "sethostname",
    "setns",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "syslog",
    "umount",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vhangup",
    "vm86",
    "vm86old",
)


def seccomp() -> dict[str, Any]:
    """Allow by default, refuse ``BLOCKED_SYSCALLS`` with EPERM (as Docker does)."""
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": list(BLOCKED_SYSCALLS), "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }


def bind(host: Path | str, inside: str, *, writable: bool) -> dict[str, Any]:
    options = ["rbind", "rw" if writable else "ro", "nosuid", "nodev"]
    return {"destination": inside, "type": "bind", "source": str(host), "options": options}


def oci_config(
    *,
    rootfs: Path,
    args: list[str],
    env: Mapping[str, str],
    cwd: str,
    uid: int,
    hostname: str,
    binds: list[dict[str, Any]],
    tmp_size_mb: int,
    memory_mb: int,
    pids_limit: int,
    nofile: int,
    cgroup: str,
    netns: str | None,
    annotations: Mapping[str, str],
) -> dict[str, Any]:
    """The ``config.json`` of one sandbox (``netns``: a namespace's path to join, or
    None for a new one with only loopback)."""
    memory = memory_mb * 1024 * 1024
    network: dict[str, str] = {"type": "network"}
    if netns is not None:
        network["path"] = netns
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": uid, "gid": uid},
            "args": args,
            "env": [f"{k}={v}" for k, v in env.items()],
            "cwd": cwd,
            "capabilities": {k: [] for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
            "noNewPrivileges": True,
        },
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/dev/mqueue",
                "type": "mqueue",
                "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
            {
                "destination": "/sys/fs/cgroup",
                "type": "cgroup",
                "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
            },
            {
                "destination": "/tmp",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["rw", "nosuid", "nodev", f"size={tmp_size_mb}m", "mode=1777"],
            },
            *binds,
        ],
        "annotations": dict(annotations),
        "linux": {
            "cgroupsPath": cgroup,
            "resources": {
                "devices": [{"allow": False, "access": "rwm"}],
                "memory": {"limit": memory, "swap": memory},
                "pids": {"limit": pids_limit},
            },
            "namespaces": [
                {"type": "pid"},
                network,
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
            ],
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
            "seccomp": seccomp(),
        },
    }
