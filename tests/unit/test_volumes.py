"""Volume size limits as the operator writes them, and where a mount made here reaches."""

from __future__ import annotations

from pathlib import Path

import pytest

from faas.compute.volumes import Volumes, parse_sizes, propagates
from faas.errors import ValidationFailed


@pytest.mark.parametrize(
    ("raw", "sizes"),
    [
        ("", {}),
        ("data=100", {"data": 100}),
        (" data = 100 , cache=2000,", {"data": 100, "cache": 2000}),
        ("data=0,v1.2_x-y=5", {"data": 0, "v1.2_x-y": 5}),
    ],
)
def test_sizes_are_read_per_volume(raw: str, sizes: dict[str, int]) -> None:
    assert parse_sizes(raw) == sizes


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("data", "'data' is not NAME=MB"),
        ("data=", "'data=' is not NAME=MB"),
        ("data=-1", "'data=-1' is not NAME=MB"),
        ("data=1.5", "'data=1.5' is not NAME=MB"),
        ("data=100MB", "'data=100MB' is not NAME=MB"),
        ("../etc=5", "'../etc' is not a volume name"),
        ("=5", "'' is not a volume name"),
        ("data=1,data=2", "volume 'data' is given twice"),
    ],
)
def test_bad_sizes_are_refused_naming_the_variable(raw: str, says: str) -> None:
    with pytest.raises(ValidationFailed, match=f"^FAAS_VOLUME_SIZES: {says}") as refused:
        parse_sizes(raw)
    assert refused.value.field == "volume_sizes"


def test_a_volume_s_own_limit_wins_over_every_volume_s() -> None:
    volumes = Volumes(Path("/v"), sandbox_uid=1, default_mb=100, sizes_mb={"big": 2000, "free": 0})
    assert [volumes.limit_mb(n) for n in ("big", "free", "other")] == [2000, 0, 100]
    assert volumes.bounded
    assert not Volumes(Path("/v"), sandbox_uid=1, sizes_mb={"free": 0}).bounded


# /proc/self/mountinfo of a server in a container: its data dir bind-mounted from the
# host with and without shared propagation, under a private root.
MOUNTINFO = """\
600 500 0:50 / / rw,relatime - overlay overlay rw
601 600 254:0 /srv/faas /var/lib/faas rw,relatime shared:1 master:1 - ext4 /dev/vda rw
602 600 254:0 /srv/other /srv/other rw,relatime - ext4 /dev/vda rw
603 600 254:0 /srv/my\\040dir /srv/my\\040dir rw,relatime shared:7 - ext4 /dev/vda rw
"""


@pytest.mark.parametrize(
    ("path", "shared"),
    [
        ("/var/lib/faas/volumes", True),
        ("/var/lib/faas", True),
        ("/var/lib/faas2/volumes", False),
        ("/srv/other/volumes", False),
        ("/srv/my dir/volumes", True),
        ("/tmp", False),
    ],
)
def test_a_mount_reaches_the_engine_only_under_a_shared_mount(path: str, shared: bool) -> None:
    assert propagates(Path(path), MOUNTINFO) is shared
