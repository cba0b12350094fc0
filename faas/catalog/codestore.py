"""The code store: uploaded bundles, content-addressed by the sha256 of the zip.

Layout under ``root``::

    zips/<sha256>.zip       the bundle as uploaded, validated, never rewritten
    unpacked/<sha256>/      its files, extracted on first use (mounted read-only)
    unpacked/.tmp-*         extractions and removals in progress
    tmp/                    upload spool files (the gateway writes request bodies here)

Every final path appears by one rename of a complete, fsynced temp file or
directory, so a reader never sees half a bundle, even after a power cut (that
is why each unpacked file is fsynced: it costs about a second per few thousand
files, once per upload); every rejected upload leaves nothing behind. Two
processes storing or unpacking the same sha at once both succeed with the same
result. Temp entries left by a crash are not swept here; bundles nothing refers to
any more are removed by the code sweep (``faas.cluster.sweep``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from faas.catalog.bundle import BundleLimits, inspect_bundle, walk_bundle
from faas.errors import BundleTooLarge, InvalidBundle

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1024 * 1024
_TMP_PREFIX = ".tmp-"


# Sees an upload's unpacked files and raises (``InvalidBundle``) to refuse them.
Check = Callable[[Path], None]
# Stores an upload (``put_unpacked``, in a thread): the code store's alone on one node;
# with a cluster, also marked against sweeps and written to S3 (``faas.cluster.code``).
StoreCode = Callable[[Path, Check | None], Awaitable["CodeRef"]]


@dataclass(frozen=True)
class CodeRef:
    """A stored bundle: the sha256 of its zip (lowercase hex) and its size in bytes."""

    sha256: str
    size: int


class CodeStore:
    """Validated, content-addressed function bundles on local disk."""

    def __init__(self, root: Path, limits: BundleLimits) -> None:
        self.root = root
        self.limits = limits
        self._zips = root / "zips"
        self._unpacked = root / "unpacked"
        for directory in (self._zips, self._unpacked, self.tmp_dir):
            directory.mkdir(parents=True, exist_ok=True)

    @property
    def tmp_dir(self) -> Path:
        """Where upload spool files go: same filesystem as the store, so cheap to copy."""
        return self.root / "tmp"

    def put_bytes(self, data: bytes) -> CodeRef:
        """Validate and store a zip held in memory."""
        fd, name = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".zip", dir=self.tmp_dir)
        spool = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            return self.put_file(spool)
        finally:
            spool.unlink(missing_ok=True)

    def put_file(self, src: Path, expect: str | None = None) -> CodeRef:
        """Validate the zip at ``src`` and store a copy; ``src`` stays the caller's.

        With ``expect`` (a bundle fetched from a peer by its sha256), bytes of another
        hash are refused (``InvalidBundle``) and nothing is stored.
        """
        fd, name = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".zip", dir=self._zips)
        temp = Path(name)
        try:
            # Validate the copy, not src: the stored bytes are then exactly the checked ones.
            sha, size = self._copy(src, fd)
            if expect is not None and sha != _checked(expect):
                raise InvalidBundle(
                    f"hash mismatch: bundle {expect[:12]} arrived with sha256 {sha[:12]}"
                )
            inspect_bundle(temp, self.limits)
            final = self.zip_path(sha)
            if not final.exists():
                os.chmod(temp, 0o644)
                os.replace(temp, final)
                _fsync_dir(self._zips)
            return CodeRef(sha256=sha, size=size)
        finally:
            temp.unlink(missing_ok=True)

    def put_unpacked(
        self, src: Path, *, expect: str | None = None, check: Check | None = None
    ) -> CodeRef:
        """``put_file``, then its files unpacked (a cold start should not pay for that)
        and shown to ``check``, which raises to refuse them (the zip stays, unreferenced:
        a sweep removes it)."""
        ref = self.put_file(src, expect)
        tree = self.unpacked(ref.sha256)
        if check is not None:
            check(tree)
        return ref

    def shas(self) -> set[str]:
        """The sha256 of every bundle stored, zipped or unpacked."""
        names = {p.name.removesuffix(".zip") for p in self._zips.glob("*.zip")}
        names.update(p.name for p in self._unpacked.iterdir())
        return {name for name in names if _SHA256.fullmatch(name)}

    def has(self, sha: str) -> bool:
        """Whether the bundle ``sha`` is stored."""
        return self.zip_path(sha).is_file()

    def zip_path(self, sha: str) -> Path:
        """Where the zip of ``sha`` is (or would be) stored."""
        return self._zips / f"{_checked(sha)}.zip"

    def unpacked(self, sha: str) -> Path:
        """The directory holding the files of ``sha``, extracting them on first use.

        Raises FileNotFoundError when the bundle is not stored.
        """
        final = self._unpacked / _checked(sha)
        if final.is_dir():
            return final
        source = self.zip_path(sha)
        if not source.is_file():
            raise FileNotFoundError(f"bundle {sha} is not in the code store")
        temp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=self._unpacked))
        try:
            _extract(source, temp, self.limits)
            try:
                os.rename(temp, final)
            except OSError:
                if not final.is_dir():  # not a lost race with another extraction
                    raise
            else:
                _fsync_dir(self._unpacked)
            return final
        finally:
            shutil.rmtree(temp, ignore_errors=True)

    def remove(self, sha: str) -> None:
        """Delete the zip and the unpacked files of ``sha``; absent parts are fine."""
        final = self._unpacked / _checked(sha)
        # Move the directory aside first so no half-deleted tree sits at the final path.
        # (rename replaces an empty directory, so a fresh temp dir is a race-free target.)
        trash = tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=self._unpacked)
        try:
            os.rename(final, trash)
        except FileNotFoundError:
            pass
        finally:
            shutil.rmtree(trash, ignore_errors=True)
        self.zip_path(sha).unlink(missing_ok=True)

    def _copy(self, src: Path, fd: int) -> tuple[str, int]:
        """Copy ``src`` into the open temp file ``fd``; return its sha256 and size."""
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out, src.open("rb") as source:
            while chunk := source.read(_CHUNK):
                size += len(chunk)
                limit = self.limits.max_zipped_bytes
                if size > limit:
                    raise BundleTooLarge(f"the bundle is over {limit} bytes zipped (the limit)")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        return digest.hexdigest(), size


def sha256_of(path: Path) -> str:
    """The sha256 (hex) of the file at ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _checked(sha: str) -> str:
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise ValueError(f"not a sha256 hex digest: {sha!r}")
    return sha


def _extract(source: Path, target: Path, limits: BundleLimits) -> None:
    """Unpack ``source`` into the empty directory ``target``, validating as it goes."""
    os.chmod(target, 0o755)
    root = os.path.realpath(target)
    for entry, chunks in walk_bundle(source, limits):
        path = target.joinpath(*entry.parts)
        # The names are checked already; this guards against a mistake in those checks.
        if not os.path.realpath(path).startswith(root + os.sep):
            raise InvalidBundle(f"entry {entry.name!r} would land outside the bundle")
        parents = entry.parts if entry.is_dir else entry.parts[:-1]
        _make_dirs(target, parents)
        if entry.is_dir:
            continue
        executable = entry.executable or entry.parts == ("bootstrap",)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fchmod(out.fileno(), 0o755 if executable else 0o644)
            os.fsync(out.fileno())


def _make_dirs(target: Path, parts: tuple[str, ...]) -> None:
    path = target
    for part in parts:
        path = path / part
        try:
            os.mkdir(path)
        except FileExistsError:
            if path.is_symlink() or not path.is_dir():
                raise
            continue
        os.chmod(path, 0o755)  # explicit: mkdir's mode is cut by the umask


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
