"""Image functions on Docker: the user's own container beside an agent's.

An image function ships its runtime interface client in its image (awslambdaric,
an AWS base image's, anything that speaks the Runtime API); the image need hold
nothing of ours. Its sandbox is two containers, one sandbox to the scheduler:

- the **agent's**, of our runtime image, started as for a zip function but with
  ``FAAS_RUNTIME=image``: its agent binds its sockets in the socket directory,
  is sealed, and starts no runtime; it serves the Runtime API on
  ``127.0.0.1:9001`` and is ready at the first ``GET /next``;
- the **function's**, of the user's image (by the id resolved when its code was
  set), joining the agent's network namespace (``network_mode: container:``),
  so that ``AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001`` is the agent. It keeps its
  image's ``ENV`` and ``WORKDIR`` (``faas.compute.lambda_env``), takes
  ``ImageConfig``'s overrides, and is hardened as a zip function's container:
  read-only root, ``/tmp`` a tmpfs, no capabilities, no new privileges, the
  function's memory, CPU and process limits, the sandbox uid (unless
  ``FAAS_IMAGE_USER`` lets its image's ``USER`` stand), and the same labels (so
  a reap by label removes both).

Its output is followed from the engine (``faas.compute.docker.image_output``)
and joined to each invoke's answer by the sandbox's client; when the engine's
stream ends (the function's process exited), the agent is told
(``POST /bootstrap-exited``), so that the invoke or init waiting on it fails
with ``Runtime.ExitError`` or ``Runtime.OutOfMemory`` rather than a timeout.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import docker.errors

from faas.compute.agent_client import AgentClient, AgentError, AgentReply, AgentTimeout
from faas.compute.backend import SOCKET_NAME, FunctionImage, SandboxSpec
from faas.compute.docker.image_output import Output
from faas.compute.lambda_env import RUNTIME_API, image_env_entries, image_function_environment
from faas.errors import BackendError

if TYPE_CHECKING:
    from faas.compute.docker.backend import DockerBackend, DockerSandbox

log = logging.getLogger(__name__)

# Which of a sandbox's two containers a container is.
LABEL_PART = "faas.part"
# The agent's container holds no function: a fixed limit, not the function's.
AGENT_MEMORY_MB = 128
# How long the agent may take to hear of an exit it is told of.
TELL_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ImageInfo:
    """What an image says about how to run it (``docker image inspect``'s Config)."""

    env: dict[str, str]
    working_dir: str
    user: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]


def agent_environment(spec: SandboxSpec, socket_dir: str) -> dict[str, str]:
    """The agent's container's environment: the image mode, and nothing of the function's."""
    return {
        "FAAS_RUNTIME": "image",
        "FAAS_SOCKET_DIR": socket_dir,
        "AWS_LAMBDA_RUNTIME_API": RUNTIME_API,
        "AWS_LAMBDA_FUNCTION_NAME": spec.env.get("AWS_LAMBDA_FUNCTION_NAME", ""),
    }


def function_run_options(
    spec: SandboxSpec,
    info: ImageInfo,
    *,
    agent_id: str,
    name: str,
    base: Mapping[str, Any],
    allow_image_user: bool,
    secrets_dir: str | None,
) -> dict[str, Any]:
    """``containers.create``'s arguments for the function's container: the agent's
    (``base``: labels, limits, hardening) with the function's image, command, memory,
    environment, user and mounts, in the agent's network namespace."""
    image = spec.function_image
    assert image is not None
    entrypoint = image.entry_point if image.entry_point is not None else info.entrypoint
    command = image.command if image.command is not None else info.cmd
    options = {
        key: value
        for key, value in base.items()
        if key not in ("name", "environment", "volumes", "network_mode", "detach")
    }
    memory = f"{spec.memory_mb}m"
    volumes: dict[str, dict[str, str]] = {
        str(host): {"bind": inside, "mode": "rw"} for host, inside in spec.mounts.items()
    }
    if secrets_dir is not None:
        volumes[secrets_dir] = {"bind": "/run/secrets", "mode": "ro"}
    user = options["user"]
    if allow_image_user and info.user:
        user = info.user
    return {
        **options,
        "name": name,
        "labels": {**base["labels"], LABEL_PART: "function"},
        "user": user,
        "entrypoint": list(entrypoint),
        "command": list(command),
        "working_dir": image.working_directory or info.working_dir or None,
        "environment": image_function_environment(info.env, spec.env, command),
        "mem_limit": memory,
        "memswap_limit": memory,
        "volumes": volumes,
        "network_mode": f"container:{agent_id}",
        # Attached before it starts: its first line is followed too.
        "stdin_open": False,
        "tty": False,
    }


@dataclass(frozen=True)
class ImagePart:
    """The function's container of an image sandbox, and its followed output."""

    container_id: str
    output: Output = field(compare=False, repr=False)
    init_timeout_s: float = 10.0


class FencedClient(AgentClient):
    """The agent's client for an image sandbox: each invoke's answer gets the function's
    output, fenced, put first as the agent puts a zip function's (``X-Faas-Log-Length``;
    a streamed answer's ``X-Faas-Output`` trailer).

    ``/ready`` waits at most the function's timeout for the image's runtime client to
    ask for its first event. One that never asks gets the invoke answered here, an error
    that says so (the sandbox broken, so removed), rather than a wait for the platform's
    init timeout: Lambda too ends such a call within the function's timeout.
    """

    def __init__(self, sandbox: DockerSandbox, part: ImagePart) -> None:
        super().__init__(sandbox.socket_dir / SOCKET_NAME, sandbox.socket_owner)
        self._part = part
        self._never_ready = False

    async def request(self, method: str, path: str, **options: Any) -> AgentReply:
        if path == "/ready":
            return await self._ready(method, **options)
        if self._never_ready and path == "/invoke":
            return self._never_asked()
        reply = await super().request(method, path, **options)
        if path not in ("/invoke", "/lost"):
            return reply
        output = await self._part.output.take()
        if not output:
            return reply
        headers = dict(reply.headers)
        if reply.streamed:
            earlier = base64.b64decode(headers.get("x-faas-output", ""))
            headers["x-faas-output"] = base64.b64encode(output + earlier).decode()
            return dataclasses.replace(reply, headers=headers)
        length = headers.get("x-faas-log-length", "0")
        headers["x-faas-log-length"] = str(len(output) + (int(length) if length.isdigit() else 0))
        return dataclasses.replace(reply, headers=headers, body=output + reply.body)

    async def _ready(self, method: str, **options: Any) -> AgentReply:
        given = options.get("timeout_s")
        limit = self._part.init_timeout_s
        if given is not None and given <= limit:
            return await super().request(method, "/ready", **options)
        try:
            return await super().request(method, "/ready", **{**options, "timeout_s": limit})
        except AgentTimeout:
            self._never_ready = True
            body = json.dumps({"state": "broken"}).encode()
            return AgentReply(200, {"x-init-duration-ms": str(round(limit * 1000))}, body)

    def _never_asked(self) -> AgentReply:
        output = self._part.output.pending()  # what its entry point wrote meanwhile
        limit = self._part.init_timeout_s
        error = json.dumps(
            {
                "errorType": "Runtime.Unavailable",
                "errorMessage": (
                    f"The image's runtime client did not ask for an event within the "
                    f"function's timeout ({limit:g} s): its entry point must run a Lambda "
                    "runtime interface client, which polls GET "
                    "/2018-06-01/runtime/invocation/next at AWS_LAMBDA_RUNTIME_API"
                ),
                "stackTrace": [],
            }
        ).encode()
        headers = {
            "x-function-error": "Unhandled",
            "x-sandbox-broken": "1",
            "x-faas-log-length": str(len(output)),
        }
        return AgentReply(200, headers, output + error)


class ImageContainers:
    """Starts and ends the function's container of the Docker backend's image sandboxes."""

    def __init__(self, backend: DockerBackend, *, allow_image_user: bool) -> None:
        self._backend = backend
        self._allow_image_user = allow_image_user
        # By image id: what an id names never changes.
        self._images: dict[str, ImageInfo] = {}

    async def resolve(self, image: str) -> str | None:
        """The id (hex) of the local image ``image`` names, or None if there is none."""
        client = self._backend.client

        def find() -> str | None:
            try:
                found = client.images.get(image)
            except docker.errors.ImageNotFound:
                return None
            except docker.errors.APIError as exc:
                if exc.status_code in (400, 404):  # a reference the engine cannot parse
                    return None
                raise
            return str(found.id).removeprefix("sha256:")

        return await self._backend.run_sync(find)

    async def info(self, image: str, function: str) -> ImageInfo:
        if image in self._images:
            return self._images[image]
        api = self._backend.client.api

        def inspect() -> dict[str, Any] | None:
            try:
                return dict(api.inspect_image(image).get("Config") or {})
            except docker.errors.ImageNotFound:
                return None

        config = await self._backend.run_sync(inspect)
        if config is None:
            raise BackendError(
                f"the image of function {function!r} ({image}) is no longer on this server's "
                "Docker engine: build it again and update the function's code"
            )
        info = ImageInfo(
            env=image_env_entries(config.get("Env")),
            working_dir=str(config.get("WorkingDir") or ""),
            user=str(config.get("User") or ""),
            entrypoint=tuple(config.get("Entrypoint") or ()),
            cmd=tuple(config.get("Cmd") or ()),
        )
        self._images[image] = info
        return info

    async def start(
        self,
        agent: DockerSandbox,
        image: FunctionImage,
        base: Mapping[str, Any],
        secrets_dir: str | None,
    ) -> ImagePart:
        """The function's container, attached and started beside the ready ``agent``;
        on error nothing of it is left (the caller removes the agent's)."""
        spec = agent.spec
        info = await self.info(image.image, spec.function)
        if not (image.entry_point or info.entrypoint) and not (image.command or info.cmd):
            raise BackendError(
                f"the image of function {spec.function!r} has no ENTRYPOINT or CMD, and its "
                "ImageConfig sets none: nothing would run"
            )
        name = f"{agent.name}-image"
        options = function_run_options(
            spec,
            info,
            agent_id=agent.container_id,
            name=name,
            base=base,
            allow_image_user=self._allow_image_user,
            secrets_dir=secrets_dir,
        )
        api = self._backend.client.api
        output = Output(spec.token)

        def create_and_attach() -> tuple[str, socket.socket]:
            container = self._backend.client.containers.create(image.image, **options)
            try:
                raw = api.attach_socket(
                    container.id, params={"stdout": 1, "stderr": 1, "stream": 1}
                )
                sock: socket.socket = getattr(raw, "_sock", raw)
                # A descriptor of our own; docker-py's socket and response are done with.
                mine = sock.dup()
                raw.close()
                sock.close()
                api.start(container.id)
            except BaseException:
                self._remove(container.id)
                raise
            return container.id, mine

        run = asyncio.ensure_future(self._backend.run_sync(create_and_attach))
        try:
            container_id, sock = await asyncio.shield(run)
        except BaseException:
            if not run.done():
                await asyncio.wait({run})
                if not run.cancelled() and run.exception() is None:
                    self._remove(run.result()[0])
                    run.result()[1].close()
            await self._backend.run_sync(self._remove_by_name, name)
            raise
        part = ImagePart(container_id, output, image.init_timeout_s)
        try:
            sock.setblocking(False)
            reader, writer = await asyncio.open_unix_connection(sock=sock)
            output.start(reader, writer)
            pid = await self._backend.run_sync(
                lambda: api.inspect_container(container_id)["State"].get("Pid") or 0
            )
            if pid:
                output.watch_pipes(int(pid))
            output.watcher = asyncio.ensure_future(self._tell_agent_at_exit(agent, part))
        except BaseException:
            sock.close()
            await self.stop(part)
            raise
        return part

    async def _tell_agent_at_exit(self, agent: DockerSandbox, part: ImagePart) -> None:
        """When the function's process has ended, tell the agent how (unless removed)."""
        await part.output.ended.wait()
        if part.output.closing:
            return
        api = self._backend.client.api

        def state() -> dict[str, Any] | None:
            try:
                return dict(api.inspect_container(part.container_id)["State"])
            except docker.errors.NotFound:
                return None

        started = time.monotonic()
        try:
            found = await self._backend.run_sync(state)
            # The stream may end a moment before the engine records the exit.
            while found is not None and found.get("Running") and time.monotonic() - started < 2:
                await asyncio.sleep(0.05)
                found = await self._backend.run_sync(state)
        except BackendError as exc:
            log.warning("cannot tell how %s ended: %s", agent.name, exc)
            return
        if found is None or part.output.closing:
            return
        body = json.dumps(
            {
                "exit_code": int(found.get("ExitCode") or 0),
                "oom_killed": bool(found.get("OOMKilled")),
            }
        ).encode()
        client = AgentClient(agent.socket_dir / SOCKET_NAME, agent.socket_owner)
        try:
            await client.request(
                "POST",
                "/bootstrap-exited",
                body=body,
                headers={"Content-Type": "application/json"},
                timeout_s=TELL_TIMEOUT_S,
            )
        except AgentError as exc:
            log.info("the agent of %s did not hear of its function's exit: %s", agent.name, exc)
        finally:
            client.close()

    async def was_oom_killed(self, part: ImagePart) -> bool:
        api = self._backend.client.api

        def inspect() -> bool:
            try:
                return bool(api.inspect_container(part.container_id)["State"].get("OOMKilled"))
            except docker.errors.NotFound:
                return False

        return await self._backend.run_sync(inspect)

    async def stop(self, part: ImagePart) -> None:
        """Remove the function's container and stop following it."""
        part.output.closing = True
        try:
            await self._backend.run_sync(self._remove, part.container_id)
        finally:
            await part.output.close()

    def _remove(self, container_id: str) -> None:
        self._backend.remove_container(container_id)

    def _remove_by_name(self, name: str) -> None:
        try:
            self._backend.remove_container(name)
        except docker.errors.DockerException:
            pass
