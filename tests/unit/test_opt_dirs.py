"""Stories of a function's /opt: its layers' unpacked trees merged in order (faas.compute.opt_dirs),
on a temp dir only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from faas.compute.opt_dirs import OptDirs, merge
from faas.errors import BackendError


def tree(root: Path, files: dict[str, str], executable: tuple[str, ...] = ()) -> Path:
    """A directory holding ``files`` (path -> text), as the code store unpacks a layer."""
    root.mkdir(parents=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755 if name in executable else 0o644)
    return root


def contents(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_later_layers_replace_files_and_directories_merge(tmp_path: Path) -> None:
    # Given two layers sharing a module and a folder, each with files of its own
    first = tree(
        tmp_path / "first",
        {"python/common.py": "first", "python/first.py": "1", "bin/tool": "v1", "lib/x": "dir"},
    )
    second = tree(
        tmp_path / "second",
        {"python/common.py": "second", "python/second.py": "2", "lib": "a file now"},
    )
    target = tmp_path / "opt"
    target.mkdir()
    # When they are merged in that order
    merge([first, second], target)
    # Then the later layer's files win, folders hold both, and a file may replace a folder
    assert contents(target) == {
        "bin/tool": "v1",
        "lib": "a file now",
        "python/common.py": "second",
        "python/first.py": "1",
        "python/second.py": "2",
    }
    # And the layers themselves are untouched
    assert (first / "python/common.py").read_text() == "first"
    assert (first / "lib/x").read_text() == "dir"


def test_a_folder_replaces_a_file_and_modes_and_inodes_are_kept(tmp_path: Path) -> None:
    first = tree(tmp_path / "first", {"config": "a file"})
    second = tree(
        tmp_path / "second", {"config/app.json": "{}", "bin/run": "#!/bin/sh\n"}, ("bin/run",)
    )
    target = tmp_path / "opt"
    target.mkdir()
    merge([first, second], target)
    assert contents(target) == {"bin/run": "#!/bin/sh\n", "config/app.json": "{}"}
    # A script stays executable, and files are the layers' own (hard links, no copies)
    assert stat.S_IMODE((target / "bin/run").stat().st_mode) == 0o755
    assert (target / "bin/run").stat().st_ino == (second / "bin/run").stat().st_ino


def test_a_list_of_layers_is_merged_once_and_mounted_entry_by_entry(tmp_path: Path) -> None:
    a = tree(tmp_path / "a", {"python/m.py": "a", "README": "a"})
    b = tree(tmp_path / "b", {"python/m.py": "b"})
    dirs = OptDirs(tmp_path / "data" / "opt")
    # Each top-level entry goes to /opt/<entry>, read from one merged directory
    mounts = dirs.mounts([("sha-a", a), ("sha-b", b)])
    assert sorted(mounts.values()) == ["/opt/README", "/opt/python"]
    merged = dirs.merged([("sha-a", a), ("sha-b", b)])
    assert {host.parent for host in mounts} == {merged}
    assert (merged / "python/m.py").read_text() == "b"
    # made once: the same list finds it again, and nothing half-made is left beside it
    (b / "python/m.py").unlink()
    assert (dirs.merged([("sha-a", a), ("sha-b", b)]) / "python/m.py").read_text() == "b"
    assert os.listdir(dirs.root) == [merged.name]
    # The other order is another merge, in which the other layer wins
    swapped = dirs.merged([("sha-b", tree(tmp_path / "b2", {"python/m.py": "b"})), ("sha-a", a)])
    assert swapped != merged and (swapped / "python/m.py").read_text() == "a"
    # The merge is readable by the sandbox's user
    assert stat.S_IMODE(merged.stat().st_mode) == 0o755


def test_nothing_may_cover_the_runtime_at_opt_faas(tmp_path: Path) -> None:
    sneaky = tree(tmp_path / "sneaky", {"faas/runtimes/agent.py": "evil"})
    with pytest.raises(BackendError, match="faas"):
        OptDirs(tmp_path / "opt").mounts([("sha", sneaky)])


def test_a_merge_that_fails_leaves_nothing_behind(tmp_path: Path) -> None:
    dirs = OptDirs(tmp_path / "opt")
    with pytest.raises(BackendError, match="layers"):
        dirs.merged([("sha", tmp_path / "gone")])
    assert os.listdir(dirs.root) == []
