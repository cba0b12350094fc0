"""Stories of uploads kept by the code store (faas.catalog.codestore), on a temp dir only."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import faas.catalog.codestore
from faas.catalog.bundle import BundleLimits
from faas.catalog.codestore import CodeRef, CodeStore
from faas.errors import BundleTooLarge, FaasError, InvalidBundle
from tests.helpers import bad_upload_rows
from tests.zips import MiB, corrupt, encrypted, unix, zip_bytes


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if not p.is_dir()]


HANDLER = b"def handler(event, context):\n    return event\n"
GOOD = zip_bytes(("app.py", HANDLER))
TINY = BundleLimits(max_zipped_bytes=10_000, max_unpacked_bytes=10_000, max_entries=3)


@pytest.fixture
def sibling(tmp_path: Path) -> Path:
    """A directory next to the store root, which nothing may ever write into."""
    path = tmp_path / "sibling"
    path.mkdir()
    return path


@pytest.fixture
def store(tmp_path: Path, sibling: Path) -> CodeStore:
    return CodeStore(tmp_path / "store", BundleLimits())


def assert_nothing_left(store: CodeStore, sibling: Path) -> None:
    assert files_under(store.root) == []
    assert list(store.root.glob("*/.tmp-*")) == []
    assert list(sibling.iterdir()) == []
    assert sorted(p.name for p in store.root.parent.iterdir()) == ["sibling", "store"]


def test_a_good_zip_is_stored_under_the_sha256_of_its_bytes(store: CodeStore) -> None:
    # Given a user's zip
    # When it is uploaded
    ref = store.put_bytes(GOOD)
    # Then it is addressed by the sha256 of exactly the uploaded bytes
    assert ref == CodeRef(sha256=hashlib.sha256(GOOD).hexdigest(), size=len(GOOD))
    assert store.has(ref.sha256)
    assert store.zip_path(ref.sha256).read_bytes() == GOOD
    # And nothing but that zip is left behind (no spool, no temp file)
    assert files_under(store.root) == [store.zip_path(ref.sha256)]


def test_the_same_bytes_twice_make_one_file(store: CodeStore) -> None:
    # Given a zip that was uploaded once
    first = store.put_bytes(GOOD)
    # When the same bytes are uploaded again
    second = store.put_bytes(GOOD)
    # Then both uploads get the same reference and the store holds one file
    assert first == second
    assert files_under(store.root) == [store.zip_path(first.sha256)]


def test_a_spooled_upload_is_stored_and_the_spool_stays_the_callers(store: CodeStore) -> None:
    # Given the gateway spooled a request body into the store's tmp dir
    spool = store.tmp_dir / "request-1"
    spool.write_bytes(GOOD)
    # When it stores the spool file
    ref = store.put_file(spool)
    # Then the zip is stored and the spool is left for the gateway to delete
    assert store.zip_path(ref.sha256).read_bytes() == GOOD
    assert spool.read_bytes() == GOOD
    assert store.limits == BundleLimits()


bad = bad_upload_rows(TINY)

BAD_UPLOADS = [
    bad("random bytes", lambda: os.urandom(4096), InvalidBundle, "not a readable zip"),
    bad("a text file", lambda: b"just text\n" * 50, InvalidBundle, "not a readable zip"),
    bad("truncated", lambda: GOOD[: len(GOOD) // 2], InvalidBundle, "not a readable zip"),
    bad(
        "corrupt",
        lambda: corrupt(zip_bytes(("app.py", os.urandom(3000)))),
        InvalidBundle,
        "corrupt",
    ),
    bad("absolute path", lambda: zip_bytes(("/etc/passwd", b"")), InvalidBundle, "'/etc/passwd'"),
    bad("dot-dot", lambda: zip_bytes(("../evil", b"")), InvalidBundle, "'../evil'"),
    bad(
        "nested dot-dot", lambda: zip_bytes(("a/../../evil", b"")), InvalidBundle, "'a/../../evil'"
    ),
    bad(
        "symlink",
        lambda: zip_bytes((unix("link", stat.S_IFLNK | 0o777), b"../../sibling")),
        InvalidBundle,
        "'link' is a symlink",
    ),
    bad(
        "device file",
        lambda: zip_bytes((unix("null", stat.S_IFCHR | 0o666), b"")),
        InvalidBundle,
        "'null' is a device file",
    ),
    bad(
        "FIFO",
        lambda: zip_bytes((unix("fifo", stat.S_IFIFO | 0o644), b"")),
        InvalidBundle,
        "'fifo' is a FIFO",
    ),
    bad("encrypted", lambda: encrypted(GOOD), InvalidBundle, "'app.py' is encrypted"),
    bad(
        "duplicates",
        lambda: zip_bytes(("a", b"1"), ("a", b"2")),
        InvalidBundle,
        "'a' appears twice",
    ),
    bad("zipped too big", lambda: os.urandom(20_000), BundleTooLarge, "zipped"),
    bad("unpacks too big", lambda: zip_bytes(("big", bytes(20_000))), BundleTooLarge, "unpacks"),
    bad(
        "too many entries",
        lambda: zip_bytes(*[(str(i), b"") for i in range(4)]),
        BundleTooLarge,
        "4 entries",
    ),
    bad(
        "zip bomb",
        lambda: zip_bytes(("zeros", bytes(20 * MiB))),
        BundleTooLarge,
        "zip bomb",
        BundleLimits(),
    ),
]


@pytest.mark.parametrize(("upload", "limits", "error", "words"), BAD_UPLOADS)
def test_a_rejected_upload_leaves_nothing_behind(
    tmp_path: Path,
    sibling: Path,
    upload: Callable[[], bytes],
    limits: BundleLimits,
    error: type[FaasError],
    words: str,
) -> None:
    # Given a store (with small limits, so size stories stay fast)
    store = CodeStore(tmp_path / "store", limits)
    data = upload()
    # When the bad zip is uploaded
    with pytest.raises(error, match=re.escape(words)) as caught:
        store.put_bytes(data)
    # Then the user gets that exact error, the store holds no file, nothing leaked outside
    assert type(caught.value) is error
    assert not store.has(hashlib.sha256(data).hexdigest())
    assert_nothing_left(store, sibling)


def test_an_unpacked_bundle_keeps_modes_and_nesting(store: CodeStore) -> None:
    # Given an uploaded zip with nested modules, an executable tool and a bootstrap
    # stored without any execute bit (as zips made on Windows are)
    data = zip_bytes(
        ("app.py", HANDLER),
        ("pkg/sub/", b""),
        ("pkg/sub/mod.py", b"X = 1\n"),
        (unix("bin/tool", stat.S_IFREG | 0o700), b"#!/bin/sh\necho hi\n"),
        (unix("bootstrap", stat.S_IFREG | 0o600), b"#!/bin/sh\n"),
        (unix("pkg/bootstrap", stat.S_IFREG | 0o600), b"not the entry point"),
    )
    sha = store.put_bytes(data).sha256
    # When its files are asked for
    root = store.unpacked(sha)
    # Then they are there, readable, with the modes a runtime needs
    assert root == store.root / "unpacked" / sha
    assert (root / "app.py").read_bytes() == HANDLER
    assert (root / "pkg/sub/mod.py").read_bytes() == b"X = 1\n"
    assert mode(root / "app.py") == 0o644
    assert mode(root / "bin/tool") == 0o755
    assert mode(root / "bootstrap") == 0o755
    assert mode(root / "pkg/bootstrap") == 0o644
    assert {mode(d) for d in (root, root / "pkg", root / "pkg/sub", root / "bin")} == {0o755}
    # And asking again returns the same directory without unpacking again
    inode = (root / "app.py").stat().st_ino
    assert store.unpacked(sha) == root
    assert (root / "app.py").stat().st_ino == inode


def test_four_threads_unpacking_one_bundle_get_one_directory(
    store: CodeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stored bundle, and four threads that all finish extracting before any renames
    sha = store.put_bytes(zip_bytes(*[(f"m{i}.py", HANDLER) for i in range(20)])).sha256
    barrier = threading.Barrier(4, timeout=10)
    extract = faas.catalog.codestore._extract

    def extract_then_wait(source: Path, target: Path, limits: BundleLimits) -> None:
        extract(source, target, limits)
        barrier.wait()

    monkeypatch.setattr(faas.catalog.codestore, "_extract", extract_then_wait)
    # When they all ask for its files at once
    with ThreadPoolExecutor(4) as pool:
        roots = list(pool.map(lambda _: store.unpacked(sha), range(4)))
    # Then all get the one complete directory, and the losers' copies are gone
    assert set(roots) == {store.root / "unpacked" / sha}
    assert sorted(p.name for p in (store.root / "unpacked").iterdir()) == [sha]
    assert len(list(roots[0].iterdir())) == 20


def test_a_tampered_zip_is_checked_again_when_unpacked(store: CodeStore, sibling: Path) -> None:
    # Given a zip that escapes its root, planted straight into the store's zips dir
    evil = zip_bytes(("ok.py", HANDLER), ("../../../sibling/evil", b"pwned"))
    sha = hashlib.sha256(evil).hexdigest()
    store.zip_path(sha).write_bytes(evil)
    # When its files are asked for
    with pytest.raises(InvalidBundle, match=re.escape("'../../../sibling/evil'")):
        store.unpacked(sha)
    # Then nothing was unpacked, not even the good entry, and nothing leaked outside
    store.zip_path(sha).unlink()
    assert_nothing_left(store, sibling)


def test_a_bomb_failing_midway_through_unpacking_leaves_no_partial_tree(
    store: CodeStore, sibling: Path
) -> None:
    # Given a planted zip whose first file is fine and whose second is a bomb
    bomb = zip_bytes(("ok.py", HANDLER), ("zeros", bytes(20 * MiB)))
    sha = hashlib.sha256(bomb).hexdigest()
    store.zip_path(sha).write_bytes(bomb)
    # When its files are asked for, then it is refused during the writing
    with pytest.raises(BundleTooLarge, match="'zeros'"):
        store.unpacked(sha)
    # And the half-written temp tree is gone
    store.zip_path(sha).unlink()
    assert_nothing_left(store, sibling)


def test_removing_a_bundle_deletes_its_zip_and_its_files(store: CodeStore) -> None:
    # Given a stored and unpacked bundle
    sha = store.put_bytes(GOOD).sha256
    store.unpacked(sha)
    # When it is garbage-collected (twice: the second is a no-op)
    store.remove(sha)
    store.remove(sha)
    # Then neither its zip nor its files remain
    assert not store.has(sha)
    assert files_under(store.root) == []
    assert list((store.root / "unpacked").iterdir()) == []


def test_unpacking_a_missing_bundle_says_so(store: CodeStore) -> None:
    # Given a sha that was never stored, when its files are asked for, then it is not found
    with pytest.raises(FileNotFoundError, match="not in the code store"):
        store.unpacked("0" * 64)


@pytest.mark.parametrize(
    "sha", ["../../etc/passwd", "A" * 64, "a" * 63, "a" * 65, "a" * 64 + "\n", "g" * 64, ""]
)
@pytest.mark.parametrize("call", ["has", "zip_path", "unpacked", "remove"])
def test_a_malformed_sha_is_refused_before_any_path_is_built(
    store: CodeStore, sha: str, call: str
) -> None:
    # Given a sha that is not 64 lowercase hex digits, when any call gets it, then ValueError
    with pytest.raises(ValueError, match="not a sha256"):
        getattr(store, call)(sha)


def test_a_bundle_fetched_by_its_hash_is_stored_only_if_its_bytes_have_that_hash(
    tmp_path: Path,
) -> None:
    # Given a store, and a peer's zip whose sha256 we know
    store = CodeStore(tmp_path / "store", BundleLimits())
    good = tmp_path / "good.zip"
    good.write_bytes(GOOD)
    sha = hashlib.sha256(good.read_bytes()).hexdigest()
    # When other bytes arrive under that hash
    bad = tmp_path / "bad.zip"
    bad.write_bytes(zip_bytes(("app.py", HANDLER + b"# tampered\n")))
    # Then they are refused for their hash, and nothing is stored
    with pytest.raises(InvalidBundle, match="hash mismatch"):
        store.put_file(bad, expect=sha)
    assert not store.has(sha)
    assert files_under(store.root / "zips") == []
    # And the right bytes are stored
    assert store.put_file(good, expect=sha).sha256 == sha
    assert store.has(sha)
