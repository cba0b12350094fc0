"""Which bundles something still refers to: what a code sweep must keep.

A bundle (a zip in the code store, by sha256) is shared by whatever uploaded the
same bytes: functions' ``$LATEST``, their published versions, layer versions. It is
referenced while any of these names it: a function's ``$LATEST`` or a version of it
(an image function's "sha" is its image id, never a bundle: harmless in the set), a
layer version not deleted, and a deleted layer version that a function or version
still lists (its sandboxes keep starting with it, as on Lambda).

The same inputs say which lists of layers functions and versions name
(``layer_lists``): the merges of them under ``/opt`` (``faas.compute.opt_dirs``) to
keep.

``referenced`` and ``layer_lists`` are the pure rules; ``References.read`` gathers their
inputs from Redis:
the function specs (the registry's cache), then every function's versions and every
layer's versions in pipelines of ``_BATCH`` hashes (a read per function: at 10,000
functions ~10 pipelines, tens of milliseconds, once per sweep).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from faas import keys
from faas.catalog import layers, versions
from faas.catalog.layers import LayerVersion
from faas.catalog.registry import Registry
from faas.models import FunctionSpec
from faas.store import redis_errors

_BATCH = 1000
# The counters both kinds of hash keep beside their versions.
_COUNTERS = {layers.SEQ.encode(), versions.SEQ.encode()}


@dataclass(frozen=True)
class Kept:
    """What a sweep keeps: bundles by sha256; each list of layers named, as their zips'
    sha256s in order (None: a named layer version is unknown, so keep every merge)."""

    bundles: set[str]
    layer_lists: set[tuple[str, ...]] | None


def referenced(specs: Iterable[FunctionSpec], layer_versions: Iterable[LayerVersion]) -> set[str]:
    """The sha256 of every bundle that ``specs`` (each function's ``$LATEST`` and
    versions) and ``layer_versions`` (deleted ones too) keep."""
    keep: set[str] = set()
    listed: set[str] = set()
    for spec in specs:
        keep.add(spec.code_sha256)
        # A version ARN ends ":layer:<name>:<number>" whatever region and account it names.
        listed.update(arn.rpartition(":layer:")[2] for arn in spec.config.layers)
    for version in layer_versions:
        if not version.deleted or f"{version.name}:{version.number}" in listed:
            keep.add(version.code_sha256)
    return keep


def layer_lists(
    specs: Iterable[FunctionSpec], layer_versions: Iterable[LayerVersion]
) -> set[tuple[str, ...]] | None:
    """Each list of layers that ``specs`` name, as their zips' sha256s in order; None if
    one of them names a layer version not in ``layer_versions``."""
    zips = {f"{v.name}:{v.number}": v.code_sha256 for v in layer_versions}
    lists: set[tuple[str, ...]] = set()
    for spec in specs:
        if not spec.config.layers:
            continue
        shas = tuple(zips.get(arn.rpartition(":layer:")[2], "") for arn in spec.config.layers)
        if "" in shas:
            return None
        lists.add(shas)
    return lists


class References:
    """The bundles the catalog refers to, read from Redis."""

    def __init__(self, client: aioredis.Redis, registry: Registry) -> None:
        self._redis = client
        self._registry = registry

    async def read(self) -> Kept:
        latest = await self._registry.list()
        published = [
            FunctionSpec.from_json(raw)
            for raw in await self._hash_values([keys.versions(s.name) for s in latest])
        ]
        async with redis_errors():
            members = await self._redis.smembers(keys.LAYERS)
        names = sorted(m.decode() if isinstance(m, bytes) else m for m in members)
        layer_versions = [
            LayerVersion.from_json(raw)
            for raw in await self._hash_values([keys.layer(name) for name in names])
        ]
        specs = [*latest, *published]
        return Kept(referenced(specs, layer_versions), layer_lists(specs, layer_versions))

    async def _hash_values(self, hashes: Sequence[str]) -> list[bytes]:
        """Every field's value of each hash, but its ``seq`` counter."""
        values: list[bytes] = []
        for start in range(0, len(hashes), _BATCH):
            async with redis_errors(), self._redis.pipeline(transaction=False) as pipe:
                for key in hashes[start : start + _BATCH]:
                    pipe.hgetall(key)
                for found in await pipe.execute():
                    values.extend(v for k, v in found.items() if k not in _COUNTERS)
        return values
