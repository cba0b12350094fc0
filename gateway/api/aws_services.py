"""The AWS APIs that share the root path: SQS and SNS, both at ``POST /``.

boto3 sends SQS its JSON protocol (``X-Amz-Target: AmazonSQS.SendMessage``,
``Content-Type: application/x-amz-json-1.0``) and SNS its query protocol (a form
body ``Action=Publish&Version=2010-03-31``), both to the endpoint's root. Which
service a request is for is read off its head (the target header), before the body,
because SigV4's credential scope names the service: ``service_of``. The operation
is the target's suffix (SQS) or the form's ``Action`` (SNS); each service's package
serves it and answers errors in its own shape (``gateway.api.sqs``,
``gateway.api.sns``): ``serve(request, operation)`` and ``error_response(exc)``.

Who may call is decided here, once, before the operation runs (``authorize``): an
admin key anything; a function's own key (faas.auth) the queues and topics its
patterns allow, named by the request's ``QueueUrl``/``QueueName`` (SQS) or
``TopicArn``/``TargetArn``/``SubscriptionArn``/``ResourceArn``/``Name`` (SNS); an
invoke key nothing here.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, urlsplit

from starlette.responses import Response

from gateway.edge.aws import AwsRequest

SQS_TARGET = "AmazonSQS."
# The root row's "service": read from each request (``service_of``).
BY_REQUEST = "*"


class ServicePackage(Protocol):
    """What ``gateway.api.sqs`` and ``gateway.api.sns`` provide."""

    serve: Callable[[AwsRequest, str], Awaitable[Response]]
    error_response: Callable[[Exception], Response]


def service_of(headers: list[tuple[bytes, bytes]]) -> str:
    """``sqs`` for a request with an ``AmazonSQS.*`` target, else ``sns``."""
    for name, value in headers:
        if name == b"x-amz-target":
            return "sqs" if value.startswith(SQS_TARGET.encode()) else "unknown"
    return "sns"


def package(service: str) -> ServicePackage:
    # Imported when first asked: a server nobody sends SQS or SNS calls never loads them.
    return cast(ServicePackage, importlib.import_module(f"gateway.api.{service}"))


def error_response(service: str, exc: Exception) -> Response | None:
    """``exc`` in ``service``'s error shape (None: not one of these services)."""
    if service not in ("sqs", "sns"):
        return None
    return package(service).error_response(exc)


async def dispatch(request: AwsRequest) -> Response:
    """The operation a root request names, served by its service's package."""
    target = request.header("x-amz-target")
    if target is not None:
        service, operation = "sqs", target.removeprefix(SQS_TARGET)
        request.document = sqs_document(request.body)
        names = sqs_resources(request.document)
    else:
        form = parse_qs(request.body.decode("latin-1"), keep_blank_values=True)
        service, operation = "sns", (form.get("Action") or [""])[0]
        names = sns_resources(form)
    authorize(request, service, names)
    return await package(service).serve(request, operation)


def authorize(request: AwsRequest, service: str, names: list[str]) -> None:
    """Let the request's key use ``names`` of ``service`` (none named: the service)."""
    key = request.key
    if key is None or key.admin:
        return  # an open server, or an admin key
    access = request.platform.access
    if key.function is None:
        access.may_use(key, service, "*")  # an invoke key: refused, saying so
    for name in names:
        access.may_use(key, service, name)


def sqs_document(body: bytes) -> dict[str, Any] | None:
    """An SQS request's JSON body, parsed once (None if it is no object: the operation
    refuses it in SQS's words)."""
    try:
        document = json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def sqs_resources(document: dict[str, Any] | None) -> list[str]:
    """The queues an SQS request names (a URL's last segment, or a queue name)."""
    if document is None:
        return []
    names = []
    url = document.get("QueueUrl")
    if isinstance(url, str):
        names.append(urlsplit(url).path.rstrip("/").rpartition("/")[2])
    name = document.get("QueueName")
    if isinstance(name, str):
        names.append(name)
    return names


def sns_resources(form: dict[str, list[str]]) -> list[str]:
    """The topics an SNS request names (by ARN, or a new topic's name)."""
    names = []
    for field in ("TopicArn", "TargetArn", "ResourceArn"):
        for arn in form.get(field, []):
            names.append(arn.rpartition(":")[2])
    for arn in form.get("SubscriptionArn", []):
        names.append(arn.rsplit(":", 2)[-2] if arn.count(":") >= 2 else arn)
    names += form.get("Name", [])
    return names
