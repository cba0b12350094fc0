"""The ``/opt`` of functions with layers: their trees merged into one host directory.

Lambda extracts a function's layers into ``/opt`` in order, a later layer's
file replacing an earlier one's. The runtime image keeps its own code at
``/opt/faas``, so a sandbox cannot get a directory mounted over ``/opt``:
instead the layers' unpacked trees (the code store's) are merged into one
directory per list of layers, and each of its top-level entries is mounted
read-only at ``/opt/<entry>`` (layers may not hold a top-level ``faas``:
``faas.catalog.layers``).

Layout under ``root``::

    <hash>/       the merge of one list of layers, named by the hash of their
                  zips' sha256s in order (so shared by every function listing
                  the same layers)
    .tmp-*        merges in progress

Files are hard links to the code store's (a copy where a link cannot cross
filesystems): a merge costs directory entries, not the layers' bytes again. A
merge appears by one rename of a complete directory, so a sandbox never mounts
half of one; two processes merging the same list at once both succeed with the
same result. A merge no function or version lists any more is removed by the code
sweep (``faas.cluster.sweep``), as the zips it comes from are; a merge in use has its
time touched, so the sweep leaves one that was just made or reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from faas.compute.sandbox_dirs import link_or_copy
from faas.errors import BackendError

OPT = "/opt"
# The image's own directory under /opt (LAMBDA_RUNTIME_DIR): never covered.
RUNTIME_ENTRY = "faas"
_TMP_PREFIX = ".tmp-"
# A merge in progress older than this was left by a process that died merging.
_TMP_STALE_S = 600.0


def merge_key(shas: Sequence[str]) -> str:
    """The name of the merge of the layers whose zips are ``shas``, in the function's order."""
    return hashlib.sha256("\n".join(shas).encode()).hexdigest()[:32]


class OptDirs:
    """Merged ``/opt`` trees of lists of layers, made on first use, kept by their hash."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def mounts(self, layers: Sequence[tuple[str, Path]]) -> dict[Path, str]:
        """Blocking: host path -> path inside (read-only) of each top-level entry of the
        merge of ``layers``, (sha256, unpacked tree) pairs in the function's order."""
        merged = self.merged(layers)
        entries = sorted(os.listdir(merged))
        if RUNTIME_ENTRY in entries:
            raise BackendError(f"a layer holds a top-level {RUNTIME_ENTRY!r}, which /opt keeps")
        return {merged / entry: f"{OPT}/{entry}" for entry in entries}

    def merged(self, layers: Sequence[tuple[str, Path]]) -> Path:
        """Blocking: the directory holding the merge of ``layers``, made if missing."""
        final = self.root / merge_key([sha for sha, _ in layers])
        if final.is_dir():
            with contextlib.suppress(OSError):
                os.utime(final)  # in use: the sweep leaves it
            return final
        self.root.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=self.root))
        try:
            os.chmod(temp, 0o755)
            merge([tree for _, tree in layers], temp)
            try:
                os.rename(temp, final)
            except OSError:
                if not final.is_dir():  # not a lost race with another merge
                    raise
            return final
        except OSError as exc:
            raise BackendError(f"cannot place the function's layers under /opt: {exc}") from None
        finally:
            shutil.rmtree(temp, ignore_errors=True)

    def keys(self) -> dict[str, float]:
        """Blocking: every merge here, by name, with when it was last made or used (epoch
        s); merges in progress left by a dead process are removed on the way."""
        found: dict[str, float] = {}
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return found
        now = time.time()
        for entry in entries:
            try:
                used = entry.stat(follow_symlinks=False).st_mtime
            except FileNotFoundError:
                continue
            if not entry.name.startswith(_TMP_PREFIX):
                found[entry.name] = used
            elif now - used > _TMP_STALE_S:
                shutil.rmtree(entry.path, ignore_errors=True)
        return found

    def remove(self, key: str) -> None:
        """Blocking: remove the merge ``key``, first renamed aside, so a sandbox asking
        for it from now on gets a new one."""
        gone = self.root / f"{_TMP_PREFIX}gone-{key}"
        try:
            os.rename(self.root / key, gone)
        except FileNotFoundError:
            return
        shutil.rmtree(gone, ignore_errors=True)


def merge(trees: Sequence[Path], target: Path) -> None:
    """Lay ``trees`` over the existing directory ``target`` in order, as unzipping each
    into it would: directories merge, and a later tree's file (or directory) replaces
    whatever an earlier one had at its path. Modes are kept; files are hard-linked."""
    for tree in trees:
        _overlay(tree, target)


def _overlay(source: Path, target: Path) -> None:
    for entry in os.scandir(source):
        into = target / entry.name
        if entry.is_dir(follow_symlinks=False):
            if into.is_symlink() or (into.exists() and not into.is_dir()):
                into.unlink()
            if not into.exists():
                into.mkdir()
                os.chmod(into, entry.stat(follow_symlinks=False).st_mode & 0o7777)
            _overlay(Path(entry.path), into)
            continue
        if into.is_dir() and not into.is_symlink():
            shutil.rmtree(into)
        elif into.exists() or into.is_symlink():
            into.unlink()
        link_or_copy(entry.path, into)
