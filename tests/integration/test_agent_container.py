"""A generic container of the real runtime image, specialized into a function.

The container is started the way the platform's pool starts one (hardened, no
function in its environment, an empty task directory) and is always removed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import wait_until

SANDBOX_UID = 10001
# What a function's environment at /specialize holds at the least.
FUNCTION_ENV = {
    "FAAS_RUNTIME": "python3.11",
    "_HANDLER": "app.handler",
    "LAMBDA_TASK_ROOT": "/var/task",
    "PYTHONPATH": "/var/task",
    "LANG": "C.UTF-8",
}

APP = """
import os
AT_IMPORT = os.environ.get("GREETING")
def handler(event, context):
    return {"env": dict(os.environ), "at_import": AT_IMPORT, "pid": os.getpid(),
            "name": context.function_name, "event": event}
"""


@pytest.fixture
def generic_container(docker_client: Any, runtime_image: str, node_id: str) -> Iterator[Any]:
    """A started generic container: (container, its task directory, its socket path)."""
    task = Path(tempfile.mkdtemp(prefix="c2task", dir="/tmp"))
    sockets = Path(tempfile.mkdtemp(prefix="c2s", dir="/tmp"))
    task.chmod(0o755)
    os.chown(sockets, SANDBOX_UID, SANDBOX_UID)
    container = None
    try:
        container = docker_client.containers.run(
            runtime_image,
            detach=True,
            labels={"faas.node": node_id, "faas.test": "agent-container"},
            environment={"FAAS_GENERIC": "1", "FAAS_SOCKET_DIR": "/run/faas"},
            user=f"{SANDBOX_UID}:{SANDBOX_UID}",
            read_only=True,
            tmpfs={"/tmp": "rw,nosuid,nodev,size=16m,mode=1777"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            mem_limit="128m",
            memswap_limit="128m",
            network_mode="none",
            volumes={
                str(task): {"bind": "/var/task", "mode": "ro"},
                str(sockets): {"bind": "/run/faas", "mode": "rw"},
            },
        )
        socket_path = sockets / "agent.sock"
        wait_until(
            socket_path.exists,
            what="the agent's socket",
            within_s=30,
            show=lambda: container.logs().decode(),
        )
        yield container, task, socket_path
    finally:
        if container is not None:
            container.remove(force=True)
        shutil.rmtree(task, ignore_errors=True)
        shutil.rmtree(sockets, ignore_errors=True)


def processes(container: Any) -> dict[int, str]:
    """Host pid -> command line of every process in the container."""
    top = container.top(ps_args="-o pid,args")
    return {int(row[0]): row[1] for row in top["Processes"]}


def test_a_generic_container_becomes_the_function_it_is_given(generic_container: Any) -> None:
    container, task, socket_path = generic_container
    client = httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path)), base_url="http://c")
    with client:
        # Given a generic container: its agent and a Python runtime waiting for a function
        assert client.get("/health").json() == {"state": "generic"}
        before = wait_until(
            lambda: processes(container),
            what="the agent and a waiting runtime",
            done=lambda found: len(found) >= 2,
            within_s=30,
        )
        assert any("--wait-for-env" in args for args in before.values()), before
        # When the function's code is placed and the platform specializes the container
        (task / "app.py").write_text(APP)
        env = FUNCTION_ENV | {
            "AWS_LAMBDA_FUNCTION_NAME": "greeter",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "TZ": ":UTC",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp",
            "GREETING": "hello",
        }
        reply = client.post("/specialize", json={"env": env})
        assert reply.status_code == 200 and reply.json() == {"state": "initializing"}
        assert client.get("/ready").json() == {"state": "ready"}
        invoked = client.post("/invoke", content=b'{"n": 1}', headers={"X-Request-Id": "r-1"})
        # Then the function answers, with its environment in place since its import
        result = json.loads(invoked.content)
        assert result["event"] == {"n": 1}
        assert result["name"] == "greeter"
        assert result["at_import"] == "hello"
        assert {k: v for k, v in result["env"].items() if k != "_X_AMZN_TRACE_ID"} == env | {
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"
        }
        assert "FAAS_GENERIC" not in result["env"]
        # And it runs in the process that was waiting for it: nothing new was started
        assert processes(container).keys() == before.keys()


INTROSPECT = """
import importlib.util, os, sys
def handler(event, context):
    return {"path": sys.path, "ours": importlib.util.find_spec("runtimes") is not None,
            "client": context.client_context.custom}
"""

# Code of the function's that must never run in PID 1: the agent decodes a client
# context with base64, imported only then, long after the code was placed.
TRAP = "raise SystemExit('the agent imported the function s base64')\n"


def test_the_function_and_the_agent_keep_to_their_own_code(generic_container: Any) -> None:
    _, task, socket_path = generic_container
    client = httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path)), base_url="http://c")
    with client:
        # Given a generic container specialized into a function whose code holds a module
        # named like one the agent imports late (base64)
        (task / "app.py").write_text(INTROSPECT)
        (task / "base64.py").write_text(TRAP)
        assert client.post("/specialize", json={"env": FUNCTION_ENV}).status_code == 200
        assert client.get("/ready").json() == {"state": "ready"}
        # When it is invoked through the agent with a client context, which the agent decodes
        context = base64.b64encode(json.dumps({"custom": {"k": 1}}).encode()).decode()
        invoked = client.post(
            "/invoke", content=b"{}", headers={"X-Request-Id": "r-1", "X-Client-Context": context}
        )
        # Then the agent decoded it with its own base64, and the function got it
        assert invoked.status_code == 200, invoked.text
        seen = invoked.json()
        assert seen["client"] == {"k": 1}
        # And the function's path starts with its code, and holds nothing of the image's
        # runtime package, which it cannot import
        assert seen["path"][0] == "/var/task"
        assert not any(p.startswith("/opt/faas") for p in seen["path"])
        assert seen["ours"] is False
