"""`faas init` and the event templates: what is written, and that each Python template
answers its own test event as a Lambda handler of that kind would."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from faas.cli import templates
from faas.cli.main import main
from faas.invoke import samples


class Context:
    aws_request_id = "0f0e0d0c-1111-2222-3333-444455556666"


def load_handler(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"made_{path.parent.name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


@pytest.mark.parametrize("runtime", templates.RUNTIMES)
@pytest.mark.parametrize("template", tuple(templates.TEMPLATES))
def test_init_writes_a_handler_and_its_test_event(
    tmp_path: Path, runtime: str, template: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "fn"
    code = main(
        ["init", "orders", "--runtime", runtime, "--template", template, "--dir", str(folder)]
    )
    assert code == 0
    handler_file = "app.py" if runtime.startswith("python") else "index.mjs"
    written = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert written == {"events/event.json", handler_file}
    event = json.loads((folder / "events" / "event.json").read_text())
    assert event == samples.event(templates.TEMPLATES[template])
    printed = capsys.readouterr().out
    assert f"--runtime {runtime} --handler {templates.handler_of(runtime)}" in printed
    assert f"--event-file {folder}/events/event.json" in printed


@pytest.mark.parametrize(
    ("template", "answer"),
    [
        ("http", lambda r: r["statusCode"] == 200 and json.loads(r["body"]) == {"hello": "world"}),
        ("sqs", lambda r: r == {"batchItemFailures": []}),
        ("schedule", lambda r: r == {"ticked": "2026-01-01T00:00:00Z"}),
        ("plain", lambda r: r["received"] == samples.event("custom")),
    ],
)
def test_each_python_template_answers_its_own_test_event(
    tmp_path: Path, template: str, answer: Any
) -> None:
    folder = tmp_path / template
    assert main(["init", "fn", "--template", template, "--dir", str(folder)]) == 0
    handler = load_handler(folder / "app.py")
    event = json.loads((folder / "events" / "event.json").read_text())
    assert answer(handler(event, Context()))


def test_init_never_writes_over_a_folder_with_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mine.py").write_text("keep me")
    assert main(["init", "fn", "--dir", str(tmp_path)]) == 2
    assert (tmp_path / "mine.py").read_text() == "keep me"
    assert "not empty" in capsys.readouterr().err


NODE_ANSWERS = {
    "http": lambda r: r["statusCode"] == 200 and json.loads(r["body"]) == {"hello": "world"},
    "sqs": lambda r: r == {"batchItemFailures": []},
    "schedule": lambda r: r == {"ticked": "2026-01-01T00:00:00Z"},
    "plain": lambda r: r["received"] == samples.event("custom") and r["request_id"],
}


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on this host")
@pytest.mark.parametrize("template", tuple(templates.TEMPLATES))
def test_each_node_template_answers_its_own_test_event(tmp_path: Path, template: str) -> None:
    folder = tmp_path / template
    assert (
        main(
            ["init", "fn", "--runtime", "nodejs20.x", "--template", template, "--dir", str(folder)]
        )
        == 0
    )
    script = (
        "const { handler } = await import(process.argv[1]);"
        "const { readFileSync } = await import('node:fs');"
        "const event = JSON.parse(readFileSync(process.argv[2], 'utf8'));"
        "console.log(JSON.stringify(await handler(event, { awsRequestId: 'r-1' })));"
    )
    ran = subprocess.run(
        [
            "node",
            "--input-type=module",
            "-e",
            script,
            str(folder / "index.mjs"),
            str(folder / "events" / "event.json"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert NODE_ANSWERS[template](json.loads(ran.stdout.splitlines()[-1]))
