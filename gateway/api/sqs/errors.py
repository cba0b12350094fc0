"""Errors in SQS's JSON-protocol shape: ``{"__type": ..., "message": ...}`` and the
``x-amzn-query-error`` header (``Code;Sender``) botocore reads for SQS (it is
``awsQueryCompatible``): the header's code is the one the query API had, the
``__type`` the modeled exception botocore raises (``client.exceptions.QueueDoesNotExist``)."""

from __future__ import annotations

import json
import logging

from starlette.responses import Response

from faas import errors
from gateway.errors import AWS_ERRORS

log = logging.getLogger(__name__)
CONTENT_TYPE = "application/x-amz-json-1.0"
SQS = "com.amazonaws.sqs#"
CORAL = "com.amazon.coral.service#"

# class -> (status, __type, query code); first match wins (subclasses first).
SQS_ERRORS: list[tuple[type[errors.FaasError], int, str, str]] = [
    (
        errors.QueueDoesNotExist,
        400,
        SQS + "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    ),
    (errors.QueueNameExists, 400, SQS + "QueueNameExists", "QueueAlreadyExists"),
    (errors.ReceiptHandleIsInvalid, 400, SQS + "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid"),
    (
        errors.MessageNotInflight,
        400,
        SQS + "MessageNotInflight",
        "AWS.SimpleQueueService.MessageNotInflight",
    ),
    (errors.InvalidAttributeValue, 400, SQS + "InvalidAttributeValue", "InvalidAttributeValue"),
    (errors.Throttled, 400, SQS + "RequestThrottled", "RequestThrottled"),
]


class UnknownOperation(errors.InvalidRequest):
    """An ``X-Amz-Target`` naming no SQS operation."""


def _body(status: int, type_: str, query: str, message: str, fault: str = "Sender") -> Response:
    return Response(
        json.dumps({"__type": type_, "message": message}),
        status_code=status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-query-error": f"{query};{fault}"},
    )


def error_response(exc: Exception) -> Response:
    if isinstance(exc, UnknownOperation):
        return _body(
            400, CORAL + "UnknownOperationException", "UnknownOperationException", exc.message
        )
    if isinstance(exc, errors.BatchRequestInvalid):
        return _body(400, SQS + exc.code, f"AWS.SimpleQueueService.{exc.code}", exc.message)
    if isinstance(exc, errors.FaasError):
        for cls, status, type_, query in SQS_ERRORS:
            if isinstance(exc, cls):
                return _body(status, type_, query, exc.message)
        if isinstance(exc, errors.InvalidRequest | errors.ValidationFailed):
            return _body(400, SQS + "InvalidParameterValue", "InvalidParameterValue", exc.message)
        if isinstance(exc, errors.StoreUnavailable):
            return _body(500, SQS + "InternalError", "InternalError", exc.message, "Receiver")
        for cls, status, code in AWS_ERRORS:
            if isinstance(exc, cls):
                return _body(status, CORAL + code, code.removesuffix("Exception"), exc.message)
    http_status = getattr(exc, "status_code", None)
    if http_status == 413:
        return _body(
            413,
            SQS + "BatchRequestTooLong",
            "AWS.SimpleQueueService.BatchRequestTooLong",
            str(getattr(exc, "detail", "too large")),
        )
    if isinstance(http_status, int) and 400 <= http_status < 500:
        return _body(
            http_status,
            SQS + "InvalidParameterValue",
            "InvalidParameterValue",
            str(getattr(exc, "detail", "")),
        )
    log.exception("SQS operation failed", exc_info=exc)
    return _body(
        500,
        SQS + "InternalError",
        "InternalError",
        "the server failed unexpectedly; see its log",
        "Receiver",
    )
