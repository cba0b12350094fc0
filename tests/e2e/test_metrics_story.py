"""What an operator sees on /metrics after cold and warm invokes, an HTTP call, a throttle
and an async retry that ends as a dead letter."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.helpers import handler_zip, scrape, upload, value, wait_until

CODE = """
import time

def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    time.sleep(event.get("sleep", 0))
    return {"ok": True}
"""


def test_metrics_follow_invocations(api: httpx.Client) -> None:
    assert upload(api, "m", handler_zip(CODE), concurrency="1").status_code == 201
    before = scrape(api)
    # A cold then a warm sync invoke
    for _ in range(2):
        assert api.post("/v1/functions/m/invoke", json={}).status_code == 200
    after = scrape(api)
    sync_ok = {"function": "m", "kind": "sync", "outcome": "success"}
    assert (
        value(after, "faas_invocations_total", **sync_ok)
        - value(before, "faas_invocations_total", **sync_ok)
        == 2
    )
    assert value(after, "faas_cold_starts_total", function="m") == 1
    assert value(after, "faas_init_duration_seconds_count", function="m") == 1
    assert value(after, "faas_invocation_duration_seconds_count", function="m", kind="sync") == 2
    # An HTTP route call is counted as such
    assert api.put("/v1/functions/m/http", json={}).status_code == 200
    assert api.get("/fn/m/").status_code == 200
    http_ok = {"function": "m", "kind": "http", "outcome": "success"}
    assert value(scrape(api), "faas_invocations_total", **http_ok) == 1
    # A second caller while the only instance sleeps is throttled (bounded wait: 1 s)
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(api.post, "/v1/functions/m/invoke", json={"sleep": 2})
        time.sleep(0.5)
        refused = pool.submit(api.post, "/v1/functions/m/invoke", json={})
        assert refused.result().status_code == 429 and slow.result().status_code == 200
    assert value(scrape(api), "faas_throttles_total", function="m", kind="sync") == 1
    # An async event that fails twice: one retry, then a dead letter
    config = {"max_retries": 1, "backoff_base_s": 0.1, "backoff_max_s": 0.2}
    assert api.put("/v1/functions/m/async-config", json=config).status_code == 200
    queued = api.post(
        "/v1/functions/m/invoke", json={"fail": True}, headers={"X-Faas-Invocation-Type": "Event"}
    )
    request_id = queued.json()["requestId"]
    wait_until(
        lambda: api.get(f"/v1/invocations/{request_id}").json(),
        what="the failing event to be dead-lettered",
        done=lambda view: view["state"] == "dead-lettered",
        within_s=30,
    )
    samples = scrape(api)
    failed = {"function": "m", "kind": "async", "outcome": "function_error"}
    assert value(samples, "faas_invocations_total", **failed) == 2
    assert value(samples, "faas_async_retries_total", function="m", failure="function") == 1
    dead = [v for (name, labels), v in samples.items() if name == "faas_dead_letters_total"]
    assert dead == [1.0]
