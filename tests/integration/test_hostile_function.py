"""Stories of a function that attacks the platform from inside its container.

The socket directory is the one host directory a container can reach by default
(bind-mounted at /run/faas). Function code must neither choose what the platform
connects to through it, nor write into it.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from faas.outcomes import Outcome
from faas.platform import Platform

# In its init the function starts a thread that keeps trying, for a few seconds, to
# put links to a host socket (the decoy) in place of the platform's two sockets, and
# to leave a file and a directory in their directory; each invoke reports what worked.
SWAPPER = """
import os, threading, time
DECOY = os.environ["DECOY"]
done = []

def swap():
    end = time.monotonic() + 3
    while time.monotonic() < end:
        for name in ("runtime.sock", "agent.sock"):
            try:
                os.symlink(DECOY, "/run/faas/link")
                os.rename("/run/faas/link", "/run/faas/" + name)
                done.append("swapped " + name)
            except OSError:
                pass
        for make in (lambda: open("/run/faas/x", "w").close(), lambda: os.mkdir("/run/faas/d")):
            try:
                make()
                done.append("wrote")
            except OSError:
                pass
        time.sleep(0.001)

threading.Thread(target=swap, daemon=True).start()

def handler(event, context):
    return sorted(set(done))
"""


@pytest.fixture
def decoy(data_dir: Path) -> Iterator[tuple[Path, list[bytes]]]:
    """A host socket that records whatever connects to it (dockerd's, in the attack)."""
    path = data_dir / "decoy.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    server.settimeout(0.2)
    heard: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    heard.append(conn.recv(4096) or b"(connected)")
                except OSError:
                    heard.append(b"(connected)")
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, heard
    stop.set()
    thread.join()
    server.close()


async def test_a_function_cannot_point_the_platform_at_a_host_socket(  # type: ignore[no-untyped-def]
    platform: Platform, deploy, decoy
) -> None:
    decoy_path, heard = decoy
    # Given a function that, from its init on, keeps replacing the platform's sockets
    # in /run/faas with links to a socket on the host
    await deploy("swapper", SWAPPER, env={"DECOY": str(decoy_path)})
    # When it is invoked again and again while it tries
    results = [await platform.invoker.invoke("swapper", b"{}") for _ in range(20)]
    # Then every invoke reached the function itself, which could neither swap a socket
    # nor write anything there, and the host socket never heard from the platform
    assert heard == []
    for result in results:
        assert result.outcome is Outcome.SUCCESS, result
        assert json.loads(result.payload) == []


async def test_a_function_cannot_fill_the_host_disk_through_its_default_mounts(  # type: ignore[no-untyped-def]
    platform: Platform, deploy, settings, data_dir: Path
) -> None:
    # Given a function that writes 300 MB, 1 MB at a time, wherever it is let
    source = """
import os
def handler(event, context):
    wrote = {}
    for where in event["paths"]:
        total = 0
        try:
            with open(os.path.join(where, "fill"), "wb") as out:
                chunk = b"x" * (1 << 20)
                while total < (300 << 20):
                    out.write(chunk)
                    out.flush()
                    total += len(chunk)
        except OSError:
            pass
        finally:
            try:
                os.unlink(os.path.join(where, "fill"))
            except OSError:
                pass
        wrote[where] = total
    return wrote
"""
    await deploy("filler", source, memory_mb=1024, timeout_s=60)
    paths = ["/run/faas", "/var/task", "/run/secrets", "/tmp", "/dev/shm", "/", "/var/tmp"]
    # When it tries each of the places a container gets by default
    result = await platform.invoker.invoke("filler", json.dumps({"paths": paths}).encode())
    assert result.outcome is Outcome.SUCCESS, result
    wrote = json.loads(result.payload)
    # Then the host directory (/run/faas) and the read-only ones took nothing, and the
    # memory-backed ones stopped at their size
    assert wrote["/run/faas"] == 0
    for read_only in ("/var/task", "/run/secrets", "/", "/var/tmp"):
        assert wrote[read_only] == 0, read_only
    assert wrote["/tmp"] <= settings.tmp_size_mb << 20
    assert wrote["/dev/shm"] <= 64 << 20
    # and nothing landed in the server's data directory
    assert bytes_under(data_dir) < 10 << 20


def bytes_under(directory: Path) -> int:
    return sum(
        path.lstat().st_size
        for path in directory.rglob("*")
        if path.is_file() and not path.is_symlink()
    )
