"""The Lambda API's documentation as a reader runs it: docs/lambda-api.md's quickstarts
(boto3 and the AWS CLI) and the README tour's boto3 paragraph, copied out of the
Markdown and run unchanged against ``faas serve``, but for the server's address.

A reader's shell: credentials from ``eval "$(faas keys show --aws)"``, no AWS
configuration of their own, and the project's virtualenv first on ``PATH``
(``faas``, ``aws`` and ``python`` with boto3).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import Server, handler_zip, upload

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "lambda-api.md"
README = ROOT / "README.md"
ADMIN = "admin-key-of-the-lambda-docs-story"
DOCUMENTED = "http://127.0.0.1:8080"

# What the quickstart asks of `zip` (-q, -r, an archive and its paths), for a host
# without it: the stories test the documentation, not the host's tools.
ZIP_SHIM = """
import os, sys, zipfile
out, *paths = [a for a in sys.argv[1:] if not a.startswith("-")]
with zipfile.ZipFile(out, "w") as archive:
    for path in paths:
        for root, _, files in os.walk(path) if os.path.isdir(path) else [("", [], [path])]:
            for name in files:
                archive.write(os.path.join(root, name))
"""


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    return {**server_env, "FAAS_ADMIN_KEY": ADMIN}


def code_block(path: Path, starting: str, lang: str = "sh") -> str:
    """The one fenced ``lang`` block of ``path`` whose text starts with ``starting``."""
    blocks = re.findall(r"^```(\w+)\n(.*?)^```", path.read_text(), re.S | re.M)
    found: list[str] = [body for kind, body in blocks if kind == lang and body.startswith(starting)]
    assert len(found) == 1, f"{path.name}: {len(found)} {lang} blocks start with {starting!r}"
    return found[0]


@pytest.fixture
def shell(tmp_path: Path) -> dict[str, str]:
    """A reader's environment: the server's admin key, the virtualenv first on PATH."""
    bin_dirs = [str(Path(sys.executable).parent)]
    if shutil.which("zip") is None:
        shim = tmp_path / "bin" / "zip"
        shim.parent.mkdir()
        shim.write_text(f"#!{sys.executable}\n{ZIP_SHIM}")
        shim.chmod(0o755)
        bin_dirs.append(str(shim.parent))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "FAAS_", "BOTO_", "PYTHONPATH"))
    }
    return {
        **env,
        "PATH": os.pathsep.join([*bin_dirs, env.get("PATH", "")]),
        "FAAS_ADMIN_KEY": ADMIN,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def run(script: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done.stdout


def test_the_boto3_quickstart_runs_as_written(
    server: Server, shell: dict[str, str], tmp_path: Path
) -> None:
    # Given the credentials and the zips, as the quickstart makes them
    setup = code_block(DOCS, 'eval "$(faas keys show --aws)"') + code_block(
        DOCS, "mkdir -p quickstart"
    )
    # When its Python runs, then the snippet catching an error
    python = code_block(DOCS, "import collections", "python") + code_block(DOCS, "try:", "python")
    (tmp_path / "quickstart.py").write_text(python.replace(DOCUMENTED, server.url))
    out = run(setup + f'"{sys.executable}" ../quickstart.py\n', shell, tmp_path)
    # Then it prints what the quickstart says it prints
    lines = out.splitlines()
    assert lines[0] == "200 {'greeting': 'hello boto3', 'version': '$LATEST'}"
    # about 10% of 200 calls through the alias ran version 2 (mean 20, sd 4.2)
    counted = dict(re.findall(r"'(\d)': (\d+)", lines[1]))
    assert set(counted) == {"1", "2"}, lines[1]
    assert 5 <= int(counted["2"]) <= 45, lines[1]
    assert lines[2] == "{'greeting': 'HELLO LAYERS!', 'version': '2'}"
    assert lines[3] == "Function not found: arn:aws:lambda:local-1:000000000000:function:nope"


def test_the_aws_cli_quickstart_runs_as_written(
    server: Server, api: httpx.Client, shell: dict[str, str], tmp_path: Path
) -> None:
    setup = code_block(DOCS, 'eval "$(faas keys show --aws)"') + code_block(
        DOCS, "mkdir -p quickstart"
    )
    cli = code_block(DOCS, "EP=").replace(DOCUMENTED, server.url)
    out = run(setup + cli, shell, tmp_path)
    # The invoke wrote the function's answer, the log's tail was decoded, two
    # versions were published, and the alias ran one of them
    assert (tmp_path / "quickstart" / "out.json").exists()
    assert "START RequestId:" in out and "REPORT RequestId:" in out
    assert '"Version": "2"' in out
    assert re.search(r'"ExecutedVersion": "[12]"', out.rsplit('"AliasArn"', 1)[1])
    # And the last command deleted the function
    assert api.get("/v1/functions/hello-cli").status_code == 404


def test_the_readme_tours_boto3_paragraph_invokes_hello(
    server: Server, api: httpx.Client, shell: dict[str, str], tmp_path: Path
) -> None:
    # Given the tour's hello, uploaded through /v1
    hello = "def handler(event, context):\n    return {'greeting': f\"hello {event['name']}\"}\n"
    assert upload(api, "hello", handler_zip(hello)).status_code == 201
    # When the README's boto3 paragraph runs (a server run by hand: no compose)
    paragraph = code_block(README, 'eval "$(docker compose exec -T gateway faas keys show --aws)"')
    script = paragraph.replace("docker compose exec -T gateway faas", "faas").replace(
        "http://localhost:8080", server.url
    )
    out = run(script.replace("python3 -", f'"{sys.executable}" -'), shell, tmp_path)
    # Then hello answered through the Lambda API
    assert out == "$LATEST {'greeting': 'hello boto3'}\n"
