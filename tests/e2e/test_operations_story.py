"""An operator runs the server for a team: keys guard the API, each invocation's log can be
read back, secrets reach the function and nothing else, and /metrics and /readyz tell the
truth."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import httpx
import pytest

from tests.helpers import (
    Server,
    free_port,
    handler_zip,
    ours,
    scrape,
    upload,
    value,
    wait_until,
)

ADMIN = "admin-key-for-the-story-0001"
INVOKER = "invoke-key-for-everything-02"
HELLO_ONLY = "invoke-key-for-hello-only-03"
SLOW = "invoke-key-two-a-second-0004"
WRONG = "not-a-key-of-this-server-0005"

CHATTY = """
import logging, sys, time

def handler(event, context):
    print("stdout says", event.get("marker"))
    print("stderr says", event.get("marker"), file=sys.stderr)
    logging.getLogger().warning("logged %s", event.get("marker"))
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise ValueError("failing on purpose " + str(event.get("marker")))
    return {"marker": event.get("marker")}
"""


@pytest.fixture
def keyed_env(server_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(
        json.dumps(
            {
                "invoke": [
                    {"key": HELLO_ONLY, "name": "hello-only", "functions": ["hello"]},
                    {"key": SLOW, "name": "slow", "rate_per_s": 2},
                ]
            }
        )
    )
    server_env.update(FAAS_ADMIN_KEY=ADMIN, FAAS_INVOKE_KEYS=INVOKER, FAAS_KEYS_FILE=str(keys_file))
    return server_env


AsKey = Callable[[str | None], httpx.Client]


@pytest.fixture
def as_key(server: Server) -> Iterator[AsKey]:
    """Clients of the server presenting a given key (or none)."""
    clients: list[httpx.Client] = []

    def client(key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        clients.append(httpx.Client(base_url=server.url, headers=headers, timeout=60))
        return clients[-1]

    yield client
    for c in clients:
        c.close()


def management_routes(api: httpx.Client) -> Iterator[tuple[str, str]]:
    """Every route in the OpenAPI document but the ones for invoking and health."""
    for path, methods in api.get("/openapi.json").json()["paths"].items():
        for method in methods:
            if path in ("/healthz", "/readyz") or path.startswith("/fn/"):
                continue
            if path.endswith("/invoke") or path.startswith("/v1/invocations/"):
                continue
            yield method.upper(), re.sub(r"\{[^}]+\}", "x", path)


@pytest.mark.usefixtures("keyed_env")
def test_every_management_route_needs_the_admin_key(as_key: AsKey, api: httpx.Client) -> None:
    routes = sorted(set(management_routes(api)))
    # The table covers the whole management API, /metrics included
    assert ("GET", "/metrics") in routes and ("PUT", "/v1/functions/x/secrets") in routes
    assert len(routes) >= 20
    anonymous, wrong, invoker = as_key(None), as_key(WRONG), as_key(INVOKER)
    for method, path in routes:
        missing = anonymous.request(method, path)
        assert missing.status_code == 401, (method, path, missing.text)
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["error"] == "Unauthorized"
        assert wrong.request(method, path).status_code == 403, (method, path)
        refused = invoker.request(method, path)
        assert refused.status_code == 403, (method, path)
        assert "may invoke functions but not manage them" in refused.json()["message"]
        assert api.request(method, path).status_code not in (401, 403), (method, path)
    # X-Api-Key works as well as Bearer, and a refused upload is answered before its body
    assert anonymous.get("/v1/functions", headers={"X-Api-Key": ADMIN}).status_code == 200
    big = anonymous.post("/v1/functions", content=b"z" * (40 << 20))
    assert big.status_code == 401
    # Health stays open for probes
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/readyz").json()["checks"] == {
        "redis": "ok",
        "docker": "ok",
        "images": "ok",
    }


@pytest.mark.usefixtures("keyed_env")
def test_invoke_keys_invoke_what_they_list_and_are_rate_limited(
    as_key: AsKey, api: httpx.Client
) -> None:
    for name in ("hello", "other"):
        assert upload(api, name, handler_zip(CHATTY)).status_code == 201
    hello_only, invoker = as_key(HELLO_ONLY), as_key(INVOKER)
    assert hello_only.post("/v1/functions/hello/invoke", json={"marker": 1}).json() == {"marker": 1}
    other = hello_only.post("/v1/functions/other/invoke", json={})
    assert other.status_code == 403 and "may not invoke function 'other'" in other.json()["message"]
    assert invoker.post("/v1/functions/other/invoke", json={"marker": 2}).status_code == 200
    assert as_key(None).post("/v1/functions/hello/invoke").status_code == 401
    # An async event's result can be read with the key that may invoke its function only
    queued = hello_only.post(
        "/v1/functions/hello/invoke", json={}, headers={"X-Faas-Invocation-Type": "Event"}
    )
    assert queued.status_code == 202
    assert hello_only.get(f"/v1/invocations/{queued.json()['requestId']}").status_code == 200
    theirs = api.post(
        "/v1/functions/other/invoke", json={}, headers={"X-Faas-Invocation-Type": "Event"}
    ).json()["requestId"]
    assert hello_only.get(f"/v1/invocations/{theirs}").status_code == 404
    assert invoker.get(f"/v1/invocations/{theirs}").status_code == 200
    # The key limited to 2 requests a second gets 429 with Retry-After past its burst
    slow = as_key(SLOW)
    codes = [slow.post("/v1/functions/hello/invoke", json={}) for _ in range(5)]
    limited = [r for r in codes if r.status_code == 429]
    assert [r.status_code for r in codes[:2]] == [200, 200] and len(limited) >= 2
    assert limited[0].json()["error"] == "RateLimited"
    assert int(limited[0].headers["retry-after"]) >= 1
    # other keys are not held back by it, and it recovers after a second
    assert invoker.post("/v1/functions/hello/invoke", json={}).status_code == 200
    time.sleep(1.1)
    assert slow.post("/v1/functions/hello/invoke", json={}).status_code == 200


@pytest.mark.parametrize("server_args", [("--log-level", "info")])
def test_each_invocation_log_comes_back_by_request_id_and_as_a_tail(
    api: httpx.Client, server: Server
) -> None:
    assert upload(api, "chatty", handler_zip(CHATTY)).status_code == 201
    # A sync invoke asking for the tail gets its last 4 KB base64, as Lambda's LogType=Tail
    reply = api.post(
        "/v1/functions/chatty/invoke", json={"marker": "m1"}, headers={"X-Faas-Log-Type": "Tail"}
    )
    assert reply.status_code == 200
    rid = reply.headers["x-request-id"]
    tail = base64.b64decode(reply.headers["x-faas-log-result"]).decode()
    assert tail.startswith(f"START RequestId: {rid}")
    for line in (
        "stdout says m1",
        "stderr says m1",
        f"\t{rid}\tlogged m1",
        f"END RequestId: {rid}",
    ):
        assert line in tail
    assert re.search(rf"REPORT RequestId: {rid}\tDuration: [\d.]+ ms.*Init Duration", tail)
    # Without the header there is no tail
    second = api.post("/v1/functions/chatty/invoke", json={"marker": "m2"})
    assert "x-faas-log-result" not in second.headers
    failed = api.post("/v1/functions/chatty/invoke", json={"marker": "m3", "fail": True})
    assert failed.status_code == 500
    # The log of one request, by its id, holds its output and no other's
    logs = api.get("/v1/functions/chatty/logs", params={"request_id": rid}).json()["logs"]
    assert len(logs) == 1 and logs[0]["requestId"] == rid
    assert logs[0]["kind"] == "sync" and logs[0]["outcome"] == "success"
    assert "stdout says m1" in logs[0]["log"] and "m2" not in logs[0]["log"]
    assert logs[0]["start"] <= logs[0]["end"]
    # The failed one carries the traceback, and the list is oldest first
    everything = api.get("/v1/functions/chatty/logs").json()["logs"]
    assert everything[0]["requestId"] == rid and len(everything) == 3
    assert everything[2]["outcome"] == "function_error"
    assert "ValueError: failing on purpose m3" in everything[2]["log"]
    assert "Traceback" in everything[2]["log"]
    assert (
        api.get("/v1/functions/chatty/logs", params={"limit": 1}).json()["logs"][0]["requestId"]
        == failed.headers["x-request-id"]
    )
    assert api.get("/v1/functions/chatty/logs", params={"since": "1d"}).json()["logs"] == everything
    assert api.get("/v1/functions/chatty/logs", params={"since": "yesterday"}).status_code == 422
    assert api.get("/v1/functions/nope/logs").status_code == 404
    # Following streams new logs as they come (an async event here)
    seen: list[dict[str, object]] = []
    backlog, got = threading.Event(), threading.Event()

    def follow() -> None:
        with (
            httpx.Client(base_url=server.url, timeout=30) as client,
            client.stream(
                "GET", "/v1/functions/chatty/logs", params={"follow": 1, "limit": 1}
            ) as stream,
        ):
            for line in stream.iter_lines():
                seen.append(json.loads(line))
                (backlog if len(seen) == 1 else got).set()
                if len(seen) == 2:
                    return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    # (first the latest log, then the new ones)
    assert backlog.wait(30) and seen[0]["requestId"] == failed.headers["x-request-id"]
    queued = api.post(
        "/v1/functions/chatty/invoke",
        json={"marker": "async-1"},
        headers={"X-Faas-Invocation-Type": "Event"},
    ).json()["requestId"]
    assert got.wait(30), seen
    assert seen[1]["requestId"] == queued and seen[1]["kind"] == "async"
    assert "stdout says async-1" in str(seen[1]["log"])
    # The platform's own log is JSON lines, and the cold start names its request
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    cold = [line for line in lines if line["message"].startswith("cold start")]
    assert cold[0]["requestId"] == rid and cold[0]["function"] == "chatty"


SECRET_READER = """
import hashlib, os

def handler(event, context):
    path = "/run/secrets/DB_PASSWORD"
    if not os.path.exists(path):
        return {"present": False}
    st = os.stat(path)
    with open(path, "rb") as f:
        value = f.read()
    return {
        "present": True,
        "sha256": hashlib.sha256(value).hexdigest(),
        "mode": oct(st.st_mode & 0o777),
        "mine": st.st_uid == os.getuid(),
        "in_env": any(value.decode() in v for v in os.environ.values()),
        "names": sorted(os.listdir("/run/secrets")),
    }
"""


def test_a_secret_reaches_the_function_as_a_file_and_is_never_shown(
    api: httpx.Client, server: Server, server_env: dict[str, str]
) -> None:
    value_1, value_2 = "s3cr3t-value-one-7f3a9c", "s3cr3t-value-two-b81e20"
    assert upload(api, "vault", handler_zip(SECRET_READER)).status_code == 201
    assert api.post("/v1/functions/vault/invoke", json={}).json() == {"present": False}
    put = api.put("/v1/functions/vault/secrets", json={"DB_PASSWORD": value_1, "API_TOKEN": "t-1"})
    assert put.status_code == 200 and put.json() == {"secrets": ["API_TOKEN", "DB_PASSWORD"]}
    # The function reads it as a file only its user can read, not in its environment
    seen = api.post("/v1/functions/vault/invoke", json={}, headers={"X-Faas-Log-Type": "Tail"})
    body = seen.json()
    assert body["sha256"] == hashlib.sha256(value_1.encode()).hexdigest()
    assert body["mode"] == "0o400" and body["mine"] is True and body["in_env"] is False
    assert body["names"] == ["API_TOKEN", "DB_PASSWORD"]
    # nor in the container's configuration
    client = docker.from_env()
    try:
        node = server_env["FAAS_NODE_ID"]
        found = ours(node, "vault", client)
        assert found
        assert value_1 not in json.dumps(client.api.inspect_container(found[0]))
    finally:
        client.close()
    # A change reaches new containers at once
    assert api.put("/v1/functions/vault/secrets", json={"DB_PASSWORD": value_2}).status_code == 200
    changed = api.post("/v1/functions/vault/invoke", json={}).json()
    assert changed["sha256"] == hashlib.sha256(value_2.encode()).hexdigest()
    assert changed["names"] == ["DB_PASSWORD"]
    # Bad input is refused naming the secret, never echoing a value
    bad = api.put("/v1/functions/vault/secrets", json={"../x": value_1})
    assert bad.status_code == 422 and value_1 not in bad.text
    assert api.put("/v1/functions/vault/secrets", json={"A": 1}).status_code == 422
    assert api.put("/v1/functions/nope/secrets", json={}).status_code == 404
    # No API answer and no server log line holds either value
    answers = [
        put.text,
        seen.text,
        str(seen.headers),
        api.get("/v1/functions/vault").text,
        api.get("/v1/functions").text,
        api.get("/v1/functions/vault/secrets").text,
        api.get("/v1/functions/vault/logs").text,
        api.get("/v1/functions/vault/http").text,
        api.get("/metrics").text,
    ]
    for text in [*answers, server.log()]:
        assert value_1 not in text and value_2 not in text
    assert api.get("/v1/functions/vault/secrets").json() == {"secrets": ["DB_PASSWORD"]}
    # Deleting one takes it away from the next container
    assert api.delete("/v1/functions/vault/secrets/DB_PASSWORD").status_code == 204
    assert api.delete("/v1/functions/vault/secrets/DB_PASSWORD").status_code == 400
    assert api.post("/v1/functions/vault/invoke", json={}).json() == {"present": False}


@pytest.fixture
def no_worker_env(server_env: dict[str, str]) -> dict[str, str]:
    server_env["FAAS_WORKER"] = "0"
    return server_env


@pytest.mark.usefixtures("no_worker_env")
def test_gauges_show_running_work_instances_and_the_queue(api: httpx.Client) -> None:
    assert upload(api, "gauged", handler_zip(CHATTY), timeout_s="10").status_code == 201
    running = threading.Thread(
        target=lambda: api.post("/v1/functions/gauged/invoke", json={"sleep": 3})
    )
    running.start()
    wait_until(
        lambda: value(scrape(api), "faas_concurrent_executions", function="gauged"),
        what="the running call to show",
        done=lambda running: running >= 1,
        within_s=20,
    )
    during = scrape(api)
    assert value(during, "faas_instances", function="gauged", state="busy") == 1
    running.join()
    after = scrape(api)
    assert value(after, "faas_concurrent_executions", function="gauged") == 0
    assert value(after, "faas_instances", function="gauged", state="idle") == 1
    assert value(after, "faas_instances", function="gauged", state="busy") == 0
    # This server runs no worker: queued events wait, and the queue gauges show them
    assert value(after, "faas_queue_depth", state="queued") == 0
    for _ in range(3):
        queued = api.post(
            "/v1/functions/gauged/invoke", json={}, headers={"X-Faas-Invocation-Type": "Event"}
        )
        assert queued.status_code == 202
    time.sleep(1.1)
    samples = scrape(api)
    assert value(samples, "faas_queue_depth", state="queued") == 3
    assert value(samples, "faas_queue_depth", state="running") == 0
    assert value(samples, "faas_queue_oldest_age_seconds") >= 1


def test_an_open_server_listens_on_localhost_only(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    srv = Server({**server_env, "FAAS_PORT": str(port), "FAAS_HOST": "0.0.0.0"}, tmp_path / "o.log")
    srv.start()
    try:
        listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
        local = {line.split()[1] for line in listening if line.split()[3] == "0A"}
        assert f"0100007F:{port:04X}" in local
        assert f"00000000:{port:04X}" not in local
        assert "listening on 127.0.0.1 only" in srv.log()
    finally:
        srv.stop()


def test_a_server_with_log_tails_open_stops_at_once(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    srv = Server({**server_env, "FAAS_PORT": str(free_port())}, tmp_path / "t.log")
    srv.start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as api:
            assert upload(api, "tailed", handler_zip(CHATTY)).status_code == 201
            assert api.post("/v1/functions/tailed/invoke", json={}).status_code == 200
        # Given a client following the function's logs, quiet for a second
        lines: list[str] = []
        ended = threading.Event()

        def follow() -> None:
            with httpx.stream(
                "GET", f"{srv.url}/v1/functions/tailed/logs?follow=1", timeout=30
            ) as answer:
                lines.extend(answer.iter_lines())
            ended.set()

        threading.Thread(target=follow, daemon=True).start()
        wait_until(lambda: lines, what="the tail's first record", within_s=10)
        time.sleep(1)
    finally:
        # When the server is stopped
        began = time.monotonic()
        code = srv.stop()
    # Then the tail ended cleanly and the server was gone well within the tail's 5 s
    # keep-alive read (which it used to wait out)
    assert code == 0 and ended.wait(5)
    assert time.monotonic() - began < 2.5
    assert len(lines) == 1 and json.loads(lines[0])["function"] == "tailed"


@pytest.fixture
def seconds_env(server_env: dict[str, str]) -> dict[str, str]:
    server_env["FAAS_SCHEDULE_SECONDS"] = "1"
    server_env["FAAS_SCHEDULE_POLL_S"] = "0.2"
    return server_env


@pytest.mark.usefixtures("seconds_env")
def test_scheduled_runs_are_their_own_kind(api: httpx.Client) -> None:
    assert upload(api, "ticking", handler_zip(CHATTY)).status_code == 201
    rules = [{"name": "every-second", "expression": "rate(1 second)"}]
    assert api.put("/v1/functions/ticking/schedules", json=rules).status_code == 200
    ok = {"function": "ticking", "kind": "schedule", "outcome": "success"}
    wait_until(
        lambda: value(scrape(api), "faas_invocations_total", **ok),
        what="a scheduled run to be counted",
        done=lambda counted: counted >= 1,
        within_s=30,
    )
    assert api.put("/v1/functions/ticking/schedules", json=[]).status_code == 200
    kinds = {e["kind"] for e in api.get("/v1/functions/ticking/logs").json()["logs"]}
    assert kinds == {"schedule"}
    counted = {
        dict(labels)["kind"]
        for (name, labels), _ in scrape(api).items()
        if name == "faas_invocations_total" and dict(labels)["function"] == "ticking"
    }
    assert counted == {"schedule"}
