"""Stories of a user's zip meeting the bundle checks (faas.catalog.bundle), no services needed."""

from __future__ import annotations

import os
import re
import stat
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from faas.catalog.bundle import BundleInfo, BundleLimits, inspect_bundle, walk_bundle
from faas.errors import BundleTooLarge, FaasError, InvalidBundle
from tests.helpers import bad_upload_rows
from tests.zips import (
    MiB,
    claim_compressed,
    flip,
    overlapping,
    rewrite_descriptor,
    rewrite_headers,
    streamed,
    unix,
    unsigned_descriptor,
    zip_bytes,
)


def zeros_bomb(size: int = 20 * MiB) -> bytes:
    return zip_bytes(("zeros.bin", bytes(size)))


def bomb_with_corrupt_tail() -> bytes:
    data = zeros_bomb()
    return flip(data, data.rindex(b"PK\x01\x02") - 6)  # the end of the deflate stream


def text(n: int) -> bytes:
    return b"".join(b"line %d of the handler\n" % i for i in range(n // 10 + 1))[:n]


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "upload.zip"
    path.write_bytes(data)
    return path


GOOD = zip_bytes(("handler.py", b"def handler(e, c):\n    return e\n"), ("lib/util.py", b"X = 1\n"))
DEFAULT = BundleLimits()
TINY = BundleLimits(max_zipped_bytes=10_000, max_unpacked_bytes=10_000, max_entries=3)


refused = bad_upload_rows(DEFAULT)

REFUSED = [
    refused("random bytes", lambda: os.urandom(4096), InvalidBundle, "not a readable zip"),
    refused("a text file", lambda: b"hello\n" * 100, InvalidBundle, "not a readable zip"),
    refused("truncated", lambda: GOOD[: len(GOOD) // 2], InvalidBundle, "not a readable zip"),
    refused("empty zip", lambda: zip_bytes(), InvalidBundle, "the zip is empty"),
    refused(
        "bad CRC",
        lambda: flip(zip_bytes(("app.py", text(2000)), method=zipfile.ZIP_STORED), 1000),
        InvalidBundle,
        "entry 'app.py' is corrupt: its CRC-32 check failed",
    ),
    refused(
        "flipped deflate data",
        lambda: flip(zip_bytes(("app.py", text(100_000))), 2000),
        InvalidBundle,
        "entry 'app.py' is corrupt",
    ),
    refused(
        "header lies about the size",
        lambda: rewrite_headers(zip_bytes(("app.py", text(5000))), size=100),
        InvalidBundle,
        "entry 'app.py' is corrupt: it holds 5000 bytes, its header says 100",
    ),
    refused(
        "header lies about the compressed size",
        lambda: claim_compressed(zip_bytes(("app.py", text(5000))), -10),
        InvalidBundle,
        "entry 'app.py' is truncated",
    ),
    refused(
        "header claims more compressed data than the stream",
        lambda: claim_compressed(zip_bytes(("app.py", text(5000))), 10),
        InvalidBundle,
        "entry 'app.py' runs into the central directory",
    ),
    refused(
        "absolute path",
        lambda: zip_bytes(("/etc/cron.d/x", b"")),
        InvalidBundle,
        "entry '/etc/cron.d/x' has an absolute path",
    ),
    refused(
        "drive letter",
        lambda: zip_bytes(("C:/evil.py", b"")),
        InvalidBundle,
        "entry 'C:/evil.py' has an absolute path",
    ),
    refused(
        "dot-dot",
        lambda: zip_bytes(("../evil", b"")),
        InvalidBundle,
        "entry '../evil' has a '..' component",
    ),
    refused(
        "nested dot-dot",
        lambda: zip_bytes(("a/../../evil", b"")),
        InvalidBundle,
        "entry 'a/../../evil' has a '..' component",
    ),
    refused(
        "backslash dot-dot",
        lambda: zip_bytes(("a\\..\\..\\evil", b"")),
        InvalidBundle,
        "has a '..' component",
    ),
    refused(
        "NUL in a name",
        lambda: zip_bytes(("aXb.py", b"")).replace(b"aXb.py", b"a\x00b.py"),
        InvalidBundle,
        "entry 'a\\x00b.py' has a NUL byte in its name",
    ),
    refused(
        "symlink",
        lambda: zip_bytes((unix("link", stat.S_IFLNK | 0o777), b"/etc/passwd")),
        InvalidBundle,
        "entry 'link' is a symlink",
    ),
    refused(
        "char device",
        lambda: zip_bytes((unix("tty", stat.S_IFCHR | 0o666), b"")),
        InvalidBundle,
        "entry 'tty' is a device file",
    ),
    refused(
        "block device",
        lambda: zip_bytes((unix("sda", stat.S_IFBLK | 0o660), b"")),
        InvalidBundle,
        "entry 'sda' is a device file",
    ),
    refused(
        "FIFO",
        lambda: zip_bytes((unix("pipe", stat.S_IFIFO | 0o644), b"")),
        InvalidBundle,
        "entry 'pipe' is a FIFO",
    ),
    refused(
        "socket",
        lambda: zip_bytes((unix("sock", stat.S_IFSOCK | 0o644), b"")),
        InvalidBundle,
        "entry 'sock' is a socket",
    ),
    refused(
        "encrypted",
        lambda: rewrite_headers(zip_bytes(("secret.py", b"x")), flags=0x1),
        InvalidBundle,
        "entry 'secret.py' is encrypted",
    ),
    refused(
        "encrypted, says the central directory only",
        lambda: rewrite_headers(zip_bytes(("secret.py", b"x")), flags=0x1, only="central"),
        InvalidBundle,
        "entry 'secret.py' is encrypted",
    ),
    refused(
        "encrypted, says the local header only",
        lambda: rewrite_headers(zip_bytes(("secret.py", b"x")), flags=0x1, only="local"),
        InvalidBundle,
        "entry 'secret.py' is encrypted",
    ),
    refused(
        "local header names another file",
        lambda: zip_bytes(("app.py", b"x")).replace(b"app.py", b"evi.py", 1),
        InvalidBundle,
        "entry 'app.py' is named 'evi.py' in its local header",
    ),
    refused(
        "one entry lies inside another's data",
        lambda: overlapping("cover.txt", "hidden.py", b"print('seen by some unzippers only')\n"),
        InvalidBundle,
        "entries 'cover.txt' and 'hidden.py' overlap: 'hidden.py' lies inside the bytes of "
        "'cover.txt'",
    ),
    refused(
        "data descriptor lies about the CRC",
        lambda: rewrite_descriptor(streamed(("app.py", text(5000))), crc=0x12345678),
        InvalidBundle,
        "entry 'app.py': its data descriptor says CRC-32 12345678, the central directory CRC-32 ",
    ),
    refused(
        "data descriptor lies about the size",
        lambda: rewrite_descriptor(streamed(("app.py", text(5000))), size=100),
        InvalidBundle,
        "entry 'app.py': its data descriptor says size 100, the central directory size 5000",
    ),
    refused(
        "data descriptor lies about the compressed size",
        lambda: rewrite_descriptor(streamed(("app.py", text(5000))), compressed=7),
        InvalidBundle,
        "entry 'app.py': its data descriptor says compressed size 7, the central directory",
    ),
    refused(
        "local header lies about the size, the central directory does not",
        lambda: rewrite_headers(zip_bytes(("app.py", text(5000))), size=100, only="local"),
        InvalidBundle,
        "entry 'app.py': its local header says size 100, the central directory size 5000",
    ),
    refused(
        "local header lies about the CRC",
        lambda: rewrite_headers(zip_bytes(("app.py", text(5000))), crc=1, only="local"),
        InvalidBundle,
        "entry 'app.py': its local header says CRC-32 00000001, the central directory CRC-32",
    ),
    refused(
        "local header says stored, the central directory deflate",
        lambda: rewrite_headers(zip_bytes(("app.py", text(5000))), method=0, only="local"),
        InvalidBundle,
        "entry 'app.py' uses compression method 0 in its local header, 8 in the central",
    ),
    refused(
        "only the local header announces a data descriptor",
        lambda: rewrite_headers(zip_bytes(("app.py", text(5000))), flags=0x08, only="local"),
        InvalidBundle,
        "entry 'app.py': its local header and the central directory disagree on whether a data "
        "descriptor follows",
    ),
    refused(
        "duplicate names",
        lambda: zip_bytes(("app.py", b"1"), ("app.py", b"2")),
        InvalidBundle,
        "entry 'app.py' appears twice",
    ),
    refused(
        "same name once normalised",
        lambda: zip_bytes(("a/b.py", b"1"), ("./a//b.py", b"2")),
        InvalidBundle,
        "entry './a//b.py' appears twice",
    ),
    refused(
        "file and directory",
        lambda: zip_bytes(("lib", b"1"), ("lib/x.py", b"2")),
        InvalidBundle,
        "'lib' is both a file and a directory",
    ),
    refused(
        "bzip2",
        lambda: zip_bytes(("app.py", b"x"), method=zipfile.ZIP_BZIP2),
        InvalidBundle,
        "entry 'app.py' uses compression method 12",
    ),
    refused(
        "zipped too big",
        lambda: zip_bytes(("r.bin", os.urandom(20_000))),
        BundleTooLarge,
        "bytes zipped; the limit is 10000",
        TINY,
    ),
    refused(
        "unpacks too big",
        lambda: zip_bytes(("big.txt", text(20_000))),
        BundleTooLarge,
        "unpacks to 20000 bytes; the limit is 10000",
        TINY,
    ),
    refused(
        "unpacks too big, header lies",
        lambda: rewrite_headers(zip_bytes(("big.txt", text(50_000))), size=100),
        BundleTooLarge,
        "more than 10000 bytes (the limit), counting up to entry 'big.txt'",
        TINY,
    ),
    refused(
        "too many entries",
        lambda: zip_bytes(*[(f"f{i}", b"") for i in range(4)]),
        BundleTooLarge,
        "the zip has 4 entries; the limit is 3",
        TINY,
    ),
    refused("zip bomb", zeros_bomb, BundleTooLarge, "more than 100 times its zipped size"),
    refused(
        "one bombed entry",
        lambda: zip_bytes(("noise", os.urandom(200_000)), ("zeros.bin", bytes(2 * MiB))),
        BundleTooLarge,
        "entry 'zeros.bin' unpacks to more than 100 times its compressed size",
        BundleLimits(max_ratio=1000, max_entry_ratio=100),
    ),
]


@pytest.mark.parametrize(("upload", "limits", "error", "words"), REFUSED)
def test_a_bad_upload_is_refused_with_a_message_naming_the_problem(
    tmp_path: Path,
    upload: Callable[[], bytes],
    limits: BundleLimits,
    error: type[FaasError],
    words: str,
) -> None:
    # Given a zip that is broken, unsafe or too big
    path = write(tmp_path, upload())
    # When it is inspected
    with pytest.raises(error, match=re.escape(words)) as caught:
        inspect_bundle(path, limits)
    # Then the user gets exactly that class (a 413 is never reported as a 400, or back)
    assert type(caught.value) is error


def test_a_good_zip_is_accepted_and_described(tmp_path: Path) -> None:
    # Given a zip with a handler, a nested module, an explicit directory and an executable
    data = zip_bytes(
        ("handler.py", b"def handler(e, c):\n    return e\n"),
        ("pkg/", b""),
        ("pkg/sub/mod.py", b"X = 1\n"),
        (unix("bin/tool", stat.S_IFREG | 0o755), b"#!/bin/sh\n"),
    )
    # When it is inspected
    info = inspect_bundle(write(tmp_path, data), BundleLimits())
    # Then it is accepted and its files and real size are reported
    assert info == BundleInfo(
        entries=4,
        unpacked_bytes=len(b"def handler(e, c):\n    return e\n") + len(b"X = 1\n#!/bin/sh\n"),
        file_names=("handler.py", "pkg/sub/mod.py", "bin/tool"),
    )


def test_a_zip_exactly_at_every_limit_is_accepted(tmp_path: Path) -> None:
    # Given a zip whose size, unpacked size and entry count all sit on the limits
    data = zip_bytes(("a.txt", text(600)), ("b.txt", text(400)), ("c/", b""))
    limits = BundleLimits(max_zipped_bytes=len(data), max_unpacked_bytes=1000, max_entries=3)
    # When it is inspected, then it passes: a limit is the largest accepted value
    assert inspect_bundle(write(tmp_path, data), limits).unpacked_bytes == 1000


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(streamed(("app.py", text(5000)), ("lib/x.py", b"X = 1\n")), id="streamed"),
        pytest.param(
            streamed(("app.py", text(5000)), method=zipfile.ZIP_STORED), id="streamed, stored"
        ),
        pytest.param(streamed(("app.py", text(5000)), zip64=True), id="streamed, zip64"),
        pytest.param(
            unsigned_descriptor(streamed(("app.py", text(5000)))), id="no descriptor magic"
        ),
        pytest.param(b"#!/bin/sh\nexit 0\n" + zip_bytes(("app.py", text(5000))), id="a stub first"),
    ],
)
def test_zips_whose_parts_all_agree_are_accepted_whichever_tool_wrote_them(
    tmp_path: Path, data: bytes
) -> None:
    # Given a zip written as `zip - ... > out.zip`, Go or Java write them (CRC-32 and sizes
    # in a data descriptor after the data), or with a self-extractor stub in front
    # When it is walked
    seen = {"/".join(e.parts): b"".join(c) for e, c in walk_bundle(write(tmp_path, data), DEFAULT)}
    # Then it is accepted with its real content
    assert seen["app.py"] == text(5000)


def test_names_are_normalised_and_a_backslash_inside_a_name_is_just_a_character(
    tmp_path: Path,
) -> None:
    # Given names with "./", doubled slashes, and a backslash that escapes nothing
    data = zip_bytes(("./a//b.py", b"1"), ("odd\\name.py", b"2"))
    # When it is inspected, then the clean relative paths are reported
    info = inspect_bundle(write(tmp_path, data), BundleLimits())
    assert info.file_names == ("a/b.py", "odd\\name.py")


def test_a_bomb_is_refused_before_it_is_inflated_in_full(tmp_path: Path) -> None:
    # Given a 20 MiB bomb whose compressed stream is broken near its very end
    path = write(tmp_path, bomb_with_corrupt_tail())
    # (with limits that let it inflate fully, the broken end is found)
    with pytest.raises(InvalidBundle, match="zeros\\.bin"):
        inspect_bundle(path, BundleLimits(max_ratio=10**6, max_entry_ratio=10**6))
    # When it is inspected with the default limits
    # Then the ratio stops it first: the broken tail is never reached
    with pytest.raises(BundleTooLarge, match="zip bomb"):
        inspect_bundle(path, BundleLimits())


def test_a_bomb_is_inflated_one_bounded_chunk_at_a_time(tmp_path: Path) -> None:
    # Given a 20 MiB bomb
    path = write(tmp_path, zeros_bomb())
    # When it is inspected
    tracemalloc.start()
    try:
        with pytest.raises(BundleTooLarge):
            inspect_bundle(path, BundleLimits())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Then it never sat in memory: a few chunks at most, far below its inflated size
    assert peak < 2 * MiB


def test_walking_a_bundle_yields_entries_and_their_real_bytes(tmp_path: Path) -> None:
    # Given a zip with an executable and a plain file
    data = zip_bytes((unix("run", stat.S_IFREG | 0o750), b"#!"), ("data/x.txt", text(3000)))
    # When it is walked
    seen = [
        (e.parts, e.is_dir, e.executable, b"".join(c))
        for e, c in walk_bundle(write(tmp_path, data), BundleLimits())
    ]
    # Then each entry comes with its safe path, its kind and its content
    assert seen == [(("run",), False, True, b"#!"), (("data", "x.txt"), False, False, text(3000))]
