"""The `faas` CLI as a user runs it, against a real `faas serve`.

Every step runs the command in its own process and looks only at what a user
sees: its standard output, its standard error and its exit code.
"""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import IO, Any

import httpx

from tests.helpers import ROOT, Server, free_port, handler_zip, wait_until

V1 = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"version": 1, "event": event, "id": context.aws_request_id}
"""
V2 = """
def handler(event, context):
    return {"version": 2}
"""
FAILING = """
def handler(event, context):
    raise RuntimeError("always fails")
"""
CHATTY = """
def handler(event, context):
    print(f"hello from {context.aws_request_id}", flush=True)
    return {"id": context.aws_request_id}
"""


def faas(
    server: Server | None, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`faas ARGS...` with FAAS_URL pointing at the server, as a user's shell would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAAS_")}
    if server is not None:
        env["FAAS_URL"] = server.url
    return subprocess.run(
        [sys.executable, "-m", "faas.cli.main", *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def folder(root: Path, source: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(source)
    (root / "__pycache__").mkdir(exist_ok=True)
    (root / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\x00stale")
    return root


def deploy(server: Server, path: Path, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return faas(
        server,
        "deploy",
        str(path),
        "--name",
        name,
        "--runtime",
        "python3.11",
        "--handler",
        "app.handler",
        *extra,
    )


def poll(api: httpx.Client, request_id: str, state: str, within_s: float = 30) -> dict[str, Any]:
    """The invocation's view once it is in ``state``."""
    return wait_until(
        lambda: api.get(f"/v1/invocations/{request_id}").json(),
        what=f"invocation {request_id} to be {state}",
        done=lambda view: view.get("state") == state,
        within_s=within_s,
    )


def test_deploy_invoke_redeploy_and_remove_a_function(
    server: Server, api: httpx.Client, tmp_path: Path
) -> None:
    # Given a folder with a handler (and a cache a local run left behind)
    code = folder(tmp_path / "hello", V1)
    # When I deploy it
    created = deploy(server, code, "hello", "--memory", "256", "--env", "GREETING=hi")
    # Then it is created: one line on stdout, and no progress on a stderr that is no terminal
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created hello: python3.11 app.handler, 256 MB"), created
    assert created.stderr == ""
    names = [i.filename for i in _zip_entries(api, "hello")]
    assert names == ["app.py"]
    # It is listed, and its details read as key: value
    listed = faas(server, "ls")
    assert listed.returncode == 0
    header, row = listed.stdout.splitlines()
    assert header.split()[:3] == ["NAME", "RUNTIME", "HANDLER"]
    assert row.split()[:5] == ["hello", "python3.11", "app.handler", "256", "MB"]
    info = faas(server, "info", "hello")
    assert info.returncode == 0
    lines = info.stdout.splitlines()
    fields = {key: value.strip() for key, value in (line.split(":", 1) for line in lines)}
    assert fields["memory_mb"] == "256" and fields["env"] == '{"GREETING": "hi"}'
    # (every value starts in one column)
    assert len({len(line) - len(line.split(":", 1)[1].lstrip()) for line in lines}) == 1
    # And --json gives scripts the server's documents
    as_json = json.loads(faas(server, "ls", "--json").stdout)
    assert [f["name"] for f in as_json["functions"]] == ["hello"]
    assert json.loads(faas(server, "info", "hello", "--json").stdout)["memory_mb"] == 256

    # When I invoke it with an event, inline or from a file
    sync = faas(server, "invoke", "hello", "--data", '{"name": "x"}')
    assert sync.returncode == 0, sync.stderr
    result = json.loads(sync.stdout)
    assert result["version"] == 1 and result["event"] == {"name": "x"}
    (tmp_path / "event.json").write_text('{"from": "file"}')
    from_file = faas(server, "invoke", "hello", "--data", f"@{tmp_path / 'event.json'}")
    assert json.loads(from_file.stdout)["event"] == {"from": "file"}
    # A handler that raises prints Lambda's error body and exits 1
    failed = faas(server, "invoke", "hello", "--data", '{"fail": true}')
    assert failed.returncode == 1, failed
    assert json.loads(failed.stdout)["errorType"] == "ValueError"
    assert "hello failed: ValueError: asked to fail" in failed.stderr
    # An event that is not JSON never leaves my machine: exit 2
    assert faas(server, "invoke", "hello", "--data", "{oops").returncode == 2

    # When I queue an event, I get its request id at once, and it runs
    queued = faas(server, "invoke", "hello", "--async", "--data", '{"n": 1}')
    assert queued.returncode == 0, queued.stderr
    request_id = queued.stdout.strip()
    view = poll(api, request_id, "succeeded")
    assert view["result"]["event"] == {"n": 1}, view
    queued_json = faas(server, "invoke", "hello", "--async", "--json")
    assert json.loads(queued_json.stdout)["requestId"]

    # When I change the code and deploy again, the function is updated, not refused
    folder(tmp_path / "hello", V2)
    updated = deploy(server, code, "hello", "--timeout", "7", "--json")
    assert updated.returncode == 0, updated.stderr
    fn = json.loads(updated.stdout)
    assert fn["timeout_s"] == 7 and fn["memory_mb"] == 256
    assert json.loads(faas(server, "invoke", "hello").stdout) == {"version": 2}

    # When I remove it, it is gone: asking for it is refused with exit 3
    removed = faas(server, "rm", "hello")
    assert removed.returncode == 0 and removed.stdout.strip() == "deleted hello"
    gone = faas(server, "info", "hello")
    assert gone.returncode == 3 and gone.stdout == ""
    assert "hello" in gone.stderr and "Traceback" not in gone.stderr
    assert faas(server, "invoke", "hello").returncode == 3
    assert faas(server, "rm", "hello").returncode == 3


def test_a_prebuilt_zip_deploys_as_is(server: Server, api: httpx.Client, tmp_path: Path) -> None:
    archive = tmp_path / "fn.zip"
    archive.write_bytes(handler_zip(V2))
    assert deploy(server, archive, "zipped").returncode == 0
    assert api.get("/v1/functions/zipped/code").content == archive.read_bytes()
    # A file that is not a zip is bad input, and nothing is created
    (tmp_path / "notes.txt").write_text("hello")
    refused = deploy(server, tmp_path / "notes.txt", "notes")
    assert refused.returncode == 2 and "neither a folder nor a zip" in refused.stderr
    assert api.get("/v1/functions/notes").status_code == 404
    # A config the server refuses exits 3 with the server's message
    bad = deploy(server, archive, "big", "--memory", "64")
    assert bad.returncode == 3 and "memory_mb" in bad.stderr, bad.stderr


def test_dead_letters_are_listed_then_redriven(
    server: Server, api: httpx.Client, tmp_path: Path
) -> None:
    # Given a function that always fails, with no retries
    assert deploy(server, folder(tmp_path / "failing", FAILING), "failing").returncode == 0
    assert api.put("/v1/functions/failing/async-config", json={"max_retries": 0}).status_code == 200
    # When an event is queued, it fails once and becomes a dead letter
    request_id = faas(server, "invoke", "failing", "--async").stdout.strip()
    poll(api, request_id, "dead-lettered")
    # Then `faas dead-letters` shows it, with the error
    listed = faas(server, "dead-letters", "failing")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split()[:3] == ["REQUEST", "ID", "ATTEMPTS"]
    assert row.split()[:5] == [request_id, "1", "RuntimeError", "always", "fails"]
    page = json.loads(faas(server, "dead-letters", "failing", "--json").stdout)
    assert page["total"] == 1 and page["items"][0]["requestId"] == request_id
    # When I redrive them, it names what went back to the queue, and it runs again
    redriven = faas(server, "dead-letters", "failing", "--redrive")
    assert redriven.returncode == 0, redriven.stderr
    assert redriven.stdout.splitlines() == ["redriven 1:", f"  {request_id}"]
    poll(api, request_id, "dead-lettered")


def test_schedules_are_set_from_a_file_and_read_back(server: Server, tmp_path: Path) -> None:
    assert deploy(server, folder(tmp_path / "report", V2), "report").returncode == 0
    assert faas(server, "schedules", "report").stdout.strip() == "no schedules"
    # When I set the schedules from a JSON file
    rules = [
        {"name": "hourly", "expression": "rate(1 hour)"},
        {"name": "noon", "expression": "cron(0 12 * * ? *)", "enabled": False},
    ]
    (tmp_path / "rules.json").write_text(json.dumps(rules))
    set_ = faas(server, "schedules", "report", "--set", str(tmp_path / "rules.json"))
    assert set_.returncode == 0, set_.stderr
    # Then reading them back shows both, with their next fire times
    shown = faas(server, "schedules", "report")
    header, *rows = shown.stdout.splitlines()
    assert header.split()[:3] == ["NAME", "EXPRESSION", "ENABLED"]
    assert [r.split()[0] for r in rows] == ["hourly", "noon"]
    assert "rate(1 hour)" in rows[0] and "cron(0 12 * * ? *)" in rows[1]
    doc = json.loads(faas(server, "schedules", "report", "--json").stdout)
    assert [s["name"] for s in doc["schedules"]] == ["hourly", "noon"]
    assert len(doc["schedules"][0]["nextFires"]) == 5
    # A rule the server refuses exits 3; a file that is not JSON exits 2
    (tmp_path / "bad.json").write_text(json.dumps([{"name": "x", "expression": "often"}]))
    assert faas(server, "schedules", "report", "--set", str(tmp_path / "bad.json")).returncode == 3
    (tmp_path / "broken.json").write_text("[{")
    assert (
        faas(server, "schedules", "report", "--set", str(tmp_path / "broken.json")).returncode == 2
    )
    # The schedules set from stdin replace them
    replaced = faas(server, "schedules", "report", "--set", "-", "--json", stdin="[]")
    assert json.loads(replaced.stdout) == {"schedules": []}


def test_no_server_at_the_url_exits_4_with_a_clear_message() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["ls"], ["info", "x"], ["invoke", "x"], ["logs", "x"]):
        refused = faas(None, *args, "--url", url)
        assert refused.returncode == 4, refused
        assert refused.stderr.startswith(f"faas: cannot connect to the server at {url}")
        assert "Traceback" not in refused.stderr and refused.stdout == ""


def test_logs_of_an_invocation_come_back_and_tail_shows_its_end(
    server: Server, tmp_path: Path
) -> None:
    assert deploy(server, folder(tmp_path / "chatty", CHATTY), "chatty").returncode == 0
    # When I invoke with --tail, the end of its log is on stderr, the result on stdout
    tailed = faas(server, "invoke", "chatty", "--tail")
    assert tailed.returncode == 0, tailed.stderr
    request_id = json.loads(tailed.stdout)["id"]
    assert f"hello from {request_id}" in tailed.stderr
    # And its log entry comes back by request id
    shown = faas(server, "logs", "chatty", "--request-id", request_id)
    assert shown.returncode == 0, shown.stderr
    assert request_id in shown.stdout.splitlines()[0]
    assert f"  hello from {request_id}" in shown.stdout.splitlines()
    doc = json.loads(faas(server, "logs", "chatty", "--json").stdout)
    assert [e["requestId"] for e in doc["logs"]] == [request_id]
    assert doc["logs"][0]["outcome"] == "success"

    # When I follow the logs, a new invocation shows up as it happens
    errors = tmp_path / "follow.err"
    with (
        open(errors, "w") as stderr,
        subprocess.Popen(
            [sys.executable, "-m", "faas.cli.main", "logs", "chatty", "-f", "--json"],
            env={**os.environ, "FAAS_URL": server.url},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as follower,
    ):
        try:
            lines = _lines(follower.stdout)
            time.sleep(1)  # let it connect before the invocation it should see
            later = json.loads(faas(server, "invoke", "chatty").stdout)["id"]
            seen = wait_until(
                lambda: _first(lines, lambda line: json.loads(line)["requestId"] == later),
                what="the new invocation to show",
                within_s=20,
                show=errors.read_text,
            )
            assert f"hello from {later}" in json.loads(seen)["log"]
            # Ctrl-C stops following, and that is a success
            follower.send_signal(signal.SIGINT)
            assert follower.wait(10) == 0, errors.read_text()
            assert "Traceback" not in errors.read_text()
        finally:
            if follower.poll() is None:
                follower.kill()


def _zip_entries(api: httpx.Client, name: str) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(io.BytesIO(api.get(f"/v1/functions/{name}/code").content)) as archive:
        return archive.infolist()


def _lines(stream: IO[str] | None) -> queue.Queue[str]:
    """The stream's lines, read in a thread so a test can wait with a deadline."""
    assert stream is not None
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _first(lines: queue.Queue[str], match: Any) -> str | None:
    """The first line read so far that ``match`` takes (the others are dropped)."""
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            return None
        if line.strip() and match(line):
            return line
