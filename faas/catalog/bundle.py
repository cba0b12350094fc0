"""Validation of an uploaded code bundle (a zip) before it is stored or unpacked.

A zip is untrusted input whose directory, local headers and sizes can all lie.
Names, file types and flags are judged from the central directory; then every
entry's bytes are streamed through decompression, counting the real output
against the limits and stopping at the first byte past one, so a zip bomb is
never decompressed in full. The code store unpacks through the same stream
(:func:`walk_bundle`): what it writes is exactly what was checked here.

Unzippers disagree on a zip whose parts disagree: one reads the central
directory, another walks the local headers, a third trusts the data
descriptor. So every entry's local record (header, data, descriptor) must say
what the central directory says (name, method, CRC-32, sizes) and no two
records, nor a record and the directory, may share a byte: then every
unzipper sees the files that were checked here, and only those.
"""

from __future__ import annotations

import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import BinaryIO

from faas.errors import BundleTooLarge, InvalidBundle

MiB = 1024 * 1024

# Below this size a ratio proves nothing: small text files compress 100x honestly.
_RATIO_FLOOR = MiB
_CHUNK = 64 * 1024
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_LOCAL_MAGIC = b"PK\x03\x04"
_ENCRYPTED = 0x01 | 0x40  # traditional PKWARE encryption, strong encryption
# Flag bit 3: the CRC-32 and sizes follow the data, in a descriptor with an optional magic.
_DESCRIPTOR = 0x08
_DESCRIPTOR_MAGIC = b"PK\x07\x08"
_CRC = struct.Struct("<L")
_ZIP64_EXTRA = 0x0001
_ZIP64_MARK = 0xFFFFFFFF  # a local size field that says "see the zip64 extra field"
_UTF8_NAME = 0x800
_UNIX = 3  # create_system of zips made on Unix: external_attr >> 16 is st_mode
_DRIVE = re.compile(r"[A-Za-z]:")
_SEPARATORS = re.compile(r"[/\\]")
# bzip2 and lzma are left out on purpose: zipfile decompresses their chunks
# unbounded, and the tools people zip Lambda code with write deflate.
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
_SPECIAL = {
    stat.S_IFLNK: "a symlink",
    stat.S_IFCHR: "a device file",
    stat.S_IFBLK: "a device file",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


@dataclass(frozen=True)
class BundleLimits:
    """What an uploaded bundle may weigh; the default sizes are AWS Lambda's.

    Ratios are unpacked/zipped sizes: ``max_ratio`` for the whole bundle, judged
    once it unpacks past 1 MiB; ``max_entry_ratio`` per entry past 1 MiB.
    """

    max_zipped_bytes: int = 50 * MiB
    max_unpacked_bytes: int = 250 * MiB
    max_entries: int = 10_000
    max_ratio: int = 100
    max_entry_ratio: int = 1000


@dataclass(frozen=True)
class BundleInfo:
    """What an accepted bundle holds; ``file_names`` are normalised paths of files."""

    entries: int
    unpacked_bytes: int
    file_names: tuple[str, ...]


@dataclass(frozen=True)
class BundleEntry:
    """One checked entry: a safe relative path (never empty, no ``..``) and its kind."""

    name: str
    parts: tuple[str, ...]
    is_dir: bool
    executable: bool


def inspect_bundle(path: Path, limits: BundleLimits) -> BundleInfo:
    """Check the zip at ``path`` in full; raise InvalidBundle or BundleTooLarge."""
    entries = unpacked = 0
    files: list[str] = []
    for entry, chunks in walk_bundle(path, limits):
        entries += 1
        unpacked += sum(len(chunk) for chunk in chunks)
        if not entry.is_dir:
            files.append("/".join(entry.parts))
    return BundleInfo(entries=entries, unpacked_bytes=unpacked, file_names=tuple(files))


def walk_bundle(path: Path, limits: BundleLimits) -> Iterator[tuple[BundleEntry, Iterator[bytes]]]:
    """Yield each entry with an iterator of its real, decompressed bytes.

    Every structural check runs before the first entry is yielded; size, ratio
    and integrity checks run while the bytes stream, so an error can surface
    from an entry's iterator after part of it was consumed: a caller that writes
    chunks somewhere must treat what it wrote as garbage when that happens.
    """
    zipped = path.stat().st_size
    if zipped > limits.max_zipped_bytes:
        raise BundleTooLarge(
            f"the bundle is {zipped} bytes zipped; the limit is {limits.max_zipped_bytes}"
        )
    with path.open("rb") as raw:
        infos, directory_start = _read_directory(raw)
        entries = _check_entries(infos, limits)
        starts = _locate(raw, infos, directory_start)
        budget = _Budget(limits, zipped)
        for entry, info, start in zip(entries, infos, starts, strict=True):
            chunks = _stream(raw, info, start, budget)
            yield entry, chunks
            for _ in chunks:  # the caller may skip data (directories); it is still checked
                pass


def _read_directory(raw: BinaryIO) -> tuple[list[zipfile.ZipInfo], int]:
    """The central directory's entries, and the offset where the directory starts."""
    try:
        with zipfile.ZipFile(raw) as archive:
            infos, directory_start = archive.infolist(), archive.start_dir
    # zipfile reports a damaged directory with any of these, not only BadZipFile.
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, struct.error) as exc:
        raise InvalidBundle(
            f"the upload is not a readable zip archive, or is cut short ({exc})"
        ) from exc
    if not infos:
        raise InvalidBundle("the zip is empty: it holds no files")
    return infos, directory_start


def _check_entries(infos: list[zipfile.ZipInfo], limits: BundleLimits) -> list[BundleEntry]:
    if len(infos) > limits.max_entries:
        raise BundleTooLarge(f"the zip has {len(infos)} entries; the limit is {limits.max_entries}")
    # Honest headers let us refuse early; lying ones are caught while streaming.
    claimed = sum(info.file_size for info in infos)
    if claimed > limits.max_unpacked_bytes:
        raise BundleTooLarge(
            f"the bundle unpacks to {claimed} bytes; the limit is {limits.max_unpacked_bytes}"
        )
    entries = [_check_entry(info) for info in infos]
    seen: set[tuple[str, ...]] = set()
    files: set[tuple[str, ...]] = set()
    dirs: set[tuple[str, ...]] = set()
    for entry in entries:
        if entry.parts in seen:
            raise InvalidBundle(f"entry {entry.name!r} appears twice in the zip")
        seen.add(entry.parts)
        (dirs if entry.is_dir else files).add(entry.parts)
        dirs.update(entry.parts[:k] for k in range(1, len(entry.parts)))
    clash = files & dirs
    if clash:
        raise InvalidBundle(f"{'/'.join(min(clash))!r} is both a file and a directory in the zip")
    return entries


def _check_entry(info: zipfile.ZipInfo) -> BundleEntry:
    name = info.orig_filename  # zipfile cuts .filename at a NUL; the original keeps it
    if "\x00" in name:
        raise InvalidBundle(f"entry {name!r} has a NUL byte in its name")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise InvalidBundle(f"entry {name!r} has an absolute path; paths must be relative")
    # A backslash is a separator to Windows tools, so "..\\x" escapes for them too.
    if ".." in _SEPARATORS.split(name):
        raise InvalidBundle(f"entry {name!r} has a '..' component that would escape the bundle")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if not parts:
        raise InvalidBundle(f"entry {name!r} has no file name")
    if any(len(part.encode()) > 255 for part in parts):
        raise InvalidBundle(f"entry {name!r} has a path component longer than 255 bytes")
    mode = info.external_attr >> 16 if info.create_system == _UNIX else 0
    kind = stat.S_IFMT(mode)
    if kind in _SPECIAL:
        raise InvalidBundle(f"entry {name!r} is {_SPECIAL[kind]}, which a bundle may not hold")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise InvalidBundle(f"entry {name!r} has an unknown file type ({kind:o})")
    if info.flag_bits & _ENCRYPTED:
        raise InvalidBundle(f"entry {name!r} is encrypted; upload an unencrypted zip")
    if info.compress_type not in _METHODS:
        raise InvalidBundle(
            f"entry {name!r} uses compression method {info.compress_type}; "
            "only stored and deflate are supported"
        )
    is_dir = name.endswith("/") or kind == stat.S_IFDIR
    return BundleEntry(name, parts, is_dir, executable=not is_dir and bool(mode & 0o111))


class _Budget:
    """Running count of real unpacked bytes, judged against the limits as it grows."""

    def __init__(self, limits: BundleLimits, zipped: int) -> None:
        self.limits, self.zipped, self.total = limits, zipped, 0

    def charge(self, name: str, added: int, entry_size: int, entry_compressed: int) -> None:
        limits = self.limits
        self.total += added
        if self.total > limits.max_unpacked_bytes:
            raise BundleTooLarge(
                f"the bundle unpacks to more than {limits.max_unpacked_bytes} bytes "
                f"(the limit), counting up to entry {name!r}"
            )
        if self.total > _RATIO_FLOOR and self.total > limits.max_ratio * self.zipped:
            raise BundleTooLarge(
                f"the bundle unpacks to more than {limits.max_ratio} times its zipped size "
                f"(counting up to entry {name!r}); this looks like a zip bomb"
            )
        entry_ceiling = limits.max_entry_ratio * max(entry_compressed, 1)
        if entry_size > _RATIO_FLOOR and entry_size > entry_ceiling:
            raise BundleTooLarge(
                f"entry {name!r} unpacks to more than {limits.max_entry_ratio} times "
                "its compressed size; this looks like a zip bomb"
            )


def _stream(raw: BinaryIO, info: zipfile.ZipInfo, start: int, budget: _Budget) -> Iterator[bytes]:
    name = info.orig_filename
    raw.seek(start)
    size = crc = 0
    for out in _inflate(raw, info):
        size += len(out)
        budget.charge(name, len(out), size, info.compress_size)
        crc = zlib.crc32(out, crc)
        if out:
            yield out
    if size != info.file_size:
        raise InvalidBundle(
            f"entry {name!r} is corrupt: it holds {size} bytes, its header says {info.file_size}"
        )
    if crc != info.CRC:
        raise InvalidBundle(f"entry {name!r} is corrupt: its CRC-32 check failed")


def _inflate(raw: BinaryIO, info: zipfile.ZipInfo) -> Iterator[bytes]:
    name = info.orig_filename
    deflated = info.compress_type == zipfile.ZIP_DEFLATED
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    left = info.compress_size
    try:
        while left > 0 or inflater.unconsumed_tail:
            if inflater.unconsumed_tail:
                data = inflater.unconsumed_tail
            else:
                data = raw.read(min(_CHUNK, left))
                if not data:
                    raise InvalidBundle(f"entry {name!r} is truncated")
                left -= len(data)
            # max_length bounds every step, so a bomb never inflates past one chunk.
            yield inflater.decompress(data, _CHUNK) if deflated else data
        if deflated:
            yield inflater.flush()  # what zlib still holds once the input is spent: tiny
            if not inflater.eof:
                raise InvalidBundle(f"entry {name!r} is truncated: its data ends early")
            if inflater.unused_data:
                raise InvalidBundle(f"entry {name!r} is corrupt: data follows its end")
    except zlib.error as exc:
        raise InvalidBundle(f"entry {name!r} is corrupt ({exc})") from exc


@dataclass(frozen=True)
class _Record:
    """Where an entry's local record lies in the file: header, data, end (past any descriptor)."""

    header: int
    data: int
    end: int


def _locate(raw: BinaryIO, infos: list[zipfile.ZipInfo], directory_start: int) -> list[int]:
    """Where each entry's data starts, once every local record agrees with the central
    directory and no two records, nor a record and the directory, share a byte."""
    records = [_local_record(raw, info) for info in infos]
    ordered = sorted(zip(records, infos, strict=True), key=lambda pair: pair[0].header)
    for (record, info), (later, other) in pairwise(ordered):
        if record.end > later.header:
            # One unzipper finds the later entry; one that walks local headers never does.
            raise InvalidBundle(
                f"entries {info.orig_filename!r} and {other.orig_filename!r} overlap: "
                f"{other.orig_filename!r} lies inside the bytes of {info.orig_filename!r}"
            )
    last, info = ordered[-1]
    if last.end > directory_start:
        raise InvalidBundle(
            f"entry {info.orig_filename!r} runs into the central directory: "
            "its sizes do not fit the file"
        )
    return [record.data for record in records]


def _local_record(raw: BinaryIO, info: zipfile.ZipInfo) -> _Record:
    """Read an entry's local header (and data descriptor); refuse any disagreement
    with the central directory, which is what the checks judged."""
    name = info.orig_filename
    if info.header_offset < 0:
        raise InvalidBundle(f"entry {name!r} is corrupt: bad header offset")
    raw.seek(info.header_offset)
    header = raw.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        raise InvalidBundle(f"entry {name!r} is truncated: its local header is missing")
    magic, _, flags, method, _, _, crc, compressed, size, name_len, extra_len = (
        _LOCAL_HEADER.unpack(header)
    )
    if magic != _LOCAL_MAGIC:
        raise InvalidBundle(f"entry {name!r} is corrupt: bad local header")
    if flags & _ENCRYPTED:
        raise InvalidBundle(f"entry {name!r} is encrypted; upload an unencrypted zip")
    encoding = "utf-8" if flags & _UTF8_NAME else "cp437"
    local_name = raw.read(name_len).decode(encoding, errors="replace")
    # Another unzipper reading local headers would see this other name.
    if local_name != name:
        raise InvalidBundle(f"entry {name!r} is named {local_name!r} in its local header")
    zip64 = _zip64_sizes(raw.read(extra_len))
    if method != info.compress_type:
        raise InvalidBundle(
            f"entry {name!r} uses compression method {method} in its local header, "
            f"{info.compress_type} in the central directory"
        )
    if (flags ^ info.flag_bits) & _DESCRIPTOR:
        raise InvalidBundle(
            f"entry {name!r}: its local header and the central directory disagree "
            "on whether a data descriptor follows its data"
        )
    if zip64 is not None:
        size = zip64[0] if size == _ZIP64_MARK else size
        compressed = zip64[1] if compressed == _ZIP64_MARK else compressed
    central = (info.CRC, info.compress_size, info.file_size)
    local: tuple[int, ...] = (crc, compressed, size)
    data = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
    end = data + info.compress_size
    if flags & _DESCRIPTOR:
        # The local fields may be zero (written before the data was); else they must agree.
        local = tuple(c if value == 0 else value for value, c in zip(local, central, strict=True))
        described, length = _read_descriptor(raw, name, end, zip64 is not None)
        _agree(name, "its data descriptor", described, central)
        end += length
    _agree(name, "its local header", local, central)
    return _Record(info.header_offset, data, end)


def _zip64_sizes(extra: bytes) -> tuple[int, int] | None:
    """(size, compressed size) from a local header's zip64 extra field, if it has one."""
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, at)
        if kind == _ZIP64_EXTRA:
            if length < 16 or at + 4 + length > len(extra):
                raise InvalidBundle("a local header has a cut-short zip64 extra field")
            size, compressed = struct.unpack_from("<QQ", extra, at + 4)
            return size, compressed
        at += 4 + length
    return None


def _read_descriptor(raw: BinaryIO, name: str, at: int, zip64: bool) -> tuple[tuple[int, ...], int]:
    """(CRC-32, compressed size, size) from the data descriptor at ``at``, and its length."""
    sizes = struct.Struct("<QQ" if zip64 else "<LL")
    raw.seek(at)
    blob = raw.read(len(_DESCRIPTOR_MAGIC) + _CRC.size + sizes.size)
    start = len(_DESCRIPTOR_MAGIC) if blob.startswith(_DESCRIPTOR_MAGIC) else 0
    length = start + _CRC.size + sizes.size
    if len(blob) < length:
        raise InvalidBundle(f"entry {name!r} is truncated: its data descriptor is missing")
    (crc,) = _CRC.unpack_from(blob, start)
    compressed, size = sizes.unpack_from(blob, start + _CRC.size)
    return (crc, compressed, size), length


_FIELDS = ("CRC-32 {:08x}", "compressed size {}", "size {}")


def _agree(name: str, where: str, found: tuple[int, ...], central: tuple[int, ...]) -> None:
    """Refuse when ``where`` (a local header, a data descriptor) and the directory differ."""
    differ = [i for i, (a, b) in enumerate(zip(found, central, strict=True)) if a != b]
    if differ:
        says = ", ".join(_FIELDS[i].format(found[i]) for i in differ)
        directory = ", ".join(_FIELDS[i].format(central[i]) for i in differ)
        raise InvalidBundle(
            f"entry {name!r}: {where} says {says}, the central directory {directory}"
        )
