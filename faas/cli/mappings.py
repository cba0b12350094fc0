"""``faas mappings``: event source mappings (a queue read into a function) from the shell.

``ls`` lists them, ``create QUEUE_ARN FUNCTION`` makes one, ``rm UUID`` deletes
one, ``enable``/``disable UUID`` start and stop its pollers; ``--json`` prints
the server's documents (Lambda's ``EventSourceMappingConfiguration``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from faas.cli.client import Client
from faas.cli.exits import EXIT_OK
from faas.cli.render import key_values, table

PATH = "/v1/mappings"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommands of ``faas mappings`` (``parser`` is the ``mappings`` command's)."""
    # --json after the action too (``faas mappings ls --json``), without hiding one before it.
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("ls", help="list the mappings", parents=[json_flag])
    create = actions.add_parser(
        "create", help="read a queue into a function in batches", parents=[json_flag]
    )
    create.add_argument("queue", help="the queue's ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)")
    create.add_argument("function", help="the function's name, name:alias or ARN")
    create.add_argument("--batch-size", type=int, help="messages a batch, 1-10000 (10)")
    create.add_argument("--window", type=int, help="seconds to gather a batch, 0-300 (0)")
    create.add_argument(
        "--report-failures",
        action="store_true",
        help="the function answers batchItemFailures (ReportBatchItemFailures)",
    )
    create.add_argument("--max-concurrency", type=int, help="most pollers at once, 2-1000")
    create.add_argument(
        "--filter",
        action="append",
        metavar="PATTERN",
        help="a filter pattern (JSON); messages no filter keeps are deleted",
    )
    create.add_argument("--disabled", action="store_true", help="create it disabled")
    for name, summary in (
        ("rm", "delete a mapping"),
        ("enable", "start a mapping's pollers"),
        ("disable", "stop a mapping's pollers"),
    ):
        actions.add_parser(name, help=summary, parents=[json_flag]).add_argument("uuid")


def run(client: Client, args: argparse.Namespace) -> int:
    action: Callable[[Client, argparse.Namespace], int] = {
        "ls": _ls,
        "create": _create,
        "rm": _rm,
        "enable": _enable,
        "disable": _disable,
    }.get(args.action or "ls", _ls)
    return action(client, args)


def _call(client: Client, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = client._call(method, path, **kwargs)  # the client's one edge for errors
    doc: dict[str, Any] = response.json() if response.content else {}
    return doc


def _ls(client: Client, args: argparse.Namespace) -> int:
    doc = _call(client, "GET", PATH)
    _emit(args, doc, lambda: mappings_table(doc.get("mappings", [])))
    return EXIT_OK


def _create(client: Client, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"EventSourceArn": args.queue, "FunctionName": args.function}
    if args.batch_size is not None:
        body["BatchSize"] = args.batch_size
    if args.window is not None:
        body["MaximumBatchingWindowInSeconds"] = args.window
    if args.report_failures:
        body["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    if args.max_concurrency is not None:
        body["ScalingConfig"] = {"MaximumConcurrency": args.max_concurrency}
    if args.filter:
        body["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in args.filter]}
    if args.disabled:
        body["Enabled"] = False
    doc = _call(client, "POST", PATH, json=body)
    _emit(args, doc, lambda: key_values(doc))
    return EXIT_OK


def _rm(client: Client, args: argparse.Namespace) -> int:
    _call(client, "DELETE", f"{PATH}/{args.uuid}")
    if args.json:
        print(json.dumps({"deleted": args.uuid}))
    else:
        print(f"deleted mapping {args.uuid}")
    return EXIT_OK


def _enable(client: Client, args: argparse.Namespace) -> int:
    return _switch(client, args, enabled=True)


def _disable(client: Client, args: argparse.Namespace) -> int:
    return _switch(client, args, enabled=False)


def _switch(client: Client, args: argparse.Namespace, *, enabled: bool) -> int:
    doc = _call(client, "PATCH", f"{PATH}/{args.uuid}", json={"Enabled": enabled})
    _emit(args, doc, lambda: key_values(doc))
    return EXIT_OK


def mappings_table(mappings: list[dict[str, Any]]) -> str:
    """One line a mapping: its UUID, state, queue, function and batch."""
    if not mappings:
        return "no mappings"
    rows = [
        [
            m.get("UUID", ""),
            m.get("State", ""),
            str(m.get("EventSourceArn", "")).rsplit(":", 1)[-1],
            str(m.get("FunctionArn", "")).split(":function:", 1)[-1],
            str(m.get("BatchSize", "")),
            str(m.get("MaximumBatchingWindowInSeconds", "")),
        ]
        for m in mappings
    ]
    return table(["UUID", "STATE", "QUEUE", "FUNCTION", "BATCH", "WINDOW"], rows)


def _emit(args: argparse.Namespace, doc: dict[str, Any], human: Callable[[], str]) -> None:
    print(json.dumps(doc, indent=2) if args.json else human())
