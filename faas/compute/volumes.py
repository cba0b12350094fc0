"""Function volumes: the host directories behind them, bounded where the operator says.

A volume is the host directory ``FAAS_VOLUMES_DIR/<name>``, bind-mounted into
every container of every function that names it. Unbounded (the default), it
is a plain directory on the host's disk, made on first use and given to the
sandbox user. Bounded (``FAAS_VOLUME_SIZE_MB``, ``FAAS_VOLUME_SIZES``), it is
a filesystem of its own: a sparse ext4 image ``FAAS_VOLUMES_DIR/.<name>.img``,
loop-mounted at the directory before the first container that mounts it starts
and left mounted (volumes are shared and persistent), mounted again at the
next use after a reboot. A write past the limit fails with ENOSPC inside the
function; the host's disk holds at most the image's size.

What is never done silently:

- a limit newly set on a directory that already holds data: refused, since
  mounting the image over it would hide that data;
- a limit raised for an existing image: the image and its filesystem grow
  (``e2fsck``, ``resize2fs``) when it is next mounted, while nothing holds it;
  until then it keeps its size and the log says so (growing a mounted ext4
  needs CAP_SYS_RESOURCE as well, which servers in containers seldom have);
- a limit lowered or dropped for an existing image: refused, since shrinking
  could lose data and a plain directory would hide the image's.

A bounded volume needs a server that can mount where sandboxes are made (the
container engine's mount namespace: ``mounts_reach``, given by
``faas.compute.factory``), as root with CAP_SYS_ADMIN, e2fsprogs and a loop
device: ``check`` says at start what is missing, rather than let volumes run
unbounded.

mkfs and mount block, so they run in a thread; one caller prepares a volume at
a time (an asyncio lock per name, and a lock on the volumes directory for the
other processes of this host: ``faas serve`` and ``faas worker``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from faas.errors import BackendError, ValidationFailed
from faas.models import VOLUME_NAME_PATTERN

if TYPE_CHECKING:
    from faas.settings import Settings

log = logging.getLogger(__name__)

MB = 1 << 20
# What making, mounting and growing an image needs on the host's PATH.
TOOLS = ("mkfs.ext4", "e2fsck", "resize2fs", "dumpe2fs", "losetup", "mount")
CAP_SYS_ADMIN = 21
LIMIT_VARIABLES = "FAAS_VOLUME_SIZE_MB / FAAS_VOLUME_SIZES"


def parse_sizes(raw: str) -> dict[str, int]:
    """``FAAS_VOLUME_SIZES`` ("data=100,cache=2000"): volume name -> limit in MB (0: none)."""
    sizes: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, equals, size = (s.strip() for s in item.partition("="))
        if not equals or not size.isdecimal():
            raise ValidationFailed(
                f"FAAS_VOLUME_SIZES: {item!r} is not NAME=MB (like data=100,cache=2000)",
                field="volume_sizes",
            )
        if not VOLUME_NAME_PATTERN.fullmatch(name):
            raise ValidationFailed(
                f"FAAS_VOLUME_SIZES: {name!r} is not a volume name", field="volume_sizes"
            )
        if name in sizes:
            raise ValidationFailed(
                f"FAAS_VOLUME_SIZES: volume {name!r} is given twice", field="volume_sizes"
            )
        sizes[name] = int(size)
    return sizes


class Volumes:
    """Prepares each volume's host directory before a container mounts it."""

    def __init__(
        self,
        root: Path,
        *,
        sandbox_uid: int,
        default_mb: int = 0,
        sizes_mb: Mapping[str, int] | None = None,
        mounts_reach: Callable[[Path], bool] | None = None,
    ) -> None:
        self.root = root
        # Whether mounts made here under a directory reach the sandboxes' mount namespace;
        # None: sandboxes are made in this one.
        self._mounts_reach = mounts_reach
        self._uid = sandbox_uid
        self._default_mb = default_mb
        self._sizes_mb = dict(sizes_mb or {})
        self._locks: dict[str, asyncio.Lock] = {}
        # Mount points checked to be their image's (by device), and volumes whose
        # raised limit waits for their next mount (said once).
        self._mounted: dict[Path, int] = {}
        self._told: set[str] = set()

    @classmethod
    def from_settings(
        cls, settings: Settings, mounts_reach: Callable[[Path], bool] | None = None
    ) -> Volumes:
        return cls(
            settings.volumes_root,
            sandbox_uid=settings.sandbox_uid,
            default_mb=settings.volume_size_mb,
            sizes_mb=parse_sizes(settings.volume_sizes),
            mounts_reach=mounts_reach,
        )

    def limit_mb(self, name: str) -> int:
        """The volume's size limit in MB; 0 is none."""
        return self._sizes_mb.get(name, self._default_mb)

    @property
    def bounded(self) -> bool:
        """Whether any volume has a limit."""
        return self._default_mb > 0 or any(self._sizes_mb.values())

    async def check(self) -> None:
        """Refuse to start with limits this server cannot enforce."""
        if not self.bounded:
            return
        problem = await asyncio.to_thread(self._mount_problem)
        if problem is not None:
            raise ValidationFailed(
                f"volume size limits ({LIMIT_VARIABLES}) are set, but {problem}; "
                "unset them to run volumes unbounded",
                field="volume_sizes" if self._sizes_mb else "volume_size_mb",
            )

    async def prepare(self, name: str) -> Path:
        """The host directory of volume ``name``, ready for a container to mount."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            try:
                return await asyncio.to_thread(self._prepare, name)
            except OSError as exc:
                raise BackendError(f"cannot prepare volume {name!r}: {exc.strerror}") from None

    # -- in a thread ------------------------------------------------------------

    def _prepare(self, name: str) -> Path:
        path = self.root / name
        image = self.root / f".{name}.img"
        limit = self.limit_mb(name)
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked(self.root):
            if not image.exists():
                if limit == 0:
                    if not path.exists():
                        path.mkdir(mode=0o755)
                        self._give_to_sandbox_user(path)
                    return path
                if _holds_data(path):
                    raise BackendError(
                        f"volume {name!r} already holds data in FAAS_VOLUMES_DIR/{name}, "
                        "unbounded; a size limit would hide it: move the data elsewhere "
                        f"or drop the volume's limit ({LIMIT_VARIABLES})"
                    )
                self._make_image(image, limit)
            size_mb = image.stat().st_size // MB
            if limit < size_mb:
                wanted = "no limit" if limit == 0 else f"a limit of {limit} MB"
                raise BackendError(
                    f"volume {name!r} is a {size_mb} MB filesystem (FAAS_VOLUMES_DIR/.{name}.img) "
                    f"and now has {wanted}; volumes are never shrunk: set its limit back to "
                    f"{size_mb} MB or more ({LIMIT_VARIABLES}), or move its data out and "
                    "delete the image"
                )
            if not path.exists():
                # Root's: should the image ever be missing, nothing lands on the host disk.
                path.mkdir(mode=0o755)
            if not os.path.ismount(path):
                self._mount(image, path, limit)
            elif limit > size_mb and name not in self._told:
                self._told.add(name)
                log.warning(
                    "volume %s stays %d MB until it is next mounted (after a reboot, or once "
                    "no function uses it: stop the servers and umount FAAS_VOLUMES_DIR/%s); "
                    "then it grows to its new limit of %d MB",
                    name,
                    size_mb,
                    name,
                    limit,
                )
            self._check_mounted(path, image)
            return path

    def _make_image(self, image: Path, limit_mb: int) -> None:
        # Made under another name and renamed: a crash never leaves half an image.
        partial = image.with_name(image.name + ".partial")
        with open(partial, "wb") as out:
            out.truncate(limit_mb * MB)  # sparse: the disk holds what is written
        os.chmod(partial, 0o600)
        # -m 0: no blocks kept for root, who never writes here; the root directory
        # belongs to the sandbox user, as an unbounded volume's does.
        owner = f"root_owner={self._uid}:{self._uid}"
        _run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", owner, str(partial))
        partial.rename(image)
        log.info("made a %d MB filesystem for volume %s", limit_mb, image.name[1:-4])

    def _mount(self, image: Path, path: Path, limit_mb: int) -> None:
        attached = _loop_devices(image)
        if attached:
            # Unmounted while containers still hold it: mounted again from its loop
            # device, since two devices on one ext4 image would corrupt it.
            source = ["-o", "nosuid,nodev", attached[0]]
        else:
            if _filesystem_bytes(image) < limit_mb * MB:
                self._grow(image, limit_mb)
            source = ["-o", "loop,nosuid,nodev", str(image)]
        # No noexec: a function may load libraries from its volume, as from EFS on
        # Lambda (it can run what it writes to /tmp anyway).
        _run("mount", *source, str(path))
        with contextlib.suppress(OSError):
            # Made by mkfs; an unbounded volume has none, and fsck makes one if needed.
            (path / "lost+found").rmdir()

    def _grow(self, image: Path, limit_mb: int) -> None:
        # Offline, while nothing holds the image: growing a mounted ext4 needs
        # CAP_SYS_RESOURCE, which servers in containers seldom have.
        if image.stat().st_size < limit_mb * MB:
            with open(image, "r+b") as out:
                out.truncate(limit_mb * MB)
        # resize2fs wants a checked filesystem; e2fsck -p exits 1 when it fixed something.
        _run("e2fsck", "-f", "-p", str(image), ok=(0, 1))
        _run("resize2fs", str(image))
        log.info("grew volume %s to %d MB", image.name[1:-4], limit_mb)

    def _check_mounted(self, path: Path, image: Path) -> None:
        st_dev = path.stat().st_dev
        if self._mounted.get(path) == st_dev:
            return
        if not any(os.stat(d).st_rdev == st_dev for d in _loop_devices(image)):
            raise BackendError(
                f"FAAS_VOLUMES_DIR/{path.name} is a mount point, but not of the volume's "
                f"image (.{path.name}.img): unmount it"
            )
        self._mounted[path] = st_dev

    def _give_to_sandbox_user(self, path: Path) -> None:
        try:
            os.chown(path, self._uid, self._uid)
        except PermissionError:
            os.chmod(path, 0o777)

    def _mount_problem(self) -> str | None:
        """What keeps this server from enforcing limits, or None."""
        if os.geteuid() != 0 or not _has_capability(CAP_SYS_ADMIN):
            return (
                "this server cannot mount filesystems: it must run as root with "
                "CAP_SYS_ADMIN (a container has no CAP_SYS_ADMIN unless given it)"
            )
        missing = [tool for tool in TOOLS if shutil.which(tool) is None]
        if missing:
            return f"{', '.join(missing)} cannot be found: install e2fsprogs and util-linux"
        try:
            _run("losetup", "-f")
        except BackendError:
            return "no loop device is free or available (/dev/loop*)"
        if self._mounts_reach is not None and not self._mounts_reach(self.root):
            return (
                "mounts made by this server would not reach the container engine (it runs "
                "in a mount namespace of its own whose volumes directory is not shared)"
            )
        return None


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _holds_data(path: Path) -> bool:
    try:
        return any(path.iterdir())
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        return True


def _loop_devices(image: Path) -> list[str]:
    return _run("losetup", "--list", "-n", "-O", "NAME", "-j", str(image)).split()


def _filesystem_bytes(image: Path) -> int:
    fields = dict(
        line.split(":", 1)
        for line in _run("dumpe2fs", "-h", str(image)).splitlines()
        if ":" in line
    )
    return int(fields["Block count"]) * int(fields["Block size"])


def _run(*command: str, ok: tuple[int, ...] = (0,)) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(f"{command[0]} failed: {exc}") from None
    if done.returncode not in ok:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise BackendError(f"{command[0]} failed: {detail[-1] if detail else done.returncode}")
    return done.stdout


def _has_capability(bit: int) -> bool:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> bit & 1)
    return False


def propagates(path: Path, mountinfo: str) -> bool:
    """Whether the mount holding ``path`` is shared, per ``/proc/self/mountinfo``'s text:
    mounts made under it then reach the mount namespaces it is shared with."""
    best, shared = "", False
    for line in mountinfo.splitlines():
        fields = line.split()
        # The kernel writes a space as \040 (and tab, newline, backslash alike).
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
        optional = fields[6 : fields.index("-")]
        inside = path == Path(point) or Path(point) in path.parents
        if inside and len(point) >= len(best):
            best, shared = point, any(f.startswith("shared:") for f in optional)
    return shared
