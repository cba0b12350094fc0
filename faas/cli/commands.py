"""The client commands: ``deploy``, ``invoke``, ``ls``, ``info``, ``rm``, ``logs``,
``dead-letters``, ``schedules``.

Each talks to a running server through ``faas.cli.client`` and prints what comes
back: the human view from ``faas.cli.render``, or the server's JSON with ``--json``
for scripts. ``run`` maps what went wrong to an exit code (``faas.cli.exits``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faas.cli.client import DEFAULT_URL, ApiError, Client, Progress, zip_dir
from faas.cli.exits import EXIT_FUNCTION_ERROR, EXIT_OK, EXIT_REFUSED, EXIT_SERVER, EXIT_USAGE
from faas.cli.progress import Status, fraction_text
from faas.cli.render import (
    dead_letters_table,
    function_error_text,
    function_summary,
    functions_table,
    key_values,
    log_entry_text,
    redriven_text,
    schedules_table,
)
from faas.invoke import samples


class UsageError(Exception):
    """Bad input found after parsing (a path, a JSON document): exit 2."""


ClientCommand = Callable[[Client, argparse.Namespace], int]


def exit_code(error: ApiError) -> int:
    """What a refusal means to a script: the server said no (3) or did not work (4)."""
    return EXIT_REFUSED if 400 <= error.status < 500 else EXIT_SERVER


def error_text(error: ApiError) -> str:
    if error.status == 0 or 400 <= error.status < 500:
        return error.message
    return f"the server failed (HTTP {error.status}): {error.message}"


def run(args: argparse.Namespace) -> int:
    url = args.url or os.environ.get("FAAS_URL") or DEFAULT_URL
    if not url.startswith(("http://", "https://")):
        return _fail(EXIT_USAGE, f"the server URL must start with http:// or https://: {url!r}")
    key = args.key or os.environ.get("FAAS_KEY") or None
    run: ClientCommand = args.run
    try:
        with Client(url, key) as client:
            return run(client, args)
    except UsageError as exc:
        return _fail(EXIT_USAGE, str(exc))
    except ApiError as exc:
        return _fail(exit_code(exc), error_text(exc))
    except KeyboardInterrupt:
        return 130


def _fail(code: int, message: str) -> int:
    print(f"faas: {message}", file=sys.stderr)
    return code


def _emit(args: argparse.Namespace, doc: dict[str, Any], human: Callable[[], str]) -> None:
    """The server's document with ``--json``, else the human view of it."""
    print(json.dumps(doc, indent=2) if args.json else human())


def deploy(client: Client, args: argparse.Namespace) -> int:
    env = dict(args.env) if args.env else None
    with Status.on(sys.stderr, quiet=args.json) as status:
        code = read_code(args.path, status)
        with status.step(f"uploading {args.name}", done=f"uploaded {args.name}"):

            def progress(sent: int, total: int) -> None:
                status.detail(fraction_text(sent, total))

            fn, verb = _create(client, args, code, env, progress), "created"
            if fn is None:
                client.update_code(args.name, code, progress=progress)
        if fn is None:
            changes: dict[str, Any] = {"runtime": args.runtime, "handler": args.handler}
            if args.memory is not None:
                changes["memory_mb"] = args.memory
            if args.timeout is not None:
                changes["timeout_s"] = args.timeout
            if env is not None:
                changes["env"] = env
            fn, verb = client.update_config(args.name, changes), "updated"
    _emit(args, fn, lambda: f"{verb} {function_summary(fn)}")
    return EXIT_OK


def _create(
    client: Client,
    args: argparse.Namespace,
    code: bytes,
    env: dict[str, str] | None,
    progress: Progress,
) -> dict[str, Any] | None:
    """The new function, or None when one of that name exists already."""
    # Asking first saves uploading the zip twice when the function exists.
    try:
        client.get_function(args.name)
        return None
    except ApiError as exc:
        if exc.error != "FunctionNotFound":
            raise
    try:
        return client.create_function(
            args.name,
            args.runtime,
            args.handler,
            code,
            memory_mb=args.memory,
            timeout_s=args.timeout,
            env=env,
            progress=progress,
        )
    except ApiError as exc:
        if exc.error == "FunctionExists":  # created since we asked
            return None
        raise


def read_code(path: Path, status: Status | None = None) -> bytes:
    """A folder, zipped (a step of ``status``); or a zip file's bytes."""
    try:
        if path.is_dir():
            if status is None:
                return zip_dir(path)
            with status.step(f"zipping {path}", done=f"zipped {path}"):
                return zip_dir(path, lambda done, total: status.detail(fraction_text(done, total)))
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise UsageError(f"{path} is neither a folder nor a zip")
    return data


def read_event(data: str | None, stdin: Any = None) -> bytes:
    """The event of ``--data``: JSON as given, ``@file``, ``@-`` (stdin), or ``{}``."""
    if data is None:
        return b"{}"
    raw = _read_source(data[1:], stdin) if data.startswith("@") else data.encode()
    try:
        json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"the event is not valid JSON: {exc}") from None
    return raw


def read_json(source: str, stdin: Any = None) -> Any:
    """The JSON document in file ``source`` (``-`` is stdin)."""
    raw = _read_source(source, stdin)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{source} is not valid JSON: {exc}") from None


def _read_source(source: str, stdin: Any) -> bytes:
    if source == "-":
        data: bytes = (stdin or sys.stdin.buffer).read()
        return data
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None


def invoke(client: Client, args: argparse.Namespace) -> int:
    if args.template is not None:
        event = json.dumps(samples.event(args.template)).encode()
    elif args.event_file is not None:
        event = read_event("@" + args.event_file)
    else:
        event = read_event(args.data)
    if args.async_:
        accepted = client.invoke_async(args.name, event)
        _emit(args, accepted, lambda: str(accepted.get("requestId")))
        return EXIT_OK
    result = client.invoke(args.name, event, tail=args.tail)
    if args.tail:
        tail = result.log_tail
        if tail is None:
            print("faas: the server sent no log tail", file=sys.stderr)
        else:
            sys.stderr.write(tail if tail.endswith("\n") or not tail else tail + "\n")
    body = result.body.decode("utf-8", errors="replace")
    print(body)
    if result.function_error is not None:
        return _fail(EXIT_FUNCTION_ERROR, f"{args.name} failed: {function_error_text(body)}")
    return EXIT_OK


def ls(client: Client, args: argparse.Namespace) -> int:
    doc = client.list_functions()
    _emit(args, doc, lambda: functions_table(doc.get("functions", [])))
    return EXIT_OK


def info(client: Client, args: argparse.Namespace) -> int:
    fn = client.get_function(args.name)
    _emit(args, fn, lambda: key_values(fn))
    return EXIT_OK


def rm(client: Client, args: argparse.Namespace) -> int:
    client.delete_function(args.name)
    if not args.json:  # the server answers 204: there is no document to print
        print(f"deleted {args.name}")
    return EXIT_OK


def logs(client: Client, args: argparse.Namespace) -> int:
    query = {"since": args.since, "request_id": args.request_id, "limit": args.limit}
    if args.follow:
        interrupted = False

        def on_interrupt(signum: int, frame: object) -> None:
            nonlocal interrupted
            interrupted = True
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGINT, on_interrupt)
        try:
            for entry in client.follow_logs(args.name, **query):
                print(json.dumps(entry) if args.json else log_entry_text(entry), flush=True)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how one stops following
        except ApiError:
            # Ctrl-C in the middle of a read can surface as a broken stream instead.
            if not interrupted:
                raise
        finally:
            signal.signal(signal.SIGINT, previous)
        return EXIT_OK
    doc = client.logs(args.name, **query)
    entries = doc.get("logs", [])
    _emit(args, doc, lambda: "\n".join(map(log_entry_text, entries)) or "no log entries")
    return EXIT_OK


def dead_letters(client: Client, args: argparse.Namespace) -> int:
    if args.redrive:
        done = client.redrive(args.name)
        _emit(args, done, lambda: redriven_text(done.get("redriven", [])))
        return EXIT_OK
    page = client.dead_letters(args.name)
    _emit(args, page, lambda: dead_letters_table(page))
    return EXIT_OK


def schedules(client: Client, args: argparse.Namespace) -> int:
    if args.set is not None:
        doc = client.put_schedules(args.name, read_json(args.set))
    else:
        doc = client.get_schedules(args.name)
    _emit(args, doc, lambda: schedules_table(doc.get("schedules", [])))
    return EXIT_OK
