"""Response streaming through the agent: a custom runtime's chunked response reaches the
platform's client chunk by chunk, as written (docs/container-protocol.md, "Streamed answers").

The agent runs as a host process (``agent_harness``); the platform's side is its own
client (``faas.compute.agent_client``), so both ends of the protocol are the real ones.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faas.compute.agent_client import MAX_STREAM, AgentClient, AgentReply
from tests.streaming import BOOTSTRAP
from tests.unit.agent_harness import Agents, RunningAgent, function_env, now_ms, write_code


class Recorder:
    """A sink that notes when each chunk arrived."""

    def __init__(self) -> None:
        self.content_type: str | None = None
        self.chunks: list[tuple[float, bytes]] = []

    def begin(self, content_type: str) -> None:
        self.content_type = content_type

    async def put(self, chunk: bytes) -> None:
        self.chunks.append((time.monotonic(), chunk))

    @property
    def data(self) -> bytes:
        return b"".join(chunk for _, chunk in self.chunks)


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[RunningAgent]:
    """An agent whose function is the streaming custom runtime of ``tests.streaming``."""
    agents = Agents(tmp_path)
    task = tmp_path / "task"
    write_code(task, {"bootstrap": BOOTSTRAP})
    try:
        yield agents.start(function_env(task, "stream", "provided"))
    finally:
        agents.stop_all()


async def invoke(agent: RunningAgent, event: dict[str, Any], sink: Recorder | None) -> AgentReply:
    client = AgentClient(Path(agent.socket_path))
    headers = {
        "X-Request-Id": str(uuid.uuid4()),
        "X-Deadline-Ms": str(now_ms() + 30_000),
        "X-Faas-Capture-Log": "1",
    }
    try:
        return await client.request(
            "POST",
            "/invoke",
            body=json.dumps(event).encode(),
            headers=headers,
            timeout_s=30,
            sink=sink,
        )
    finally:
        client.close()


def trailer(reply: AgentReply, name: str) -> bytes:
    return base64.b64decode(reply.headers[name])


async def test_each_chunk_reaches_the_platform_when_the_function_writes_it(
    agent: RunningAgent,
) -> None:
    # Given a function that writes, sleeps 1 s, and writes again
    sink = Recorder()
    # When the platform invokes it with a sink
    reply = await invoke(agent, {"chunks": ["first ", "second"], "sleep": 1.0}, sink)
    # Then the first chunk arrived a second before the second, and the answer was a stream
    assert reply.streamed and reply.status == 200
    assert sink.content_type == "text/plain"
    assert sink.data == b"first second"
    (first_at, _), (last_at, _) = sink.chunks[0], sink.chunks[-1]
    assert last_at - first_at >= 0.8
    # And its output came in the trailers; nothing says it failed
    assert "wrote chunk 0" in trailer(reply, "x-faas-output").decode()
    assert "x-function-error" not in reply.headers
    assert "x-init-duration-ms" in reply.headers  # the container's first invoke


async def test_an_error_after_the_stream_began_ends_it_in_the_trailers(
    agent: RunningAgent,
) -> None:
    sink = Recorder()
    reply = await invoke(agent, {"chunks": ["partial"], "fail": "disk on fire"}, sink)
    assert sink.data == b"partial"
    assert reply.headers["x-function-error"] == "Unhandled"
    error = json.loads(trailer(reply, "x-faas-error"))
    assert (error["errorType"], error["errorMessage"]) == ("StreamError", "disk on fire")
    assert "x-sandbox-broken" not in reply.headers
    # And the runtime serves the next invocation
    again = await invoke(agent, {"chunks": ["ok"]}, Recorder())
    assert "x-function-error" not in again.headers


async def test_a_runtime_that_dies_mid_stream_breaks_the_sandbox(agent: RunningAgent) -> None:
    sink = Recorder()
    reply = await invoke(agent, {"chunks": ["a", "b"], "die": True}, sink)
    assert sink.data == b"a"
    assert reply.headers["x-sandbox-broken"] == "1"
    assert json.loads(trailer(reply, "x-faas-error"))["errorType"] == "Runtime.ExitError"


async def test_what_a_runtime_streamed_reaches_the_caller_even_after_its_exit_is_seen(
    agent: RunningAgent,
) -> None:
    # The last chunk arrives 50 ms after the runtime's exit is signalled (on a loaded
    # machine, loopback TCP can deliver a dying runtime's last bytes that late).
    sink = Recorder()
    reply = await invoke(agent, {"chunks": ["late"], "die_first": True}, sink)
    assert sink.data == b"late"
    assert reply.headers["x-sandbox-broken"] == "1"
    assert json.loads(trailer(reply, "x-faas-error"))["errorType"] == "Runtime.ExitError"


async def test_a_caller_without_a_sink_gets_the_stream_collected(agent: RunningAgent) -> None:
    reply = await invoke(agent, {"chunks": ["one", "two"]}, None)
    assert reply.streamed and reply.body == b"onetwo"


async def test_a_runtime_that_does_not_stream_answers_buffered(agent: RunningAgent) -> None:
    sink = Recorder()
    reply = await invoke(agent, {"buffered": True}, sink)
    assert not reply.streamed and sink.content_type is None
    n = int(reply.headers["x-faas-log-length"])
    assert json.loads(reply.body[n:]) == {"buffered": {"buffered": True}}


async def test_a_stream_past_20_mb_is_cut_with_lambdas_size_error(agent: RunningAgent) -> None:
    sink = Recorder()
    reply = await invoke(agent, {"bytes": MAX_STREAM + (1 << 20)}, sink)
    assert len(sink.data) <= MAX_STREAM
    error = json.loads(trailer(reply, "x-faas-error"))
    assert error["errorType"] == "Function.ResponseSizeTooLarge"
