"""Per-function secrets: kept apart from the config, never shown, given to the container as files.

``PUT /v1/functions/{name}/secrets`` replaces them; ``GET`` lists their names
only. They live in a Redis hash (``faas:secrets:<name>``), never in the
function's spec, environment or logs. Each container of the function gets them
as files under ``/run/secrets`` (``/run/secrets/<NAME>``), a read-only mount
that only the function's user can read. A change starts fresh containers, as an
``env`` change does.
"""

from __future__ import annotations

import re
from typing import cast

import redis.asyncio as aioredis

from faas import keys
from faas.errors import ValidationFailed
from faas.store import redis_errors

SECRET_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
MAX_SECRETS = 50
MAX_TOTAL_BYTES = 64 * 1024
MOUNT_PATH = "/run/secrets"


def validate(data: object) -> dict[str, str]:
    """A JSON object of name -> string value, within the limits; else ``ValidationFailed``
    naming the secret (never its value)."""
    if not isinstance(data, dict):
        raise ValidationFailed('secrets must be a JSON object: {"NAME": "value", ...}')
    if len(data) > MAX_SECRETS:
        raise ValidationFailed(f"a function may have at most {MAX_SECRETS} secrets")
    total = 0
    for name, value in data.items():
        if not SECRET_NAME.fullmatch(name):
            raise ValidationFailed(
                f"secret name {name!r} must be 1-64 letters, digits, '_', '.' or '-' "
                "(not starting with '.' or '-')",
                field=name,
            )
        if not isinstance(value, str):
            raise ValidationFailed(f"secret {name!r} must be a string", field=name)
        total += len(name) + len(value.encode())
    if total > MAX_TOTAL_BYTES:
        raise ValidationFailed(f"secrets may hold at most {MAX_TOTAL_BYTES} bytes in all")
    return dict(data)


class SecretStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def replace(self, function: str, values: dict[str, str]) -> None:
        key = keys.secrets(function)
        async with redis_errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if values:
                pipe.hset(key, mapping=values)  # type: ignore[arg-type]
            await pipe.execute()

    async def remove(self, function: str, name: str) -> bool:
        async with redis_errors():
            return bool(await self._redis.hdel(keys.secrets(function), name))

    async def names(self, function: str) -> list[str]:
        async with redis_errors():
            raw = cast(list[bytes], await self._redis.hkeys(keys.secrets(function)))
        return sorted(n.decode() for n in raw)

    async def values(self, function: str) -> dict[str, bytes]:
        async with redis_errors():
            raw = cast(dict[bytes, bytes], await self._redis.hgetall(keys.secrets(function)))
        return {k.decode(): v for k, v in raw.items()}

    async def delete(self, function: str) -> None:
        async with redis_errors():
            await self._redis.delete(keys.secrets(function))
