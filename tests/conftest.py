"""Fixtures shared by the stories: a private Redis, a private data dir, a backend.

Stories run on the Docker backend unless they ask for the process backend
(``backend`` overridden as "process", or ``@pytest.mark.both_backends`` for
one run on each): those need no Docker and are marked ``process`` instead of
``docker``. Each test session labels its containers with its own node id and,
at the end, fails if any labelled container is left (after removing it); a
data dir fails its story if a process sandbox is left in it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from faas.settings import Settings


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A redis-server of our own on a Unix socket, gone after the session."""
    from tests.helpers import RedisServer

    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(Path(tempfile.mkdtemp(prefix="faas-redis-", dir="/tmp")))
    server.start()
    yield server.url
    server.stop()
    shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def node_id() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def docker_client():  # type: ignore[no-untyped-def]
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        pytest.fail(f"no Docker engine: {exc}")
    return client


@pytest.fixture(scope="session")
def runtime_image(docker_client) -> str:  # type: ignore[no-untyped-def]
    """The runtime image, built once (with an offline base if no registry answers)."""
    from faas.compute.docker.images import Images

    return Images(Settings(), docker_client).ensure_runtime()


@pytest.fixture(scope="session")
def runc_rootfs_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="faas-rootfs-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def no_container_left_behind(request: pytest.FixtureRequest, node_id: str) -> Iterator[None]:
    yield
    if not _docker_used(request):
        return
    import docker

    client = docker.from_env()
    left = client.containers.list(all=True, filters={"label": f"faas.node={node_id}"})
    for container in left:
        container.remove(force=True)
    assert not left, f"containers left behind: {[c.name for c in left]}"


def _docker_used(request: pytest.FixtureRequest) -> bool:
    return any("docker" in item.keywords for item in request.session.items)


def make_data_dir() -> Path:
    # Short: container sockets live under it and Unix socket paths stop at 107 bytes.
    return Path(tempfile.mkdtemp(prefix="faas-", dir="/tmp"))


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = make_data_dir()
    yield path
    left = _end_process_sandboxes(path / "sockets")
    runc_left = _end_runc_sandboxes(path)
    shutil.rmtree(path, ignore_errors=True)
    assert not left, f"process sandboxes left behind: {left}"
    assert not runc_left, f"runc containers left behind: {runc_left}"


def _end_runc_sandboxes(data_dir: Path) -> list[str]:
    """The runc backend's containers still under ``data_dir``, each removed with its
    network namespace."""
    import subprocess

    from tests.helpers import runc_containers

    left = runc_containers(data_dir)
    for container in left:
        root = str(data_dir / "runc" / "state")
        subprocess.run(["runc", "--root", root, "delete", "--force", container["id"]], check=False)
        subprocess.run(["ip", "netns", "delete", f"faas-{container['id']}"], capture_output=True)
    return [c["id"] for c in left]


def _end_process_sandboxes(sockets: Path) -> list[str]:
    """The process sandboxes whose records are still under ``sockets``, each killed."""
    from faas.compute.process import procs

    left = []
    for path in sockets.glob("*.proc"):
        record = procs.Record.read(path)
        if record is not None and procs.end(record):
            left.append(f"{record.token} (pid {record.pid})")
    return left


@pytest.fixture
def backend() -> str:
    """What runs the story's functions: "docker", unless a story asks for "process"."""
    return "docker"


@pytest.fixture
def redis_flushed(redis_url: str) -> str:
    """The private Redis, emptied: each story starts with no functions."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    return redis_url


@pytest.fixture
def settings(
    request: pytest.FixtureRequest,
    redis_flushed: str,
    node_id: str,
    data_dir: Path,
    backend: str,
) -> Settings:
    """Test settings; ``@pytest.mark.settings(name=value)`` changes fields for one story."""
    if backend in ("docker", "runc"):
        request.getfixturevalue("runtime_image")
    marker = request.node.get_closest_marker("settings")
    fields: dict[str, object] = {"reap_interval_s": 0.5, "throttle_wait_s": 2.0}
    if backend == "runc":  # the runtime image exported once a session, not once a story
        fields["runc_rootfs_dir"] = str(request.getfixturevalue("runc_rootfs_dir"))
    fields.update(marker.kwargs if marker else {})
    return Settings(
        redis_url=redis_flushed,
        data_dir=data_dir,
        node_id=node_id,
        backend=backend,
        **fields,  # type: ignore[arg-type]
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # @pytest.mark.both_backends: the story runs once on the docker and the process
    # backend; @pytest.mark.runc_too: once more on runc.
    backends = ["docker"]
    if metafunc.definition.get_closest_marker("both_backends") is not None:
        backends.append("process")
    if metafunc.definition.get_closest_marker("runc_too") is not None:
        backends.append("runc")
    if len(backends) > 1 and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", backends)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes a minute or more (a whole stack deployed)")
    config.addinivalue_line(
        "markers", "swarm: changes the Docker engine itself (swarm mode): runs last, alone"
    )


@pytest.fixture(autouse=True)
def engine_shared(request: pytest.FixtureRequest) -> Iterator[None]:
    """A Docker story shares the engine with other sessions' stories; a swarm story
    (``docker swarm init``) takes it alone, so no story of any session runs under it."""
    from tests.helpers import engine_lock

    if request.node.get_closest_marker("docker") is None:
        yield
        return
    alone = request.node.get_closest_marker("swarm") is not None
    # Another session's swarm story holds it for about two minutes; past that, run anyway.
    with engine_lock(exclusive=alone, within_s=120 if alone else 300) as held:
        if alone and not held:
            pytest.skip(
                "another test session kept using this Docker engine for 120 s; "
                "a swarm init under its stories could break them"
            )
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Swarm stories last: nothing else of this session runs on an engine in swarm mode.
    items.sort(key=lambda item: item.get_closest_marker("swarm") is not None)
    # Everything outside tests/unit needs Docker, but what runs on the process backend.
    for item in items:
        if f"{os.sep}unit{os.sep}" in str(item.fspath):
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "process":
            item.add_marker(pytest.mark.process)
        if callspec is not None and callspec.params.get("backend") == "runc":
            item.add_marker(pytest.mark.runc)
        if item.get_closest_marker("process") is None:
            item.add_marker(pytest.mark.docker)
