"""``faas topics``: SNS-compatible topics from the shell, through the server's SNS API.

``ls`` lists the topics, ``create NAME`` makes one (or finds it), ``rm TOPIC``
deletes one, ``publish TOPIC MESSAGE`` publishes (``--subject``, ``--attr
K=V``), ``subscriptions [TOPIC]`` lists subscriptions, ``subscribe TOPIC ARN``
subscribes a function or queue ARN (``--filter``, ``--raw``), ``unsubscribe ARN``
removes one. A TOPIC is a name or an ARN. ``--json`` prints the answers as JSON.

The SNS API speaks SNS's query protocol and takes AWS's signatures (SigV4), not
Bearer keys: requests are signed here with the key, as ``faas keys show --aws``
names it for boto3.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import hmac
import json
import os
from typing import Any
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree

from faas.auth import access_key_id_of
from faas.cli.client import ApiError, Client
from faas.cli.exits import EXIT_OK
from faas.cli.render import table

VERSION = "2010-03-31"
DEFAULT_REGION = "local-1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommands of ``faas topics`` (``parser`` is the ``topics`` command's)."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("ls", help="list the topics")
    actions.add_parser("create", help="create a topic (or find it)").add_argument("name")
    actions.add_parser("rm", help="delete a topic and its subscriptions").add_argument("topic")
    publish = actions.add_parser("publish", help="publish a message to a topic")
    publish.add_argument("topic", help="the topic's name or ARN")
    publish.add_argument("message")
    publish.add_argument("--subject")
    publish.add_argument(
        "--attr", action="append", default=[], metavar="K=V", help="a String message attribute"
    )
    subs = actions.add_parser("subscriptions", help="list subscriptions (of one topic)")
    subs.add_argument("topic", nargs="?")
    subscribe = actions.add_parser("subscribe", help="subscribe a function or a queue")
    subscribe.add_argument("topic", help="the topic's name or ARN")
    subscribe.add_argument("endpoint", help="a function's ARN (lambda) or a queue's (sqs)")
    subscribe.add_argument("--filter", metavar="JSON", help="a filter policy")
    subscribe.add_argument(
        "--body", action="store_true", help="filter on the message body (MessageBody scope)"
    )
    subscribe.add_argument("--raw", action="store_true", help="raw delivery (queues)")
    actions.add_parser("unsubscribe", help="remove a subscription").add_argument("arn")
    for each in actions.choices.values():
        # ``--json`` after the action too (``faas topics ls --json``).
        each.add_argument("--json", action="store_true", default=argparse.SUPPRESS)


def run(client: Client, args: argparse.Namespace) -> int:
    sns = Sns(client, args.key or os.environ.get("FAAS_KEY") or None)
    action = args.action or "ls"
    if action == "ls":
        arns = sns.topics()
        _emit(args, {"topics": arns}, lambda: table(["NAME", "ARN"], [[_name(a), a] for a in arns]))
    elif action == "create":
        arn = _text(sns.call("CreateTopic", Name=args.name), "TopicArn")
        _emit(args, {"TopicArn": arn}, lambda: arn)
    elif action == "rm":
        sns.call("DeleteTopic", TopicArn=sns.arn(args.topic))
        _emit(args, {}, lambda: f"deleted {args.topic}")
    elif action == "publish":
        params = {"TopicArn": sns.arn(args.topic), "Message": args.message}
        if args.subject is not None:
            params["Subject"] = args.subject
        for i, pair in enumerate(args.attr, 1):
            name, sep, value = pair.partition("=")
            if not sep:
                raise ApiError(400, "InvalidParameter", f"--attr wants K=V, not {pair!r}")
            params[f"MessageAttributes.entry.{i}.Name"] = name
            params[f"MessageAttributes.entry.{i}.Value.DataType"] = "String"
            params[f"MessageAttributes.entry.{i}.Value.StringValue"] = value
        message_id = _text(sns.call("Publish", **params), "MessageId")
        _emit(args, {"MessageId": message_id}, lambda: message_id)
    elif action == "subscriptions":
        found = sns.subscriptions(sns.arn(args.topic) if args.topic else None)
        rows = [
            [_name(s["TopicArn"]), s["Protocol"], s["Endpoint"], s["SubscriptionArn"]]
            for s in found
        ]
        _emit(
            args,
            {"subscriptions": found},
            lambda: table(["TOPIC", "PROTOCOL", "ENDPOINT", "ARN"], rows),
        )
    elif action == "subscribe":
        protocol = "sqs" if ":sqs:" in args.endpoint else "lambda"
        params = {"TopicArn": sns.arn(args.topic), "Protocol": protocol, "Endpoint": args.endpoint}
        attributes = {}
        if args.body:
            attributes["FilterPolicyScope"] = "MessageBody"
        if args.filter is not None:
            attributes["FilterPolicy"] = args.filter
        if args.raw:
            attributes["RawMessageDelivery"] = "true"
        for i, (name, value) in enumerate(attributes.items(), 1):
            params[f"Attributes.entry.{i}.key"] = name
            params[f"Attributes.entry.{i}.value"] = value
        arn = _text(sns.call("Subscribe", **params), "SubscriptionArn")
        _emit(args, {"SubscriptionArn": arn}, lambda: arn)
    elif action == "unsubscribe":
        sns.call("Unsubscribe", SubscriptionArn=args.arn)
        _emit(args, {}, lambda: f"unsubscribed {args.arn}")
    return EXIT_OK


class Sns:
    """The server's SNS API: signed form posts, XML answers read into elements."""

    def __init__(self, client: Client, key: str | None) -> None:
        self._client = client
        self._key = key
        self._region = os.environ.get("FAAS_REGION") or DEFAULT_REGION

    def call(self, action: str, **params: str) -> ElementTree.Element:
        body = urlencode({"Action": action, "Version": VERSION, **params}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        if self._key is not None:
            headers.update(self._signed(body, headers["Content-Type"]))
        response = self._client._send("POST", "/", content=body, headers=headers)
        root = _parse(response.content)
        if response.status_code >= 400:
            code = _text(root, "Code") if root is not None else "HTTPError"
            message = _text(root, "Message") if root is not None else response.text[:200]
            raise ApiError(response.status_code, code, message)
        if root is None:
            raise ApiError(response.status_code, "HTTPError", "the answer was not SNS's XML")
        return root

    def topics(self) -> list[str]:
        arns: list[str] = []
        token: str | None = None
        while True:
            root = self.call("ListTopics", **({"NextToken": token} if token else {}))
            arns.extend(e.text or "" for e in root.iter() if _local(e.tag) == "TopicArn")
            token = _text(root, "NextToken") or None
            if token is None:
                return arns

    def subscriptions(self, topic_arn: str | None) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        token: str | None = None
        action = "ListSubscriptionsByTopic" if topic_arn else "ListSubscriptions"
        while True:
            params = {"TopicArn": topic_arn} if topic_arn else {}
            if token:
                params["NextToken"] = token
            root = self.call(action, **params)
            for member in root.iter():
                if _local(member.tag) == "member":
                    found.append({_local(c.tag): c.text or "" for c in member})
            token = _text(root, "NextToken") or None
            if token is None:
                return found

    def arn(self, topic: str) -> str:
        """A topic's ARN, from its name or ARN."""
        if topic.startswith("arn:"):
            return topic
        for arn in self.topics():
            if _name(arn) == topic:
                return arn
        raise ApiError(404, "NotFound", f"no topic is named {topic!r}")

    def _signed(self, body: bytes, content_type: str) -> dict[str, str]:
        """SigV4 headers for a POST of ``body`` to the root, with the key."""
        assert self._key is not None
        now = datetime.datetime.now(datetime.UTC)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        host = urlsplit(self._client.url).netloc
        payload = hashlib.sha256(body).hexdigest()
        signed = "content-type;host;x-amz-date"
        canonical = "\n".join(
            [
                "POST",
                "/",
                "",
                f"content-type:{content_type}",
                f"host:{host}",
                f"x-amz-date:{amz_date}",
                "",
                signed,
                payload,
            ]
        )
        scope = f"{day}/{self._region}/sns/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = ("AWS4" + self._key).encode()
        for part in (day, self._region, "sns", "aws4_request"):
            key = hmac.digest(key, part.encode(), "sha256")
        signature = hmac.digest(key, to_sign.encode(), "sha256").hex()
        credential = f"{access_key_id_of(self._key)}/{scope}"
        return {
            "X-Amz-Date": amz_date,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, "
            f"SignedHeaders={signed}, Signature={signature}",
        }


def _parse(content: bytes) -> ElementTree.Element | None:
    try:
        return ElementTree.fromstring(content)
    except ElementTree.ParseError:
        return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(root: ElementTree.Element, name: str) -> str:
    for element in root.iter():
        if _local(element.tag) == name:
            return element.text or ""
    return ""


def _name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _emit(args: argparse.Namespace, doc: dict[str, Any], text: Any) -> None:
    print(json.dumps(doc, indent=2) if args.json else text())
