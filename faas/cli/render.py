"""How the client commands show things to people: tables, ``key: value`` lines, sizes.

Pure text from the server's JSON documents; ``--json`` bypasses all of it. Progress
of long work is ``faas.cli.progress``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def human_bytes(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


def function_summary(fn: dict[str, Any]) -> str:
    return (
        f"{fn.get('name')}: {fn.get('runtime')} {fn.get('handler')}, "
        f"{fn.get('memory_mb')} MB, {fn.get('timeout_s')} s, "
        f"code {str(fn.get('code_sha256', ''))[:12]} ({human_bytes(int(fn.get('code_size', 0)))})"
    )


def function_error_text(body: str) -> str:
    """``errorType: errorMessage`` of a function error's body (or the body itself)."""
    try:
        error = json.loads(body)
    except ValueError:
        error = None
    if not isinstance(error, dict):
        return body
    return f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"


def functions_table(functions: list[dict[str, Any]]) -> str:
    if not functions:
        return "no functions"
    rows = [
        [
            str(f.get("name")),
            str(f.get("runtime")),
            str(f.get("handler")),
            f"{f.get('memory_mb')} MB",
            f"{f.get('timeout_s')} s",
            human_bytes(int(f.get("code_size", 0))),
            str(f.get("updated_at", "")),
        ]
        for f in functions
    ]
    header = ["NAME", "RUNTIME", "HANDLER", "MEMORY", "TIMEOUT", "CODE", "UPDATED"]
    return table(header, rows)


def log_entry_text(entry: dict[str, Any]) -> str:
    """A heading line for the invocation, then its log indented."""
    duration = entry.get("durationMs")
    took = f"{duration:.1f} ms" if isinstance(duration, int | float) else "-"
    fields = [entry.get("start"), entry.get("requestId"), entry.get("kind"), entry.get("outcome")]
    head = "  ".join([*(str(f) if f is not None else "-" for f in fields), took])
    lines = str(entry.get("log") or "").splitlines()
    return "\n".join([head, *(f"  {line}" for line in lines)])


def redriven_text(ids: list[str]) -> str:
    if not ids:
        return "no dead letters to redrive"
    return "\n".join([f"redriven {len(ids)}:", *(f"  {i}" for i in ids)])


def dead_letters_table(page: dict[str, Any]) -> str:
    items: list[dict[str, Any]] = page.get("items", [])
    if not items:
        return "no dead letters"
    rows = [
        [
            str(d.get("requestId")),
            str(d.get("attempts")),
            str(d.get("errorType") or d.get("reason") or "-"),
            _short(str(d.get("errorMessage", ""))),
            str(d.get("deadLetteredAt") or "-"),
        ]
        for d in items
    ]
    text = table(["REQUEST ID", "ATTEMPTS", "ERROR", "MESSAGE", "DEAD-LETTERED"], rows)
    total = page.get("total", len(items))
    if total > len(items):
        text += f"\n({len(items)} of {total} shown)"
    return text


def schedules_table(schedules: list[dict[str, Any]]) -> str:
    if not schedules:
        return "no schedules"
    rows = [
        [
            str(s.get("name")),
            str(s.get("expression")),
            "yes" if s.get("enabled") else "no",
            (s.get("nextFires") or ["-"])[0],
            str(s.get("lastFire") or "-"),
            str(s.get("fires", 0)),
            str(s.get("misses", 0)),
        ]
        for s in schedules
    ]
    header = ["NAME", "EXPRESSION", "ENABLED", "NEXT FIRE", "LAST FIRE", "FIRES", "MISSES"]
    return table(header, rows)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    return "\n".join(line.rstrip() for line in lines)


def key_values(doc: dict[str, Any]) -> str:
    """``key: value`` lines, values aligned; objects and lists as compact JSON."""
    width = max((len(k) for k in doc), default=0) + 1
    return "\n".join(f"{k + ':':<{width}} {_value(v)}" for k, v in doc.items())


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
