"""Small helpers the stories share: zips of handler code, bad-upload table rows, a server,
and ``wait_until``: the one way a test waits for something (it raises on timeout)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
import pytest

from faas.catalog.bundle import BundleLimits
from faas.errors import FaasError
from tests.zips import make_zip

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def handler_zip(source: str, module: str = "app") -> bytes:
    return make_zip({f"{module}.py": source})


def bad_upload_rows(default_limits: BundleLimits) -> Callable[..., object]:
    """The row maker of a table of bad uploads, whose limits are ``default_limits`` unless given."""

    def row(
        story: str,
        upload: Callable[[], bytes],
        error: type[FaasError],
        words: str,
        limits: BundleLimits = default_limits,
    ) -> object:
        """One row: the upload, the limits, the error the user gets and words of its message."""
        return pytest.param(upload, limits, error, words, id=story)

    return row


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def upload(api: httpx.Client, name: str, code: bytes, **fields: str) -> httpx.Response:
    """Register a Python function over the API, as a user's ``curl -F`` would."""
    data = {"name": name, "runtime": "python3.11", "handler": "app.handler", **fields}
    return api.post("/v1/functions", data=data, files={"code": ("code.zip", code)})


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(api: httpx.Client) -> Samples:
    """``/metrics`` parsed: (sample name, labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    reply = api.get("/metrics")
    assert reply.status_code == 200, reply.text
    out = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def ours(node_id: str, function: str | None = None, client: Any = None) -> list[str]:
    """Ids of this session's containers (of one function), running or not.

    A function's container carries its name in the ``faas.function`` label, or, when
    it was started generic and given the function later, in its name
    (``faas.compute.docker.backend.container_name``): labels cannot change once a container exists.
    """
    import docker

    own = client is None
    client = client or docker.from_env()
    try:
        found = client.api.containers(all=True, filters={"label": f"faas.node={node_id}"})
    finally:
        if own:
            client.close()
    return [c["Id"] for c in found if function is None or _serves(c, function)]


def runc_containers(data_dir: Path, function: str | None = None) -> list[dict[str, Any]]:
    """The runc backend's containers under ``data_dir`` (of one function), as ``runc
    list`` shows them. A container's name is in its bundle (``name``): a generic one
    taken by a function is renamed there, as the Docker backend renames it."""
    from faas.compute.containers import container_name

    root = data_dir / "runc" / "state"
    if not root.exists():
        return []
    out = subprocess.run(
        ["runc", "--root", str(root), "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: list[dict[str, Any]] = json.loads(out or "null") or []
    if function is None:
        return found

    def named(c: dict[str, Any]) -> bool:
        path = data_dir / "runc" / "bundles" / c["id"] / "name"
        with contextlib.suppress(OSError):
            return path.read_text() == container_name(function, c["id"])
        return False

    return [c for c in found if named(c)]


def _serves(container: dict[str, Any], function: str) -> bool:
    from faas.compute.containers import container_name

    labels = container.get("Labels") or {}
    if labels.get("faas.function") == function:
        return True
    named = container_name(function, labels.get("faas.token", ""))
    return any(n.lstrip("/") == named for n in container.get("Names") or [])


class RedisServer:
    """A private redis-server on a Unix socket; with ``aof``, what it holds survives a restart."""

    def __init__(self, workdir: Path, *, aof: bool = False) -> None:
        self.workdir = workdir
        self.sock = workdir / "redis.sock"
        self.url = f"unix://{self.sock}"
        self.aof = aof
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.aof else []
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                "0",
                "--unixsocket",
                str(self.sock),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--dir",
                str(self.workdir),
                *(persistence or ["--appendonly", "no"]),
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_until(self._answers, what="redis-server to answer a PING", within_s=timeout)
        except BaseException:
            self.proc.kill()
            raise

    def _answers(self) -> bool:
        import redis

        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited {self.proc.returncode}")
        try:
            with redis.Redis.from_url(self.url) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL, as an operator pulling the plug: nothing is flushed."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


@contextlib.contextmanager
def killable_redis() -> Iterator[RedisServer]:
    """A redis-server of one story's own, with AOF (it restarts with what it held), for
    the story to kill and restart; gone afterwards whatever the story left running."""
    server = RedisServer(Path(tempfile.mkdtemp(prefix="faas-redis-", dir="/tmp")), aof=True)
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
        shutil.rmtree(server.workdir, ignore_errors=True)


class Process:
    """A ``faas`` command in its own process, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "faas.cli.main", *self.args],
                env={**os.environ, **self.env},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_path.read_text()[-3000:]

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as a supervisor stops it; the exit code."""
        assert self.proc is not None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


class Server(Process):
    """``faas serve`` as a user runs it."""

    def __init__(self, env: dict[str, str], log_path: Path, *extra: str) -> None:
        super().__init__(["serve", "--log-level", "warning", *extra], env, log_path)
        self.port = int(env["FAAS_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        self.spawn()
        wait_until(
            self._healthy,
            what=f"the server's /healthz at {self.url}",
            within_s=timeout,
            ignoring=(httpx.HTTPError,),
            show=self.log,
        )

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited {self.proc.returncode}: {self.log()}")
        return httpx.get(self.url + "/healthz", timeout=1).status_code == 200


class WorkerProcess(Process):
    """``faas worker``: async events only."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        super().__init__(["worker", "--log-level", "info"], env, log_path)

    def start(self) -> None:
        self.spawn()


class Ledger:
    """The file functions append JSON lines to, in a volume the test owns: the truth."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> list[dict[str, Any]]:
        """The complete lines: one a function is still writing (no newline yet) is not
        an entry yet."""
        if not self.path.exists():
            return []
        complete = self.path.read_text().rpartition("\n")[0]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def ids(self) -> list[str]:
        return [e["id"] for e in self.entries()]


def wait_until(check: Callable[[], T], **how: Any) -> T:
    """Call ``check`` until what it returns is truthy (or ``done`` holds of it), and
    return that value. It never returns anything else: past ``within_s`` it raises
    ``AssertionError`` saying it waited for ``what``, with the last value seen.

    ``how``, the keywords of ``Polling``: ``what`` (required), ``within_s``, ``done``,
    ``ignoring`` and ``show``. For async tests, ``wait_until_async``.
    """
    __tracebackhide__ = True
    polling = Polling(**how)
    while True:
        try:
            if polling.holds(value := check()):
                return value
        except polling.ignoring as exc:
            polling.saw(exc)
        time.sleep(polling.pause())


async def wait_until_async(check: Callable[[], Any], **how: Any) -> Any:
    """``wait_until`` for async tests: ``check`` may be a coroutine function, and the
    event loop runs between checks."""
    __tracebackhide__ = True
    polling = Polling(**how)
    while True:
        try:
            found = check()
            value = await found if inspect.isawaitable(found) else found
            if polling.holds(value):
                return value
        except polling.ignoring as exc:
            polling.saw(exc)
        await asyncio.sleep(polling.pause())


@dataclass(kw_only=True)
class Polling:
    """One wait of ``wait_until``: what it waits for, its clock, the last value seen.

    ``what``: what is awaited, for the failure message ("the agent's socket");
    ``within_s``: how long; ``done``: when a value ends the wait (by default when it
    is truthy); ``ignoring``: exceptions of the check that mean "not yet" (a server
    still starting), any other one ends the wait at once; ``show``: called on a
    failure, its value added to the message (a log, a listing).

    Checks come quickly at first (most waits are short), then every ``EVERY_S``.
    """

    FIRST_S: ClassVar[float] = 0.001
    EVERY_S: ClassVar[float] = 0.1

    what: str
    within_s: float = 10.0
    done: Callable[[Any], object] = bool
    ignoring: tuple[type[Exception], ...] = ()
    show: Callable[[], object] | None = None
    last: object = field(default=None, init=False)
    interval: float = field(default=FIRST_S, init=False)
    deadline: float = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.within_s

    def holds(self, value: object) -> bool:
        """Whether the wait is over with ``value``; else it is the last seen."""
        self.last = value
        return bool(self.done(value))

    def saw(self, error: Exception) -> None:
        self.last = error

    def pause(self) -> float:
        """How long to sleep before the next check; ``AssertionError`` if time is up."""
        __tracebackhide__ = True
        left = self.deadline - time.monotonic()
        if left <= 0:
            last = repr(self.last)
            if len(last) > 2000:
                last = last[:2000] + "..."
            message = f"waited {self.within_s:g}s for {self.what}; last seen: {last}"
            if self.show is not None:
                message += f"\n{self.show()}"
            raise AssertionError(message)
        pause = min(self.interval, left)
        self.interval = min(self.interval * 2, self.EVERY_S)
        return pause


# Every test session on this machine shares one Docker engine. A story that changes
# the engine itself (``docker swarm init`` and ``leave``: networks, iptables) holds
# this lock alone; every other Docker story shares it, so none runs meanwhile.
ENGINE_LOCK = Path(tempfile.gettempdir()) / "faas-tests-docker-engine.lock"


@contextlib.contextmanager
def engine_lock(*, exclusive: bool, within_s: float) -> Iterator[bool]:
    """Hold the engine lock (alone, or shared) while the block runs; yields whether it
    was had within ``within_s``: the caller decides what to do without it."""
    import fcntl

    try:
        # Read-only is enough for flock, so sessions of other users can share the file.
        fd = os.open(ENGINE_LOCK, os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError:
        yield False
        return
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    deadline = time.monotonic() + within_s
    held = False
    try:
        while not held:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                held = True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                # Often: a shared holder's gap between two tests is short.
                time.sleep(0.05)
        yield held
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def process_nodes(
    redis_url: str, logs: Path, prefix: str, admin: str, count: int = 2, **env: str
) -> Iterator[list[Server]]:
    """``count`` `faas serve`s on one Redis, functions as host processes: each its own
    id (``<prefix>-<n>``), port and data dir, the same admin key; ``env`` for all.
    Stopped (those still running) and their data dirs removed afterwards."""
    from tests.conftest import make_data_dir

    servers: list[Server] = []
    dirs: list[Path] = []
    try:
        for number in range(1, count + 1):
            data_dir = make_data_dir()
            dirs.append(data_dir)
            node_env = {
                "FAAS_REDIS_URL": redis_url,
                "FAAS_DATA_DIR": str(data_dir),
                "FAAS_PORT": str(free_port()),
                "FAAS_NODE_ID": f"{prefix}-{number}",
                "FAAS_BACKEND": "process",
                "FAAS_ADMIN_KEY": admin,
                "FAAS_THROTTLE_WAIT_S": "1",
                **env,
            }
            server = Server(node_env, logs / f"node{number}.log")
            server.start()
            servers.append(server)
        yield servers
    finally:
        for server in servers:
            if server.proc is not None and server.proc.poll() is None:
                server.stop()
        for data_dir in dirs:
            shutil.rmtree(data_dir, ignore_errors=True)


def admin_client(server: Server, admin: str) -> httpx.Client:
    """A client of ``server`` with the admin key ``admin``."""
    return httpx.Client(
        base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {admin}"}
    )


def stored_bundle(server: Server, sha: str) -> Path:
    """Where ``server`` keeps the zip of ``sha`` (its data dir's code store)."""
    return Path(server.env["FAAS_DATA_DIR"]) / "code" / "zips" / f"{sha}.zip"
