"""Input and output shapes of the management API (OpenAPI at /docs).

Ranges are checked once, in ``faas.models.validate_config``; these models only
give the API its types and documentation.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from faas.models import FunctionSpec


class FunctionOut(BaseModel):
    name: str
    runtime: str
    handler: str
    memory_mb: int
    timeout_s: int
    env: dict[str, str]
    concurrency: int | None
    keep_warm: int
    network: bool
    volumes: dict[str, str]
    description: str
    # Layer version ARNs (set through the Lambda API), placed under /opt in order.
    layers: list[str]
    # "Zip", or "Image": then ``image`` is what it runs (``code_sha256`` the image's id),
    # with ``image_config``'s overrides (entry_point, command, working_directory).
    package_type: str
    image: str | None
    image_config: dict[str, Any] | None
    # What the function's own key (its AWS SDK's credentials) may use: "service:glob"
    # patterns; null: the installation's queues, topics and functions.
    sdk_resources: list[str] | None
    code_sha256: str
    code_size: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, spec: FunctionSpec) -> FunctionOut:
        c = spec.config
        return cls(
            name=c.name,
            runtime=c.runtime,
            handler=c.handler,
            memory_mb=c.memory_mb,
            timeout_s=c.timeout_s,
            env=c.env,
            concurrency=c.concurrency,
            keep_warm=c.keep_warm,
            network=c.network,
            volumes=c.volumes,
            description=c.description,
            layers=list(c.layers),
            package_type=c.package_type,
            image=c.image or None,
            image_config=(
                None
                if c.image_config.empty
                else {
                    key: list(value) if isinstance(value, tuple) else value
                    for key, value in dataclasses.asdict(c.image_config).items()
                    if value is not None
                }
            ),
            sdk_resources=None if c.sdk_resources is None else list(c.sdk_resources),
            code_sha256=spec.code_sha256,
            code_size=spec.code_size,
            created_at=datetime.fromtimestamp(spec.created_at, UTC),
            updated_at=datetime.fromtimestamp(spec.updated_at, UTC),
        )


class FunctionList(BaseModel):
    functions: list[FunctionOut]


class FunctionPatch(BaseModel):
    """Config fields to change; absent fields keep their value."""

    model_config = ConfigDict(extra="forbid")

    runtime: str | None = None
    handler: str | None = None
    memory_mb: int | None = None
    timeout_s: int | None = None
    env: dict[str, str] | None = None
    concurrency: int | None = None
    keep_warm: int | None = None
    network: bool | None = None
    volumes: dict[str, str] | None = None
    description: str | None = None
    # An image function's image (resolved again: a rebuilt image under the same name is
    # picked up) and its overrides.
    image: str | None = None
    image_config: dict[str, Any] | None = None
    # "service:glob" patterns (sqs:orders-*, sns:orders, lambda:billing); null: back to
    # everything of the installation.
    sdk_resources: list[str] | None = None


class Destination(BaseModel):
    function: str


class AsyncConfigOut(BaseModel):
    """Retries, event age and destinations of async invocations (``PUT`` takes the same)."""

    max_retries: int
    backoff_base_s: float
    backoff_max_s: float
    max_event_age_s: int
    on_success: Destination | None
    on_failure: Destination | None

    @classmethod
    def of(cls, spec: FunctionSpec) -> AsyncConfigOut:
        return cls(**spec.async_config.to_dict())


class CorsOut(BaseModel):
    allow_origins: list[str]
    allow_methods: list[str]
    allow_headers: list[str]
    expose_headers: list[str]
    max_age: int
    allow_credentials: bool


class HttpConfigOut(BaseModel):
    """How the function answers plain HTTP under ``/fn/{name}/`` (``PUT`` takes the same)."""

    enabled: bool
    payload_format: str
    routes: list[str]
    auth: str
    cors: CorsOut | None
    debug: bool
    invoke_mode: str
    path: str

    @classmethod
    def of(cls, spec: FunctionSpec) -> HttpConfigOut:
        return cls(**spec.http.to_dict(), path=f"/fn/{spec.name}/")


class ScheduleOut(BaseModel):
    name: str
    expression: str
    input: Any
    enabled: bool
    since: str
    nextFires: list[str]
    lastFire: str | None
    fires: int
    misses: int
    # A version or an alias the schedule runs instead of $LATEST.
    qualifier: str | None = None


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]


class Accepted(BaseModel):
    requestId: str


class InvocationOut(BaseModel):
    requestId: str
    function: str
    state: str
    attempts: int
    throttledRetries: int
    # Workers that died (or stalled past their lease) running it; their attempts were refunded.
    workersLost: int = 0
    enqueuedAt: str | None
    firstAttemptAt: str | None
    lastAttemptAt: str | None
    finishedAt: str | None
    codeSha256: str | None
    result: Any
    error: dict[str, Any] | None
    reason: str | None


class DeadLetterOut(BaseModel):
    id: str
    requestId: str
    reason: str | None
    errorType: str | None
    errorMessage: str
    attempts: int
    firstAttemptAt: str | None
    lastAttemptAt: str | None
    deadLetteredAt: str | None
    codeSha256: str | None
    payload: Any


class DeadLetterPage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[DeadLetterOut]


class Redriven(BaseModel):
    redriven: list[str]


class ErrorOut(BaseModel):
    error: str
    message: str
    field: str | None = None


class FunctionErrorOut(BaseModel):
    errorType: str
    errorMessage: str
    stackTrace: list[str]
    requestId: str


class LogOut(BaseModel):
    """One invocation's log: the function's output between Lambda's START/END/REPORT lines."""

    requestId: str
    function: str
    kind: str
    outcome: str
    start: str
    end: str
    durationMs: float
    log: str


class LogList(BaseModel):
    logs: list[LogOut]


class SecretNames(BaseModel):
    """The names of a function's secrets; their values are never shown."""

    secrets: list[str]
