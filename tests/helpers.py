"""Small helpers the stories share: zips of handler code, bad-upload table rows, a server."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from faas.bundle import BundleLimits
from faas.errors import FaasError
from tests.zips import make_zip

ROOT = Path(__file__).resolve().parent.parent


def handler_zip(source: str, module: str = "app") -> bytes:
    return make_zip({f"{module}.py": source})


def bad_upload_rows(default_limits: BundleLimits) -> Callable[..., object]:
    """The row maker of a table of bad uploads, whose limits are ``default_limits`` unless given."""

    def row(
        story: str,
        upload: Callable[[], bytes],
        error: type[FaasError],
        words: str,
        limits: BundleLimits = default_limits,
    ) -> object:
        """One row: the upload, the limits, the error the user gets and words of its message."""
        return pytest.param(upload, limits, error, words, id=story)

    return row


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``faas serve`` as a user runs it, in its own process."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.port = int(env["FAAS_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faas.cli", "serve", "--log-level", "warning"],
            env={**os.environ, **self.env},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not come up: {self.log_path.read_text()[-2000:]}")

    def stop(self, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


async def eventually(check: Callable[[], bool], within_s: float = 10.0) -> bool:
    """Poll ``check`` until it holds or ``within_s`` passes; return its last value."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True
