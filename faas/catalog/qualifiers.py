"""What a qualifier names: ``$LATEST`` (or none), a published version, or an alias.

``resolve`` gives the spec an invocation runs and the version it is. Through an
alias with weights, each call draws its version. A version runs its own frozen
code and configuration, under the function's reserved concurrency (which is the
function's, not a version's, as on Lambda).
"""

from __future__ import annotations

import dataclasses

from faas.catalog.aliases import Aliases
from faas.catalog.registry import Registry
from faas.catalog.versions import Versions
from faas.models import LATEST, FunctionSpec


class Qualifiers:
    def __init__(self, registry: Registry, versions: Versions, aliases: Aliases) -> None:
        self._registry = registry
        self._versions = versions
        self._aliases = aliases
        # (version spec id, reserved concurrency) -> (that spec, kept alive so its id is
        # not reused; the version under it): one object each, whose pool key is worked
        # out once.
        self._under: dict[tuple[int, int | None], tuple[FunctionSpec, FunctionSpec]] = {}

    async def resolve(
        self, name: str, qualifier: str | None, *, draw: bool = True
    ) -> tuple[FunctionSpec, str]:
        """The spec ``name:qualifier`` runs now, and its version; ``FunctionNotFound``.

        Through an alias, ``draw`` picks the version by the alias's weights (an
        invocation); without, it is the alias's own version (what a read shows).
        """
        latest = await self._registry.get(name)
        if qualifier is None or qualifier == LATEST:
            return latest, LATEST
        number = qualifier
        if not qualifier.isdigit():
            alias = await self._aliases.get(name, qualifier)
            number = alias.pick() if draw else alias.version
            if number == LATEST:
                return latest, LATEST
        version = await self._versions.get(latest, number)
        return self._with_function_settings(version, latest), number

    async def resolve_spec(self, latest: FunctionSpec, qualifier: str) -> FunctionSpec:
        """What a queued event of ``latest``'s function with ``qualifier`` runs."""
        spec, _ = await self.resolve(latest.name, qualifier)
        return spec

    def _with_function_settings(self, version: FunctionSpec, latest: FunctionSpec) -> FunctionSpec:
        cap = latest.config.concurrency
        if version.config.concurrency == cap:
            return version
        key = (id(version), cap)
        kept = self._under.get(key)
        if kept is None:
            if len(self._under) > 4096:
                self._under.clear()
            under = dataclasses.replace(
                version, config=dataclasses.replace(version.config, concurrency=cap)
            )
            kept = self._under[key] = (version, under)
        return kept[1]
