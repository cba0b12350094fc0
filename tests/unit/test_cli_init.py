"""`faas init` and the event templates: what is written, and that each Python template
answers its own test event as a Lambda handler of that kind would."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from faas.cli import templates
from faas.cli.main import main


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
    assert event == templates.event(templates.TEMPLATES[template])
    printed = capsys.readouterr().out
    assert f"--runtime {runtime} --handler {templates.handler_of(runtime)}" in printed
    assert f"--event-file {folder}/events/event.json" in printed


@pytest.mark.parametrize(
    ("template", "answer"),
    [
        ("http", lambda r: r["statusCode"] == 200 and json.loads(r["body"]) == {"hello": "world"}),
        ("sqs", lambda r: r == {"batchItemFailures": []}),
        ("schedule", lambda r: r == {"ticked": "2026-01-01T00:00:00Z"}),
        ("plain", lambda r: r["received"] == {"key1": "value1", "key2": "value2"}),
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


@pytest.mark.parametrize("kind", templates.EVENTS)
def test_every_event_template_is_json_of_its_kind(kind: str) -> None:
    made = json.loads(json.dumps(templates.event(kind)))
    marks = {
        "apigw-v2": lambda e: e["version"] == "2.0" and "http" in e["requestContext"],
        "apigw-v1": lambda e: e["httpMethod"] == "GET",
        "sqs": lambda e: e["Records"][0]["eventSource"] == "aws:sqs",
        "sns": lambda e: e["Records"][0]["EventSource"] == "aws:sns",
        "schedule": lambda e: e["source"] == "aws.events",
        "custom": lambda e: isinstance(e, dict),
    }
    assert marks[kind](made)


def test_an_unknown_event_template_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="kinesis"):
        templates.event("kinesis")
