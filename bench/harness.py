"""The private world a run measures: its own redis-server, ``faas serve``, containers.

Everything made here carries this run's node id (``bench-<random>``) and is
removed by ``close``, which ``run.py`` calls from a ``finally``: on success,
on a failure and on Ctrl-C alike.
"""

from __future__ import annotations

import queue
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import httpx

from bench import httpraw
from faas.compute.docker.backend import container_name
from faas.settings import Settings
from tests.helpers import RedisServer, Server, free_port, handler_zip, upload

NOOP = "def handler(event, context):\n    return None\n"
LABEL_BENCH = "faas.bench"
# Tries of a baseline sample whose container something outside the run removed.
ATTEMPTS = 3
T = TypeVar("T")


def deploy_noop(h: Harness) -> None:
    """The function every warm measurement calls, uploaded and warmed by a few calls."""
    h.upload("noop", NOOP)
    with h.gateway() as gw:
        for _ in range(20):
            reply = gw.send(h.invoke_request("noop"))
            if reply.status != 200:
                raise RuntimeError(f"noop answered {reply.status}: {reply.body[:300]!r}")


def noop_source(tag: str = "") -> str:
    """The no-op handler; a ``tag`` makes its code (and so its code hash) unique."""
    return (f"# {tag}\n" if tag else "") + NOOP


@dataclass(frozen=True)
class Plan:
    """How much of everything a run does (``--quick`` shrinks it)."""

    quick: bool
    warm_calls: int
    wrk_seconds: int
    cold_functions: int
    burst: int
    functions: int
    instances: int
    scale_calls: int
    async_events: int
    # Messages through a mapping, and single ones into an idle mapping.
    messages: int = 20_000
    idle_messages: int = 50

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            return cls(True, 500, 3, 8, 50, 100, 20, 500, 500, messages=2_000, idle_messages=20)
        return cls(False, 2000, 10, 30, 50, 1000, 200, 2000, 2000)


class Harness:
    """A redis-server, ``faas serve`` on a free loopback port, and this run's containers."""

    def __init__(self, max_instances: int) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="faas-bench-", dir="/tmp"))
        self.node = f"bench-{uuid.uuid4().hex[:8]}"
        self.admin_key = secrets.token_urlsafe(24)
        self.docker = docker.from_env()
        self.redis = RedisServer(self.workdir)
        self.env = {
            "FAAS_DATA_DIR": str(self.workdir / "data"),
            "FAAS_PORT": str(free_port()),
            "FAAS_NODE_ID": self.node,
            "FAAS_ADMIN_KEY": self.admin_key,
            "FAAS_MAX_INSTANCES": str(max_instances),
            # Nothing is reaped for idleness during a run: the footprint counts instances.
            "FAAS_KEEP_ALIVE_S": "7200",
        }
        self.server: Server | None = None
        self.api: httpx.Client | None = None
        self.settings = Settings.from_env(self.env)

    # -- life ---------------------------------------------------------------

    def start(self) -> None:
        self.redis.start()
        self.env["FAAS_REDIS_URL"] = self.redis.url
        self.server = Server(self.env, self.workdir / "server.log")
        self.server.start()
        self.api = httpx.Client(
            base_url=self.server.url,
            timeout=120,
            headers={"Authorization": f"Bearer {self.admin_key}"},
        )

    def close(self) -> int:
        """Stop the server and redis, remove this run's containers and temp dir; how many remain."""
        left = -1
        try:
            if self.api is not None:
                self.api.close()
            if self.server is not None and self.server.proc is not None:
                self.server.stop(timeout=120)
        finally:
            try:
                self.remove_containers()
                left = len(self._labelled())
            finally:
                if self.redis.proc is not None:
                    self.redis.stop()
                shutil.rmtree(self.workdir, ignore_errors=True)
                self.docker.close()
        return left

    def _labelled(self) -> list[Any]:
        return list(
            self.docker.containers.list(all=True, filters={"label": f"faas.node={self.node}"})
        )

    def remove_containers(self) -> int:
        found = self._labelled()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(discard, found))
        return len(found)

    @property
    def pid(self) -> int:
        assert self.server is not None and self.server.proc is not None
        return self.server.proc.pid

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    # -- the API, untimed (httpx) ---------------------------------------------

    def client(self) -> httpx.Client:
        assert self.api is not None
        return self.api

    def upload(self, name: str, source: str = NOOP, **fields: str) -> None:
        made = upload(self.client(), name, handler_zip(source), **fields)
        if made.status_code != 201:
            raise RuntimeError(f"upload of {name} failed: {made.status_code} {made.text}")

    def function_count(self) -> int:
        reply = self.client().get("/v1/functions")
        reply.raise_for_status()
        return len(reply.json()["functions"])

    def instances_metric(self, function: str | None = None) -> float:
        """``faas_instances`` of one function (or all), all states summed, from ``/metrics``."""
        from prometheus_client.parser import text_string_to_metric_families

        reply = self.client().get("/metrics")
        reply.raise_for_status()
        total = 0.0
        for family in text_string_to_metric_families(reply.text):
            for sample in family.samples:
                if sample.name == "faas_instances" and function in (
                    None,
                    sample.labels["function"],
                ):
                    total += sample.value
        return total

    # -- timed requests (raw sockets) -------------------------------------------

    def gateway(self) -> httpraw.RawClient:
        return httpraw.RawClient(tcp=("127.0.0.1", self.port))

    def invoke_request(self, name: str, body: bytes = b"{}") -> bytes:
        headers = {
            "Authorization": f"Bearer {self.admin_key}",
            "Content-Type": "application/json",
        }
        return httpraw.build("POST", f"/v1/functions/{name}/invoke", headers, body)

    # -- containers -----------------------------------------------------------

    def containers(self, function: str | None = None) -> list[Any]:
        """This server's containers; of ``function``: by label, or by the name a generic
        pre-started container takes when it is made the function's."""
        labels = [f"faas.node={self.node}", "faas.managed=1"]
        found = list(self.docker.containers.list(filters={"label": labels}))
        if function is None:
            return found
        return [
            c
            for c in found
            if c.labels.get("faas.function") == function
            or c.name == container_name(function, c.labels.get("faas.token", ""))
        ]

    def instance_of(self, function: str) -> Any:
        """A running container serving ``function``.

        Its label says so when it was started for the function; a generic
        pre-started container taken for it is renamed after it instead; and
        failing both, the runtime process inside carries the function's name
        in its environment, as on Lambda.
        """
        found = self.containers()
        for c in found:
            token = c.labels.get("faas.token", "")
            if c.labels.get("faas.function") == function or c.name == container_name(
                function, token
            ):
                return c
        wanted = f"AWS_LAMBDA_FUNCTION_NAME={function}".encode()
        for c in found:
            if any(wanted in _environ(pid) for pid in container_pids(c)):
                return c
        raise RuntimeError(f"no running container of {function!r} on node {self.node}")

    def invoke_socket(self, container: Any) -> str:
        """The socket the platform sends a container's invokes to: the runtime's own
        once it serves one (docs/container-protocol.md, "The direct socket"), else
        the agent's."""
        sockets = self.settings.sockets_dir / container.labels["faas.token"]
        direct = sockets / "runtime.sock"
        return str(direct if direct.exists() else sockets / "agent.sock")

    def runtime_image(self) -> str:
        """The image the server's instances run (every instance of this run has the same),
        or start from."""
        found = self.containers()
        if not found:  # a server whose instances are not Docker's (FAAS_BACKEND=runc)
            from faas.compute.docker.images import Images

            return Images(self.settings, self.docker).ensure_runtime()
        tags = found[0].image.tags
        return str(tags[0] if tags else found[0].image.id)

    def run_container(self, image: str, **kwargs: Any) -> Any:
        """``docker run -d`` of a baseline container, labelled as this run's."""
        labels = {LABEL_BENCH: "1", "faas.node": self.node, **kwargs.pop("labels", {})}
        return self.docker.containers.run(image, detach=True, labels=labels, **kwargs)

    def fan_out(
        self, items: Sequence[T], workers: int, job: Callable[[httpx.Client, T], None]
    ) -> None:
        """``job(api, item)`` for every item on a few threads, each with its own API client."""
        clients: queue.SimpleQueue[httpx.Client] = queue.SimpleQueue()
        made = []
        for _ in range(workers):
            api = httpx.Client(
                base_url=self.client().base_url, headers=self.client().headers, timeout=120
            )
            made.append(api)
            clients.put(api)

        def one(item: T) -> None:
            api = clients.get()
            try:
                job(api, item)
            finally:
                clients.put(api)

        try:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(one, items))
        finally:
            for api in made:
                api.close()


def container_pids(container: Any) -> list[int]:
    """Host pids of a container's processes (``docker top``)."""
    top = container.top()
    column = top["Titles"].index("PID")
    return [int(p[column]) for p in top["Processes"]]


def _environ(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []


def discard(container: Any) -> None:
    """``docker rm -f``; a container already gone, or going, is fine."""
    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if exc.status_code != 409:  # "removal ... is already in progress"
            raise


class Vanished(Exception):
    """A baseline container was removed by something outside the run while measured.

    On a machine shared with other people's test runs, a broad cleanup may
    take a container that is not its own: the sample is taken again.
    """


def gone(container: Any) -> bool:
    try:
        container.reload()
    except docker.errors.NotFound:
        return True
    return bool(container.status == "removing")
