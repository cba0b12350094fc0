"""The server as a user runs it: ``faas serve`` in its own process, and a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from faas.settings import Settings
from tests.helpers import Server, free_port


@pytest.fixture
def server_env(settings: Settings) -> dict[str, str]:
    return {
        "FAAS_REDIS_URL": settings.redis_url,
        "FAAS_DATA_DIR": str(settings.data_dir),
        "FAAS_PORT": str(free_port()),
        "FAAS_NODE_ID": settings.node_id,
        "FAAS_THROTTLE_WAIT_S": "1",
    }


@pytest.fixture
def server_args() -> tuple[str, ...]:
    """Extra ``faas serve`` flags (a test overrides with ``parametrize("server_args", ...)``)."""
    return ()


@pytest.fixture
def server(
    server_env: dict[str, str], server_args: tuple[str, ...], tmp_path: Path
) -> Iterator[Server]:
    srv = Server(server_env, tmp_path / "server.log", *server_args)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def api(server: Server, server_env: dict[str, str]) -> Iterator[httpx.Client]:
    """A client of the server, with its admin key when it has one."""
    admin = server_env.get("FAAS_ADMIN_KEY", "").split(",")[0]
    headers = {"Authorization": f"Bearer {admin}"} if admin else {}
    with httpx.Client(base_url=server.url, timeout=60, headers=headers) as client:
        yield client
