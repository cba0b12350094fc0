"""Progress of long work on a terminal: one line on stderr, redrawn in place.

The line shows a spinner, the step's name, what it has done so far (bytes, say)
and how long it has taken; a finished step leaves one line with its time, so a
terminal ends with a short record of what took how long. Where stderr is not a
terminal (a pipe, a file, CI), or the command was given ``--json``, ``Status``
draws nothing at all: scripts read stdout and the exit code, and logs stay
clean of carriage returns.

A step may block for a minute (``debootstrap``) without telling anyone how far
it is: a ticker thread redraws the line every ``TICK_S`` so the time and the
spinner still move. ``StepsFromLogs`` turns the platform's own log lines into
steps (``faas images build``), so the code that builds images needs to know
nothing about terminals.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TextIO

from faas.cli.render import human_bytes

# ASCII, so a terminal in any encoding shows it.
FRAMES = "|/-\\"
TICK_S = 0.1
CLEAR = "\r\x1b[K"


def elapsed_text(seconds: float) -> str:
    """``0.4s``, ``12.3s``, then whole seconds: ``1m04s``, ``61m00s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    return f"{whole // 60}m{whole % 60:02d}s"


def fraction_text(done: int, total: int) -> str:
    """``1.2 MiB / 4.0 MiB (30%)``."""
    percent = 100 if total <= 0 else min(100, done * 100 // total)
    return f"{human_bytes(done)} / {human_bytes(total)} ({percent}%)"


def status_line(frame: int, name: str, detail: str, seconds: float, columns: int) -> str:
    """The line drawn while a step runs, cut to fit ``columns``."""
    spinner = FRAMES[frame % len(FRAMES)]
    return _timed(f"{spinner} {_named(name, detail)}", seconds, columns)


def done_line(name: str, detail: str, seconds: float, columns: int) -> str:
    """The line a finished step leaves."""
    return _timed(_named(name, detail), seconds, columns)


def _timed(text: str, seconds: float, columns: int) -> str:
    # Fewer than ``columns`` characters: a full line wraps on some terminals, and a
    # wrapped line cannot be redrawn in place. The time always shows.
    suffix = f" [{elapsed_text(seconds)}]"
    return fit(text, columns - 1 - len(suffix)) + suffix


def fit(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters (at least 12), cut in the middle so that
    both its start (the step) and its end (how far) stay."""
    width = max(width, 12)
    if len(text) <= width:
        return text
    tail = width // 3
    return text[: width - tail - 3] + "..." + text[len(text) - tail :]


def _named(name: str, detail: str) -> str:
    return f"{name}: {detail}" if detail else name


def live(stream: TextIO, *, quiet: bool = False) -> bool:
    """Whether progress is drawn on ``stream``: a terminal that can move its cursor, and
    no ``--json``."""
    if quiet or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or no isatty
        return False


def columns_of(stream: TextIO) -> int:
    """The width of the terminal ``stream`` is (stdout may be a pipe when stderr is not);
    one that says 0 (a new pseudo-terminal, a serial console) is taken as $COLUMNS or 80."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        columns = 0
    return columns if columns > 0 else shutil.get_terminal_size().columns


class Status:
    """The progress line of one command (see the module's docstring).

    ``with Status(...)`` starts the ticker; ``step`` runs one named step; ``detail``
    says how far it is; ``note`` prints a line above the progress line. With
    ``enabled`` false every method does nothing.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        enabled: bool,
        clock: Callable[[], float] = time.monotonic,
        columns: Callable[[], int] | None = None,
    ) -> None:
        self.stream = stream
        self.enabled = enabled
        self._clock = clock
        self._columns = columns or (lambda: columns_of(stream))
        self._lock = threading.Lock()
        self._name: str | None = None
        self._detail = ""
        self._started = 0.0
        self._frame = 0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @classmethod
    def on(cls, stream: TextIO, *, quiet: bool = False) -> Status:
        """The status of a command that writes its progress to ``stream``."""
        return cls(stream, enabled=live(stream, quiet=quiet))

    def __enter__(self) -> Status:
        if self.enabled:
            self._ticker = threading.Thread(target=self._tick, name="faas-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        self.end(error is None)

    @contextmanager
    def step(self, name: str, done: str | None = None) -> Iterator[None]:
        """Run a step: its line while it runs; on success the line ``done`` (or ``name``)
        with its time; after an error, nothing (the error says what happened)."""
        self.begin(name)
        try:
            yield
        except BaseException:
            self.end(False)
            raise
        self.end(True, done)

    def begin(self, name: str) -> None:
        """A new step (the one running, if any, finished well)."""
        self.end(True)
        with self._lock:
            self._name, self._detail, self._started = name, "", self._clock()
            self._frame = 0
        self.draw()

    def detail(self, text: str) -> None:
        """How far the current step is; drawn at the next tick."""
        self._detail = text

    def end(self, ok: bool, done: str | None = None) -> None:
        """Finish the current step: its done line if ``ok``, else the line cleared."""
        with self._lock:
            if self._name is None:
                return
            name, self._name = self._name, None
            if not self.enabled:
                return
            seconds = self._clock() - self._started
            line = done_line(done or name, self._detail, seconds, self._columns())
            self._write(CLEAR + (line + "\n" if ok else ""))

    def note(self, text: str) -> None:
        """A line of its own (a warning), above the progress line."""
        if not self.enabled:
            return
        with self._lock:
            self._write(CLEAR + text + "\n")
        self.draw()

    def draw(self) -> None:
        """Redraw the progress line (the ticker does, every ``TICK_S``)."""
        with self._lock:
            if not self.enabled or self._name is None:
                return
            line = status_line(
                self._frame,
                self._name,
                self._detail,
                self._clock() - self._started,
                self._columns(),
            )
            self._frame += 1
            self._write(CLEAR + line)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: progress is not worth failing
            self.enabled = False

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            self.draw()


class StepsFromLogs(logging.Handler):
    """The platform's log lines as steps of a ``Status``: an INFO line from ``faas.*``
    begins a step named by its message (up to any parenthesised details); a warning or
    an error from anyone is a note. Other lines are left out: the terminal shows steps."""

    def __init__(self, status: Status) -> None:
        super().__init__(logging.INFO)
        self.status = status

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = next(iter(record.getMessage().splitlines()), "")
        except Exception:  # a bad format string must not break the command
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING:
            self.status.note(f"{record.levelname.lower()}: {message}")
        elif record.name.split(".")[0] == "faas" and message:
            self.status.begin(step_name(message))


def step_name(message: str) -> str:
    """A log message as a step's name: without the parenthesised details a message may
    end with (``building runtime image X ({'BASE_IMAGE': ...})``)."""
    head, _, _ = message.partition(" (")
    return head.strip() or message
