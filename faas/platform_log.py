"""The platform's own logs: one JSON object per line, carrying the requestId in play.

``configure`` is called once by the CLI. ``invocation_context`` marks the
request (and function) a piece of work is for; every line logged inside it,
by any module, carries them, because they live in context variables that
follow the asyncio task.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
FUNCTION: contextvars.ContextVar[str | None] = contextvars.ContextVar("function", default=None)
FORMATS = ("json", "text")


@contextlib.contextmanager
def invocation_context(request_id: str, function: str) -> Iterator[None]:
    tokens = (REQUEST_ID.set(request_id), FUNCTION.set(function))
    try:
        yield
    finally:
        REQUEST_ID.reset(tokens[0])
        FUNCTION.reset(tokens[1])


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "requestId"?, "function"?, "error"?}``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            line["requestId"] = request_id
        function = FUNCTION.get()
        if function is not None:
            line["function"] = function
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = REQUEST_ID.get()
        return f"{text} requestId={request_id}" if request_id else text


def configure(level: str = "info", fmt: str = "json") -> None:
    """Send every logger (uvicorn's too) to stderr in ``fmt``."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # One line per request to a container's socket is noise, not news.
    logging.getLogger("httpx").setLevel(logging.WARNING)
