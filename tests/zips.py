"""Pure helpers for building zips in tests: good ones, odd ones and broken ones.

Each function takes and returns plain values (names, modes, bytes); nothing here
touches the disk, the network or the code under test.
"""

from __future__ import annotations

import io
import stat
import struct
import warnings
import zipfile

MiB = 1024 * 1024
Entry = tuple[str | zipfile.ZipInfo, bytes | str]


def zip_bytes(*entries: Entry, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``entries`` in that order, duplicate names and all.

    A plain name is written with ``method``; a ``ZipInfo`` keeps its own.
    """
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on duplicate names; we want them
        with zipfile.ZipFile(buffer, "w", method) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return buffer.getvalue()


def unix(
    name: str,
    mode: int,
    *,
    method: int = zipfile.ZIP_STORED,
    date_time: tuple[int, int, int, int, int, int] = (1980, 1, 1, 0, 0, 0),
) -> zipfile.ZipInfo:
    """An entry made on Unix with ``mode`` (file type and permission bits)."""
    info = zipfile.ZipInfo(name, date_time=date_time)
    info.create_system = 3
    info.external_attr = mode << 16
    info.compress_type = method
    return info


def make_zip(files: dict[str, str | bytes], executable: tuple[str, ...] = ()) -> bytes:
    """A zip of ``files``; names in ``executable`` get mode 0755."""
    return zip_bytes(
        *[
            (
                unix(
                    name,
                    stat.S_IFREG | (0o755 if name in executable else 0o644),
                    method=zipfile.ZIP_DEFLATED,
                    date_time=(2024, 1, 1, 0, 0, 0),
                ),
                content,
            )
            for name, content in files.items()
        ]
    )


def rewrite_headers(
    data: bytes,
    *,
    flags: int | None = None,
    size: int | None = None,
    compressed: int | None = None,
    only: str | None = None,
) -> bytes:
    """What a hostile tool does: edit a one-entry zip's local and central headers.

    ``only`` ("local" or "central") edits the flags of that header alone.
    """
    out = bytearray(data)
    local, central = 0, data.rindex(b"PK\x01\x02")
    if flags is not None:
        if only != "central":
            struct.pack_into("<H", out, local + 6, flags)
        if only != "local":
            struct.pack_into("<H", out, central + 8, flags)
    if size is not None:
        struct.pack_into("<L", out, local + 22, size)
        struct.pack_into("<L", out, central + 24, size)
    if compressed is not None:
        struct.pack_into("<L", out, local + 18, compressed)
        struct.pack_into("<L", out, central + 20, compressed)
    return bytes(out)


def encrypted(data: bytes) -> bytes:
    """Set the encryption flag of a one-entry zip in both its headers."""
    return rewrite_headers(data, flags=0x1)


def claim_compressed(data: bytes, extra: int) -> bytes:
    """Make a one-entry zip claim ``extra`` more bytes of compressed data than it has."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        real = archive.infolist()[0].compress_size
    return rewrite_headers(data, compressed=real + extra)


def flip(data: bytes, at: int) -> bytes:
    """``data`` with the four bytes from ``at`` inverted."""
    return data[:at] + bytes(b ^ 0xFF for b in data[at : at + 4]) + data[at + 4 :]


def corrupt(data: bytes) -> bytes:
    """``data`` with four bytes a third of the way in inverted."""
    return flip(data, len(data) // 3)
