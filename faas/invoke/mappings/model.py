"""An event source mapping as it is stored and shown: plain data, no I/O.

A mapping reads one queue (``event_source_arn``; ``queue`` its name) into one
function (``function``, and ``qualifier`` when it names a version or alias). Its
``state`` is Lambda's; only ``Enabled`` and ``Disabled`` are ever stored:
``Creating``, ``Updating`` and ``Deleting`` are what the API answers while the
change reaches the pollers (within a second), as Lambda answers them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
USER_INITIATED = "USER_INITIATED"


class State(StrEnum):
    CREATING = "Creating"
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    UPDATING = "Updating"
    DELETING = "Deleting"


@dataclass(frozen=True)
class Mapping:
    """One queue read into one function (``EventSourceMappingConfiguration``)."""

    uuid: str
    event_source_arn: str
    queue: str
    function: str
    qualifier: str | None = None
    batch_size: int = 10
    window_s: int = 0
    report_failures: bool = False
    # ScalingConfig.MaximumConcurrency; None: the server's default cap.
    max_concurrency: int | None = None
    enabled: bool = True
    # FilterCriteria.Filters[].Pattern, as given (JSON text each).
    filters: tuple[str, ...] = ()
    last_modified: float = 0.0
    state_reason: str = USER_INITIATED

    @property
    def state(self) -> State:
        return State.ENABLED if self.enabled else State.DISABLED

    @property
    def fifo(self) -> bool:
        return self.queue.endswith(".fifo")

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["filters"] = list(self.filters)
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Mapping:
        data: dict[str, Any] = json.loads(raw)
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["filters"] = tuple(data.get("filters") or ())
        return cls(**data)


def function_arn(region: str, account_id: str, name: str, qualifier: str | None) -> str:
    """The ``FunctionArn`` Lambda stores: qualified when the mapping names a version or alias."""
    arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def mapping_arn(region: str, account_id: str, uuid: str) -> str:
    return f"arn:aws:lambda:{region}:{account_id}:event-source-mapping:{uuid}"


def configuration(
    mapping: Mapping, *, region: str, account_id: str, state: State | None = None
) -> dict[str, Any]:
    """The Lambda API's ``EventSourceMappingConfiguration`` of ``mapping``."""
    answer: dict[str, Any] = {
        "UUID": mapping.uuid,
        "BatchSize": mapping.batch_size,
        "MaximumBatchingWindowInSeconds": mapping.window_s,
        "EventSourceArn": mapping.event_source_arn,
        "FunctionArn": function_arn(region, account_id, mapping.function, mapping.qualifier),
        "LastModified": mapping.last_modified,
        "State": (state or mapping.state).value,
        "StateTransitionReason": mapping.state_reason,
        "FunctionResponseTypes": [REPORT_BATCH_ITEM_FAILURES] if mapping.report_failures else [],
        "EventSourceMappingArn": mapping_arn(region, account_id, mapping.uuid),
    }
    if mapping.filters:
        answer["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in mapping.filters]}
    if mapping.max_concurrency is not None:
        answer["ScalingConfig"] = {"MaximumConcurrency": mapping.max_concurrency}
    return answer
