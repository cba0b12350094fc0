"""A flood of half-sent requests cannot keep the server from answering.

Issue 17: a client holding 24,000 half-sent requests used up the server's open
files, and 80 of 100 new ``/healthz`` probes failed. The server now times out
request heads, keeps its connections within a cap (closing the longest-waiting
idle or half-sent one for a newcomer), and raises its open-file limit at start.
"""

from __future__ import annotations

import json
import resource
import socket
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import Server

FLOOD = 2000
PROBES = 100
HEAD_TIMEOUT_S = 5
HALF_HEAD = b"POST /v1/functions/f/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
# No containers are needed: the pool is off.
QUICK_HEADS = {"FAAS_HTTP_HEAD_TIMEOUT_S": str(HEAD_TIMEOUT_S), "FAAS_PREWARM_POOL": "0"}


@contextmanager
def soft_fd_limit(limit: int) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def room_for_the_flood() -> Iterator[None]:
    """This test process holds the flood's sockets: its own soft limit goes to the hard one."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < FLOOD + 500:
        pytest.skip(f"the hard open-file limit ({hard}) is too small to hold {FLOOD} sockets")
    with soft_fd_limit(hard):
        yield


@pytest.fixture
def server_env(server_env: dict[str, str], request: pytest.FixtureRequest) -> dict[str, str]:
    return {**server_env, **request.param}


@pytest.fixture
def server(server_env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    """``faas serve`` started as from a login shell or a systemd unit: 1024 open files."""
    srv = Server(server_env, tmp_path / "server.log")
    with soft_fd_limit(1024):
        srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def flood(port: int, within_s: float = 30) -> list[socket.socket]:
    """``FLOOD`` connections, each with half a request head (fewer if ``within_s`` passes)."""
    held: list[socket.socket] = []
    deadline = time.monotonic() + within_s
    while len(held) < FLOOD and time.monotonic() < deadline:
        conn = socket.create_connection(("127.0.0.1", port), timeout=5)
        held.append(conn)
        try:
            conn.sendall(HALF_HEAD)
        except OSError:  # the server closed it already
            pass
    return held


def still_open(conn: socket.socket) -> bool:
    conn.setblocking(False)
    try:
        return conn.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def probes(url: str, within_s: float = 60) -> Counter[str]:
    """What ``PROBES`` new clients asking ``/healthz`` one after another get."""
    deadline = time.monotonic() + within_s
    return Counter(
        probe(url) if time.monotonic() < deadline else "not tried: time is up"
        for _ in range(PROBES)
    )


def probe(url: str) -> str:
    """What a new client asking ``/healthz`` gets: the status, or the error."""
    try:
        reply = httpx.get(url + "/healthz", timeout=5)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return str(reply.status_code) if reply.text == '{"status":"ok"}' else reply.text[:100]


def last_words(held: list[socket.socket], within_s: float) -> Counter[str]:
    """Wait for the server to close every connection; the first line each read ("" for none)."""
    words: dict[int, bytes] = {}
    deadline = time.monotonic() + within_s
    while len(words) < len(held) and time.monotonic() < deadline:
        for i, conn in enumerate(held):
            if i in words:
                continue
            conn.setblocking(False)
            try:
                data = conn.recv(4096)
            except BlockingIOError:
                continue
            except OSError:  # reset: closed as well
                data = b""
            words[i] = data  # a 408 is one small write: its first line is here
        time.sleep(0.2)
    return Counter(
        words[i].split(b"\r\n", 1)[0].decode() if i in words else "(still open)"
        for i in range(len(held))
    )


@pytest.mark.parametrize(
    ("server_env", "kept"),
    [
        pytest.param(QUICK_HEADS, FLOOD, id="default-cap"),
        pytest.param(
            {**QUICK_HEADS, "FAAS_HTTP_MAX_CONNECTIONS": "500"}, 500, id="cap-below-the-flood"
        ),
    ],
    indirect=["server_env"],
)
def test_half_sent_heads_do_not_starve_healthz_and_are_closed_after_the_timeout(
    room_for_the_flood: None, server: Server, kept: int
) -> None:
    # Given a server started with 1024 open files, a head timeout of 5 s, and
    # either the default connection cap or a cap of 500
    # When a client opens 2,000 connections and sends half a request head on each
    start = time.monotonic()
    held = flood(server.port)
    try:
        assert len(held) == FLOOD
        # Then 100 new clients asking /healthz all get their answer
        answers = probes(server.url)
        probed_in_s = time.monotonic() - start
        assert answers == {"200": PROBES}
        # while the server still holds as many half-sent connections as it keeps
        assert probed_in_s < HEAD_TIMEOUT_S, "too slow to tell: the head timeout passed"
        open_now = sum(still_open(conn) for conn in held)
        assert kept - 10 <= open_now <= kept
        # And once the head timeout has passed, every one of them is closed: those the
        # server kept are told 408, those it closed to make room were closed at once
        closed = last_words(held, within_s=HEAD_TIMEOUT_S + 10)
        assert closed == Counter({"HTTP/1.1 408 Request Timeout": open_now, "": FLOOD - open_now})
    finally:
        for conn in held:
            conn.close()


@pytest.mark.parametrize(
    "server_env", [{"FAAS_HTTP_BODY_TIMEOUT_S": "1", "FAAS_PREWARM_POOL": "0"}], indirect=True
)
@pytest.mark.parametrize(
    "request_line",
    # A route of FastAPI's (which reads with Starlette), and the invoke fast path.
    ["PUT /v1/functions/f/secrets", "POST /v1/functions/f/invoke"],
)
def test_a_body_that_stalls_is_answered_408_and_logs_no_error(
    server: Server, request_line: str
) -> None:
    # Given a server allowing 1 s between two parts of a request body
    # When a client announces 1,000 bytes of JSON, sends 5 and stops
    head = f"{request_line} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(head.encode() + b'{"a":')
        started = time.monotonic()
        reply = b""
        while chunk := conn.recv(4096):
            reply += chunk
        waited = time.monotonic() - started
    # Then after about a second it is told why, and the connection is closed
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert reply.endswith(b'"message": "the request body did not arrive within 1 s"}')
    assert 0.9 < waited < 5
    # And the server took it in its stride: no error, no stack trace in its log
    assert probe(server.url) == "200"
    lines = [json.loads(ln) for ln in server.log_path.read_text().splitlines() if ln[:1] == "{"]
    assert [line["message"] for line in lines if line["level"] == "error"] == []
