"""The ``faas`` command: its arguments, and which command runs.

Server commands (``serve``, ``worker``, ``images build``, ``keys``) are in
``faas.cli.server``; client commands (``deploy``, ``invoke``, ``ls``, ``info``,
``rm``, ``logs``, ``dead-letters``, ``schedules``), which talk to a running
server, in ``faas.cli.commands``, and how they print in ``faas.cli.render``.
Exit codes are in ``faas.cli.exits`` (and docs/cli.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from faas import platform_log
from faas.cli import commands, init, mappings, queues, server, topics
from faas.cli.client import DEFAULT_URL
from faas.cli.exits import EXIT_CODES
from faas.errors import FaasError
from faas.invoke import samples
from faas.settings import BACKENDS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faas",
        description="A self-hosted AWS Lambda.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", required=True)

    serve = subparsers.add_parser("serve", help="run the gateway and the scheduler")
    serve.add_argument("--redis-url", help="Redis URL (FAAS_REDIS_URL)")
    serve.add_argument("--data-dir", help="code store and sockets (FAAS_DATA_DIR)")
    serve.add_argument("--host", help="address to bind (FAAS_HOST)")
    serve.add_argument("--port", type=int, help="port to bind (FAAS_PORT)")
    serve.add_argument(
        "--workers",
        type=positive_int,
        help="gateway processes on this node, all on one port (FAAS_WORKERS, default 1)",
    )
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log every HTTP request (off by default: a line per invocation costs throughput)",
    )
    serve.add_argument(
        "--no-worker", action="store_true", help="do not run async events here (FAAS_WORKER=0)"
    )
    serve.add_argument(
        "--backend",
        choices=BACKENDS,
        help="what runs functions (FAAS_BACKEND): containers (the default), or process: "
        "host processes with no isolation, on loopback only",
    )

    worker = subparsers.add_parser("worker", help="run async events only (scale-out)")
    worker.add_argument("--redis-url", help="Redis URL (FAAS_REDIS_URL)")
    worker.add_argument("--data-dir", help="code store and sockets (FAAS_DATA_DIR)")
    worker.add_argument("--concurrency", type=int, help="events at once (FAAS_WORKER_CONCURRENCY)")
    worker.add_argument("--log-level", default="info")

    images = subparsers.add_parser("images", help="runtime images")
    images_cmd = images.add_subparsers(dest="images_command", required=True)
    build = images_cmd.add_parser(
        "build", help="build each runtime's image (and a base if needed): docs/runtimes.md"
    )
    build.add_argument("--base", help="base image to build from (FAAS_BASE_IMAGE)")
    build.add_argument(
        "--runtime",
        action="append",
        help="only this runtime's image (repeatable; default: every runtime this server can get)",
    )
    build.add_argument("--rebuild", action="store_true", help="build even if it exists")
    build.add_argument(
        "--json",
        action="store_true",
        help="print {runtime: image} as JSON (and no progress on a terminal)",
    )

    keys = subparsers.add_parser("keys", help="the server's API keys file (FAAS_KEYS_FILE)")
    keys_cmd = keys.add_subparsers(dest="keys_command", required=True)
    for name, summary in (
        ("init", "create the keys file with a fresh admin key unless it exists; print the key"),
        ("show", "print the admin key of the keys file, or else of FAAS_ADMIN_KEY"),
    ):
        sub = keys_cmd.add_parser(name, help=summary, description=summary)
        sub.add_argument("--file", help="the keys file (FAAS_KEYS_FILE)")
        if name == "show":
            sub.add_argument(
                "--aws",
                action="store_true",
                help="print it as AWS credentials for boto3 and the AWS CLI: "
                'eval "$(faas keys show --aws)"',
            )

    made = subparsers.add_parser(
        "init", help="a new function folder with a test event, ready to deploy"
    )
    init.add_arguments(made)
    made.set_defaults(local=init.run)
    _client_parsers(subparsers)
    return parser


def _client_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"the server (FAAS_URL; default {DEFAULT_URL})")
    common.add_argument("--key", help="API key, sent as a Bearer token (FAAS_KEY)")
    common.add_argument(
        "--json", action="store_true", help="print the server's JSON document, for scripts"
    )

    def command(name: str, summary: str, run: commands.ClientCommand) -> argparse.ArgumentParser:
        sub = subparsers.add_parser(
            name,
            help=summary,
            description=summary,
            parents=[common],
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(run=run)
        return sub

    deploy = command(
        "deploy", "create a function from a folder or a zip, or update it", commands.deploy
    )
    deploy.add_argument("path", metavar="DIR|ZIP", type=Path, help="a folder (zipped) or a zip")
    deploy.add_argument("--name", required=True)
    deploy.add_argument(
        "--runtime", required=True, help="python3.11, nodejs22.x, provided.al2023, ..."
    )
    deploy.add_argument(
        "--handler",
        required=True,
        help="module.function (Python, e.g. app.handler) or file.export (Node.js, index.handler)",
    )
    deploy.add_argument("--memory", type=int, metavar="MB", help="memory limit (128-10240)")
    deploy.add_argument("--timeout", type=int, metavar="S", help="timeout in seconds (1-900)")
    deploy.add_argument(
        "--env",
        action="append",
        type=env_pair,
        metavar="K=V",
        help="an environment variable (repeat it); on update, replaces the whole env",
    )

    invoke = command("invoke", "run a function with an event", commands.invoke)
    invoke.add_argument("name")
    given = invoke.add_mutually_exclusive_group()
    given.add_argument(
        "--data", metavar="JSON|@FILE", help="the event (default {}); @- reads standard input"
    )
    given.add_argument("--event-file", metavar="FILE", help="the event, from a JSON file")
    given.add_argument(
        "--template",
        choices=samples.EVENTS,
        help="a sample event of that kind (as Lambda delivers it)",
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

    command("ls", "list the functions", commands.ls)
    command("info", "show a function's config and code", commands.info).add_argument("name")
    command("rm", "delete a function", commands.rm).add_argument("name")

    logs = command("logs", "show the logs of a function's invocations", commands.logs)
    logs.add_argument("name")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new entries")
    logs.add_argument("--since", metavar="TIME", help="only entries from then on")
    logs.add_argument("--request-id", metavar="ID", help="only this invocation's entry")
    logs.add_argument("--limit", type=positive_int, metavar="N", help="at most N entries")

    dead = command(
        "dead-letters", "list a function's dead letters, or redrive them", commands.dead_letters
    )
    dead.add_argument("name")
    dead.add_argument("--redrive", action="store_true", help="queue them all again")

    schedules = command(
        "schedules", "show a function's schedules, or replace them", commands.schedules
    )
    schedules.add_argument("name")
    schedules.add_argument(
        "--set", metavar="FILE", help="replace them with the JSON list in FILE (- for stdin)"
    )
    mappings.add_arguments(command("mappings", "event source mappings", mappings.run))
    topics.add_arguments(command("topics", "SNS-compatible topics", topics.run))
    queues.add_arguments(command("queues", "SQS-compatible queues", queues.run))


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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "local", None) is not None:
        local: Callable[[argparse.Namespace], int] = args.local
        return local(args)
    if getattr(args, "run", None) is not None:
        return commands.run(args)
    fmt = os.environ.get("FAAS_LOG_FORMAT") or "json"
    platform_log.configure(
        getattr(args, "log_level", "info"), fmt if fmt in platform_log.FORMATS else "json"
    )
    try:
        if args.command == "serve":
            return server.serve(args)
        if args.command == "worker":
            return server.worker(args)
        if args.command == "keys":
            return server.keys(args)
        return server.images_build(args)
    except FaasError as exc:
        print(f"faas: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
