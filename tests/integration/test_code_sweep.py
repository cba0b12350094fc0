"""The code sweep against a real Redis: a bundle nothing refers to goes after two sweeps
a grace apart; one still referenced, or uploaded within the grace, stays; an upload
of a bundle being deleted waits until the deletion is over; and a merge of layers
under /opt goes once no function lists its layers."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from faas.catalog.bundle import BundleLimits
from faas.catalog.codestore import CodeStore
from faas.catalog.layers import Layers
from faas.catalog.references import References
from faas.catalog.registry import Registry
from faas.cluster.claims import Claims
from faas.cluster.sweep import Sweeper
from faas.compute.opt_dirs import OptDirs
from faas.models import FunctionConfig, FunctionSpec
from tests.zips import zip_bytes

pytestmark = pytest.mark.process

GRACE_S = 0.3


def stored(store: CodeStore, tmp_path: Path, text: bytes) -> str:
    path = tmp_path / f"{hashlib.sha256(text).hexdigest()}.zip"
    path.write_bytes(zip_bytes(("app.py", text)))
    return store.put_unpacked(path).sha256


async def test_an_unreferenced_bundle_goes_after_the_grace_and_a_referenced_one_stays(
    redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    # Given a bundle a function uses, and one nothing uses
    store = CodeStore(tmp_path / "code", BundleLimits())
    used, unused = stored(store, tmp_path, b"used = 1\n"), stored(store, tmp_path, b"unused = 1\n")
    registry = Registry(redis_client)
    config = FunctionConfig(name="user", runtime="python3.11", handler="app.handler")
    await registry.create(FunctionSpec(config, used, 1, created_at=0.0, updated_at=0.0))
    claims = Claims(redis_client, GRACE_S)
    sweeper = Sweeper(
        redis_client, store, References(redis_client, registry), claims, s3=None, grace_s=GRACE_S
    )
    # When a first sweep finds the unused one: it stays, and is due in a grace
    due = await sweeper.sweep()
    assert due is not None and 0 < due <= GRACE_S
    assert store.has(unused)
    # Then a sweep a grace later removes it, zip and files, and keeps the used one
    await asyncio.sleep(GRACE_S)
    assert await sweeper.sweep() is None
    assert store.shas() == {used}
    assert (tmp_path / "code" / "unpacked" / used).is_dir()


async def test_a_bundle_uploaded_within_the_grace_is_not_claimed(
    redis_client: aioredis.Redis,
) -> None:
    claims = Claims(redis_client, GRACE_S)
    sha = "c" * 64
    # Given an upload of it that began just now
    await claims.uploading(sha)
    # Then no sweep may delete it until the grace has passed
    assert not await claims.claim(sha)
    await asyncio.sleep(GRACE_S + 0.05)
    assert await claims.claim(sha)
    await claims.release(sha)


async def test_an_upload_waits_until_a_deletion_of_the_same_bundle_is_over(
    redis_client: aioredis.Redis,
) -> None:
    claims = Claims(redis_client, GRACE_S)
    sha = "d" * 64
    # Given a sweep deleting the bundle
    assert await claims.claim(sha)
    # When an upload of it begins, and the deletion ends 0.3 s later
    started = time.monotonic()
    upload = asyncio.create_task(claims.uploading(sha))
    await asyncio.sleep(0.3)
    assert not upload.done()
    await claims.release(sha)
    # Then the upload went on only then, and a sweep now keeps the bundle
    await upload
    assert time.monotonic() - started >= 0.3
    assert not await claims.claim(sha)


def merges_sweeper(
    client: aioredis.Redis, store: CodeStore, registry: Registry, opt: OptDirs
) -> Sweeper:
    """A node's sweeper of its bundles and its merges of layers."""
    references = References(client, registry)
    claims = Claims(client, GRACE_S)
    return Sweeper(client, store, references, claims, s3=None, grace_s=GRACE_S, opt_dirs=opt)


async def test_a_merge_of_layers_goes_when_no_function_lists_them_any_more(
    redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    # Given two layers, and two functions whose sandboxes merged them under /opt in
    # their own orders
    store = CodeStore(tmp_path / "code", BundleLimits())
    layers = Layers(redis_client, store, region="local-1", account_id="000000000000")
    made = []
    for name in ("lib", "tools"):
        path = tmp_path / f"{name}.zip"
        path.write_bytes(zip_bytes((f"python/{name}.py", b"x = 1\n")))
        made.append(layers.version_arn(await layers.publish(name, path)))
    registry = Registry(redis_client)
    code = stored(store, tmp_path, b"app = 1\n")
    for name, listed in (("keeps", made), ("goes", made[::-1])):
        config = FunctionConfig(
            name=name, runtime="python3.11", handler="app.handler", layers=tuple(listed)
        )
        await registry.create(FunctionSpec(config, code, 1, created_at=0.0, updated_at=0.0))
    opt = OptDirs(tmp_path / "opt")
    kept = opt.merged(await layers.trees(made))
    gone = opt.merged(await layers.trees(made[::-1]))
    assert kept != gone and (gone / "python" / "tools.py").is_file()
    sweeper = merges_sweeper(redis_client, store, registry, opt)
    # While both functions list them, sweeps keep both merges
    assert await sweeper.sweep() is None
    # When one function is deleted, its merge stays through the grace (a sweep may have
    # read the catalog before a function listing the same layers was made)
    await registry.delete("goes")
    await asyncio.sleep(GRACE_S + 0.05)  # the merge was made more than a grace ago
    due = await sweeper.sweep()
    assert due is not None and 0 < due <= GRACE_S
    assert gone.is_dir()
    # Then a sweep a grace later removes it, and keeps the other function's
    await asyncio.sleep(GRACE_S + 0.05)
    await sweeper.sweep()
    assert not gone.exists() and kept.is_dir()
    assert sorted(p.name for p in opt.root.iterdir()) == [kept.name]
    # And a sandbox asking for the removed merge again gets a new one
    assert opt.merged(await layers.trees(made[::-1])) == gone and gone.is_dir()


async def test_a_merge_used_within_the_grace_is_kept(
    redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    # Given a merge no function lists, which a sandbox used just now
    store = CodeStore(tmp_path / "code", BundleLimits())
    lib = tmp_path / "lib"
    (lib / "python").mkdir(parents=True)
    (lib / "python" / "lib.py").write_text("x = 1\n")
    opt = OptDirs(tmp_path / "opt")
    registry = Registry(redis_client)
    sweeper = merges_sweeper(redis_client, store, registry, opt)
    merged = opt.merged([("a" * 64, lib)])
    await sweeper.sweep()
    await asyncio.sleep(GRACE_S + 0.05)
    opt.merged([("a" * 64, lib)])  # used again: its time touched
    # Then the sweep a grace later keeps it, and removes it only once unused for a grace
    await sweeper.sweep()
    assert merged.is_dir()
    await asyncio.sleep(GRACE_S + 0.05)
    await sweeper.sweep()
    await asyncio.sleep(GRACE_S + 0.05)
    await sweeper.sweep()
    assert not merged.exists()
