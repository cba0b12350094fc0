"""User stories of the Python runtime's own socket (docs/container-protocol.md,
"The direct socket"): after init the platform sends invokes straight to the runtime,
and gets what the agent would have answered.

The agent and its runtime run on the host as subprocesses, as in test_agent.py.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_until
from tests.unit.agent_harness import (
    ECHO,
    PY_BOOTSTRAP,
    Agents,
    RunningAgent,
    assert_function_error,
    children_of,
    function_env,
    split_log,
    write_code,
)

StartAgent = Callable[..., RunningAgent]

COUNTER = """
import logging, os, sys
calls = 0
def handler(event, context):
    global calls
    calls += 1
    if event.get("say"):
        print(event["say"])
    if event.get("log"):
        logging.getLogger().warning("logged %s", event["log"])
    if event.get("shell"):
        os.system("echo " + event["shell"])
    if event.get("flood"):
        sys.stdout.write("y" * event["flood"])
    if event.get("huge"):
        return "z" * event["huge"]
    return {"calls": calls, "pid": os.getpid()}
"""


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[StartAgent]:
    agents = Agents(tmp_path)

    def start(files: dict[str, str] | None = None, runtime: str = "python3.11") -> RunningAgent:
        task = tmp_path / f"task{len(agents.started)}"
        write_code(task, files if files is not None else {"app.py": ECHO})
        return agents.start(function_env(task, runtime=runtime))

    try:
        yield start
    finally:
        agents.stop_all()


def runtime_pid(agent: RunningAgent) -> int:
    (pid,) = wait_until(lambda: children_of(agent.proc.pid), what="the runtime's start")
    return pid


def test_after_init_invokes_go_to_the_runtime_itself(start_agent: StartAgent) -> None:
    # Given a Python function whose runtime finished its init
    agent = start_agent({"app.py": COUNTER})
    runtime = agent.direct()
    # Then /ready named its socket, which is in the socket directory beside the agent's
    assert sorted(os.listdir(agent.socket_dir)) == ["agent.sock", "runtime.sock"]
    # When it is invoked there, and on the agent's socket, and there again
    answers = [
        agent.invoke({}, via=runtime),
        agent.invoke({}, **{"X-Faas-Capture-Log": "1"}),
        agent.invoke({}, via=runtime),
    ]
    # Then one process served all three, in order: the module's state is shared
    results = [split_log(answer)[1] for answer in answers]
    assert [r["calls"] for r in results] == [1, 2, 3]
    assert {r["pid"] for r in results} == {runtime_pid(agent)}
    assert all(a.status_code == 200 and "X-Function-Error" not in a.headers for a in answers)


def test_what_an_invocation_writes_comes_with_its_answer_and_only_with_it(
    start_agent: StartAgent,
) -> None:
    agent = start_agent({"app.py": COUNTER})
    runtime = agent.direct()
    # When the function prints, logs and runs a command that writes
    said = agent.invoke({"say": "hello", "log": "x", "shell": "from-the-shell"}, "r-1", via=runtime)
    log, result = split_log(said)
    # Then all of it leads the answer, the log line with the request id
    assert result["calls"] == 1
    lines = log.splitlines()
    assert lines[0] == "hello"
    assert lines[1].startswith("[WARNING]") and lines[1].endswith("\tr-1\tlogged x")
    assert lines[2] == "from-the-shell"
    # When the next invocation writes nothing, Then its log is empty
    quiet = agent.invoke({}, via=runtime)
    assert split_log(quiet) == ("", {"calls": 2, "pid": result["pid"]})


def test_a_flood_of_output_neither_blocks_the_function_nor_grows_without_bound(
    start_agent: StartAgent,
) -> None:
    # Given a function that writes 1 MB in one invocation, four times its pipe's room
    agent = start_agent({"app.py": COUNTER})
    answer = agent.invoke({"flood": 1 << 20}, via=agent.direct())
    # Then it finished, and its log keeps the newest 256 KB with a note of the rest
    log, result = split_log(answer)
    assert result["calls"] == 1
    assert log.startswith(f"[faas: {(1 << 20) - 256 * 1024} earlier bytes of output dropped]\n")
    assert log.endswith("y" * 256 * 1024)


def test_errors_on_the_runtimes_socket_are_the_agents_errors(start_agent: StartAgent) -> None:
    code = """
    def handler(event, context):
        raise ValueError("no " + event["what"])
    """
    agent = start_agent({"app.py": code})
    # When the handler raises, on either socket
    direct = agent.invoke({"what": "luck"}, "r-1", via=agent.direct())
    classic = agent.invoke({"what": "luck"}, "r-2", **{"X-Faas-Capture-Log": "1"})
    # Then both answers are the same function error, its traceback in the log
    for answer in (direct, classic):
        assert answer.headers["X-Function-Error"] == "Unhandled"
        assert "X-Sandbox-Broken" not in answer.headers
    (log_d, error_d), (log_c, error_c) = split_log(direct), split_log(classic)
    assert error_d == error_c
    assert error_d["errorType"] == "ValueError" and error_d["errorMessage"] == "no luck"
    assert 'raise ValueError("no " + event["what"])' in "".join(error_d["stackTrace"])
    assert log_d.startswith("[ERROR] ValueError: no luck\nTraceback (most recent call last):")
    assert log_d == log_c


def test_a_result_past_6_mb_is_refused_on_the_runtimes_socket(start_agent: StartAgent) -> None:
    agent = start_agent({"app.py": COUNTER})
    answer = agent.invoke({"huge": 7 * 1024 * 1024}, via=agent.direct())
    assert answer.status_code == 200
    assert answer.headers["X-Function-Error"] == "Unhandled"
    _, error = split_log(answer)
    assert error["errorType"] == "Function.ResponseSizeTooLarge"
    assert error["errorMessage"].startswith("Response payload size (7340034 bytes) exceeded")
    # And the runtime serves on
    assert split_log(agent.invoke({}, via=agent.direct()))[1]["calls"] == 2


def test_a_runtime_that_exits_mid_invoke_is_reported_by_the_agent(start_agent: StartAgent) -> None:
    code = """
    import sys
    def handler(event, context):
        print("about to go")
        sys.exit(3)
    """
    agent = start_agent({"app.py": code})
    runtime = agent.direct()
    # When the handler exits the runtime, the runtime's socket closes without an answer
    with pytest.raises(httpx.RemoteProtocolError):
        agent.invoke({}, "r-9", via=runtime)
    # Then the agent says how the invocation ended, with what it wrote, as Lambda would
    lost = agent.client.get("/lost", headers={"X-Request-Id": "r-9", "X-Faas-Capture-Log": "1"})
    assert lost.headers["X-Function-Error"] == "Unhandled"
    assert lost.headers["X-Sandbox-Broken"] == "1"
    log, body = split_log(lost)
    assert log == "about to go\n"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"] == "RequestId: r-9 Error: Runtime exited with error: exit status 3"
    assert agent.client.get("/health").json() == {"state": "broken"}


def test_the_agent_answers_for_a_lost_runtime_once_it_has_reaped_it(
    start_agent: StartAgent,
) -> None:
    # Given a runtime that is still alive
    agent = start_agent({"app.py": COUNTER})
    agent.direct()
    pid = runtime_pid(agent)
    answers: list[httpx.Response] = []
    asking = threading.Thread(
        target=lambda: answers.append(agent.client.get("/lost", headers={"X-Request-Id": "r"}))
    )
    # When the platform asks how an invocation on its socket ended
    asking.start()
    time.sleep(0.3)
    # Then the agent waits: the runtime has not ended
    assert answers == [] and asking.is_alive()
    # When the runtime is killed, Then the answer comes, naming the signal
    os.kill(pid, signal.SIGKILL)
    asking.join(10)
    body = assert_function_error(answers[0], "Runtime.ExitError", broken=True)
    assert body["errorMessage"] == "RequestId: r Error: Runtime exited with error: signal: killed"


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "message"),
    [
        ("POST", "/invoke", {}, 400, "X-Request-Id is required"),
        ("POST", "/invoke", {"X-Request-Id": "r", "X-Deadline-Ms": "soon"}, 400, "X-Deadline-Ms"),
        ("GET", "/invoke", {"X-Request-Id": "r"}, 404, "not found"),
        ("POST", "/specialize", {"X-Request-Id": "r"}, 404, "not found"),
    ],
)
def test_the_runtimes_socket_refuses_what_is_no_invoke(
    start_agent: StartAgent,
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    agent = start_agent({"app.py": COUNTER})
    answer = agent.direct().request(method, path, content=b"{}", headers=headers)
    assert answer.status_code == status
    assert message in answer.json()["error"]
    # And nothing ran
    assert split_log(agent.invoke({}, via=agent.direct()))[1]["calls"] == 1


def test_a_function_may_have_modules_named_like_the_runtimes_own(start_agent: StartAgent) -> None:
    # Given a function with a package and modules named like the runtime's own: the
    # package `runtimes` (which the runtime is a module of), and the names its modules had
    files = {
        "app.py": """
        import bootstrap, http1, invocation, runtimes, runtimes.protocol
        def handler(event, context):
            return [m.MINE for m in (runtimes, runtimes.protocol, bootstrap, http1, invocation)]
        """,
        "runtimes/__init__.py": "MINE = 'my runtimes'\n",
        "runtimes/protocol.py": "MINE = 'my protocol'\n",
        "bootstrap.py": "MINE = 'my bootstrap'\n",
        "http1.py": "MINE = 'my http1'\n",
        "invocation.py": "MINE = 'my invocation'\n",
    }
    agent = start_agent(files)
    # When it is invoked on the runtime's socket, Then each of them is the function's own
    assert split_log(agent.invoke({}, via=agent.direct()))[1] == [
        "my runtimes",
        "my protocol",
        "my bootstrap",
        "my http1",
        "my invocation",
    ]


def test_no_direct_socket_for_custom_runtimes_or_a_failed_init(start_agent: StartAgent) -> None:
    custom = start_agent({"bootstrap": PY_BOOTSTRAP}, runtime="provided")
    broken = start_agent({"app.py": "import nowhere\n"})
    # Given a custom runtime, Then /ready names no socket and the agent serves its invokes
    ready = custom.client.get("/ready")
    assert ready.json() == {"state": "ready"}
    assert "X-Faas-Direct" not in ready.headers
    assert custom.invoke({}, "r-c").json() == {"py": {}, "id": "r-c"}
    # Given a Python function that fails its init, Then /ready says broken and names no socket
    ready = broken.client.get("/ready")
    assert ready.json() == {"state": "broken"}
    assert "X-Faas-Direct" not in ready.headers
    # (the agent binds both sockets before its readiness, as the platform seals the
    # directory then; nothing serves the runtime's here)
    for agent in (custom, broken):
        assert sorted(os.listdir(agent.socket_dir)) == ["agent.sock", "runtime.sock"]


GREET = """
import os
def handler(event, context):
    return os.environ["GREETING"]
"""


def test_a_generic_runtime_serves_its_socket_once_specialized(tmp_path: Path) -> None:
    agents = Agents(tmp_path)
    try:
        # Given a generic container's agent, its Python runtime pre-started for no function
        generic = agents.start({"FAAS_GENERIC": "1", "LANG": "C.UTF-8"})
        task = tmp_path / "task-g"
        write_code(task, {"app.py": GREET})
        # When it is given its function
        env = function_env(task) | {"GREETING": "hi"}
        assert generic.specialize(env).status_code == 200
        # Then, init over, it serves its own socket with the function's environment
        assert split_log(generic.invoke({}, via=generic.direct())) == ("", "hi")
    finally:
        agents.stop_all()


def test_answers_on_the_runtimes_socket_are_json_the_platform_can_read(
    start_agent: StartAgent,
) -> None:
    agent = start_agent()
    answer = agent.invoke({"a": [1, 2]}, via=agent.direct())
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["X-Faas-Log-Length"] == "0"
    assert json.loads(answer.content) == {"echo": {"a": [1, 2]}}
