"""Saved test events: a function's named events for its Test tab, kept in Redis.

One hash per function (``faas.keys.saved_events``): event name -> JSON
``{"event": <the JSON text as typed>, "saved": <epoch s>}``. As in Lambda, a
function keeps at most ``MAX_EVENTS`` of them, a name is up to 25 letters,
digits, ``-``, ``_`` or ``.``, and an event is at most ``MAX_BYTES`` of valid
JSON. The text is kept as typed (its spacing too): loading it gives back what
was saved.

They are data about the function, so they live here and go with it: deleting a
function deletes its saved events (``faas.catalog.functions``), so a function
made again under its name starts with none. Who may change them is the console's
rule (``gateway.console.pages.test``): an admin key saves and deletes; an invoke
key loads and invokes them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis

from faas import keys
from faas.errors import ValidationFailed
from faas.store import redis_errors

MAX_EVENTS = 10
MAX_BYTES = 256 * 1024
NAME = re.compile(r"[A-Za-z0-9._-]{1,25}")
# HSET only if the name is saved already (a new version of it) or there is room: the
# count and the write in one step, so two saves at once cannot make an eleventh.
SAVE = """
local known = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
if known or redis.call('HLEN', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class SavedEvent:
    """One saved event: its name, its JSON text, when it was saved (epoch seconds)."""

    name: str
    event: str
    saved_at: float


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME.fullmatch(name):
        raise ValidationFailed(
            "name the event with 1 to 25 letters, digits, '-', '_' or '.'", field="event_name"
        )
    return name


def check_event(text: str) -> str:
    """``text`` if it is JSON within ``MAX_BYTES``; else ``ValidationFailed`` (field ``event``)."""
    if len(text.encode()) > MAX_BYTES:
        raise ValidationFailed(
            f"a saved event is at most {MAX_BYTES // 1024} KB of JSON", field="event"
        )
    parse_event(text)
    return text


def parse_event(text: str) -> object:
    """The event's JSON, or ``ValidationFailed`` naming the line and column of the fault."""
    if not text.strip():
        raise ValidationFailed("write an event: JSON, such as {}", field="event")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"the event is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            field="event",
        ) from None


class SavedEvents:
    """Every function's saved test events, in Redis."""

    def __init__(self, client: aioredis.Redis, clock: Callable[[], float] = time.time) -> None:
        self._redis = client
        self._clock = clock
        self._save = client.register_script(SAVE)

    async def list(self, function: str) -> list[SavedEvent]:
        """The function's saved events, by name."""
        async with redis_errors():
            raw = cast(dict[bytes, bytes], await self._redis.hgetall(keys.saved_events(function)))
        found = [_event(name.decode(), data) for name, data in raw.items()]
        return sorted(found, key=lambda e: e.name.lower())

    async def get(self, function: str, name: str) -> SavedEvent | None:
        async with redis_errors():
            data = await self._redis.hget(keys.saved_events(function), name)
        return None if data is None else _event(name, cast(bytes, data))

    async def save(self, function: str, name: str, event: str) -> SavedEvent:
        """Save ``event`` as ``name`` (replacing one of that name), once both are checked."""
        saved = SavedEvent(check_name(name), check_event(event), self._clock())
        record = json.dumps({"event": saved.event, "saved": saved.saved_at})
        async with redis_errors():
            done = await self._save(
                keys=[keys.saved_events(function)], args=[saved.name, record, MAX_EVENTS]
            )
        if not done:
            raise ValidationFailed(
                f"a function keeps at most {MAX_EVENTS} saved events: delete one first",
                field="event_name",
            )
        return saved

    async def delete(self, function: str, name: str) -> bool:
        """Forget ``name``; whether it was there."""
        async with redis_errors():
            return bool(await self._redis.hdel(keys.saved_events(function), name))

    async def delete_all(self, function: str) -> None:
        """Forget every saved event of ``function`` (it is being deleted)."""
        async with redis_errors():
            await self._redis.delete(keys.saved_events(function))


def _event(name: str, data: bytes) -> SavedEvent:
    record = json.loads(data)
    return SavedEvent(name, str(record.get("event", "")), float(record.get("saved", 0)))
