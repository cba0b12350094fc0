"""A new user's first minutes: `faas init`, `faas deploy`, `faas invoke` with the test
event init wrote, and with a sample event of another kind (`--template`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faas.cli import templates
from faas.invoke import samples
from tests.e2e.test_cli_story import faas
from tests.helpers import Server


@pytest.mark.parametrize("runtime", templates.RUNTIMES)
def test_init_deploy_and_invoke_with_its_test_event(
    server: Server, tmp_path: Path, runtime: str
) -> None:
    # Given a function folder made by faas init from the SQS template
    folder = tmp_path / "orders"
    made = faas(
        None, "init", "orders", "--runtime", runtime, "--template", "sqs", "--dir", str(folder)
    )
    assert made.returncode == 0, made.stderr
    # When it is deployed as init said, and invoked with its test event
    deploy_line, invoke_line = (line.split() for line in made.stdout.splitlines()[1:3])
    deployed = faas(server, *deploy_line[1:])
    assert deployed.returncode == 0, deployed.stderr
    ran = faas(server, *invoke_line[1:])
    # Then the handler answered its batch as an SQS mapping expects
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == {"batchItemFailures": []}
    # And a sample event of another kind is sent with --template
    plain = faas(server, "invoke", "orders", "--template", "sqs", "--json")
    assert plain.returncode == 0, plain.stderr


def test_a_template_event_reaches_the_handler_as_lambda_delivers_it(
    server: Server, tmp_path: Path
) -> None:
    folder = tmp_path / "echo"
    assert faas(None, "init", "echo", "--dir", str(folder)).returncode == 0
    deploy = ("deploy", str(folder), "--name", "echo", "--runtime", "python3.11")
    deployed = faas(server, *deploy, "--handler", "app.handler")
    assert deployed.returncode == 0, deployed.stderr
    ran = faas(server, "invoke", "echo", "--template", "schedule")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["received"] == samples.event("schedule")
    # An event file that is not there is a usage error, named
    missing = faas(server, "invoke", "echo", "--event-file", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "nope.json" in missing.stderr
