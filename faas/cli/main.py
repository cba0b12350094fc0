"""The ``faas`` command: the server (``serve``, ``worker``, ``images build``) and its client.

The client commands (``deploy``, ``invoke``, ``ls``, ``info``, ``rm``, ``logs``,
``dead-letters``, ``schedules``) talk to a running server through
``faas.cli.client``; this module only parses their arguments and prints what comes
back: a table or ``key: value`` lines for people, the server's JSON with
``--json`` for scripts. Exit codes are in ``EXIT_CODES`` (and docs/cli.md).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import json
import logging
import os
import signal
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from faas import auth, platform_log
from faas.cli.client import DEFAULT_URL, ApiError, Client, zip_dir
from faas.errors import FaasError
from faas.settings import Settings

EXIT_OK = 0
EXIT_FUNCTION_ERROR = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_SERVER = 4

EXIT_CODES = """\
exit codes:
  0  success
  1  the function itself failed (invoke: it raised, ran out of memory or timed out)
  2  usage error or bad input (a flag, a path, JSON that does not parse)
  3  the server refused the request (4xx: not found, unauthorized, invalid)
  4  the server failed (5xx) or could not be reached
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faas",
        description="A self-hosted AWS Lambda.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway and the scheduler")
    serve.add_argument("--redis-url", help="Redis URL (FAAS_REDIS_URL)")
    serve.add_argument("--data-dir", help="code store and sockets (FAAS_DATA_DIR)")
    serve.add_argument("--host", help="address to bind (FAAS_HOST)")
    serve.add_argument("--port", type=int, help="port to bind (FAAS_PORT)")
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log every HTTP request (off by default: a line per invocation costs throughput)",
    )
    serve.add_argument(
        "--no-worker", action="store_true", help="do not run async events here (FAAS_WORKER=0)"
    )

    worker = commands.add_parser("worker", help="run async events only (scale-out)")
    worker.add_argument("--redis-url", help="Redis URL (FAAS_REDIS_URL)")
    worker.add_argument("--data-dir", help="code store and sockets (FAAS_DATA_DIR)")
    worker.add_argument("--concurrency", type=int, help="events at once (FAAS_WORKER_CONCURRENCY)")
    worker.add_argument("--log-level", default="info")

    images = commands.add_parser("images", help="runtime images")
    images_cmd = images.add_subparsers(dest="images_command", required=True)
    build = images_cmd.add_parser("build", help="build the runtime image (and a base if needed)")
    build.add_argument("--base", help="base image to build from (FAAS_BASE_IMAGE)")
    build.add_argument("--rebuild", action="store_true", help="build even if it exists")

    keys = commands.add_parser("keys", help="the server's API keys file (FAAS_KEYS_FILE)")
    keys_cmd = keys.add_subparsers(dest="keys_command", required=True)
    for name, summary in (
        ("init", "create the keys file with a fresh admin key unless it exists; print the key"),
        ("show", "print the admin key of the keys file"),
    ):
        sub = keys_cmd.add_parser(name, help=summary, description=summary)
        sub.add_argument("--file", help="the keys file (FAAS_KEYS_FILE)")

    _client_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "run", None) is not None:
        return _run_client(args)
    fmt = os.environ.get("FAAS_LOG_FORMAT") or "json"
    platform_log.configure(
        getattr(args, "log_level", "info"), fmt if fmt in platform_log.FORMATS else "json"
    )
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "worker":
            return _worker(args)
        if args.command == "keys":
            return _keys(args)
        return _images_build(args)
    except FaasError as exc:
        print(f"faas: {exc.message}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import create_app
    from gateway.edge.protocol import ConnectionLimits, HttpProtocol, raise_fd_limit

    settings = _settings(
        args, host=args.host, port=args.port, worker=False if args.no_worker else None
    )
    settings = _guard_open_server(settings)
    # Refuse a Redis that cannot hold the queue before serving anything.
    asyncio.run(_check_store(settings))
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal
    # to whatever handler was there before it; a finished graceful stop is a
    # success, so that handler does nothing and the command exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    fd_limit = raise_fd_limit()
    limits = ConnectionLimits.from_settings(settings, fd_limit)
    if limits.max_connections < settings.http_max_connections:
        logging.getLogger("faas").warning(
            "the open-file limit of %d leaves room for %d client connections, not "
            "FAAS_HTTP_MAX_CONNECTIONS=%d; raise it (ulimit -n, LimitNOFILE=, --ulimit nofile=)",
            fd_limit,
            limits.max_connections,
            settings.http_max_connections,
        )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        # httptools, one write per response, slow clients timed out, connections capped
        http=HttpProtocol.limited(limits),
        ws="none",  # no WebSocket routes: an Upgrade header is an ordinary request
        log_level=args.log_level,
        access_log=args.access_log,
        # Logging is set up already (platform_log): uvicorn's lines come out as JSON too.
        log_config=None,
        timeout_graceful_shutdown=30,
        # The client's address is the connection's: uvicorn would believe any
        # X-Forwarded-For from 127.0.0.1. Trusted proxies are FAAS_TRUSTED_PROXIES.
        proxy_headers=False,
    )
    return 0


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _guard_open_server(settings: Settings) -> Settings:
    """Make the keys file if asked; with no key at all, listen on localhost only."""
    log = logging.getLogger("faas")
    if settings.keys_generate and settings.keys_file and not Path(settings.keys_file).exists():
        auth.init_keys_file(Path(settings.keys_file))
        log.warning(
            "created the keys file %s with a new admin key; print it with `faas keys show`",
            settings.keys_file,
        )
    if not auth.KeyRing.from_settings(settings).open:
        return settings
    if settings.host not in LOOPBACK:
        log.warning(
            "no API key is configured (FAAS_ADMIN_KEY, FAAS_KEYS_FILE): listening on "
            "127.0.0.1 only instead of %s",
            settings.host,
        )
        return dataclasses.replace(settings, host="127.0.0.1")
    log.warning(
        "no API key is configured: anyone who can reach %s:%d may manage and invoke "
        "functions; it listens on localhost only",
        settings.host,
        settings.port,
    )
    return settings


def _keys(args: argparse.Namespace) -> int:
    path = args.file or os.environ.get("FAAS_KEYS_FILE")
    if not path:
        print("faas: give --file or set FAAS_KEYS_FILE", file=sys.stderr)
        return EXIT_USAGE
    if args.keys_command == "init":
        print(auth.init_keys_file(Path(path)))
    else:
        print(auth.admin_key_of(Path(path)))
    return EXIT_OK


def _settings(args: argparse.Namespace, **flags: object) -> Settings:
    """Settings from FAAS_* variables, with the flags every server command shares."""
    return Settings.from_env(os.environ, redis_url=args.redis_url, data_dir=args.data_dir, **flags)


async def _check_store(settings: Settings) -> None:
    from faas import store

    client = store.connect(settings.redis_url)
    try:
        async with store.redis_errors():
            await client.ping()
        await store.check_no_eviction(client)
    finally:
        await client.aclose()


def _worker(args: argparse.Namespace) -> int:
    settings = _settings(args, worker_concurrency=args.concurrency)
    try:
        import uvloop
    except ImportError:  # uvicorn[standard] brings it; a bare install runs on asyncio
        return asyncio.run(_run_worker(settings))
    # The same event loop as faas serve's (uvicorn picks uvloop): cheaper I/O per event.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_run_worker(settings))


async def _run_worker(settings: Settings) -> int:
    from faas.platform import Platform

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    platform = Platform(settings, role="worker", worker=True)
    try:
        await platform.start()
        logging.getLogger("faas").info("worker %s is taking async events", platform.owner_id)
        await stop.wait()
    finally:
        # SIGTERM: stop taking events, drain what runs, hand back the rest.
        await platform.close()
    return 0


def _images_build(args: argparse.Namespace) -> int:
    from faas.compute.backend import connect
    from faas.compute.docker.images import Images

    settings = Settings.from_env(os.environ, base_image=args.base)
    tag = Images(settings, connect()).ensure_runtime(rebuild=args.rebuild)
    print(tag)
    return 0


# The client commands


class UsageError(Exception):
    """Bad input found after parsing (a path, a JSON document): exit 2."""


ClientCommand = Callable[[Client, argparse.Namespace], int]


def _client_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"the server (FAAS_URL; default {DEFAULT_URL})")
    common.add_argument("--key", help="API key, sent as a Bearer token (FAAS_KEY)")
    common.add_argument(
        "--json", action="store_true", help="print the server's JSON document, for scripts"
    )

    def command(name: str, summary: str, run: ClientCommand) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=summary,
            description=summary,
            parents=[common],
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(run=run)
        return sub

    deploy = command("deploy", "create a function from a folder or a zip, or update it", _deploy)
    deploy.add_argument("path", metavar="DIR|ZIP", type=Path, help="a folder (zipped) or a zip")
    deploy.add_argument("--name", required=True)
    deploy.add_argument("--runtime", required=True, help="python3.11, provided.al2023, ...")
    deploy.add_argument("--handler", required=True, help="module.function, e.g. app.handler")
    deploy.add_argument("--memory", type=int, metavar="MB", help="memory limit (128-10240)")
    deploy.add_argument("--timeout", type=int, metavar="S", help="timeout in seconds (1-900)")
    deploy.add_argument(
        "--env",
        action="append",
        type=env_pair,
        metavar="K=V",
        help="an environment variable (repeat it); on update, replaces the whole env",
    )

    invoke = command("invoke", "run a function with an event", _invoke)
    invoke.add_argument("name")
    invoke.add_argument(
        "--data", metavar="JSON|@FILE", help="the event (default {}); @- reads standard input"
    )
    mode = invoke.add_mutually_exclusive_group()
    mode.add_argument(
        "--async",
        dest="async_",
        action="store_true",
        help="queue the event and print its request id",
    )
    mode.add_argument(
        "--tail", action="store_true", help="print the end of the invocation's log on stderr"
    )

    command("ls", "list the functions", _ls)
    command("info", "show a function's config and code", _info).add_argument("name")
    command("rm", "delete a function", _rm).add_argument("name")

    logs = command("logs", "show the logs of a function's invocations", _logs)
    logs.add_argument("name")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new entries")
    logs.add_argument("--since", metavar="TIME", help="only entries from then on")
    logs.add_argument("--request-id", metavar="ID", help="only this invocation's entry")
    logs.add_argument("--limit", type=positive_int, metavar="N", help="at most N entries")

    dead = command("dead-letters", "list a function's dead letters, or redrive them", _dead)
    dead.add_argument("name")
    dead.add_argument("--redrive", action="store_true", help="queue them all again")

    schedules = command("schedules", "show a function's schedules, or replace them", _schedules)
    schedules.add_argument("name")
    schedules.add_argument(
        "--set", metavar="FILE", help="replace them with the JSON list in FILE (- for stdin)"
    )


def env_pair(text: str) -> tuple[str, str]:
    """``K=V`` as a pair; the value may hold ``=`` and may be empty."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected K=V, got {text!r}")
    return key, value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {text!r}")
    return value


def exit_code(error: ApiError) -> int:
    """What a refusal means to a script: the server said no (3) or did not work (4)."""
    return EXIT_REFUSED if 400 <= error.status < 500 else EXIT_SERVER


def error_text(error: ApiError) -> str:
    if error.status == 0 or 400 <= error.status < 500:
        return error.message
    return f"the server failed (HTTP {error.status}): {error.message}"


def _run_client(args: argparse.Namespace) -> int:
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


def _deploy(client: Client, args: argparse.Namespace) -> int:
    code = read_code(args.path)
    env = dict(args.env) if args.env else None
    progress = UploadProgress(sys.stderr, args.name)
    fn, verb = _create(client, args, code, env, progress), "created"
    if fn is None:
        client.update_code(args.name, code, progress=progress)
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
    progress: UploadProgress,
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


def read_code(path: Path) -> bytes:
    """A folder, zipped; or a zip file's bytes."""
    try:
        if path.is_dir():
            return zip_dir(path)
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


class UploadProgress:
    """Upload progress on stderr: redrawn in place on a terminal, a final line always."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.live = stream.isatty()

    def __call__(self, sent: int, total: int) -> None:
        line = progress_line(self.label, sent, total)
        if sent >= total:
            self.stream.write(("\r\x1b[K" if self.live else "") + line + "\n")
        elif self.live:
            self.stream.write("\r\x1b[K" + line)
        self.stream.flush()


def progress_line(label: str, sent: int, total: int) -> str:
    percent = 100 if total == 0 else sent * 100 // total
    verb = "uploaded" if sent >= total else "uploading"
    return f"{verb} {label}: {human_bytes(sent)} / {human_bytes(total)} ({percent}%)"


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


def _invoke(client: Client, args: argparse.Namespace) -> int:
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


def function_error_text(body: str) -> str:
    """``errorType: errorMessage`` of a function error's body (or the body itself)."""
    try:
        error = json.loads(body)
    except ValueError:
        error = None
    if not isinstance(error, dict):
        return body
    return f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"


def _ls(client: Client, args: argparse.Namespace) -> int:
    doc = client.list_functions()
    _emit(args, doc, lambda: functions_table(doc.get("functions", [])))
    return EXIT_OK


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


def _info(client: Client, args: argparse.Namespace) -> int:
    fn = client.get_function(args.name)
    _emit(args, fn, lambda: key_values(fn))
    return EXIT_OK


def _rm(client: Client, args: argparse.Namespace) -> int:
    client.delete_function(args.name)
    if not args.json:  # the server answers 204: there is no document to print
        print(f"deleted {args.name}")
    return EXIT_OK


def _logs(client: Client, args: argparse.Namespace) -> int:
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


def log_entry_text(entry: dict[str, Any]) -> str:
    """A heading line for the invocation, then its log indented."""
    duration = entry.get("durationMs")
    took = f"{duration:.1f} ms" if isinstance(duration, int | float) else "-"
    fields = [entry.get("start"), entry.get("requestId"), entry.get("kind"), entry.get("outcome")]
    head = "  ".join([*(str(f) if f is not None else "-" for f in fields), took])
    lines = str(entry.get("log") or "").splitlines()
    return "\n".join([head, *(f"  {line}" for line in lines)])


def _dead(client: Client, args: argparse.Namespace) -> int:
    if args.redrive:
        done = client.redrive(args.name)
        _emit(args, done, lambda: redriven_text(done.get("redriven", [])))
        return EXIT_OK
    page = client.dead_letters(args.name)
    _emit(args, page, lambda: dead_letters_table(page))
    return EXIT_OK


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


def _schedules(client: Client, args: argparse.Namespace) -> int:
    if args.set is not None:
        doc = client.put_schedules(args.name, read_json(args.set))
    else:
        doc = client.get_schedules(args.name)
    _emit(args, doc, lambda: schedules_table(doc.get("schedules", [])))
    return EXIT_OK


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


if __name__ == "__main__":
    sys.exit(main())
