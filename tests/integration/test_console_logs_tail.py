"""The Logs tab's live tail through the gateway's own HTTP/1.1 server, on a real platform.

The gateway runs here on uvicorn with the edge's protocol (``gateway.edge.protocol``:
its writes coalesced per response), on a loopback port, around a started platform
(process backend, a real Redis). A client reads the tail's server-sent events as
a browser's EventSource does: each event arrives while the response is still open
(nothing is held until its end), a new invocation's line comes the moment it is
stored, the filter is applied on the server, and when the client goes away the
tail's generator ends and its blocking read of Redis with it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from faas.platform import Platform
from gateway.app import create_app
from gateway.console.pages import logs as console_logs
from gateway.edge import listeners
from gateway.edge.protocol import ConnectionLimits, HttpProtocol
from tests.helpers import wait_until_async

pytestmark = pytest.mark.process

CHATTY = """
import logging

def handler(event, context):
    print("hello", event.get("n"))
    logging.getLogger().warning("slow n=%s", event.get("n"))
    return {"n": event.get("n")}
"""


@pytest.fixture
def backend() -> str:
    return "process"


@pytest.fixture
async def gateway(platform: Platform) -> AsyncIterator[str]:
    """The gateway as ``faas serve`` runs it (the edge's protocol), on a free loopback port."""
    app = create_app(platform.settings)
    app.api.state.platform = platform  # started by the fixture; the app's lifespan is not run
    sock = listeners.tcp("127.0.0.1", 0)
    config = uvicorn.Config(
        app,
        http=HttpProtocol.limited(ConnectionLimits()),
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    await wait_until_async(lambda: server.started, what="the gateway serving", within_s=10)
    try:
        yield f"http://127.0.0.1:{listeners.port_of(sock)}"
    finally:
        server.should_exit = True
        await serving


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """The response's server-sent events, as (event, data) once each is whole."""
    name, data = "message", ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and data:
            yield name, json.loads(data)
            name, data = "message", ""


async def blocked_log_reads(platform: Platform) -> int:
    """Redis clients blocked in an XREAD now (the tail's wait; the worker's is XREADGROUP)."""
    clients = await platform.redis.client_list()
    return sum(1 for c in clients if c.get("cmd") == "xread" and "b" in c.get("flags", ""))


async def test_a_tail_streams_each_new_line_and_stops_when_the_client_leaves(
    gateway: str, platform: Platform, deploy: Any
) -> None:
    # Given a function that prints a line and logs a warning, run once already
    await deploy("chatty", CHATTY)
    await platform.invoker.invoke("chatty", b'{"n": 1}')

    async with httpx.AsyncClient(base_url=gateway, timeout=10) as client:
        # When a browser tails its warnings
        tail = "/ui/functions/chatty/logs/tail?level=WARN"
        async with client.stream("GET", tail) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = events(response)

            # Then the last records come first, only their WARN lines, then "live"
            kind, history = await asyncio.wait_for(anext(stream), 5)
            assert kind == "record"
            assert [line["level"] for line in history["lines"]] == ["WARN"]
            assert "slow n=1" in history["lines"][0]["text"]
            assert await asyncio.wait_for(anext(stream), 5) == ("live", {})
            assert console_logs.open_tails() == 1
            assert await blocked_log_reads(platform) == 1  # waiting on Redis, not polling

            # When the function runs again, its warning arrives on the open response
            started = asyncio.get_running_loop().time()
            result = await platform.invoker.invoke("chatty", b'{"n": 2}')
            kind, new = await asyncio.wait_for(anext(stream), 5)
            waited = asyncio.get_running_loop().time() - started
            assert kind == "record" and new["requestId"] == result.request_id
            assert [line["text"].split("\t")[-1] for line in new["lines"]] == ["slow n=2"]
            print(f"\na new log line reached the tail {waited * 1000:.0f} ms after the invoke")

        # When the client goes away (the stream closed before its end)
    # Then the tail's generator ends, and its blocking read of Redis with it
    await wait_until_async(
        lambda: console_logs.open_tails() == 0, what="the tail to end", within_s=5
    )
    await wait_until_async(
        lambda: blocked_log_reads(platform),
        done=lambda n: n == 0,
        what="no XREAD left blocked",
        within_s=5,
    )


async def test_a_tail_of_one_request_id_shows_only_that_invocation(
    gateway: str, platform: Platform, deploy: Any
) -> None:
    await deploy("chatty", CHATTY)
    first = await platform.invoker.invoke("chatty", b'{"n": 1}')
    await platform.invoker.invoke("chatty", b'{"n": 2}')
    async with (
        httpx.AsyncClient(base_url=gateway, timeout=10) as client,
        client.stream(
            "GET", f"/ui/functions/chatty/logs/tail?request_id={first.request_id}&text=HELLO"
        ) as response,
    ):
        kind, record = await asyncio.wait_for(anext(events(response)), 5)
    assert kind == "record" and record["requestId"] == first.request_id
    assert [line["text"] for line in record["lines"]] == ["hello 1"]
    await wait_until_async(
        lambda: console_logs.open_tails() == 0, what="the tail to end", within_s=5
    )


async def test_a_bad_filter_is_refused_before_any_stream(gateway: str, deploy: Any) -> None:
    await deploy("chatty", CHATTY)
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as client:
        answer = await client.get("/ui/functions/chatty/logs/tail?level=LOUD")
        missing = await client.get("/ui/functions/nobody/logs/tail")
    assert answer.status_code == 422 and answer.json()["field"] == "level"
    assert missing.status_code == 404
