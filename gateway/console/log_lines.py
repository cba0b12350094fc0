"""The lines of an invocation's log, each with its level, and the Logs tab's filter (pure).

A record (``faas.catalog.logs.LogRecord``) is one invocation's text: Lambda's
``START``/``END``/``REPORT`` lines around what the function wrote. A line's
level is read from the shapes the runtimes write:

- Python's logging (``runtimes/python``): ``[ERROR]\\t2026-...\\t<request id>\\t...``,
  and an unhandled error's ``[ERROR] ValueError: ...``;
- Node.js' console (``runtimes/nodejs``): ``2026-...\\t<request id>\\tWARN\\t...``;
- a JSON line with a ``level``, ``levelname`` or ``severity`` (structured logging);
- ``LEVEL:`` at its start (Python's logging.basicConfig).

A line with none takes the level of the line before it in the same record (a
traceback belongs to its ``[ERROR]`` line), or INFO (a ``print``). Lambda's own
lines are INFO, but the line the platform adds when it ended an invocation (a
timeout, out of memory) is an ERROR.

The filter keeps a line at or above its level whose text holds its words
(case-insensitive); the request id is matched on the record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from faas.catalog.logs import LogRecord
from faas.errors import ValidationFailed

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
RANK = {level: i for i, level in enumerate(LEVELS)}
SYNONYMS = {"WARNING": "WARN", "CRITICAL": "FATAL", "ERR": "ERROR", "DBG": "DEBUG"}
MAX_TEXT = 200
MAX_REQUEST_ID = 128

_WORD = r"(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL)"
_BRACKETED = re.compile(r"^\[" + _WORD + r"\]")
_PREFIXED = re.compile(r"^" + _WORD + r":")
# Node.js: ISO time, request id, level, separated by tabs.
_TABBED = re.compile(r"^\d{4}-\d\d-\d\dT[^\t]*\t[^\t]*\t" + _WORD + r"\t")
_PLATFORM = ("START RequestId: ", "END RequestId: ", "REPORT RequestId: ")
_ENDED = frozenset({"timeout", "out_of_memory"})


@dataclass(frozen=True)
class Line:
    text: str
    level: str


def _named(word: str) -> str | None:
    word = word.upper()
    word = SYNONYMS.get(word, word)
    return word if word in RANK else None


def level_of(text: str) -> str | None:
    """The level ``text`` says it is at, if it says one."""
    for pattern in (_BRACKETED, _TABBED, _PREFIXED):
        match = pattern.match(text)
        if match:
            return _named(match[1])
    if text.startswith("{") and text.rstrip().endswith("}"):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if isinstance(data, dict):
            for key in ("level", "levelname", "severity"):
                value = data.get(key)
                if isinstance(value, str) and _named(value):
                    return _named(value)
    return None


def lines_of(record: LogRecord) -> list[Line]:
    """The record's lines, each with its level."""
    out: list[Line] = []
    before = "INFO"
    ended = record.outcome in _ENDED
    for text in record.text.splitlines():
        if text.startswith(_PLATFORM):
            out.append(Line(text, "INFO"))
            before = "INFO"
            continue
        level = level_of(text)
        if level is None and ended and record.request_id and record.request_id in text[:80]:
            level = "ERROR"  # "<time> <request id> Task timed out after 3.00 seconds"
        if level is None:
            level = before
        out.append(Line(text, level))
        before = level
    return out


@dataclass(frozen=True)
class LineFilter:
    """What the Logs tab shows: one invocation's lines (``request_id``), lines at or
    above ``level``, lines holding ``text``; empty: everything."""

    request_id: str = ""
    level: str = ""
    text: str = ""

    @classmethod
    def parse(cls, request_id: str | None, level: str | None, text: str | None) -> LineFilter:
        """The filter of a request's parameters, or ``ValidationFailed`` naming the one."""
        request_id = (request_id or "").strip()
        level = (level or "").strip().upper()
        text = (text or "").strip()
        if len(request_id) > MAX_REQUEST_ID or not all(c.isprintable() for c in request_id):
            raise ValidationFailed("request_id is not a request id", field="request_id")
        if level and _named(level) is None:
            raise ValidationFailed(
                f"level must be one of {', '.join(LEVELS)}, or empty", field="level"
            )
        if len(text) > MAX_TEXT:
            raise ValidationFailed(f"text is at most {MAX_TEXT} characters", field="text")
        return cls(request_id, (_named(level) or "") if level else "", text)

    @property
    def empty(self) -> bool:
        return not (self.request_id or self.level or self.text)

    def lines(self, record: LogRecord) -> list[Line]:
        """The record's lines that pass (none if it is another invocation's)."""
        if self.request_id and record.request_id != self.request_id:
            return []
        found = lines_of(record)
        if self.level:
            least = RANK[self.level]
            found = [line for line in found if RANK[line.level] >= least]
        if self.text:
            wanted = self.text.casefold()
            found = [line for line in found if wanted in line.text.casefold()]
        return found
