"""The `faas` client's own logic: how it packs a folder, reads its input, prints, and exits."""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from faas.auth import access_key_id_of
from faas.cli.client import ApiError, zip_dir
from faas.cli.commands import UsageError, exit_code, read_code, read_event, read_json
from faas.cli.exits import EXIT_REFUSED, EXIT_SERVER
from faas.cli.main import env_pair, main
from faas.cli.render import (
    dead_letters_table,
    function_error_text,
    functions_table,
    human_bytes,
    key_values,
    log_entry_text,
    table,
)


def project(root: Path) -> Path:
    """A function's folder as a user leaves it: code, a script, caches from a local run."""
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "util.py").write_text("X = 1\n")
    (root / "pkg" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"\x00cache")
    (root / "pkg" / "__pycache__" / "lockfile").write_text("a tool's leftover")
    (root / "stale.pyc").write_bytes(b"\x00old")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / "app.py").chmod(0o644)
    return root


def entries(data: bytes) -> dict[str, tuple[int, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {i.filename: (i.external_attr >> 16, archive.read(i)) for i in archive.infolist()}


# Zipping a folder


def test_a_folder_is_zipped_with_its_files_in_path_order_and_no_caches(tmp_path: Path) -> None:
    data = zip_dir(project(tmp_path))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
    assert names == ["app.py", "pkg/__init__.py", "pkg/util.py", "run.sh"]
    assert entries(data)["pkg/util.py"][1] == b"X = 1\n"


def test_file_modes_are_kept_so_scripts_stay_executable(tmp_path: Path) -> None:
    found = entries(zip_dir(project(tmp_path)))
    assert found["run.sh"][0] == stat.S_IFREG | 0o755
    assert found["app.py"][0] == stat.S_IFREG | 0o644


def test_the_same_files_always_give_the_same_bytes(tmp_path: Path) -> None:
    first = zip_dir(project(tmp_path / "a"))
    # Same content made later, in another order: the zip must not change
    other = tmp_path / "b"
    other.mkdir()
    (other / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (other / "run.sh").chmod(0o755)
    (other / "pkg").mkdir()
    (other / "pkg" / "util.py").write_text("X = 1\n")
    (other / "pkg" / "__init__.py").write_text("")
    (other / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (other / "app.py").chmod(0o644)
    assert zip_dir(other) == first
    # And a changed file changes it
    (other / "pkg" / "util.py").write_text("X = 2\n")
    assert zip_dir(other) != first


def test_deploy_takes_a_folder_or_a_zip_and_nothing_else(tmp_path: Path) -> None:
    folder = project(tmp_path / "fn")
    assert read_code(folder) == zip_dir(folder)
    ready = tmp_path / "fn.zip"
    ready.write_bytes(zip_dir(folder))
    assert read_code(ready) == ready.read_bytes()
    (tmp_path / "notes.txt").write_text("not a zip")
    with pytest.raises(UsageError, match="neither a folder nor a zip"):
        read_code(tmp_path / "notes.txt")
    with pytest.raises(UsageError, match="cannot read"):
        read_code(tmp_path / "missing")


# Reading input


@pytest.mark.parametrize(
    ("given", "pair"),
    [
        ("A=1", ("A", "1")),
        ("URL=http://x/?a=b", ("URL", "http://x/?a=b")),
        ("EMPTY=", ("EMPTY", "")),
    ],
)
def test_env_pairs_split_at_the_first_equals_sign(given: str, pair: tuple[str, str]) -> None:
    assert env_pair(given) == pair


@pytest.mark.parametrize("given", ["A", "=1", ""])
def test_an_env_pair_without_a_key_is_a_usage_error(given: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="K=V"):
        env_pair(given)


def test_env_flags_reach_the_command_as_pairs_and_a_bad_one_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["deploy", "x", "--name", "n", "--runtime", "r", "--handler", "h", "--env", "NOPE"])
    assert exited.value.code == 2
    assert "expected K=V" in capsys.readouterr().err


def test_the_event_is_given_inline_from_a_file_or_from_stdin(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"from": "file"}')
    assert read_event(None) == b"{}"
    assert read_event('{"a": 1}') == b'{"a": 1}'
    assert read_event(f"@{event}") == b'{"from": "file"}'
    assert read_event("@-", io.BytesIO(b"[1, 2]")) == b"[1, 2]"


def test_an_event_that_is_not_json_or_not_there_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(UsageError, match="not valid JSON"):
        read_event("{oops")
    with pytest.raises(UsageError, match="not valid JSON"):
        read_event(f"@{tmp_path / 'bad.json'}")
    with pytest.raises(UsageError, match="cannot read"):
        read_event(f"@{tmp_path / 'missing.json'}")
    with pytest.raises(UsageError, match="not valid JSON"):
        read_json(str(tmp_path / "bad.json"))


# Printing


def test_tables_pad_each_column_to_its_widest_cell() -> None:
    text = table(["NAME", "MEMORY"], [["hello", "128 MB"], ["a-long-name", "1024 MB"]])
    assert text.splitlines() == [
        "NAME         MEMORY",
        "hello        128 MB",
        "a-long-name  1024 MB",
    ]


def test_the_function_list_shows_what_a_user_checks_at_a_glance() -> None:
    fn = {
        "name": "hello",
        "runtime": "python3.11",
        "handler": "app.handler",
        "memory_mb": 256,
        "timeout_s": 10,
        "code_size": 2048,
        "updated_at": "2024-01-01T00:00:00Z",
    }
    assert functions_table([fn]).splitlines() == [
        "NAME   RUNTIME     HANDLER      MEMORY  TIMEOUT  CODE     UPDATED",
        "hello  python3.11  app.handler  256 MB  10 s     2.0 KiB  2024-01-01T00:00:00Z",
    ]
    assert functions_table([]) == "no functions"


def test_info_is_aligned_key_value_lines() -> None:
    text = key_values({"name": "hello", "env": {"A": "1"}, "concurrency": None, "network": True})
    assert text.splitlines() == [
        "name:        hello",
        'env:         {"A": "1"}',
        "concurrency: -",
        "network:     true",
    ]


def test_dead_letters_show_the_error_and_say_when_more_exist() -> None:
    letter = {
        "requestId": "r-1",
        "attempts": 3,
        "errorType": "ValueError",
        "errorMessage": "asked\nto fail",
        "deadLetteredAt": "2024-01-01T00:00:00Z",
    }
    text = dead_letters_table({"total": 5, "items": [letter]})
    header, row, more = text.splitlines()
    assert header.split()[:3] == ["REQUEST", "ID", "ATTEMPTS"]
    assert row.split() == ["r-1", "3", "ValueError", "asked", "to", "fail", "2024-01-01T00:00:00Z"]
    assert more == "(1 of 5 shown)"
    assert dead_letters_table({"total": 0, "items": []}) == "no dead letters"


def test_a_log_entry_is_a_heading_then_its_log_indented() -> None:
    entry = {
        "requestId": "r-1",
        "kind": "sync",
        "outcome": "success",
        "start": "2024-01-01T00:00:00.000Z",
        "durationMs": 12.345,
        "log": "line one\nline two\n",
    }
    assert log_entry_text(entry).splitlines() == [
        "2024-01-01T00:00:00.000Z  r-1  sync  success  12.3 ms",
        "  line one",
        "  line two",
    ]


def test_a_function_error_reads_as_type_and_message() -> None:
    body = json.dumps({"errorType": "KeyError", "errorMessage": "'nope'", "stackTrace": []})
    assert function_error_text(body) == "KeyError: 'nope'"
    assert function_error_text("not json") == "not json"


def test_sizes_read_in_binary_units() -> None:
    assert human_bytes(512) == "512 B" and human_bytes(3 * 1024 * 1024) == "3.0 MiB"


# Exit codes


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, EXIT_REFUSED),
        (401, EXIT_REFUSED),
        (404, EXIT_REFUSED),
        (422, EXIT_REFUSED),
        (429, EXIT_REFUSED),
        (500, EXIT_SERVER),
        (502, EXIT_SERVER),
        (503, EXIT_SERVER),
        (0, EXIT_SERVER),  # never reached the server
    ],
)
def test_refusals_exit_3_and_failures_exit_4(status: int, code: int) -> None:
    assert exit_code(ApiError(status, "Error", "message")) == code


def test_a_url_that_is_not_http_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "--url", "127.0.0.1:8080"]) == 2
    assert "http://" in capsys.readouterr().err


# `faas keys show --aws`: the admin key as AWS credentials


def test_keys_show_aws_prints_credentials_a_shell_can_eval(tmp_path: Path) -> None:
    admin = "admin-key-0123456789abcdef"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAAS_", "AWS_"))}
    env.update(FAAS_ADMIN_KEY=admin, FAAS_REGION="eu-west-9")
    show = shlex.join([sys.executable, "-m", "faas.cli.main", "keys", "show", "--aws"])
    read = shlex.join([sys.executable, "-c", SHOW_AWS_ENV])

    # Given only FAAS_ADMIN_KEY (no keys file), when a shell evals the output
    done = subprocess.run(
        ["bash", "-c", f'eval "$({show})" && {read}'],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # Then the programs it starts (boto3, aws) see the admin key's credentials
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "AWS_ACCESS_KEY_ID": access_key_id_of(admin),
        "AWS_SECRET_ACCESS_KEY": admin,
        "AWS_DEFAULT_REGION": "eu-west-9",
    }


SHOW_AWS_ENV = (
    "import json, os; print(json.dumps({k: os.environ.get(k) for k in "
    "('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_DEFAULT_REGION')}))"
)


def test_keys_show_reads_the_keys_file_before_faas_admin_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(
        json.dumps(
            {"admin": [{"key": "file-admin-0123456789", "access_key_id": "AKIAOPS0000000000001"}]}
        )
    )
    for name in [k for k in os.environ if k.startswith("FAAS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FAAS_ADMIN_KEY", "env-admin-0123456789")

    assert main(["keys", "show", "--file", str(keys_file)]) == 0
    assert capsys.readouterr().out == "file-admin-0123456789\n"
    assert main(["keys", "show", "--aws", "--file", str(keys_file)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "export AWS_ACCESS_KEY_ID=AKIAOPS0000000000001",
        "export AWS_SECRET_ACCESS_KEY=file-admin-0123456789",
        "export AWS_DEFAULT_REGION=local-1",
    ]
    assert main(["keys", "show"]) == 0  # no file: FAAS_ADMIN_KEY
    assert capsys.readouterr().out == "env-admin-0123456789\n"


def test_keys_show_without_any_key_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [k for k in os.environ if k.startswith("FAAS_")]:
        monkeypatch.delenv(name)

    assert main(["keys", "show", "--aws"]) == 2
    assert "FAAS_ADMIN_KEY" in capsys.readouterr().err
