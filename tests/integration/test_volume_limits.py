"""Stories of volumes with a size limit: a function can fill its volume, not the host.

A bounded volume is an ext4 image loop-mounted at ``FAAS_VOLUMES_DIR/<name>``
(faas/compute/volumes.py). These stories need a server that can mount: root, a loop
device, mkfs.ext4. Every mount they make is undone after each story.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from faas.compute.volumes import Volumes
from faas.errors import BackendError, ValidationFailed
from faas.outcomes import Outcome
from faas.platform import Platform
from faas.settings import Settings
from tests.helpers import wait_until

MB = 1 << 20
SANDBOX_UID = Settings().sandbox_uid

# Writes up to event["mb"] MB into event["dir"]/event["file"], 1 MB at a time, and says
# how much it wrote and which error stopped it.
WRITER = """
import errno, os
def handler(event, context):
    chunk = b"x" * (1 << 20)
    total, error = 0, None
    fd = os.open(os.path.join(event["dir"], event["file"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        while total < event["mb"] << 20:
            total += os.write(fd, chunk)
    except OSError as exc:
        error = errno.errorcode[exc.errno]
    finally:
        os.close(fd)
    return {"wrote": total, "error": error}
"""

# Lists event["dir"]: file name -> size.
LISTER = """
import os
def handler(event, context):
    where = event["dir"]
    return {name: os.path.getsize(os.path.join(where, name)) for name in os.listdir(where)}
"""


@pytest.fixture(autouse=True)
def unmount_after(data_dir: Path) -> Iterator[None]:
    """Whatever a story mounts under its data dir is unmounted after it (the platform's
    containers are gone by then), and no loop device is left attached."""
    yield
    for point in sorted(mounts_under(data_dir), key=len, reverse=True):
        subprocess.run(["umount", point], check=True)
    wait_until(
        lambda: loop_files_under(data_dir),
        what="its loop devices to be detached",
        done=lambda files: not files,
    )


def mounts_under(directory: Path) -> list[str]:
    with open("/proc/self/mountinfo") as mountinfo:
        points = [line.split()[4] for line in mountinfo]
    return [p for p in points if p.startswith(f"{directory}/")]


def loop_files_under(directory: Path) -> list[str]:
    out = subprocess.run(
        ["losetup", "--list", "-n", "-O", "BACK-FILE"], capture_output=True, text=True, check=True
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip().startswith(f"{directory}/")]


def is_mount_point(path: Path) -> bool:
    return os.path.ismount(path)


def unmount(path: Path) -> None:
    """As a reboot would: the volume's mount is gone."""
    subprocess.run(["umount", str(path)], check=True)


def bytes_on_disk(directory: Path) -> int:
    """What files under ``directory`` take on the host's disk, not counting mounted ones."""
    total = 0
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not os.path.ismount(os.path.join(root, d))]
        total += sum(os.lstat(os.path.join(root, f)).st_blocks * 512 for f in files)
    return total


async def invoke(platform: Platform, name: str, **event: object) -> object:
    result = await platform.invoker.invoke(name, json.dumps(event).encode())
    assert result.outcome is Outcome.SUCCESS, result
    return json.loads(result.payload)


@pytest.mark.settings(volume_sizes="data=50")
@pytest.mark.runc_too
async def test_a_function_fills_its_bounded_volume_not_the_host_disk(  # type: ignore[no-untyped-def]
    platform: Platform, deploy, settings: Settings, data_dir: Path
) -> None:
    # Given an operator who limits volume "data" to 50 MB, and two functions mounting it
    await deploy("writer", WRITER, volumes={"data": "/mnt/data"}, memory_mb=1024, timeout_s=60)
    await deploy("lister", LISTER, volumes={"data": "/mnt/shared"})
    # When one writes 300 MB into it, 1 MB at a time
    wrote = await invoke(platform, "writer", dir="/mnt/data", file="fill", mb=300)
    # Then the write stops with ENOSPC at the volume's size
    assert isinstance(wrote, dict)
    assert wrote["error"] == "ENOSPC", wrote
    assert 35 * MB <= wrote["wrote"] <= 50 * MB, wrote
    # and what it wrote is there for the other function, in another container
    assert await invoke(platform, "lister", dir="/mnt/shared") == {"fill": wrote["wrote"]}
    # and the host's disk holds no more than the volume's 50 MB image
    image = settings.volumes_root / ".data.img"
    assert image.stat().st_size == 50 * MB
    assert bytes_on_disk(data_dir) <= 50 * MB + MB


@pytest.mark.settings(volume_sizes="data=50")
async def test_a_bounded_volume_is_mounted_again_after_a_reboot(  # type: ignore[no-untyped-def]
    platform: Platform, deploy, settings: Settings
) -> None:
    # Given a bounded volume a function wrote a file to
    await deploy("writer", WRITER, volumes={"data": "/mnt/data"})
    await invoke(platform, "writer", dir="/mnt/data", file="note", mb=1)
    # When the host reboots: no container holds the volume, its mount is gone
    await platform.scheduler.retire("writer")
    volume = settings.volumes_root / "data"
    unmount(volume)
    assert not is_mount_point(volume)
    # Then the next function to mount it finds the file, on the bounded volume
    await deploy("lister", LISTER, volumes={"data": "/mnt/data"})
    assert await invoke(platform, "lister", dir="/mnt/data") == {"note": MB}
    assert is_mount_point(volume)


@pytest.mark.settings(volume_sizes="data=50")
async def test_a_volume_without_a_limit_is_a_plain_directory_as_before(  # type: ignore[no-untyped-def]
    platform: Platform, deploy, settings: Settings
) -> None:
    # Given a limit on volume "data" only, and a function mounting volume "free"
    await deploy("writer", WRITER, volumes={"free": "/mnt/free"}, memory_mb=1024, timeout_s=60)
    # When it writes 60 MB into "free"
    wrote = await invoke(platform, "writer", dir="/mnt/free", file="fill", mb=60)
    # Then all of it lands in the plain host directory, as before limits existed
    assert wrote == {"wrote": 60 * MB, "error": None}
    free = settings.volumes_root / "free"
    assert not is_mount_point(free)
    assert (free / "fill").stat().st_size == 60 * MB
    assert not (settings.volumes_root / ".free.img").exists()


@pytest.mark.settings(volume_sizes="data=50")
async def test_a_limit_on_a_volume_that_holds_data_is_refused_and_hides_nothing(  # type: ignore[no-untyped-def]
    platform: Platform, deploy, settings: Settings
) -> None:
    # Given volume "data", unbounded until now, holding a file
    volume = settings.volumes_root / "data"
    volume.mkdir(parents=True)
    (volume / "old.txt").write_text("kept")
    await deploy("lister", LISTER, volumes={"data": "/mnt/data"})
    # When a function mounting it is invoked, now that "data" has a limit
    with pytest.raises(BackendError) as refused:
        await platform.invoker.invoke("lister", b"{}")
    # Then the platform says what to do, and neither mounts over the data nor moves it
    assert "volume 'data' already holds data" in refused.value.message
    assert "move the data elsewhere or drop the volume's limit" in refused.value.message
    assert not is_mount_point(volume)
    assert (volume / "old.txt").read_text() == "kept"
    assert not (settings.volumes_root / ".data.img").exists()


async def test_a_raised_limit_grows_the_volume_at_its_next_mount_and_a_lowered_one_is_refused(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = data_dir / "volumes"

    def volumes(**sizes: int) -> Volumes:
        return Volumes(root, sandbox_uid=SANDBOX_UID, sizes_mb=sizes)

    def size(path: Path) -> int:
        stat = os.statvfs(path)
        return stat.f_blocks * stat.f_frsize

    # Given a 20 MB volume holding a file
    path = await volumes(data=20).prepare("data")
    (path / "kept").write_bytes(b"k" * MB)
    assert size(path) < 20 * MB
    # When its limit is raised to 60 MB while it is mounted
    assert await volumes(data=60).prepare("data") == path
    # Then it keeps its size for now, and the log says when it grows
    assert size(path) < 20 * MB
    assert "volume data stays 20 MB until it is next mounted" in caplog.text
    # And once it is mounted again (after a reboot), it has grown, with the file in it
    unmount(path)
    assert await volumes(data=60).prepare("data") == path
    assert 50 * MB < size(path) <= 60 * MB
    assert (root / ".data.img").stat().st_size == 60 * MB
    assert (path / "kept").read_bytes() == b"k" * MB
    # And a lower limit, or none, is refused rather than shrink or hide the volume
    for lowered, wanted in [(volumes(data=30), "a limit of 30 MB"), (volumes(), "no limit")]:
        with pytest.raises(BackendError, match=f"is a 60 MB filesystem .* now has {wanted}"):
            await lowered.prepare("data")
    assert (path / "kept").read_bytes() == b"k" * MB


async def test_concurrent_cold_starts_make_and_mount_one_filesystem(data_dir: Path) -> None:
    root = data_dir / "volumes"
    # Given two processes of one server (faas serve, faas worker) on one host
    serve, worker = (Volumes(root, sandbox_uid=SANDBOX_UID, default_mb=30) for _ in range(2))
    # When each prepares volume "data" for several cold starts at once
    paths = await asyncio.gather(*(v.prepare("data") for v in [serve, worker] * 4))
    # Then one filesystem is made and mounted once, owned by the sandbox user
    assert set(paths) == {root / "data"}
    assert mounts_under(data_dir) == [str(root / "data")]
    assert (root / "data").stat().st_uid == SANDBOX_UID
    assert sorted(p.name for p in root.iterdir()) == [".data.img", "data"]


@pytest.mark.settings(volume_size_mb=100)
async def test_a_server_that_cannot_mount_refuses_to_start_with_limits(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given volume limits on a host where mkfs.ext4 cannot be found
    monkeypatch.setenv("PATH", "/nonexistent")
    platform = Platform(settings)
    # When the server starts
    try:
        with pytest.raises(ValidationFailed) as refused:
            await platform.start()
    finally:
        await platform.close()
    # Then it refuses, naming the settings and what is missing, rather than run unbounded
    assert "FAAS_VOLUME_SIZE_MB / FAAS_VOLUME_SIZES" in refused.value.message
    assert "mkfs.ext4" in refused.value.message
    assert refused.value.field == "volume_size_mb"
    # And without limits the same host starts (volumes unbounded, as before)
    unbounded = Platform(dataclasses.replace(settings, volume_size_mb=0))
    await unbounded.volumes.check()
    await unbounded.close()
