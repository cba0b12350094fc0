"""How arguments go into the queue's Lua scripts and how their replies come back.

A script takes flat lists: a hash's fields are counted (how many values, then
name, value, ...), and a hash a script hands back comes as one string of
``<length>:<bytes>`` parts: redis-py's parser spent about a quarter of the
worker's queue time on a reply of a bulk string per field and value.
"""

from __future__ import annotations

from collections.abc import Iterable

from faas import keys
from faas.invoke.asyncq.records import Invocation


def events(invocations: Iterable[Invocation]) -> tuple[list[str], list[str | bytes | int]]:
    """Keys and arguments that queue events in a script: per event, its counted fields
    and its request id."""
    event_keys: list[str] = []
    args: list[str | bytes | int] = []
    for invocation in invocations:
        event_keys.append(keys.invocation(invocation.request_id))
        args += counted(invocation.to_fields())
        args.append(invocation.request_id)
    return event_keys, args


def counted(fields: dict[str, str | bytes]) -> list[str | bytes | int]:
    """A hash's fields as a script reads them: how many values, then name, value, ..."""
    flat: list[str | bytes | int] = [len(fields) * 2]
    for name, value in fields.items():
        flat += [name, value]
    return flat


def unpacked(raw: bytes) -> dict[bytes, bytes]:
    """A hash packed by a script as ``<length>:<bytes>`` parts: name, value, ..."""
    parts = []
    at = 0
    while at < len(raw):
        colon = raw.index(b":", at)
        end = colon + 1 + int(raw[at:colon])
        parts.append(raw[colon + 1 : end])
        at = end
    return dict(zip(parts[::2], parts[1::2], strict=True))


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
