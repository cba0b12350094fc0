"""Aliases: names for a function's versions, with an optional weighted split.

An alias points at one version (``version``) and may send a share of its
invocations to one other version (``weights``: ``{"2": 0.1}``, Lambda's
``RoutingConfig.AdditionalVersionWeights``). ``pick`` chooses the version of each
invocation by those weights. Aliases are read from Redis at each invocation
through one (a single ``HGET``): an alias moves, and every process must follow.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import redis.asyncio as aioredis

from faas import keys
from faas.errors import FunctionNotFound, PreconditionFailed, ResourceConflict, ValidationFailed
from faas.models import LATEST
from faas.store import redis_errors

ALIAS_NAME = re.compile(r"^(?!^[0-9]+$)[A-Za-z0-9_-]{1,128}$")
DESCRIPTION_MAX = 256


@dataclass(frozen=True)
class Alias:
    name: str
    version: str
    description: str = ""
    # At most one other version -> the share (0-1) of invocations it takes.
    weights: dict[str, float] = field(default_factory=dict)
    revision_id: str = ""
    updated_at: float = 0.0

    def pick(self, draw: Callable[[], float] = random.random) -> str:
        """The version one invocation runs: another one in its share, else the alias's."""
        roll = draw()
        for version, weight in self.weights.items():
            if roll < weight:
                return version
            roll -= weight
        return self.version

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "version": self.version,
                "description": self.description,
                "weights": self.weights,
                "revision_id": self.revision_id,
                "updated_at": self.updated_at,
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Alias:
        data = json.loads(raw)
        return cls(**data)


def validate(alias: Alias) -> Alias:
    """``alias`` if its name, version and weights are Lambda's; else ``ValidationFailed``."""
    if not ALIAS_NAME.fullmatch(alias.name):
        raise ValidationFailed(
            "Name must be 1-128 letters, digits, '-' or '_', and not only digits", field="Name"
        )
    if alias.version != LATEST and not alias.version.isdigit():
        raise ValidationFailed(
            "FunctionVersion must be $LATEST or a version number", field="FunctionVersion"
        )
    if len(alias.description) > DESCRIPTION_MAX:
        raise ValidationFailed(
            f"Description must be at most {DESCRIPTION_MAX} characters", field="Description"
        )
    if len(alias.weights) > 1:
        raise ValidationFailed(
            "AdditionalVersionWeights may name only one other version",
            field="RoutingConfig.AdditionalVersionWeights",
        )
    for version, weight in alias.weights.items():
        where = "RoutingConfig.AdditionalVersionWeights"
        if not version.isdigit():
            raise ValidationFailed(f"{where}: {version!r} is not a version number", field=where)
        if version == alias.version:
            raise ValidationFailed(
                f"{where}: version {version} is the alias's own version", field=where
            )
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
            raise ValidationFailed(f"{where}: weights must be from 0.0 to 1.0", field=where)
        if alias.version == LATEST:
            raise ValidationFailed(
                "RoutingConfig is not supported on an alias of $LATEST", field=where
            )
    return alias


class Aliases:
    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def create(self, function: str, alias: Alias) -> Alias:
        made = _revised(validate(alias))
        async with redis_errors():
            created = await self._redis.hsetnx(keys.aliases(function), alias.name, made.to_json())
        if not created:
            raise ResourceConflict(f"Alias already exists: {alias.name}")
        return made

    async def get(self, function: str, name: str) -> Alias:
        async with redis_errors():
            raw = await self._redis.hget(keys.aliases(function), name)
        if raw is None:
            raise FunctionNotFound(f"Cannot find alias {name} of function {function}")
        return Alias.from_json(raw)

    async def update(
        self, function: str, name: str, change: Callable[[Alias], Alias], revision_id: str | None
    ) -> Alias:
        key = keys.aliases(function)
        async with redis_errors(), self._redis.pipeline(transaction=True) as pipe:
            await pipe.watch(key)
            raw = await pipe.hget(key, name)
            if raw is None:
                raise FunctionNotFound(f"Cannot find alias {name} of function {function}")
            current = Alias.from_json(raw)
            if revision_id is not None and revision_id != current.revision_id:
                raise PreconditionFailed(
                    "The Revision Id provided does not match the latest Revision Id. Call "
                    "the GetFunction/GetAlias API to retrieve the latest Revision Id"
                )
            new = _revised(validate(change(current)))
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.hset(key, name, new.to_json())
            await pipe.execute()
        return new

    async def delete(self, function: str, name: str) -> None:
        async with redis_errors():
            await self._redis.hdel(keys.aliases(function), name)

    async def all(self, function: str) -> list[Alias]:
        async with redis_errors():
            raw: dict[bytes, bytes] = await self._redis.hgetall(keys.aliases(function))  # type: ignore[assignment]
        return sorted((Alias.from_json(v) for v in raw.values()), key=lambda a: a.name)

    async def delete_all(self, function: str) -> None:
        async with redis_errors():
            await self._redis.delete(keys.aliases(function))


def _revised(alias: Alias) -> Alias:
    return replace(alias, revision_id=str(uuid.uuid4()), updated_at=time.time())
