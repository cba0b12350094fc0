"""The AWS APIs that share the root path: SQS and SNS, both at ``POST /``.

boto3 sends SQS its JSON protocol (``X-Amz-Target: AmazonSQS.SendMessage``,
``Content-Type: application/x-amz-json-1.0``) and SNS its query protocol (a form
body ``Action=Publish&Version=2010-03-31``), both to the endpoint's root. Which
service a request is for is read off its head (the target header), before the body,
because SigV4's credential scope names the service: ``service_of``. The operation
is the target's suffix (SQS) or the form's ``Action`` (SNS); each service's package
serves it and answers errors in its own shape (``gateway.api.sqs``,
``gateway.api.sns``): ``serve(request, operation)`` and ``error_response(exc)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Protocol, cast
from urllib.parse import parse_qs

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
    else:
        form = parse_qs(request.body.decode("latin-1"), keep_blank_values=True)
        service, operation = "sns", (form.get("Action") or [""])[0]
    return await package(service).serve(request, operation)
