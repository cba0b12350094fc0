"""Redis goes away under a warm function: the data plane keeps serving, then catches up.

``faas serve`` runs against a redis-server of the story's own (AOF on, as
docker-compose runs it), which is SIGKILLed while a client invokes a warm
function in a loop, then restarted on the same socket with the same data.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import RedisServer, Server, handler_zip, killable_redis, upload, wait_until

GREETER = """
import os

def handler(event, context):
    return {"greeting": os.environ["GREETING"]}
"""
OUTAGE_S = 3.0


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with killable_redis() as server:
        yield server


@pytest.fixture
def server(own_redis: RedisServer, server_env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    env = {
        **server_env,
        "FAAS_REDIS_URL": own_redis.url,
        # Every invocation's log is kept: the story looks for those of the outage.
        "FAAS_LOG_MAX_ENTRIES": "100000",
    }
    srv = Server(env, tmp_path / "server.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def greeting(api: httpx.Client) -> str:
    reply = api.post("/v1/functions/greeter/invoke", json={})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["greeting"])


def test_warm_invokes_outlive_a_redis_crash_and_changes_are_seen_after_it(
    own_redis: RedisServer, server: Server
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as api:
        # Given a warm function, served over HTTP too
        made = upload(api, "greeter", handler_zip(GREETER), env='{"GREETING": "hello"}')
        assert made.status_code == 201, made.text
        assert api.put("/v1/functions/greeter/http", json={}).status_code == 200
        assert greeting(api) == "hello"
        # When Redis is killed, and the function is invoked in a loop while it is down
        own_redis.kill()
        statuses: Counter[int] = Counter()
        greetings: Counter[str] = Counter()
        outage_ids = []
        deadline = time.monotonic() + OUTAGE_S
        while time.monotonic() < deadline:
            reply = api.post("/v1/functions/greeter/invoke", json={})
            statuses[reply.status_code] += 1
            if reply.status_code == 200:
                greetings[reply.json()["greeting"]] += 1
                outage_ids.append(reply.headers["X-Request-Id"])
            # (one call in ten through its HTTP route)
            if len(outage_ids) % 10 == 0:
                routed = api.get("/fn/greeter/")
                statuses[routed.status_code] += 1
                if routed.status_code == 200:
                    greetings[routed.json()["greeting"]] += 1
        # and an event is queued meanwhile
        queued = api.post(
            "/v1/functions/greeter/invoke", json={}, headers={"X-Faas-Invocation-Type": "Event"}
        )
        ready = api.get("/readyz")
        print(f"invokes while Redis was down: {dict(statuses)}")
        # Then every warm invoke succeeded, with the function's last known config
        assert set(statuses) == {200} and statuses[200] > 100, statuses
        assert set(greetings) == {"hello"}
        # And the event was refused, to be sent again, not accepted and lost
        assert queued.status_code == 503, queued.text
        assert queued.headers["Retry-After"] == "1"
        assert ready.status_code == 503 and ready.json()["checks"]["redis"] != "ok"

        # When Redis is back with its data and the function's env is changed
        own_redis.start()
        changed = _when_redis_answers(
            lambda: api.patch("/v1/functions/greeter", json={"env": {"GREETING": "changed"}})
        )
        # Then the next invokes see the change within a second or two
        wait_until(
            lambda: greeting(api),
            what="invokes to see the change",
            done=lambda seen: seen == "changed",
            within_s=2,
        )
        assert changed.json()["env"] == {"GREETING": "changed"}
        # And the logs of the invokes served while Redis was down were kept and written
        for request_id in (outage_ids[0], outage_ids[-1]):
            logs = _when_redis_answers(
                lambda rid=request_id: api.get(
                    "/v1/functions/greeter/logs", params={"request_id": rid}
                ),
                until=lambda reply: bool(reply.json()["logs"]),
            )
            assert f"START RequestId: {request_id}" in logs.json()["logs"][0]["log"]


def _when_redis_answers(call, until=lambda reply: True, within_s: float = 10.0):  # type: ignore[no-untyped-def]
    """``call()`` until it is not a 503 (Redis is still starting) and ``until`` holds."""

    def answered(reply: httpx.Response) -> bool:
        if reply.status_code == 503:
            return False
        assert reply.status_code == 200, reply.text
        return bool(until(reply))

    return wait_until(call, what="an answer once Redis is back", done=answered, within_s=within_s)


@pytest.mark.process
def test_a_server_started_before_its_redis_waits_for_it(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a Redis that is not up yet (compose, a swarm stack or a pod start both at once)
    late = RedisServer(tmp_path)
    env = {**server_env, "FAAS_REDIS_URL": late.url, "FAAS_BACKEND": "process"}
    server = Server(env, tmp_path / "server.log")
    server.spawn()
    try:
        # When Redis comes up a moment later
        time.sleep(1.5)
        late.start()
        # Then the server waited for it, said so, and serves
        wait_until(
            server._healthy, what="the server to be ready", within_s=30, ignoring=(httpx.HTTPError,)
        )
        assert "waiting for Redis" in server.log()
    finally:
        server.stop()
        late.stop()
