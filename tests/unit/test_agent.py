"""User stories for the in-container agent and the Python runtime client.

The agent runs on the host as a subprocess (no Docker): it gets a short socket
directory, a free loopback port for the Runtime API and a task root with the
function's code, exactly the environment a container would give it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from runtimes.agent.endings import exit_error, read_oom_kills
from runtimes.protocol.invocation import MAX_EVENT
from tests.helpers import wait_until
from tests.unit.agent_harness import (
    ECHO,
    PY_BOOTSTRAP,
    ROOT,
    Agents,
    RunningAgent,
    alive,
    assert_function_error,
    function_env,
    now_ms,
    wait_for_socket,
    write_code,
)

StartAgent = Callable[..., RunningAgent]

PRINT_PYTHONPATH = """
import os
def handler(event, context):
    return os.environ.get("PYTHONPATH")
"""


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[StartAgent]:
    """Start agents with given code; every one is stopped (and its child with it) at the end."""
    agents = Agents(tmp_path)

    def start(
        files: dict[str, str] | None = None,
        handler: str = "app.handler",
        runtime: str = "python3.11",
        wait: bool = True,
        env: dict[str, str] | None = None,
    ) -> RunningAgent:
        task = tmp_path / f"task{len(agents.started)}"
        write_code(task, files if files is not None else {"app.py": ECHO})
        return agents.start(function_env(task, handler, runtime) | (env or {}), wait=wait)

    try:
        yield start
    finally:
        agents.stop_all()


# --- Invocations of a Python function ---------------------------------------------------


def test_a_return_value_round_trips_as_json(start_agent: StartAgent) -> None:
    # Given a function that echoes its event
    agent = start_agent()
    # When it is invoked twice
    first = agent.invoke({"name": "Ada", "tags": [1, 2.5, None, "ü"]})
    second = agent.invoke({"n": 2})
    # Then the return values come back as JSON, with no error headers
    assert first.status_code == 200
    assert first.json() == {"echo": {"name": "Ada", "tags": [1, 2.5, None, "ü"]}}
    assert "X-Function-Error" not in first.headers
    assert "X-Sandbox-Broken" not in first.headers
    assert second.json() == {"echo": {"n": 2}}
    # And only the first invoke reports how long init took
    assert int(first.headers["X-Init-Duration-Ms"]) >= 0
    assert "X-Init-Duration-Ms" not in second.headers


def test_module_state_persists_across_warm_invocations(start_agent: StartAgent) -> None:
    # Given a function that counts its calls in a module global
    agent = start_agent(
        {
            "app.py": """
            calls = 0
            def handler(event, context):
                global calls
                calls += 1
                print("call", calls)  # a handler's print() must not disturb the protocol
                return calls
            """
        }
    )
    # When it is invoked twice, Then the second call sees the first one's state
    assert agent.invoke({}).json() == 1
    assert agent.invoke({}).json() == 2


def test_a_handler_in_a_subdirectory_is_found(start_agent: StartAgent) -> None:
    # Given a handler string with a path, as Lambda allows
    agent = start_agent({"lib/sub/mod.py": ECHO}, handler="lib/sub/mod.handler")
    # When it is invoked, Then the module was imported from that path
    assert agent.invoke([1]).json() == {"echo": [1]}


def test_the_function_imports_as_in_an_interpreter_started_for_its_code(
    start_agent: StartAgent,
) -> None:
    # Given a function that reports its imports' view of its process, with a relative
    # PYTHONPATH, as Lambda users set it to a folder of their bundle
    files = {
        "app.py": """
        import os, sys
        import vendored
        def handler(event, context):
            return {"vendored": vendored.MINE, "cwd": os.getcwd(), "path": sys.path,
                    "pythonpath": os.environ.get("PYTHONPATH"),
                    "ours": sorted(name for name in sys.modules if name.startswith("runtimes"))}
        """,
        "vendor/vendored.py": "MINE = 'from vendor'\n",
    }
    agent = start_agent(files, env={"PYTHONPATH": "vendor"})
    # When it is invoked
    seen = agent.invoke({}).json()
    # Then its PYTHONPATH was read from its code's directory, and is its own value
    assert seen["vendored"] == "from vendor"
    assert seen["pythonpath"] == "vendor"
    # And its path starts where a fresh interpreter's would: its code, then PYTHONPATH
    assert seen["path"][:2] == [seen["cwd"], seen["cwd"] + "/vendor"]
    assert Path(seen["cwd"]).name == "task0"
    # And nothing of the runtime's package is on its path or among its modules
    assert str(ROOT) not in seen["path"]
    assert seen["ours"] == []
    # And a function without PYTHONPATH has none
    plain = start_agent({"app.py": PRINT_PYTHONPATH})
    assert plain.invoke({}).json() is None


def test_an_exception_becomes_a_function_error(start_agent: StartAgent) -> None:
    # Given a handler that raises on bad input
    agent = start_agent(
        {
            "app.py": """
            def check(event):
                if event.get("bad"):
                    raise ValueError("bad input: " + event["bad"])
            def handler(event, context):
                check(event)
                return "fine"
            """
        }
    )
    # When it is invoked with bad input
    response = agent.invoke({"bad": "x"})
    # Then the error names the exception class, message and stack, and the sandbox is fine
    body = assert_function_error(response, "ValueError", broken=False)
    assert body["errorMessage"] == "bad input: x"
    assert any("app.py" in line and "check" in line for line in body["stackTrace"])
    assert not any("bootstrap.py" in line for line in body["stackTrace"])
    # And the error is logged like Lambda logs it
    assert "[ERROR] ValueError: bad input: x" in agent.stderr()
    # And the next invoke is served normally
    assert agent.invoke({}).json() == "fine"


def test_a_missing_module_breaks_the_sandbox(start_agent: StartAgent) -> None:
    # Given a handler naming a module that does not exist
    agent = start_agent(handler="nope.handler")
    # When it is invoked
    response = agent.invoke({})
    # Then Lambda's import error is reported and the sandbox must not serve again
    body = assert_function_error(response, "Runtime.ImportModuleError", broken=True)
    assert body["errorMessage"] == "Unable to import module 'nope': No module named 'nope'"
    assert agent.client.get("/health").json() == {"state": "broken"}
    # And a later invoke reports the same init error
    again = assert_function_error(agent.invoke({}), "Runtime.ImportModuleError", broken=True)
    assert again["errorMessage"] == body["errorMessage"]


def test_a_missing_function_is_handler_not_found(start_agent: StartAgent) -> None:
    # Given a module without the named function
    agent = start_agent(handler="app.missing")
    # When it is invoked, Then Lambda's HandlerNotFound error comes back
    body = assert_function_error(agent.invoke({}), "Runtime.HandlerNotFound", broken=True)
    assert body["errorMessage"] == "Handler 'missing' missing on module 'app'"


def test_a_syntax_error_is_reported_as_such(start_agent: StartAgent) -> None:
    # Given a module that does not parse
    agent = start_agent({"app.py": "def handler(event, context)\n    return 1\n"})
    # When it is invoked, Then the syntax error is reported at init
    body = assert_function_error(agent.invoke({}), "Runtime.UserCodeSyntaxError", broken=True)
    assert body["errorMessage"].startswith("Syntax error in module 'app'")


def test_a_non_json_return_value_is_a_marshal_error(start_agent: StartAgent) -> None:
    # Given a handler that returns a set
    agent = start_agent({"app.py": "def handler(event, context):\n    return {1, 2}\n"})
    # When it is invoked
    body = assert_function_error(agent.invoke({}), "Runtime.MarshalError", broken=False)
    # Then Lambda's marshal message explains why
    assert body["errorMessage"] == (
        "Unable to marshal response: Object of type set is not JSON serializable"
    )


def test_the_context_carries_lambdas_fields(start_agent: StartAgent) -> None:
    # Given a handler that reports its context
    agent = start_agent(
        {
            "app.py": """
            def handler(event, context):
                return {
                    "aws_request_id": context.aws_request_id,
                    "remaining": context.get_remaining_time_in_millis(),
                    "memory_limit_in_mb": context.memory_limit_in_mb,
                    "invoked_function_arn": context.invoked_function_arn,
                    "function_name": context.function_name,
                    "function_version": context.function_version,
                    "log_group_name": context.log_group_name,
                    "custom": context.client_context.custom,
                    "cognito": context.identity.cognito_identity_id,
                }
            """
        }
    )
    # When it is invoked with a 20 s deadline and a client context
    deadline = now_ms() + 20_000
    client_context = "eyJjdXN0b20iOiB7ImsiOiAidiJ9fQ=="  # base64 of {"custom": {"k": "v"}}
    response = agent.invoke(
        {},
        request_id="req-123",
        **{"X-Deadline-Ms": str(deadline), "X-Client-Context": client_context},
    )
    # Then each field is what the platform sent or configured
    ctx = response.json()
    assert ctx["aws_request_id"] == "req-123"
    assert 0 < ctx["remaining"] <= 20_000
    assert ctx["memory_limit_in_mb"] == "256"  # a string, as on Lambda
    assert ctx["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:fn"
    assert ctx["function_name"] == "fn"
    assert ctx["function_version"] == "$LATEST"
    assert ctx["log_group_name"] == "/aws/lambda/fn"
    assert ctx["custom"] == {"k": "v"}
    assert ctx["cognito"] is None


def test_sys_exit_in_the_handler_breaks_the_sandbox(start_agent: StartAgent) -> None:
    # Given a handler that calls sys.exit(3)
    agent = start_agent({"app.py": "import sys\ndef handler(event, context):\n    sys.exit(3)\n"})
    # When it is invoked
    response = agent.invoke({}, request_id="req-exit")
    # Then Lambda's ExitError names the request and the exit status
    body = assert_function_error(response, "Runtime.ExitError", broken=True)
    assert body["errorMessage"] == (
        "RequestId: req-exit Error: Runtime exited with error: exit status 3"
    )
    # And every later invoke fails the same way, under its own request id
    later = assert_function_error(agent.invoke({}, request_id="req-2"), "Runtime.ExitError", True)
    assert later["errorMessage"].startswith("RequestId: req-2 Error:")


def test_a_killed_runtime_reports_the_signal(start_agent: StartAgent) -> None:
    # Given a handler that SIGKILLs its own process (no OOM recorded by the cgroup)
    agent = start_agent(
        {
            "app.py": """
            import os, signal
            def handler(event, context):
                os.kill(os.getpid(), signal.SIGKILL)
            """
        }
    )
    # When it is invoked, Then the error says it was killed
    body = assert_function_error(agent.invoke({}, request_id="r"), "Runtime.ExitError", True)
    assert body["errorMessage"] == "RequestId: r Error: Runtime exited with error: signal: killed"


def test_a_response_past_6_mb_is_refused(start_agent: StartAgent) -> None:
    # Given a handler that returns 7 MB unless asked for a small answer
    agent = start_agent(
        {"app.py": "def handler(event, context):\n    return 'ok' if event else 'x' * 7_000_000\n"}
    )
    # When it is invoked, Then the platform gets Lambda's size error
    body = assert_function_error(agent.invoke({}), "Function.ResponseSizeTooLarge", broken=False)
    assert "exceeded maximum allowed payload size (6291456 bytes)" in body["errorMessage"]
    # And the sandbox still serves
    assert agent.invoke({"small": True}).json() == "ok"


def test_a_second_concurrent_invoke_is_refused(start_agent: StartAgent, tmp_path: Path) -> None:
    # Given a handler that is busy for a while once it has started
    marker = tmp_path / "started"
    agent = start_agent(
        {
            "app.py": f"""
            import pathlib, time
            def handler(event, context):
                pathlib.Path({str(marker)!r}).touch()
                time.sleep(0.5)
                return "done"
            """
        }
    )
    results: list[httpx.Response] = []
    first = threading.Thread(target=lambda: results.append(agent.invoke({})))
    first.start()
    wait_until(marker.exists, what="the first invoke to start")
    # When a second invoke arrives while the first runs
    with httpx.Client(transport=httpx.HTTPTransport(uds=agent.socket_path)) as other:
        second = other.post("http://agent/invoke", content=b"{}", headers={"X-Request-Id": "2"})
    first.join(10)
    # Then it is refused with 409 and the first completes normally
    assert second.status_code == 409
    assert results[0].json() == "done"


# --- The provided runtime ---------------------------------------------------------------


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_a_provided_shell_bootstrap_with_curl_works(start_agent: StartAgent) -> None:
    # Given a custom runtime written in shell, speaking the Runtime API with curl
    bootstrap = """
    #!/bin/sh
    set -eu
    API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
    HEADERS="$(mktemp)"
    while true; do
      EVENT="$(curl -sS -D "$HEADERS" "$API/invocation/next")"
      ID="$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$HEADERS" | cut -d: -f2 | tr -d ' \\r')"
      curl -sS -o /dev/null -X POST "$API/invocation/$ID/response" -d "{\\"shell\\": $EVENT}"
    done
    """
    agent = start_agent({"bootstrap": bootstrap}, runtime="provided")
    # When it is invoked twice, Then both events come back wrapped by the shell script
    assert agent.invoke({"a": 1}).json() == {"shell": {"a": 1}}
    assert agent.invoke([2]).json() == {"shell": [2]}


def test_a_provided_python_script_bootstrap_works(start_agent: StartAgent) -> None:
    # Given a custom runtime written as a Python script using urllib
    agent = start_agent({"bootstrap": PY_BOOTSTRAP}, runtime="provided")
    # When it is invoked, Then the script's answer comes back
    assert agent.invoke({"b": 2}, request_id="rid-9").json() == {"py": {"b": 2}, "id": "rid-9"}


def test_a_runtime_may_pipeline_its_result_and_its_next_long_poll(
    start_agent: StartAgent, tmp_path: Path
) -> None:
    # Given a custom runtime that sends each result and its next /next in one write,
    # and records every byte the Runtime API sends back
    replies = tmp_path / "replies"
    bootstrap = f"""
    #!{sys.executable}
    import os, socket
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    s = socket.create_connection((host, int(port)))
    out = open({str(replies)!r}, "ab", buffering=0)
    NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n"
    s.sendall(NEXT)
    buf = b""
    while True:
        while b"\\r\\n\\r\\n" not in buf:
            buf += s.recv(65536)
        head, _, buf = buf.partition(b"\\r\\n\\r\\n")
        out.write(head + b"\\n")
        fields = dict(l.split(b": ", 1) for l in head.split(b"\\r\\n")[1:])
        length = int(fields[b"Content-Length"])
        while len(buf) < length:
            buf += s.recv(65536)
        body, buf = buf[:length], buf[length:]
        if not head.startswith(b"HTTP/1.1 200"):
            continue  # the 202 for a result
        rid = fields[b"Lambda-Runtime-Aws-Request-Id"].decode()
        result = b'{{"piped": ' + body + b"}}"
        post = (
            f"POST /2018-06-01/runtime/invocation/{{rid}}/response HTTP/1.1\\r\\n"
            f"Host: a\\r\\nContent-Length: {{len(result)}}\\r\\n\\r\\n"
        ).encode()
        s.sendall(post + result + NEXT)
    """
    agent = start_agent({"bootstrap": bootstrap}, runtime="provided")
    # When it is invoked three times
    answers = [agent.invoke({"n": n}).json() for n in range(3)]
    # Then every result comes back, and every result was acknowledged before the next event
    assert answers == [{"piped": {"n": n}} for n in range(3)]
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", replies.read_bytes())
    assert statuses == [b"200", b"202", b"200", b"202", b"200"]


def test_the_python_runtime_keeps_its_runtime_api_channel_to_itself(
    start_agent: StartAgent,
) -> None:
    # Given a Python function that looks for what the agent gives its runtime alone
    # (its Runtime API channels, the output bell, the direct socket), in its
    # environment and in what a subprocess it starts inherits
    code = """
    import os, subprocess, sys
    def handler(event, context):
        fds = subprocess.run(
            [sys.executable, "-c", "import os; print(len(os.listdir('/proc/self/fd')))"],
            capture_output=True, text=True, close_fds=False,
        ).stdout
        private = ("FAAS_RUNTIME_FD", "FAAS_CONTROL_FD", "FAAS_OUTPUT_BELL_FD",
                   "FAAS_DIRECT_FD")
        return {"env": [k for k in os.environ if k in private],
                "child_fds": int(fds), "api": os.environ["AWS_LAMBDA_RUNTIME_API"]}
    """
    agent = start_agent({"app.py": code})
    # When it is invoked
    result = agent.invoke({}).json()
    # Then it sees no such variable, a subprocess gets only stdin, stdout, stderr and the
    # directory it lists (plus the pipes subprocess gave it): none of the runtime's sockets
    # nor the bell. And the Lambda variable is there
    assert result["env"] == []
    assert result["child_fds"] <= 4
    assert re.fullmatch(r"127\.0\.0\.1:\d+", result["api"])


def test_a_provided_runtime_without_bootstrap_is_an_invalid_entrypoint(
    start_agent: StartAgent,
) -> None:
    # Given a provided-runtime function whose zip has no bootstrap
    agent = start_agent({"app.py": ECHO}, runtime="provided")
    # When it is invoked, Then Lambda's InvalidEntrypoint error comes back, sandbox broken
    body = assert_function_error(agent.invoke({}), "Runtime.InvalidEntrypoint", broken=True)
    assert "Couldn't find valid bootstrap(s)" in body["errorMessage"]


# --- The agent itself -------------------------------------------------------------------


def test_the_socket_appears_only_when_the_agent_listens(start_agent: StartAgent) -> None:
    # Given an agent that has just been started
    agent = start_agent(wait=False)
    # When its socket appears
    wait_for_socket(agent)
    # Then it accepts connections at once, is world-connectable, and no temp name is left
    assert agent.client.get("/health").status_code == 200
    assert stat.S_IMODE(os.stat(agent.socket_path).st_mode) == 0o666
    assert not os.path.exists(agent.socket_path + ".tmp")


def test_function_code_starts_only_after_the_platforms_first_request(
    start_agent: StartAgent, tmp_path: Path
) -> None:
    # Given a function whose import leaves a mark, in an agent that has just published
    # its sockets (the platform seals their directory before its first request)
    marker = tmp_path / "imported"
    agent = start_agent(
        {"app.py": f"open({str(marker)!r}, 'w').close()\ndef handler(e, c):\n    return 1\n"},
        wait=False,
    )
    wait_for_socket(agent)
    # Then both sockets are there already, and no function code has run
    assert sorted(os.listdir(agent.socket_dir)) == ["agent.sock", "runtime.sock"]
    time.sleep(0.3)
    assert not marker.exists()
    # When the platform first asks, Then the function starts
    assert agent.client.get("/ready").json() == {"state": "ready"}
    assert marker.exists()


def test_health_moves_from_initializing_to_ready(start_agent: StartAgent) -> None:
    # Given a function whose import takes a while
    agent = start_agent(
        {"app.py": "import time\ntime.sleep(0.5)\ndef handler(event, context):\n    return 1\n"}
    )
    # When health is asked at once, Then the sandbox is still initializing
    assert agent.client.get("/health").json() == {"state": "initializing"}
    # And once an invoke has been served it is ready
    assert agent.invoke({}).json() == 1
    assert agent.client.get("/health").json() == {"state": "ready"}


def test_ready_waits_for_the_end_of_init(start_agent: StartAgent) -> None:
    # Given a function whose import takes 0.4 s
    agent = start_agent(
        {"app.py": "import time\ntime.sleep(0.4)\ndef handler(event, context):\n    return 1\n"}
    )
    # When the platform long-polls /ready right after the socket appears
    started = time.monotonic()
    ready = agent.client.get("/ready")
    # Then it answers only once the bootstrap asked for its first event, with the init time
    assert time.monotonic() - started >= 0.3
    assert ready.json() == {"state": "ready"}
    assert int(ready.headers["X-Init-Duration-Ms"]) >= 400


def test_ready_reports_a_failed_init_as_broken(start_agent: StartAgent) -> None:
    # Given a function whose module does not exist
    agent = start_agent(handler="nope.handler")
    # When the platform waits for init, Then it learns the sandbox is broken
    assert agent.client.get("/ready").json() == {"state": "broken"}
    # And the invoke that follows reports the init error, as Lambda does
    assert_function_error(agent.invoke({}), "Runtime.ImportModuleError", broken=True)


def test_unknown_routes_are_refused_and_chunked_bodies_read(start_agent: StartAgent) -> None:
    # Given a running agent
    agent = start_agent()
    # When an unknown route is asked, Then 404
    assert agent.client.get("/nope").status_code == 404
    # When a chunked body is sent, Then it is read whole (runtimes stream their responses so)
    chunked = agent.client.post(
        "/invoke", content=iter([b'{"a"', b": 1}"]), headers={"X-Request-Id": "c"}
    )
    assert chunked.json() == {"echo": {"a": 1}}
    # When another coding is sent, Then it is refused: its end cannot be found
    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(agent.socket_path)
        raw.sendall(b"POST /invoke HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 411 ")
    # When a request is malformed, Then 400
    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(agent.socket_path)
        raw.sendall(b"NONSENSE\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400 ")


def test_pipelined_requests_are_answered_in_order(start_agent: StartAgent) -> None:
    # Given a running agent
    agent = start_agent()
    # When a client sends three requests at once on one connection
    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(agent.socket_path)
        raw.sendall(
            b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    # Then each is answered, in order, and the connection ends after the last
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", received)
    assert statuses == [b"200", b"404", b"200"]


def test_large_events_and_results_cross_both_sockets(start_agent: StartAgent) -> None:
    # Given a function that echoes its event
    agent = start_agent()
    # When it is invoked with a 5 MB event, with a 100-continue handshake as curl does
    event = "x" * (5 * 1024 * 1024)
    response = agent.invoke(event, Expect="100-continue")
    # Then the whole event came back
    assert response.json() == {"echo": event}


def test_an_event_past_the_limit_is_refused_on_a_kept_connection(start_agent: StartAgent) -> None:
    # Given a running agent
    agent = start_agent()
    limit = MAX_EVENT
    # When an event past its limit is sent, Then it is refused
    assert agent.invoke("y" * limit).status_code == 413
    # And the same connection serves the next invoke
    assert agent.invoke("small").json() == {"echo": "small"}


def test_an_event_survives_a_runtime_that_gave_up_a_long_poll(
    start_agent: StartAgent, tmp_path: Path
) -> None:
    # Given a custom runtime that asks for an event, hangs up, then asks again
    marker = tmp_path / "asked again"
    bootstrap = f"""
    #!{sys.executable}
    import json, os, pathlib, socket, urllib.request
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
    with socket.create_connection((host, int(port))) as s:
        s.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n")
    pathlib.Path({str(marker)!r}).touch()
    while True:
        with urllib.request.urlopen(api + "/invocation/next") as r:
            rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(r.read())
        urllib.request.urlopen(api + "/invocation/" + rid + "/response", data=b'"got it"').read()
    """
    agent = start_agent({"bootstrap": bootstrap}, runtime="provided")
    wait_until(marker.exists, what="the second long-poll")
    # When an event arrives, Then the runtime's live long-poll receives it
    assert agent.invoke({}).json() == "got it"


def test_sigterm_stops_the_agent_and_its_child(start_agent: StartAgent) -> None:
    # Given a warm agent whose bootstrap reports its own pid
    agent = start_agent(
        {"app.py": "import os\ndef handler(event, context):\n    return os.getpid()\n"}
    )
    child_pid = agent.invoke({}).json()
    assert alive(child_pid)
    # When the container is stopped
    agent.proc.send_signal(signal.SIGTERM)
    # Then the agent exits 0, leaving no bootstrap behind and no socket
    assert agent.proc.wait(10) == 0
    assert not alive(child_pid)
    assert not os.path.exists(agent.socket_path)


# --- Pure decisions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wait_status", "before", "after", "expected"),
    [
        (1 << 8, 0, 0, ("Runtime.ExitError", "Runtime exited with error: exit status 1")),
        (0, 0, 0, ("Runtime.ExitError", "Runtime exited without providing a reason")),
        (signal.SIGKILL, 0, 0, ("Runtime.ExitError", "Runtime exited with error: signal: killed")),
        (
            signal.SIGKILL,
            2,
            3,
            ("Runtime.OutOfMemory", "Runtime exited with error: signal: killed"),
        ),
        (
            signal.SIGKILL,
            None,
            1,
            ("Runtime.OutOfMemory", "Runtime exited with error: signal: killed"),
        ),
        (
            signal.SIGKILL,
            None,
            None,
            ("Runtime.ExitError", "Runtime exited with error: signal: killed"),
        ),
        (1 << 8, None, 1, ("Runtime.ExitError", "Runtime exited with error: exit status 1")),
        (
            signal.SIGSEGV,
            0,
            0,
            ("Runtime.ExitError", "Runtime exited with error: signal: segmentation fault"),
        ),
    ],
)
def test_exit_error_names_oom_only_when_the_cgroup_recorded_one(
    wait_status: int, before: int | None, after: int | None, expected: tuple[str, str]
) -> None:
    # Given how the bootstrap ended and the cgroup's OOM-kill counts before and after
    # When the agent decides what to report, Then it matches Lambda's error
    assert exit_error(wait_status, before, after) == expected


def test_oom_kills_are_read_from_cgroup_v1_or_v2(tmp_path: Path) -> None:
    # Given a cgroup v1 oom_control file and a missing v2 file
    v1 = tmp_path / "memory.oom_control"
    v1.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n")
    read = read_oom_kills
    # When the count is read, Then the first readable file wins
    assert read((str(tmp_path / "memory.events"), str(v1))) == 4
    assert read((str(tmp_path / "absent"),)) is None
