"""How a runtime's end and errors are told, as Lambda tells them: its exit status and the
memory cgroup's OOM kills as ``Runtime.ExitError`` or ``Runtime.OutOfMemory``, and
whatever it posted to ``/error`` in the documented shape. Pure, but for reading the
cgroup's count; standard library only, as all of the agent."""

from __future__ import annotations

import json
import os
import signal

from runtimes.protocol.invocation import error_body

OOM_FILES = ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control")


def read_oom_kills(paths: tuple[str, ...] = OOM_FILES) -> int | None:
    """The memory cgroup's OOM-kill count (v2 memory.events or v1 memory.oom_control)."""
    for path in paths:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None


def exit_error(wait_status: int, oom_before: int | None, oom_after: int | None) -> tuple[str, str]:
    """Lambda's (errorType, reason) for a bootstrap that exited with ``wait_status``."""
    killed_by = os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else None
    if killed_by is not None:
        name = signal.strsignal(killed_by) or f"signal {killed_by}"
        reason = f"Runtime exited with error: signal: {name.lower()}"
    else:
        code = os.waitstatus_to_exitcode(wait_status)
        reason = f"Runtime exited with error: exit status {code}"
        if code == 0:
            reason = "Runtime exited without providing a reason"
    if oom_after is not None and oom_before is not None:
        oom = oom_after > oom_before
    else:
        # No baseline: a count that is now positive only convinces us if the kernel's
        # weapon (SIGKILL) was used, since an old OOM kill in this cgroup proves nothing.
        oom = bool(oom_after) and killed_by == signal.SIGKILL
    return ("Runtime.OutOfMemory" if oom else "Runtime.ExitError"), reason


def normalise_error(body: bytes, header_type: str | None) -> bytes:
    """Coerce whatever the bootstrap POSTed to /error into the documented shape."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {"errorMessage": body.decode("utf-8", "replace")}
    error_type = str(data.get("errorType") or header_type or "Runtime.Unknown")
    message = str(data.get("errorMessage") or "")
    trace = data.get("stackTrace")
    if trace is None and isinstance(data.get("trace"), list):
        # Node.js runtimes' shape, kept as Lambda answers it.
        node_trace = [str(line) for line in data["trace"]]
        return json.dumps(
            {"errorType": error_type, "errorMessage": message, "trace": node_trace}
        ).encode()
    return error_body(
        error_type, message, [str(line) for line in trace] if isinstance(trace, list) else []
    )
