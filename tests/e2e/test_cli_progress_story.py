"""Progress of long work as a user sees it: on a terminal `faas deploy` and `faas images
build` draw their steps on stderr; piped, or with `--json`, they print none of it and
stdout is what it always was."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import httpx

from tests.e2e.test_cli_story import deploy, faas
from tests.helpers import ROOT, Server


def on_terminal(server: Server | None, *args: str) -> tuple[int, str, list[str]]:
    """`faas ARGS...` with stderr on a 200-column terminal and stdout piped, as
    in `faas deploy ... > out.json`: the exit code, stdout, and the lines left on screen."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAAS_")}
    env["TERM"] = "xterm"
    if server is not None:
        env["FAAS_URL"] = server.url
    leader, follower = pty.openpty()
    # A terminal 200 columns wide (a new one says 0: progress then assumes 80)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    shown = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the other end closed
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "faas.cli.main", *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    return done.returncode, done.stdout, screen(shown.decode())


def screen(raw: str) -> list[str]:
    """What stays on screen: each line as its last redraw left it."""
    lines = (line.rstrip("\r").split("\r")[-1].replace("\x1b[K", "") for line in raw.split("\n"))
    return [line for line in lines if line]


def big_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "app.py").write_text("def handler(event, context):\n    return {'ok': True}\n")
    # 6 MiB that do not compress: about a hundred chunks to upload
    (root / "model.bin").write_bytes(os.urandom(6 * 1024 * 1024))
    return root


def test_deploy_shows_progress_on_a_terminal_and_none_when_piped(
    server: Server, api: httpx.Client, tmp_path: Path
) -> None:
    code = big_folder(tmp_path / "big")
    # Given a large folder deployed from a script (stdout and stderr piped)
    piped = deploy(server, code, "big")
    # Then stdout is the one summary line, and stderr has nothing at all
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.startswith("created big: python3.11 app.handler"), piped.stdout
    assert piped.stderr == ""
    # When it is deployed again from a terminal
    deploy_args = ("deploy", str(code), "--name", "big", "--runtime", "python3.11")
    status, out, shown = on_terminal(server, *deploy_args, "--handler", "app.handler")
    # Then the terminal is left with each step, how much and how long it took
    assert status == 0, shown
    assert [line.split(":")[0] for line in shown] == [f"zipped {code}", "uploaded big"], shown
    assert all(line.endswith("s]") for line in shown), shown
    assert "6.0 MiB / 6.0 MiB (100%)" in shown[0]
    assert "(100%)" in shown[1]
    # And stdout is the same summary line a script reads
    assert out.startswith("updated big: python3.11 app.handler"), out
    # With --json, a terminal shows no progress and stdout is the function as the server has it
    status, out, shown = on_terminal(server, *deploy_args, "--handler", "app.handler", "--json")
    assert status == 0 and shown == []
    assert json.loads(out) == api.get("/v1/functions/big").json()
    piped_json = deploy(server, code, "big", "--json")
    assert piped_json.returncode == 0 and piped_json.stderr == ""
    assert json.loads(piped_json.stdout) == api.get("/v1/functions/big").json()


def test_images_build_draws_its_steps_on_a_terminal_and_json_stays_plain() -> None:
    # Given the runtime images a server needs
    piped = faas(None, "images", "build", "--runtime", "python3.11", "--json")
    # Then --json prints {runtime: image} and nothing else
    assert piped.returncode == 0, piped.stderr
    images = json.loads(piped.stdout)
    assert set(images) == {"python3.11"} and images["python3.11"].startswith("faas-runtime")
    # When a user builds them from a terminal
    status, out, shown = on_terminal(None, "images", "build", "--runtime", "python3.11")
    # Then stdout lists them as it always has, and each step left its time on the terminal
    assert status == 0, shown
    assert out == f"python3.11\t{images['python3.11']}\n"
    assert shown and all(line.endswith("s]") for line in shown), shown
    assert not any(line.startswith("{") for line in shown), shown  # no JSON log lines
