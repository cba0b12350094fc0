"""The in-container agent run as a host process, as the agent stories use it.

Each agent gets a short socket directory, a free loopback port for the Runtime API
and a task root with the function's code: exactly what a container would give it.
``Agents`` starts them and, at the end, stops every one (its child with it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import free_port, wait_until

# The directory holding the package ``runtimes`` (the image's /opt/faas), and the agent
# started from it as the image starts it (runtimes/Dockerfile's ENTRYPOINT).
ROOT = Path(__file__).resolve().parents[2]
AGENT_ARGV = (sys.executable, "-E", "-s", "-c", "from runtimes.agent.agent import main; main()")

ECHO = """
def handler(event, context):
    return {"echo": event}
"""

# A custom runtime written as a Python script using urllib: answers {"py": event, "id": ...}.
PY_BOOTSTRAP = """
#!/usr/bin/env python3
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
while True:
    with urllib.request.urlopen(api + "/invocation/next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read())
    body = json.dumps({"py": event, "id": rid}).encode()
    urllib.request.urlopen(api + "/invocation/" + rid + "/response", data=body).read()
"""


def now_ms() -> int:
    return int(time.time() * 1000)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def children_of(pid: int) -> list[int]:
    """The live (not zombie) processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command may hold spaces and parentheses: the fields follow the last ')'.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.append(int(entry))
    return found


def write_code(task: Path, files: dict[str, str]) -> None:
    """The function's files, dedented; a ``bootstrap`` is made executable."""
    task.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = task / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        if name == "bootstrap":
            path.chmod(0o755)


def function_env(
    task: Path, handler: str = "app.handler", runtime: str = "python3.11"
) -> dict[str, str]:
    """A function's environment as the platform builds it (faas/compute/lambda_env.py)."""
    return {
        "LAMBDA_TASK_ROOT": str(task),
        "_HANDLER": handler,
        "FAAS_RUNTIME": runtime,
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]abc",
        "LANG": "C.UTF-8",
    }


def unix_client(path: str) -> httpx.Client:
    transport = httpx.HTTPTransport(uds=path)
    return httpx.Client(transport=transport, base_url="http://agent", timeout=15)


def split_log(response: httpx.Response) -> tuple[str, Any]:
    """(the invocation's output, its result as JSON) of an answer that carries its log."""
    n = int(response.headers["X-Faas-Log-Length"])
    return response.content[:n].decode(), json.loads(response.content[n:])


@dataclass
class RunningAgent:
    """An agent process and an HTTP client on its platform socket."""

    proc: subprocess.Popen[bytes]
    socket_path: str
    client: httpx.Client
    stderr_path: Path
    socket_dir: str = field(repr=False, default="")
    # A client on the runtime's own socket, once ``direct`` found one.
    runtime: httpx.Client | None = field(repr=False, default=None)

    def invoke(
        self,
        event: Any = None,
        request_id: str | None = None,
        *,
        via: httpx.Client | None = None,
        **headers: str,
    ) -> httpx.Response:
        """``POST /invoke`` to the agent, or ``via`` another client (``direct()``)."""
        hdrs = {
            "X-Request-Id": request_id or str(uuid.uuid4()),
            "X-Deadline-Ms": str(now_ms() + 30_000),
            "X-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
            **headers,
        }
        client = via or self.client
        return client.post("/invoke", content=json.dumps(event).encode(), headers=hdrs)

    def direct(self) -> httpx.Client:
        """A client on the socket the runtime serves, as the platform finds it: after
        ``/ready``, which names it."""
        if self.runtime is None:
            ready = self.client.get("/ready")
            name = ready.headers.get("X-Faas-Direct")
            assert ready.status_code == 200 and name, (ready.headers, ready.text)
            self.runtime = unix_client(os.path.join(self.socket_dir, name))
        return self.runtime

    def specialize(self, env: dict[str, str]) -> httpx.Response:
        return self.client.post("/specialize", json={"env": env})

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stop(self) -> None:
        self.client.close()
        if self.runtime is not None:
            self.runtime.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the agent takes its child down
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.socket_dir, ignore_errors=True)


class Agents:
    """Starts agent processes in ``workdir``; ``stop_all`` ends every one."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[RunningAgent] = []

    def start(self, env: dict[str, str], wait: bool = True) -> RunningAgent:
        """An agent whose process environment is ours plus ``env``."""
        n = len(self.started)
        sock_dir = tempfile.mkdtemp(dir="/tmp", prefix="fa")
        full = dict(os.environ)
        full.pop("PYTHONPATH", None)  # the test runner's, never a function's
        full.update(
            FAAS_SOCKET_DIR=sock_dir,
            AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{free_port()}",
            PYTHONDONTWRITEBYTECODE="1",
        )
        full.update(env)
        stderr_path = self.workdir / f"agent{n}.stderr"
        with stderr_path.open("wb") as err:
            proc = subprocess.Popen(AGENT_ARGV, env=full, stderr=err, cwd=ROOT)
        socket_path = os.path.join(sock_dir, "agent.sock")
        agent = RunningAgent(proc, socket_path, unix_client(socket_path), stderr_path, sock_dir)
        self.started.append(agent)
        if wait:
            wait_for_socket(agent)
            if full.get("FAAS_GENERIC") != "1":
                # As the platform does: its first request lets the bootstrap start.
                agent.client.get("/health")
        return agent

    def stop_all(self) -> None:
        for agent in self.started:
            agent.stop()


def wait_for_socket(agent: RunningAgent, within_s: float = 10) -> None:
    """Wait for the agent's socket; fail at once, with its stderr, if the agent exited."""

    def listening() -> bool:
        if agent.proc.poll() is not None:
            pytest.fail(f"agent exited {agent.proc.returncode}: {agent.stderr()}")
        return os.path.exists(agent.socket_path)

    wait_until(listening, what="the agent's socket", within_s=within_s, show=agent.stderr)


def assert_function_error(
    response: httpx.Response, error_type: str, broken: bool
) -> dict[str, Any]:
    assert response.status_code == 200
    assert response.headers["X-Function-Error"] == "Unhandled"
    assert ("X-Sandbox-Broken" in response.headers) is broken
    body: dict[str, Any] = response.json()
    assert body["errorType"] == error_type, body
    assert isinstance(body["errorMessage"], str)
    assert isinstance(body["stackTrace"], list)
    assert all(isinstance(line, str) for line in body["stackTrace"])
    return body
