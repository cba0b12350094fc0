"""Input and output shapes of the management API (OpenAPI at /docs).

Ranges are checked once, in ``faas.models.validate_config``; these models only
give the API its types and documentation.
"""

from __future__ import annotations

from datetime import UTC, datetime

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


class ErrorOut(BaseModel):
    error: str
    message: str
    field: str | None = None


class FunctionErrorOut(BaseModel):
    errorType: str
    errorMessage: str
    stackTrace: list[str]
    requestId: str
