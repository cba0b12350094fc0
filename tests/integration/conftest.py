"""The platform in-process, against real Docker and a private Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from faas import store
from faas.models import FunctionConfig, FunctionSpec
from faas.platform import Platform
from faas.settings import Settings
from tests.helpers import handler_zip, ours, runc_containers

Deploy = Callable[..., "object"]


@pytest.fixture
async def redis_client(redis_flushed: str) -> AsyncIterator[aioredis.Redis]:
    """A client of the private Redis, emptied, as the platform makes one."""
    client = store.connect(redis_flushed)
    yield client
    await client.aclose()


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    p = Platform(settings)
    await p.start()
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def browser(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in this process (httpx's ASGI transport) around the started platform, as a
    browser reaches it (the web console's stories; ``tests.console_helpers.log_in``)."""
    from gateway.app import create_app  # here: the platform's stories do without FastAPI

    app = create_app(platform.settings)
    app.api.state.platform = platform  # started by the fixture; the app's lifespan is not run
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client


@pytest.fixture
def deploy(platform: Platform, tmp_path):  # type: ignore[no-untyped-def]
    """Register a function from handler source: ``await deploy(name, source, **config)``."""

    async def _deploy(name: str, source: str | bytes, **config: object) -> FunctionSpec:
        code = source if isinstance(source, bytes) else handler_zip(source)
        path = tmp_path / f"{name}.zip"
        path.write_bytes(code)
        fields = {"runtime": "python3.11", "handler": "app.handler", **config}
        return await platform.functions.create(FunctionConfig(name=name, **fields), path)  # type: ignore[arg-type]

    return _deploy


@pytest.fixture
def containers_of(docker_client, node_id: str, backend: str, data_dir: Path):  # type: ignore[no-untyped-def]
    """Ids of this session's containers of one function (other sessions' never count):
    Docker's, or on the runc backend runc's."""

    def _containers(function: str) -> list[str]:
        if backend == "runc":
            return [c["id"] for c in runc_containers(data_dir, function)]
        return ours(node_id, function, docker_client)

    return _containers
