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
_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL_FIXED = 46
_END = struct.Struct("<4s4H2LH")
_DESCRIPTOR_MAGIC = b"PK\x07\x08"


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
    method: int | None = None,
    crc: int | None = None,
    size: int | None = None,
    compressed: int | None = None,
    only: str | None = None,
) -> bytes:
    """What a hostile tool does: edit a one-entry zip's local and central headers.

    ``only`` ("local" or "central") edits that header alone.
    """
    out = bytearray(data)
    # (format, offset in the local header, offset in the central one) of each field
    fields = {
        "flags": ("<H", 6, 8, flags),
        "method": ("<H", 8, 10, method),
        "crc": ("<L", 14, 16, crc),
        "compressed": ("<L", 18, 20, compressed),
        "size": ("<L", 22, 24, size),
    }
    local, central = 0, data.rindex(b"PK\x01\x02")
    for fmt, in_local, in_central, value in fields.values():
        if value is None:
            continue
        if only != "central":
            struct.pack_into(fmt, out, local + in_local, value)
        if only != "local":
            struct.pack_into(fmt, out, central + in_central, value)
    return bytes(out)


class _Pipe:
    """A stream that cannot seek or tell, as stdout: zipfile then writes data descriptors."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        return len(chunk)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def streamed(
    *entries: tuple[str, bytes], method: int = zipfile.ZIP_DEFLATED, zip64: bool = False
) -> bytes:
    """A zip as ``zip - files > out.zip`` writes it: each entry's CRC-32 and sizes in a data
    descriptor after its data (flag bit 3), with 8-byte sizes when ``zip64``."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", method) as archive:
        for name, data in entries:
            with archive.open(zipfile.ZipInfo(name), "w", force_zip64=zip64) as out:
                out.write(data)
    return bytes(pipe.data)


def _directory(data: bytes) -> tuple[int, list[bytes]]:
    """Where a zip's central directory starts, and its records."""
    _, _, _, _, count, _, start, _ = _END.unpack_from(data, data.rindex(b"PK\x05\x06"))
    records, at = [], start
    for _ in range(count):
        name_len, extra_len, comment_len = struct.unpack_from("<3H", data, at + 28)
        end = at + _CENTRAL_FIXED + name_len + extra_len + comment_len
        records.append(data[at:end])
        at = end
    return start, records


def _assemble(body: bytes, records: list[bytes]) -> bytes:
    """A zip of ``body`` (local records) followed by a central directory of ``records``."""
    directory = b"".join(records)
    count = len(records)
    end = _END.pack(b"PK\x05\x06", 0, 0, count, count, len(directory), len(body), 0)
    return body + directory + end


def _data_start(data: bytes, header: int = 0) -> int:
    """Where the data of the entry whose local header is at ``header`` starts."""
    *_, name_len, extra_len = _LOCAL.unpack_from(data, header)
    return header + _LOCAL.size + int(name_len) + int(extra_len)


def overlapping(cover: str, hidden: str, content: bytes) -> bytes:
    """A zip whose entry ``hidden`` (header and data) lies inside the stored data of ``cover``.

    An unzipper that walks local headers sees ``cover`` only; one that reads the
    central directory sees both: a parser differential.
    """
    inner = zip_bytes((hidden, content), method=zipfile.ZIP_STORED)
    inner_start, (inner_record,) = _directory(inner)
    outer = zip_bytes((cover, inner[:inner_start]), method=zipfile.ZIP_STORED)
    outer_start, outer_records = _directory(outer)
    moved = bytearray(inner_record)
    struct.pack_into("<L", moved, 42, _data_start(outer))  # its local header offset
    return _assemble(outer[:outer_start], [*outer_records, bytes(moved)])


def _descriptor_at(data: bytes) -> int:
    """Where the data descriptor of a one-entry :func:`streamed` zip starts."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        at = _data_start(data) + archive.infolist()[0].compress_size
    assert data[at : at + 4] == _DESCRIPTOR_MAGIC
    return at


def rewrite_descriptor(
    data: bytes, *, crc: int | None = None, compressed: int | None = None, size: int | None = None
) -> bytes:
    """Make the data descriptor of a one-entry :func:`streamed` zip disagree with its
    central directory, which keeps the truth."""
    out, at = bytearray(data), _descriptor_at(data) + len(_DESCRIPTOR_MAGIC)
    for offset, value in ((0, crc), (4, compressed), (8, size)):
        if value is not None:
            struct.pack_into("<L", out, at + offset, value)
    return bytes(out)


def unsigned_descriptor(data: bytes) -> bytes:
    """A one-entry :func:`streamed` zip whose descriptor lacks its optional magic, as
    some old tools write it."""
    at = _descriptor_at(data)
    start, records = _directory(data)
    return _assemble(data[:at] + data[at + len(_DESCRIPTOR_MAGIC) : start], records)


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
