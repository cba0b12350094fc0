"""Progress of long work (`faas deploy`, `faas images build`): what a terminal shows, step
by step, and that anything else (a pipe, a file, `--json`) gets none of it."""

from __future__ import annotations

import io
import logging
import os
import pty
import shutil
import time
from pathlib import Path

import pytest

from faas.cli.client import zip_dir
from faas.cli.progress import (
    Status,
    StepsFromLogs,
    columns_of,
    elapsed_text,
    fit,
    fraction_text,
    live,
    status_line,
    step_name,
)


class Terminal(io.StringIO):
    """What a program writes to a terminal, and what the terminal then shows."""

    def isatty(self) -> bool:
        return True

    def screen(self) -> list[str]:
        """The lines on screen: a carriage return goes back to the line's start, and
        ESC [ K clears the line from there."""
        lines = [""]
        for part in self.getvalue().replace("\x1b[K", "\x00").split("\n"):
            line = ""
            for piece in part.split("\r"):
                line = piece.replace("\x00", "") if piece.startswith("\x00") else line + piece
            lines[-1] = line
            lines.append("")
        return [line for line in lines if line]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def terminal_status(columns: int = 100) -> tuple[Terminal, Clock, Status]:
    term, clock = Terminal(), Clock()
    return term, clock, Status(term, enabled=True, clock=clock, columns=lambda: columns)


def test_a_step_is_one_line_redrawn_in_place_and_leaves_its_time() -> None:
    term, clock, status = terminal_status()
    # Given an upload under way
    status.begin("uploading hello")
    clock.now += 0.5
    status.detail(fraction_text(1024, 4096))
    status.draw()
    # Then the terminal shows one line: spinner, step, how far, how long
    assert term.screen() == ["/ uploading hello: 1.0 KiB / 4.0 KiB (25%) [0.5s]"]
    # When it ends, its line says so, with its time, and the next step starts below
    clock.now += 0.7
    status.detail(fraction_text(4096, 4096))
    status.end(True, "uploaded hello")
    status.begin("updating hello")
    assert term.screen() == [
        "uploaded hello: 4.0 KiB / 4.0 KiB (100%) [1.2s]",
        "| updating hello [0.0s]",
    ]


def test_a_step_that_fails_leaves_nothing_for_the_error_to_follow() -> None:
    term, _, status = terminal_status()
    with pytest.raises(OSError), status.step("zipping ./big"):
        status.draw()
        raise OSError("disk gone")
    assert term.screen() == []
    print("faas: cannot read ./big", file=term)
    assert term.screen() == ["faas: cannot read ./big"]


def test_a_warning_is_a_line_of_its_own_above_the_progress() -> None:
    term, clock, status = terminal_status()
    status.begin("building runtime image faas-runtime:python3.11")
    clock.now += 3
    status.note("warning: the runtime image is built without the AWS SDK")
    assert term.screen() == [
        "warning: the runtime image is built without the AWS SDK",
        "/ building runtime image faas-runtime:python3.11 [3.0s]",
    ]


@pytest.mark.parametrize(
    ("stream", "quiet", "term", "drawn"),
    [
        (Terminal(), False, "xterm-256color", True),
        (Terminal(), True, "xterm-256color", False),  # --json
        (Terminal(), False, "dumb", False),  # a terminal that cannot move its cursor
        (io.StringIO(), False, "xterm-256color", False),  # a pipe or a file
    ],
)
def test_progress_is_drawn_only_on_a_terminal_and_never_with_json(
    monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, quiet: bool, term: str, drawn: bool
) -> None:
    monkeypatch.setenv("TERM", term)
    assert live(stream, quiet=quiet) is drawn
    status = Status.on(stream, quiet=quiet)
    with status, status.step("zipping ./hello", done="zipped ./hello"):
        status.detail(fraction_text(10, 10))
        status.note("warning: something")
    assert bool(stream.getvalue()) is drawn


def test_a_terminal_of_no_known_width_is_taken_as_columns_or_80(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leader, follower = pty.openpty()  # a new pseudo-terminal says it is 0 columns wide
    try:
        with open(follower, "w", closefd=False) as stream:
            monkeypatch.delenv("COLUMNS", raising=False)
            assert columns_of(stream) == shutil.get_terminal_size().columns > 0
            monkeypatch.setenv("COLUMNS", "132")
            assert columns_of(stream) == 132
            assert columns_of(io.StringIO()) == 132
    finally:
        os.close(follower)
        os.close(leader)


def test_a_closed_stream_is_no_terminal() -> None:
    stream = io.StringIO()
    stream.close()
    assert live(stream) is False


def test_a_step_that_blocks_still_shows_its_time_moving() -> None:
    # Given a step that says nothing for a while (debootstrap), on a real clock
    term = Terminal()
    status = Status(term, enabled=True, columns=lambda: 80)
    with status:
        status.begin("making faas-base:bookworm with debootstrap")
        deadline = time.monotonic() + 10
        while term.getvalue().count("\r") < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        # Then the ticker has redrawn it, turning the spinner
        drawn = term.getvalue().count("\r")
    assert drawn >= 4
    assert term.screen()[-1].startswith("making faas-base:bookworm with debootstrap [")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.04, "0.0s"),
        (0.45, "0.5s"),
        (12.34, "12.3s"),
        (59.9, "59.9s"),
        (64, "1m04s"),
        (3660, "61m00s"),
    ],
)
def test_elapsed_time_reads_short(seconds: float, text: str) -> None:
    assert elapsed_text(seconds) == text


@pytest.mark.parametrize(
    ("done", "total", "text"),
    [
        (0, 2048, "0 B / 2.0 KiB (0%)"),
        (512, 2048, "512 B / 2.0 KiB (25%)"),
        (5 * 1024 * 1024, 20 * 1024 * 1024, "5.0 MiB / 20.0 MiB (25%)"),
        (0, 0, "0 B / 0 B (100%)"),
    ],
)
def test_how_far_reads_as_bytes_and_percent(done: int, total: int, text: str) -> None:
    assert fraction_text(done, total) == text


@pytest.mark.parametrize("columns", [20, 40, 80, 200])
def test_a_status_line_never_wraps_and_keeps_its_time(columns: int) -> None:
    name = "building runtime image faas-runtime:python3.11-" + "0123456789abcdef" * 4
    line = status_line(0, name, "", 12.3, columns)
    assert len(line) < max(columns, 12 + len("| [12.3s]"))
    assert line.endswith("[12.3s]") and line.startswith("| bui")


def test_a_long_line_is_cut_in_the_middle_so_how_far_stays() -> None:
    assert fit("| zipping ./a", 80) == "| zipping ./a"
    cut = fit("| uploading a-function-with-a-rather-long-name: 1.0 KiB / 4.0 KiB (25%)", 40)
    assert cut == "| uploading a-function-w...4.0 KiB (25%)" and len(cut) <= 40


@pytest.mark.parametrize(
    ("message", "step"),
    [
        (
            "building runtime image faas-runtime:py-3f2a ({'BASE_IMAGE': 'python:3.11-slim'})",
            "building runtime image faas-runtime:py-3f2a",
        ),
        (
            "python:3.11-slim cannot be pulled; making faas-base:bookworm with debootstrap",
            "python:3.11-slim cannot be pulled; making faas-base:bookworm with debootstrap",
        ),
        ("(odd)", "(odd)"),
    ],
)
def test_a_log_message_names_a_step_without_its_details(message: str, step: str) -> None:
    assert step_name(message) == step


def test_the_platforms_log_lines_become_steps_and_notes() -> None:
    term, clock, status = terminal_status()
    logger = logging.getLogger("faas.test_progress")
    logger.propagate, logger.handlers[:] = False, [StepsFromLogs(status)]
    logger.setLevel(logging.INFO)
    try:
        logger.info("making %s with debootstrap", "faas-base:bookworm")
        clock.now += 58
        logger.warning("the runtime image is built without the AWS SDK: %s", "no network")
        logger.info("building runtime image %s (%s)", "faas-runtime:py-3f2a", {"A": "b"})
        clock.now += 20
        status.end(True)
    finally:
        logger.handlers[:] = []
    # Another library's INFO chatter is not a step of ours
    other = logging.getLogger("urllib3.test_progress")
    other.propagate, other.handlers[:] = False, [StepsFromLogs(status)]
    other.setLevel(logging.INFO)
    other.info("Starting new HTTP connection")
    other.handlers[:] = []
    assert term.screen() == [
        "warning: the runtime image is built without the AWS SDK: no network",
        "making faas-base:bookworm with debootstrap [58.0s]",
        "building runtime image faas-runtime:py-3f2a [20.0s]",
    ]


def test_zipping_reports_bytes_until_all_are_in(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_bytes(b"a" * 3000)
    (tmp_path / "b.bin").write_bytes(b"b" * 5000)
    seen: list[tuple[int, int]] = []
    zip_dir(tmp_path, lambda done, total: seen.append((done, total)))
    assert seen == [(3000, 8000), (8000, 8000)]
