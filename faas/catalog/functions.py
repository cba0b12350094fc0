"""Function management: what the API and the CLI do to functions and their secrets.

Create, replace code (a zip, or an image function's image) or config, set the
async and HTTP configs, read, list, delete; list, replace and remove secrets;
read a function's logs. Specs live in the registry, code in the code store
(unpacked at upload, so a cold start does not pay for it; an image function's
image stays in the Docker engine, named by its id), secrets, logs and the
console's saved test events in their stores.

Deleting a function deletes what is kept under its name, so that a function made
again under that name inherits none of it: its spec, secrets, logs and saved
test events here, the rest through ``on_delete`` (its schedules, versions,
aliases, recent async events, dead letters, warm sandboxes: ``faas.platform``
wires them). Its statistics are left to lapse (docs/operations.md); event source
mappings and topic subscriptions that name it are kept, as Lambda keeps them.

The sandboxes that run a function are not catalog's: a change that needs
fresh sandboxes (code, config, secrets) is told through ``on_change``, and a
deletion through ``on_delete``, so that catalog knows nothing of the scheduler
(``faas.compute``), the async queue or schedules.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path

from faas.catalog import secrets as function_secrets
from faas.catalog.codestore import CodeStore, StoreCode
from faas.catalog.logs import LogRecord, LogStore
from faas.catalog.registry import Registry
from faas.catalog.saved_events import SavedEvents
from faas.catalog.secrets import SecretStore
from faas.errors import (
    FaasError,
    FunctionExists,
    FunctionNotFound,
    InvalidRequest,
    PreconditionFailed,
    ValidationFailed,
)
from faas.invoke.http.config import HttpConfig
from faas.models import AsyncConfig, FunctionConfig, FunctionSpec, apply_patch, validate_config

# A spec whose sandboxes must be replaced; what else must go with a deleted function.
OnChange = Callable[[FunctionSpec], None]
OnDelete = Callable[[str], Awaitable[None]]
# Raises ``ValidationFailed`` (field ``runtime``) for a runtime this server cannot run.
RuntimeCheck = Callable[[str], Awaitable[None]]
# An image function's image -> its id (sha256 hex): the image it runs until its code is
# updated, as Lambda pins an image's digest. ``ValidationFailed`` (field ``image``) if none.
ImageResolver = Callable[[str], Awaitable[str]]


class Functions:
    """Functions and their secrets, as the API manages them."""

    def __init__(
        self,
        registry: Registry,
        codestore: CodeStore,
        secret_store: SecretStore,
        logs: LogStore,
        saved_events: SavedEvents,
        *,
        on_change: OnChange,
        on_delete: Sequence[OnDelete] = (),
        check_runtime: RuntimeCheck | None = None,
        resolve_image: ImageResolver | None = None,
        store_code: StoreCode | None = None,
        fetch_code: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """``fetch_code(sha)`` brings a bundle this node lacks from where it is (a peer
        node, S3: ``faas.cluster.code``) for a download of the code."""
        self._registry = registry
        self._fetch_code = fetch_code
        # Unpacked at upload, not at the first invoke: a cold start should not pay for it.
        self._store_code = store_code or (
            lambda path, check: asyncio.to_thread(codestore.put_unpacked, path, check=check)
        )
        self._check_runtime = check_runtime
        self._resolve_image = resolve_image
        self._codestore = codestore
        self._secrets = secret_store
        self._logs = logs
        self._saved_events = saved_events
        self._on_change = on_change
        self._on_delete = tuple(on_delete)

    async def create(
        self, config: FunctionConfig, code: Path | None, *, tags: dict[str, str] | None = None
    ) -> FunctionSpec:
        """A new function: its zip is ``code``; an image function has none (its image is
        resolved to the id it will run)."""
        validate_config(config)
        if config.is_image:
            if code is not None:
                raise ValidationFailed(
                    "an image function takes no zip: its code is its image", field="code"
                )
        elif code is None:
            raise ValidationFailed("the function's code (a zip) is required", field="code")
        elif self._check_runtime is not None:
            await self._check_runtime(config.runtime)
        # Refuse a taken name before storing code (create still checks atomically).
        if await self._registry.exists(config.name):
            raise FunctionExists(f"function {config.name!r} already exists")
        if code is None:
            sha, size = await self._image_id(config.image), 0
        else:
            ref = await self._store_code(code, None)
            sha, size = ref.sha256, ref.size
        now = time.time()
        spec = FunctionSpec(
            config, sha, size, created_at=now, updated_at=now, tags=dict(tags or {})
        )
        await self._registry.create(spec)
        return spec

    async def _image_id(self, image: str) -> str:
        if self._resolve_image is None:
            raise ValidationFailed("this server cannot run image functions", field="image")
        return await self._resolve_image(image)

    async def update_code(
        self, name: str, code: Path, *, revision_id: str | None = None
    ) -> FunctionSpec:
        """Replace the code; with ``revision_id``, only if that is still the current one."""
        current = _current(await self._registry.get(name), revision_id)  # before storing
        if current.config.is_image:
            raise ValidationFailed(
                f"function {name!r} is an image function: update its image, not a zip",
                field="image",
            )
        ref = await self._store_code(code, None)
        spec = await self._registry.update(
            name,
            lambda cur: dataclasses.replace(
                _current(cur, revision_id),
                code_sha256=ref.sha256,
                code_size=ref.size,
                updated_at=_after(cur),
            ),
        )
        self._on_change(spec)
        return spec

    async def update_image(
        self, name: str, image: str, *, revision_id: str | None = None
    ) -> FunctionSpec:
        """Point an image function at ``image``, resolved now to the id it will run (the
        same name again picks up an image rebuilt under it)."""
        current = _current(await self._registry.get(name), revision_id)
        if not current.config.is_image:
            raise ValidationFailed(
                f"function {name!r} is a zip function: its code is a zip, not an image",
                field="image",
            )
        validate_config(dataclasses.replace(current.config, image=image))
        sha = await self._image_id(image)

        def change(cur: FunctionSpec) -> FunctionSpec:
            cur = _current(cur, revision_id)
            if not cur.config.is_image:  # replaced by a zip function meanwhile
                raise ValidationFailed(f"function {name!r} is a zip function", field="image")
            return dataclasses.replace(
                cur,
                config=dataclasses.replace(cur.config, image=image),
                code_sha256=sha,
                code_size=0,
                updated_at=_after(cur),
            )

        spec = await self._registry.update(name, change)
        self._on_change(spec)
        return spec

    async def update_config(
        self, name: str, changes: dict[str, object], *, revision_id: str | None = None
    ) -> FunctionSpec:
        """Apply ``changes``; with ``revision_id``, only if that is still the current one."""
        runtime = changes.get("runtime")
        if isinstance(runtime, str) and self._check_runtime is not None:
            await self._check_runtime(runtime)
        spec = await self._registry.update(
            name,
            lambda cur: dataclasses.replace(
                _current(cur, revision_id),
                config=apply_patch(cur.config, changes),
                updated_at=_after(cur),
            ),
        )
        self._on_change(spec)
        return spec

    async def set_async_config(
        self, name: str, config: AsyncConfig, *, configured: bool = True
    ) -> FunctionSpec:
        """Replace the async config; ``configured`` False marks it as never set (the
        Lambda API's DeleteFunctionEventInvokeConfig)."""
        config = dataclasses.replace(config, set_at=time.time() if configured else None)
        for key, target in (("on_success", config.on_success), ("on_failure", config.on_failure)):
            if target == name:  # as Lambda: an on-success record would invoke it forever
                raise ValidationFailed(
                    f"{key} cannot be the function itself: name another function", field=key
                )
            if target is not None and not await self._registry.exists(target):
                raise ValidationFailed(f"destination function {target!r} not found", field=key)
        return await self._registry.update(
            name,
            lambda cur: dataclasses.replace(cur, async_config=config, updated_at=_after(cur)),
        )

    async def set_http_config(self, name: str, config: HttpConfig) -> FunctionSpec:
        return await self._registry.update(
            name, lambda cur: dataclasses.replace(cur, http=config, updated_at=_after(cur))
        )

    async def tag(self, name: str, tags: dict[str, str]) -> FunctionSpec:
        """Add or replace tags (they steer nothing: the revision stays)."""
        return await self._registry.update(
            name, lambda cur: dataclasses.replace(cur, tags={**cur.tags, **tags})
        )

    async def untag(self, name: str, keys: Collection[str]) -> FunctionSpec:
        return await self._registry.update(
            name,
            lambda cur: dataclasses.replace(
                cur, tags={k: v for k, v in cur.tags.items() if k not in keys}
            ),
        )

    async def get(self, name: str) -> FunctionSpec:
        return await self._registry.get(name)

    async def code_path(self, name: str) -> Path:
        spec = await self._registry.get(name)
        if spec.config.is_image:
            raise InvalidRequest(
                f"function {name!r} is an image function: its code is the image "
                f"{spec.config.image}, not a zip"
            )
        return await self.zip_path(spec.code_sha256, f"function {name!r}")

    async def zip_path(self, sha: str, whose: str) -> Path:
        """Where the zip of ``sha`` is on this node, fetched first if another has it."""
        path = self._codestore.zip_path(sha)
        if not await asyncio.to_thread(path.exists) and self._fetch_code is not None:
            with contextlib.suppress(FaasError):
                await self._fetch_code(sha)
        if not await asyncio.to_thread(path.exists):
            raise FunctionNotFound(f"the code of {whose} is missing from the store")
        return path

    async def delete(self, name: str) -> None:
        await self._registry.delete(name)
        await self._secrets.delete(name)
        await self._logs.delete(name)
        await self._saved_events.delete_all(name)
        for forget in self._on_delete:
            await forget(name)

    # -- secrets --------------------------------------------------------------

    async def secret_names(self, name: str) -> list[str]:
        await self._registry.get(name)
        return await self._secrets.names(name)

    async def put_secrets(self, name: str, data: object) -> list[str]:
        """Replace the function's secrets; its containers are replaced, as for env."""
        values = function_secrets.validate(data)
        await self._registry.get(name)
        await self._secrets.replace(name, values)
        await self._secrets_changed(name)
        return sorted(values)

    async def delete_secret(self, name: str, secret: str) -> None:
        await self._registry.get(name)
        if not await self._secrets.remove(name, secret):
            raise InvalidRequest(f"function {name!r} has no secret {secret!r}")
        await self._secrets_changed(name)

    async def _secrets_changed(self, name: str) -> None:
        version = secrets.token_hex(8)
        spec = await self._registry.update(
            name,
            lambda cur: dataclasses.replace(cur, secrets_version=version, updated_at=_after(cur)),
        )
        self._on_change(spec)

    # -- logs -----------------------------------------------------------------

    async def logs(
        self, name: str, *, since: float | None, request_id: str | None, limit: int
    ) -> tuple[list[LogRecord], str]:
        """A page of the function's invocation logs, and the cursor to follow from."""
        await self._registry.get(name)
        return await self._logs.query(name, since=since, request_id=request_id, limit=limit)

    # -- every function (last on purpose: below it, ``list`` in an annotation
    # would name this method) ------------------------------------------------

    async def list(self) -> list[FunctionSpec]:
        return await self._registry.list()


def _current(spec: FunctionSpec, revision_id: str | None) -> FunctionSpec:
    """``spec``, if ``revision_id`` (when given) is its revision: else ``PreconditionFailed``."""
    if revision_id is not None and revision_id != spec.revision_id:
        raise PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the "
            "GetFunction/GetAlias API to retrieve the latest Revision Id"
        )
    return spec


def _after(spec: FunctionSpec) -> float:
    # updated_at orders versions of a spec: it must grow even within one clock tick.
    return max(time.time(), spec.updated_at + 1e-6)
