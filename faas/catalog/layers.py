"""Layers: zips a function adds under ``/opt``, published as immutable numbered versions.

A layer version is published once and never changes: its number (1, 2, ... per
layer name, never reused, even once every version is deleted), description,
compatible runtimes and architectures, license, and its zip. The zip goes into
the code store as a function's does (the same bundle checks; stored once by its
sha256, unpacked at publish). ``delete`` takes a version out of the listings and
out of what functions may start to use; the functions already listing it keep
it, as on Lambda: its record stays (marked ``deleted``) and its zip stays while a
function or version lists it (``faas.catalog.references``), so their sandboxes
still start; then the code sweep removes it (``on_delete`` asks for one).

A function names its layers by version ARN (``FunctionConfig.layers``); its
sandboxes see their trees merged under ``/opt`` (``faas.compute.opt_dirs``),
each top-level entry a mount point. So a layer may not hold a top-level
``faas``, where the runtime image keeps the agent, and its top-level names must
be plain (letters, digits, ``._+-``): each goes into a bind-mount spec.

Apart from that mark a version never changes, so each process keeps those it
read for what it runs and shows (``pinned``, ``sizes``); what a new function may
use (``check``) and the listings are read from Redis each time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from faas import keys
from faas.catalog.codestore import CodeStore, StoreCode
from faas.errors import FunctionNotFound, InvalidBundle, ValidationFailed
from faas.store import redis_errors

SEQ = "seq"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,140}$")
# Where the runtime image keeps the agent and the runtime clients (LAMBDA_RUNTIME_DIR).
RESERVED_ENTRY = "faas"
_ENTRY = re.compile(r"^[A-Za-z0-9_.+-]{1,255}$")
_VERSION_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:"
    r"(?P<name>[A-Za-z0-9_-]{1,140}):(?P<number>[0-9]{1,20})$"
)


def layer_arn(region: str, account_id: str, name: str) -> str:
    """``arn:aws:lambda:REGION:ACCOUNT:layer:NAME``."""
    return f"arn:aws:lambda:{region}:{account_id}:layer:{name}"


@dataclass(frozen=True)
class LayerVersion:
    """One published version of a layer; ``code_sha256`` is hex, as the code store names it."""

    name: str
    number: int
    code_sha256: str
    code_size: int
    created_at: float
    description: str = ""
    compatible_runtimes: tuple[str, ...] = ()
    compatible_architectures: tuple[str, ...] = ()
    license_info: str = ""
    deleted: bool = False

    def matches(self, runtime: str | None, architecture: str | None) -> bool:
        """Whether it declares ``runtime`` and ``architecture`` compatible (None: any)."""
        return (runtime is None or runtime in self.compatible_runtimes) and (
            architecture is None or architecture in self.compatible_architectures
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> LayerVersion:
        data = json.loads(raw)
        for key in ("compatible_runtimes", "compatible_architectures"):
            data[key] = tuple(data.get(key, ()))
        return cls(**data)


class Layers:
    """Layer versions in Redis, their zips in the code store."""

    def __init__(
        self,
        client: aioredis.Redis,
        codestore: CodeStore,
        *,
        region: str,
        account_id: str,
        store_code: StoreCode | None = None,
        on_delete: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._redis = client
        self._codestore = codestore
        # Unpacked at publish, as a function's code is: a cold start should not pay for it.
        self._store_code = store_code or (
            lambda path, check: asyncio.to_thread(codestore.put_unpacked, path, check=check)
        )
        self._on_delete = on_delete
        self._region = region
        self._account_id = account_id
        self._known: dict[tuple[str, int], LayerVersion] = {}

    def arn(self, name: str) -> str:
        return layer_arn(self._region, self._account_id, name)

    def version_arn(self, version: LayerVersion) -> str:
        return f"{self.arn(version.name)}:{version.number}"

    async def publish(
        self,
        name: str,
        code: Path,
        *,
        description: str = "",
        compatible_runtimes: Sequence[str] = (),
        compatible_architectures: Sequence[str] = (),
        license_info: str = "",
    ) -> LayerVersion:
        """The next version of ``name`` (made if new) holding the zip at ``code``.

        ``InvalidBundle`` (nothing published) for a zip the code store refuses, or
        one whose top-level names could not be placed under ``/opt``.
        """
        if not NAME_PATTERN.fullmatch(name):
            raise ValidationFailed(
                "a layer name is 1-140 letters, digits, '-' and '_'", field="LayerName"
            )
        ref = await self._store_code(code, _check_entries)
        key = keys.layer(name)
        async with redis_errors():
            number = int(await self._redis.hincrby(key, SEQ, 1))
            version = LayerVersion(
                name=name,
                number=number,
                code_sha256=ref.sha256,
                code_size=ref.size,
                created_at=time.time(),
                description=description,
                compatible_runtimes=tuple(compatible_runtimes),
                compatible_architectures=tuple(compatible_architectures),
                license_info=license_info,
            )
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, str(number), version.to_json())
                pipe.sadd(keys.LAYERS, name)
                await pipe.execute()
        self._known[(name, number)] = version
        return version

    async def get(self, name: str, number: int) -> LayerVersion:
        """A version not deleted; ``FunctionNotFound`` (Lambda's ResourceNotFound) if none."""
        version = await self._read(name, number)
        if version is None or version.deleted:
            raise FunctionNotFound("The resource you requested does not exist.")
        return version

    async def versions(self, name: str) -> list[LayerVersion]:
        """The versions of ``name`` not deleted, newest first (none for an unknown layer)."""
        async with redis_errors():
            raw: dict[bytes, bytes] = await self._redis.hgetall(keys.layer(name))  # type: ignore[assignment]
        found = [LayerVersion.from_json(v) for k, v in raw.items() if k != SEQ.encode()]
        return sorted((v for v in found if not v.deleted), key=lambda v: -v.number)

    async def names(self) -> list[str]:
        """Every layer ever published, by name (some may have no version left)."""
        async with redis_errors():
            members: set[bytes] = await self._redis.smembers(keys.LAYERS)  # type: ignore[assignment]
        return sorted(m.decode() for m in members)

    async def delete(self, name: str, number: int) -> None:
        """Take the version out of listings and out of what functions may start to use.

        Its record stays for the functions that list it already. Deleting a version
        that does not exist (or no longer) is done already, as on Lambda.
        """
        version = await self._read(name, number)
        if version is None or version.deleted:
            return
        async with redis_errors():
            await self._redis.hset(
                keys.layer(name), str(number), dataclasses.replace(version, deleted=True).to_json()
            )
        if self._on_delete is not None:
            await self._on_delete()

    async def check(self, arns: Sequence[str]) -> None:
        """Refuse (naming ``Layers``, in Lambda's words) an ARN that is no version of this
        server's layers, or one deleted: a function may start to use only live ones."""
        for arn in arns:
            found = self._parse(arn)
            version = await self._read(*found) if found is not None else None
            if version is None or version.deleted:
                raise ValidationFailed(f"Layer version {arn} does not exist.", field="Layers")

    async def pinned(self, arns: Sequence[str]) -> list[LayerVersion]:
        """The versions a function lists, deleted ones too: what its sandboxes need.

        ``FileNotFoundError`` if one is not recorded at all.
        """
        pinned = []
        for arn in arns:
            version = await self._remembered(arn)
            if version is None:
                raise FileNotFoundError(f"layer version {arn} is not on this server")
            pinned.append(version)
        return pinned

    async def trees(self, arns: Sequence[str]) -> list[tuple[str, Path]]:
        """(sha256, unpacked directory) of each layer a function lists, in its order.

        ``FileNotFoundError`` if a version or its zip is missing.
        """
        return [
            (v.code_sha256, await asyncio.to_thread(self._codestore.unpacked, v.code_sha256))
            for v in await self.pinned(arns)
        ]

    async def sizes(self, arns: Sequence[str]) -> list[tuple[str, int]]:
        """(ARN, zip size) of each layer a function lists, as its configuration shows them;
        0 for one no longer recorded."""
        shown = []
        for arn in arns:
            version = await self._remembered(arn)
            shown.append((arn, version.code_size if version is not None else 0))
        return shown

    def _parse(self, arn: str, *, anywhere: bool = False) -> tuple[str, int] | None:
        """The (name, number) a version ARN names; None if it is not one of this server's
        region and account (``anywhere``: whatever region and account it names, for ARNs
        stored before a change of either)."""
        found = _VERSION_ARN.fullmatch(arn)
        if found is None:
            return None
        if not anywhere and (found["region"], found["account"]) != (
            self._region,
            self._account_id,
        ):
            return None
        return found["name"], int(found["number"])

    async def _remembered(self, arn: str) -> LayerVersion | None:
        """The version ``arn`` names as this process knows it, read if it does not."""
        found = self._parse(arn, anywhere=True)
        if found is None:
            return None
        return self._known.get(found) or await self._read(*found)

    async def _read(self, name: str, number: int) -> LayerVersion | None:
        """The version's record as it is in Redis (None if there is none); remembered."""
        async with redis_errors():
            raw = await self._redis.hget(keys.layer(name), str(number))
        if raw is None:
            return None
        version = LayerVersion.from_json(raw)
        self._known[(name, number)] = version
        return version


def _check_entries(tree: Path) -> None:
    """Refuse a layer whose top-level names could not be placed under ``/opt``."""
    for entry in sorted(os.listdir(tree)):
        if entry == RESERVED_ENTRY:
            raise InvalidBundle(
                f"the layer holds a top-level {RESERVED_ENTRY!r}: /opt/{RESERVED_ENTRY} is "
                "where this server keeps its runtime; move it into another folder"
            )
        if not _ENTRY.fullmatch(entry):
            raise InvalidBundle(
                f"the layer's top-level entry {entry[:100]!r} cannot be placed under /opt: "
                "name it with letters, digits and ._+- only"
            )
