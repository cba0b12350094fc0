"""What the APIs do to mappings: create, read, change, delete and list them.

The Lambda API, ``/v1`` and the CLI all come here with Lambda's field names
(``validation`` checks them). A mapping needs its queue and its function (or the
version or alias it names) to exist, and is refused when one already reads the same
queue into the same function, as Lambda refuses it.
"""

from __future__ import annotations

import time
import uuid as uuids
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from faas.errors import FunctionNotFound, InvalidRequest, MappingNotFound, ResourceConflict
from faas.invoke.mappings import model, validation
from faas.invoke.mappings.model import Mapping, State
from faas.invoke.mappings.store import MappingStore
from faas.models import FunctionSpec

# The spec a function name and qualifier run, and its version (``Qualifiers.resolve``).
Resolve = Callable[[str, str | None], Awaitable[tuple[FunctionSpec, str]]]


class QueueLookup(Protocol):
    """What the admin asks of the queues (``faas.queues``)."""

    async def get(self, name: str) -> Any: ...


class MappingAdmin:
    """Mappings as the APIs see them."""

    def __init__(
        self,
        store: MappingStore,
        queues: QueueLookup,
        resolve: Resolve,
        *,
        region: str,
        account_id: str,
    ) -> None:
        self._store = store
        self._queues = queues
        self._resolve = resolve
        self.region = region
        self.account_id = account_id

    async def create(self, doc: dict[str, Any]) -> Mapping:
        mapping = validation.create(
            doc,
            mapping_uuid=str(uuids.uuid4()),
            now=time.time(),
            region=self.region,
            account_id=self.account_id,
        )
        await self._check_queue(mapping)
        await self._check_function(mapping)
        await self._check_unique(mapping)
        await self._store.put(mapping)
        return mapping

    async def get(self, uuid: str) -> Mapping:
        found = await self._store.get(validation.uuid(uuid))
        if found is None:
            raise MappingNotFound(f"The resource you requested does not exist. (UUID {uuid})")
        return found

    async def update(self, uuid: str, doc: dict[str, Any]) -> Mapping:
        current = await self.get(uuid)
        changed = validation.update(
            current, doc, now=time.time(), region=self.region, account_id=self.account_id
        )
        if (changed.function, changed.qualifier) != (current.function, current.qualifier):
            await self._check_function(changed)
            await self._check_unique(changed)
        await self._store.put(changed)
        return changed

    async def delete(self, uuid: str) -> Mapping:
        mapping = await self.get(uuid)
        if not await self._store.delete(mapping.uuid):
            raise MappingNotFound(f"The resource you requested does not exist. (UUID {uuid})")
        return mapping

    async def list(
        self, *, event_source_arn: str | None = None, function_name: str | None = None
    ) -> list[Mapping]:
        """Every mapping, or those of one queue and/or one function (any of its qualifiers
        when the name has none)."""
        mappings = await self._store.all()
        if event_source_arn is not None:
            queue = validation.queue_arn(
                event_source_arn, region=self.region, account_id=self.account_id
            )
            mappings = [m for m in mappings if m.queue == queue]
        if function_name is not None:
            name, qualifier = validation.function_name(
                function_name, region=self.region, account_id=self.account_id
            )
            mappings = [
                m
                for m in mappings
                if m.function == name and (qualifier is None or m.qualifier == qualifier)
            ]
        return mappings

    def configuration(self, mapping: Mapping, state: State | None = None) -> dict[str, Any]:
        """The Lambda API's ``EventSourceMappingConfiguration``."""
        return model.configuration(
            mapping, region=self.region, account_id=self.account_id, state=state
        )

    # -- checks ----------------------------------------------------------------

    async def _check_queue(self, mapping: Mapping) -> None:
        try:
            await self._queues.get(mapping.queue)
        except InvalidRequest:  # QueueDoesNotExist
            validation.refuse(
                "EventSourceArn", f"names a queue that does not exist: {mapping.event_source_arn}"
            )

    async def _check_function(self, mapping: Mapping) -> None:
        try:
            await self._resolve(mapping.function, mapping.qualifier)
        except FunctionNotFound:
            arn = model.function_arn(
                self.region, self.account_id, mapping.function, mapping.qualifier
            )
            raise FunctionNotFound(f"Function not found: {arn}") from None

    async def _check_unique(self, mapping: Mapping) -> None:
        for other in await self._store.all():
            if (
                other.uuid != mapping.uuid
                and other.queue == mapping.queue
                and (other.function, other.qualifier) == (mapping.function, mapping.qualifier)
            ):
                raise ResourceConflict(
                    f"An event source mapping with SQS arn ({mapping.event_source_arn}) and "
                    f"function ({mapping.function}) already exists. Please update or delete "
                    f"the existing mapping with UUID {other.uuid}"
                )
