"""``faas queues``: SQS-compatible queues from the shell, through the server's SQS API.

``ls`` lists the queues and their depths, ``create NAME`` makes one (``--fifo``,
``--attribute K=V``), ``rm NAME`` deletes one, ``send NAME BODY`` sends a message,
``receive NAME`` prints what a receive hands out (``--max``, ``--wait``; deleted
only with ``--delete``), ``purge NAME`` empties one. A NAME is a queue's name, URL
or ARN. ``--json`` prints the API's answers.

The SQS API speaks AWS's JSON protocol and takes SigV4 signatures, not Bearer
keys: each call is signed with the key (``faas.cli.signing``).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from faas.cli.client import ApiError, Client
from faas.cli.commands import UsageError
from faas.cli.exits import EXIT_OK
from faas.cli.render import table
from faas.cli.signing import sign_post

DEFAULT_REGION = "local-1"
CONTENT_TYPE = "application/x-amz-json-1.0"
FIFO_SUFFIX = ".fifo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommands of ``faas queues`` (``parser`` is the ``queues`` command's)."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    ls = actions.add_parser("ls", help="list the queues and how many messages each holds")
    ls.add_argument("--prefix", default="", help="only queues whose name starts so")
    create = actions.add_parser("create", help="create a queue (or find it, if the same)")
    create.add_argument("name")
    create.add_argument(
        "--fifo", action="store_true", help="a FIFO queue (its name gets .fifo if it lacks it)"
    )
    create.add_argument(
        "--attribute",
        action="append",
        default=[],
        metavar="K=V",
        help="an SQS attribute, e.g. VisibilityTimeout=60 or RedrivePolicy=JSON (repeat it)",
    )
    actions.add_parser("rm", help="delete a queue and its messages").add_argument("name")
    send = actions.add_parser("send", help="send a message")
    send.add_argument("name")
    send.add_argument("body")
    send.add_argument("--group", help="MessageGroupId (FIFO queues need one)")
    send.add_argument("--dedup-id", help="MessageDeduplicationId (FIFO)")
    send.add_argument("--delay", type=int, metavar="S", help="DelaySeconds (standard queues)")
    send.add_argument(
        "--attr", action="append", default=[], metavar="K=V", help="a String message attribute"
    )
    receive = actions.add_parser("receive", help="receive messages and print them")
    receive.add_argument("name")
    receive.add_argument("--max", type=int, default=1, metavar="N", help="at most N (1-10; 1)")
    receive.add_argument(
        "--wait", type=int, metavar="S", help="long-poll up to S seconds for one (0-20)"
    )
    receive.add_argument(
        "--delete",
        action="store_true",
        help="delete what was received (else it comes back after the visibility timeout)",
    )
    actions.add_parser("purge", help="delete every message of a queue").add_argument("name")
    for each in actions.choices.values():
        # ``--json`` after the action too (``faas queues ls --json``).
        each.add_argument("--json", action="store_true", default=argparse.SUPPRESS)


def run(client: Client, args: argparse.Namespace) -> int:
    sqs = Sqs(client, args.key or os.environ.get("FAAS_KEY") or None)
    action: Callable[[Sqs, argparse.Namespace], None] = {
        "ls": _ls,
        "create": _create,
        "rm": _rm,
        "send": _send,
        "receive": _receive,
        "purge": _purge,
    }[args.action or "ls"]
    action(sqs, args)
    return EXIT_OK


def _ls(sqs: Sqs, args: argparse.Namespace) -> None:
    urls: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {
            "MaxResults": 1000,
            "QueueNamePrefix": getattr(args, "prefix", ""),
        }
        if token:
            params["NextToken"] = token
        page = sqs.call("ListQueues", **params)
        urls += page.get("QueueUrls", [])
        token = page.get("NextToken")
        if not token:
            break
    queues = []
    for url in urls:
        try:
            attributes = sqs.call("GetQueueAttributes", QueueUrl=url, AttributeNames=["All"])
        except ApiError as exc:
            if exc.error == "QueueDoesNotExist":
                continue  # deleted meanwhile
            raise
        queues.append({"QueueUrl": url, "Attributes": attributes.get("Attributes", {})})

    def human() -> str:
        if not queues:
            return "no queues"
        rows = []
        for q in queues:
            a = q["Attributes"]
            rows.append(
                [
                    _name(q["QueueUrl"]),
                    a.get("ApproximateNumberOfMessages", ""),
                    a.get("ApproximateNumberOfMessagesNotVisible", ""),
                    a.get("ApproximateNumberOfMessagesDelayed", ""),
                    q["QueueUrl"],
                ]
            )
        return table(["NAME", "MESSAGES", "IN FLIGHT", "DELAYED", "URL"], rows)

    _emit(args, {"queues": queues}, human)


def _create(sqs: Sqs, args: argparse.Namespace) -> None:
    name: str = args.name
    attributes = dict(_pair(p, "--attribute") for p in args.attribute)
    if args.fifo:
        if not name.endswith(FIFO_SUFFIX):
            name += FIFO_SUFFIX
        attributes["FifoQueue"] = "true"
    params: dict[str, Any] = {"QueueName": name}
    if attributes:
        params["Attributes"] = attributes
    answer = sqs.call("CreateQueue", **params)
    _emit(args, answer, lambda: str(answer["QueueUrl"]))


def _rm(sqs: Sqs, args: argparse.Namespace) -> None:
    sqs.call("DeleteQueue", QueueUrl=args.name)
    _emit(args, {}, lambda: f"deleted {_name(args.name)}")


def _purge(sqs: Sqs, args: argparse.Namespace) -> None:
    sqs.call("PurgeQueue", QueueUrl=args.name)
    _emit(args, {}, lambda: f"purged {_name(args.name)}")


def _send(sqs: Sqs, args: argparse.Namespace) -> None:
    params: dict[str, Any] = {"QueueUrl": args.name, "MessageBody": args.body}
    if args.group is not None:
        params["MessageGroupId"] = args.group
    if args.dedup_id is not None:
        params["MessageDeduplicationId"] = args.dedup_id
    if args.delay is not None:
        params["DelaySeconds"] = args.delay
    if args.attr:
        params["MessageAttributes"] = {
            key: {"DataType": "String", "StringValue": value}
            for key, value in (_pair(p, "--attr") for p in args.attr)
        }
    answer = sqs.call("SendMessage", **params)
    _emit(args, answer, lambda: str(answer["MessageId"]))


def _receive(sqs: Sqs, args: argparse.Namespace) -> None:
    params: dict[str, Any] = {
        "QueueUrl": args.name,
        "MaxNumberOfMessages": args.max,
        "AttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    }
    if args.wait is not None:
        params["WaitTimeSeconds"] = args.wait
    answer = sqs.call("ReceiveMessage", **params)
    messages: list[dict[str, Any]] = answer.get("Messages", [])
    if args.delete and messages:
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        deleted = sqs.call("DeleteMessageBatch", QueueUrl=args.name, Entries=entries)
        if deleted.get("Failed"):
            failure = deleted["Failed"][0]
            raise ApiError(400, str(failure.get("Code")), str(failure.get("Message")))

    def human() -> str:
        if not messages:
            return "no messages"
        lines = []
        for m in messages:
            count = m.get("Attributes", {}).get("ApproximateReceiveCount", "?")
            lines.append(f"{m['MessageId']} (received {count}x): {m['Body']}")
        return "\n".join(lines)

    _emit(args, {"Messages": messages, "deleted": bool(args.delete and messages)}, human)


class Sqs:
    """The server's SQS API: signed JSON posts to the root, JSON answers."""

    def __init__(self, client: Client, key: str | None) -> None:
        self._client = client
        self._key = key
        self._region = os.environ.get("FAAS_REGION") or DEFAULT_REGION

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        body = json.dumps(params).encode()
        headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"AmazonSQS.{operation}"}
        if self._key is not None:
            headers.update(
                sign_post(
                    self._key,
                    region=self._region,
                    service="sqs",
                    host=urlsplit(self._client.url).netloc,
                    body=body,
                    headers=headers,
                )
            )
        response = self._client._send("POST", "/", content=body, headers=headers)
        try:
            doc = response.json() if response.content else {}
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise ApiError(response.status_code, "HTTPError", response.text[:200])
        if response.status_code >= 400:
            code = str(doc.get("__type", "HTTPError")).rsplit("#", 1)[-1]
            raise ApiError(response.status_code, code, str(doc.get("message", "")))
        return doc


def _pair(text: str, flag: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"{flag} wants K=V, not {text!r}")
    return key, value


def _name(url_or_name: str) -> str:
    return url_or_name.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def _emit(args: argparse.Namespace, doc: dict[str, Any], human: Callable[[], str]) -> None:
    print(json.dumps(doc, indent=2) if args.json else human())
