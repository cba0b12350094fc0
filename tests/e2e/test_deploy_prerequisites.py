"""A host with Docker but no Compose: the deploy scripts say so at once."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", ["up", "backup", "restore"])
def test_deploy_without_compose_says_how_to_install_it(script: str, tmp_path: Path) -> None:
    # Given a host whose PATH has the Docker CLI (without its compose plugin) and a
    # shell, but neither `docker compose` nor `docker-compose`
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "env"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    (bin_dir / "docker").symlink_to("/usr/bin/docker")
    assert (
        subprocess.run(
            [str(bin_dir / "docker"), "compose", "version"], capture_output=True
        ).returncode
        != 0
    ), "this Docker CLI has a compose plugin: the story cannot be told here"
    # When the operator runs the script
    started = time.monotonic()
    done = subprocess.run(
        [str(ROOT / "deploy" / script)],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then it stops at once, before any work, and says how to get Compose
    assert done.returncode == 1
    assert time.monotonic() - started < 5
    assert "neither 'docker compose' nor 'docker-compose'" in done.stderr
    assert "apt-get install docker-compose" in done.stderr
