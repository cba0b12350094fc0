"""User stories of a generic container's agent: started for no function, then specialized.

A generic agent (``FAAS_GENERIC=1``) listens at once and pre-starts the Python
runtime; ``POST /specialize`` hands it a function's environment. The platform's
pools rely on every answer below (docs/container-protocol.md).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from runtimes.agent.launch import prestart_fits, specialization_env
from tests.helpers import wait_until
from tests.unit.agent_harness import (
    ECHO,
    ROOT,
    Agents,
    RunningAgent,
    alive,
    assert_function_error,
    children_of,
    function_env,
    write_code,
)

# Reports what the function sees of its process.
INTROSPECT = """
import os, sys, time
AT_IMPORT = os.environ.get("GREETING")
def handler(event, context):
    print("handled", event)
    return {
        "env": dict(os.environ),
        "at_import": AT_IMPORT,
        "pid": os.getpid(),
        "session_leader": os.getsid(0) == os.getpid(),
        "oom_score_adj": open("/proc/self/oom_score_adj").read().strip(),
        "cwd": os.getcwd(),
        "path": sys.path,
        "argv": sys.argv,
        "hash_randomization": sys.flags.hash_randomization,
        "tzname": list(time.tzname),
        "stdin": sys.stdin.read(),
    }
"""

StartGeneric = Callable[[], RunningAgent]


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Agents]:
    started = Agents(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def start_generic(agents: Agents) -> StartGeneric:
    """A generic agent: its process environment names no function, and holds a marker.

    Its locale is the image's (and the platform's for every function).
    """

    def start() -> RunningAgent:
        env = {"FAAS_GENERIC": "1", "AGENT_ONLY_MARKER": "agent's own", "LANG": "C.UTF-8"}
        return agents.start(env)

    return start


@pytest.fixture
def task(tmp_path: Path) -> Path:
    return tmp_path / "task"


def prestarted_runtime(agent: RunningAgent) -> int:
    """The pid of the runtime the generic agent started ahead of any function (once it
    runs the bootstrap: between fork and exec the child still reads as the agent)."""

    def runtimes() -> list[int]:
        return [pid for pid in children_of(agent.proc.pid) if b"bootstrap" in _cmdline(pid)]

    [pid] = wait_until(runtimes, what="the pre-started runtime")
    return pid


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


# --- Before specialization ---------------------------------------------------------------


def test_a_generic_container_says_so_and_refuses_invokes(start_generic: StartGeneric) -> None:
    # Given a generic agent that has just bound its socket
    agent = start_generic()
    # When the platform asks about it, Then it is generic
    assert agent.client.get("/health").json() == {"state": "generic"}
    # And an invoke is refused, as is waiting for an init that has not begun
    assert agent.invoke({}).status_code == 409
    assert agent.client.get("/ready").status_code == 409


def test_a_generic_container_prestarts_the_python_runtime(start_generic: StartGeneric) -> None:
    # Given a generic agent
    agent = start_generic()
    # Then a Python runtime is already running beside it, waiting for a function
    pid = prestarted_runtime(agent)
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-2] == b"--wait-for-env"
    # And it is in a session of its own, preferred by the OOM killer
    assert os.getsid(pid) == pid
    assert Path(f"/proc/{pid}/oom_score_adj").read_text().strip() == "1000"


# --- Specialization ----------------------------------------------------------------------


def test_specialization_gives_the_function_exactly_its_environment(
    start_generic: StartGeneric, task: Path
) -> None:
    # Given a generic agent whose runtime is already started, and a function's code
    agent = start_generic()
    prestarted = prestarted_runtime(agent)
    write_code(task, {"app.py": INTROSPECT})
    env = function_env(task) | {
        "GREETING": "hello",
        "TZ": "EST5EDT",
        "PYTHONPATH": f"{task}/lib:vendor",
    }
    # When the platform specializes it
    reply = agent.specialize(env)
    # Then it answers at once that the function is initializing
    assert reply.status_code == 200
    assert reply.json() == {"state": "initializing"}
    assert agent.client.get("/ready").json() == {"state": "ready"}
    result = agent.invoke("x", **{"X-Faas-Capture-Log": "1"})
    seen = result.content[int(result.headers["X-Faas-Log-Length"]) :]
    assert b"handled x" in result.content[: int(result.headers["X-Faas-Log-Length"])]
    body = httpx.Response(200, content=seen).json()
    # And the pre-started runtime became the function's
    assert body["pid"] == prestarted
    # And the function sees its environment and only that: the Runtime API address
    # and the trace id aside, nothing of the agent's own
    expected = env | {"AWS_LAMBDA_RUNTIME_API": body["env"]["AWS_LAMBDA_RUNTIME_API"]}
    assert {k: v for k, v in body["env"].items() if k != "_X_AMZN_TRACE_ID"} == expected
    assert "AGENT_ONLY_MARKER" not in body["env"]
    # which was in place when the handler's module was imported
    assert body["at_import"] == "hello"
    # And the process looks as if it had been started for the function
    assert body["cwd"] == str(task)
    assert body["path"][:3] == [str(task), f"{task}/lib", f"{task}/vendor"]
    assert str(ROOT) not in body["path"]  # the runtime's own package is not the function's
    assert body["argv"] == [body["argv"][0]] and body["argv"][0].endswith("bootstrap.py")
    assert body["tzname"] == ["EST", "EDT"]
    assert body["stdin"] == ""
    assert body["session_leader"] is True
    assert body["oom_score_adj"] == "1000"


def test_init_time_counts_from_specialization(start_generic: StartGeneric, task: Path) -> None:
    # Given a generic agent that waited a while for its function
    agent = start_generic()
    prestarted_runtime(agent)
    time.sleep(0.5)
    # And a function whose import takes 0.3 s
    write_code(task, {"app.py": "import time\ntime.sleep(0.3)\ndef handler(e, c):\n    return 1\n"})
    # When it is specialized and the platform waits for init
    asked = time.monotonic()
    agent.specialize(function_env(task))
    ready = agent.client.get("/ready")
    waited_ms = (time.monotonic() - asked) * 1000
    # Then the init time covers the import, and none of the time before specialization
    init_ms = int(ready.headers["X-Init-Duration-Ms"])
    assert 300 <= init_ms <= waited_ms + 1
    # And the first invoke reports the same init time
    assert agent.invoke({}).headers["X-Init-Duration-Ms"] == str(init_ms)


def test_a_function_that_needs_a_fresh_interpreter_gets_one(
    start_generic: StartGeneric, task: Path
) -> None:
    # Given a generic agent with a pre-started runtime
    agent = start_generic()
    prestarted = prestarted_runtime(agent)
    # And a function that sets a variable Python reads only at start
    write_code(task, {"app.py": INTROSPECT})
    env = function_env(task) | {"PYTHONHASHSEED": "0"}
    # When it is specialized and invoked
    agent.specialize(env)
    body = agent.invoke({}).json()
    # Then it runs in a fresh interpreter started with that variable
    assert body["hash_randomization"] == 0
    assert body["pid"] != prestarted
    assert body["env"]["PYTHONHASHSEED"] == "0"
    assert "AGENT_ONLY_MARKER" not in body["env"]
    # And the pre-started one is gone
    wait_until(lambda: not alive(prestarted), what="the pre-started runtime's exit")


def test_a_provided_runtime_replaces_the_prestarted_python(
    start_generic: StartGeneric, task: Path
) -> None:
    # Given a generic agent with a pre-started Python runtime
    agent = start_generic()
    prestarted = prestarted_runtime(agent)
    # And a custom runtime function, its bootstrap a Python script
    bootstrap = f"""
    #!{sys.executable}
    import json, os, urllib.request
    api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
    while True:
        with urllib.request.urlopen(api + "/invocation/next") as r:
            rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(r.read())
        body = json.dumps({{"custom": event, "marker": os.environ.get("AGENT_ONLY_MARKER")}})
        urllib.request.urlopen(api + "/invocation/" + rid + "/response", data=body.encode()).read()
    """
    write_code(task, {"bootstrap": bootstrap})
    # When it is specialized and invoked
    agent.specialize(function_env(task, runtime="provided"))
    # Then the custom runtime answers, without the agent's environment
    assert agent.invoke({"a": 1}).json() == {"custom": {"a": 1}, "marker": None}
    # And the pre-started Python runtime is gone
    wait_until(lambda: not alive(prestarted), what="the pre-started runtime's exit")


def test_a_prestarted_runtime_that_died_is_replaced(
    start_generic: StartGeneric, task: Path
) -> None:
    # Given a generic agent whose pre-started runtime was killed before any function came
    agent = start_generic()
    prestarted = prestarted_runtime(agent)
    os.kill(prestarted, signal.SIGKILL)
    wait_until(lambda: not children_of(agent.proc.pid), what="the runtime's death")
    assert agent.client.get("/health").json() == {"state": "generic"}
    # When a function is specialized into it
    write_code(task, {"app.py": ECHO})
    agent.specialize(function_env(task))
    # Then a fresh runtime serves it
    assert agent.invoke([1]).json() == {"echo": [1]}


def test_an_import_error_after_specialization_is_lambdas(
    start_generic: StartGeneric, task: Path
) -> None:
    # Given a generic agent specialized into a function whose module is missing
    agent = start_generic()
    write_code(task, {"app.py": ECHO})
    agent.specialize(function_env(task, handler="nope.handler"))
    # When the platform waits for init, Then it learns the sandbox is broken
    assert agent.client.get("/ready").json() == {"state": "broken"}
    # And the invoke reports Lambda's import error
    body = assert_function_error(agent.invoke({}), "Runtime.ImportModuleError", broken=True)
    assert body["errorMessage"] == "Unable to import module 'nope': No module named 'nope'"


def test_a_container_is_specialized_once(start_generic: StartGeneric, task: Path) -> None:
    # Given a generic agent specialized into a function
    agent = start_generic()
    write_code(task, {"app.py": ECHO})
    assert agent.specialize(function_env(task)).status_code == 200
    # When it is asked to become another function, Then it refuses
    other = function_env(task) | {"AWS_LAMBDA_FUNCTION_NAME": "other"}
    assert agent.specialize(other).status_code == 409
    # And it still serves the first
    assert agent.invoke("a").json() == {"echo": "a"}


def test_a_function_container_cannot_be_specialized(agents: Agents, task: Path) -> None:
    # Given an agent started for a function (not generic)
    write_code(task, {"app.py": ECHO})
    agent = agents.start(function_env(task))
    # When it is asked to specialize, Then it refuses
    assert agent.specialize(function_env(task)).status_code == 409
    assert agent.invoke(2).json() == {"echo": 2}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not JSON"),
        pytest.param(b"[]", id="not an object"),
        pytest.param(b"{}", id="no env"),
        pytest.param(b'{"env": ["A=1"]}', id="env a list"),
        pytest.param(b'{"env": {"A": 1}}', id="a value not a string"),
        pytest.param(b'{"env": {"A=B": "1"}}', id="a name with ="),
        pytest.param(b'{"env": {"": "1"}}', id="an empty name"),
        pytest.param(b'{"env": {"A": "x\\u0000y"}}', id="a NUL in a value"),
    ],
)
def test_a_malformed_specialization_is_refused_and_harmless(
    start_generic: StartGeneric, task: Path, body: bytes
) -> None:
    # Given a generic agent
    agent = start_generic()
    # When the platform sends a malformed body, Then it is refused
    reply = agent.client.post("/specialize", content=body)
    assert reply.status_code == 400
    assert "env" in reply.json()["error"]
    # And the container is still generic and can take a function
    assert agent.client.get("/health").json() == {"state": "generic"}
    write_code(task, {"app.py": ECHO})
    assert agent.specialize(function_env(task)).status_code == 200
    assert agent.invoke("ok").json() == {"echo": "ok"}


def test_sigterm_stops_a_generic_agent_and_its_runtime(start_generic: StartGeneric) -> None:
    # Given a generic agent with its pre-started runtime
    agent = start_generic()
    prestarted = prestarted_runtime(agent)
    # When the container is stopped
    agent.proc.send_signal(signal.SIGTERM)
    # Then the agent exits 0 and leaves no runtime and no socket behind
    assert agent.proc.wait(10) == 0
    assert not alive(prestarted)
    assert not os.path.exists(agent.socket_path)


# --- Pure decisions ---------------------------------------------------------------------

IMAGE = {"LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}


@pytest.mark.parametrize(
    ("function", "prestarted_with", "fits"),
    [
        pytest.param({"LANG": "C.UTF-8", "PYTHONPATH": "/var/task"}, IMAGE, True, id="typical"),
        pytest.param({"LANG": "C.UTF-8", "TZ": ":UTC", "A": "b"}, IMAGE, True, id="any other"),
        pytest.param(IMAGE, IMAGE, True, id="the image's own"),
        pytest.param({"LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}, IMAGE, False, id="hash seed"),
        pytest.param({"LANG": "C.UTF-8", "PYTHONWARNINGS": "error"}, IMAGE, False, id="warnings"),
        pytest.param({"LANG": "C.UTF-8", "PYTHONUNBUFFERED": ""}, IMAGE, False, id="changed"),
        pytest.param({"LANG": "en_US.UTF-8"}, IMAGE, False, id="another locale"),
        pytest.param({"LANG": "C.UTF-8", "LC_ALL": "C"}, IMAGE, False, id="LC_ALL"),
        pytest.param({"PYTHONPATH": "/x"}, IMAGE, False, id="no LANG"),
        pytest.param({"LANG": "C.UTF-8"}, {"LANG": "C.UTF-8", "PYTHONOPTIMIZE": "1"}, False),
    ],
)
def test_a_prestarted_runtime_serves_only_functions_it_fits(
    function: dict[str, str], prestarted_with: dict[str, str], fits: bool
) -> None:
    # Given what the runtime was started with and what the function asks for
    # When the agent decides whether to hand the function over, Then it matches the table
    assert prestart_fits(function, prestarted_with) is fits


@pytest.mark.parametrize(
    ("body", "env"),
    [
        (b'{"env": {"A": "1", "B": ""}}', {"A": "1", "B": ""}),
        (b'{"env": {}, "later": true}', {}),
        (b'{"env": null}', None),
        (b'{"env": {"A": null}}', None),
        (b"\xff", None),
    ],
)
def test_specialization_bodies_are_read_strictly(body: bytes, env: dict[str, str] | None) -> None:
    assert specialization_env(body) == env
