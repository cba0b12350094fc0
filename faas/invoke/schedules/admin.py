"""Schedule administration: a function's rules as the API reads and replaces them.

The rules are validated here (``faas.invoke.schedules.rules``) and kept by the
store (``faas.invoke.schedules.store``); the ``Ticker`` fires them. A rule is
shown with its next fire times, computed now. An unknown function is a 404,
as for every other part of a function.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from faas.catalog.registry import Registry
from faas.invoke.schedules.rules import parse_rules
from faas.invoke.schedules.store import RuleView, ScheduleStore


class ScheduleAdmin:
    """Read and replace the schedules of each function."""

    def __init__(self, registry: Registry, store: ScheduleStore, *, allow_seconds: bool) -> None:
        self._registry = registry
        self._store = store
        self._allow_seconds = allow_seconds

    async def get(self, name: str) -> list[RuleView]:
        await self._registry.get(name)
        return await self._store.views(
            name, allow_seconds=self._allow_seconds, now=datetime.now(UTC)
        )

    async def put(self, name: str, data: object) -> list[RuleView]:
        """Replace the function's schedules (a rule left unchanged keeps its ticks)."""
        await self._registry.get(name)
        previous = await self._store.get(name)
        rules = parse_rules(data, time.time(), previous, allow_seconds=self._allow_seconds)
        await self._store.put(name, rules, previous)
        return await self.get(name)
