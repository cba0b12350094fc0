"""The platform's errors as SNS answers them: status, ``Type`` and ``Code``, mapped once.

SNS's own refusals that the platform's tree has no class for (a batch's rules, an
unknown action) are ``SnsRefusal``, carrying their code.
"""

from __future__ import annotations

import logging
import uuid

from starlette.exceptions import HTTPException
from starlette.responses import Response

from faas import errors
from gateway.api.sns import answers

log = logging.getLogger(__name__)


class SnsRefusal(errors.InvalidRequest):
    """A request SNS refuses with a code of its own (``EmptyBatchRequest``...)."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class ResourceNotFound(errors.TopicNotFound):
    """The tagging actions' word for a topic that does not exist."""


# (class, status, code), first match wins: subclasses first.
CODES: list[tuple[type[errors.FaasError], int, str]] = [
    (ResourceNotFound, 404, "ResourceNotFound"),
    (errors.TopicNotFound, 404, "NotFound"),
    (errors.SubscriptionNotFound, 404, "NotFound"),
    (errors.MissingAuthenticationToken, 403, "MissingAuthenticationToken"),
    (errors.UnrecognizedClient, 403, "InvalidClientTokenId"),
    (errors.InvalidSignature, 403, "SignatureDoesNotMatch"),
    (errors.IncompleteSignature, 400, "IncompleteSignature"),
    (errors.Unauthorized, 403, "MissingAuthenticationToken"),
    (errors.Forbidden, 403, "AuthorizationError"),
    (errors.Throttled, 429, "Throttled"),
    (errors.PayloadTooLarge, 413, "RequestEntityTooLarge"),
    (errors.InvalidRequest, 400, "InvalidParameter"),
    (errors.ValidationFailed, 400, "InvalidParameter"),
    (errors.StoreUnavailable, 503, "ServiceUnavailable"),
]


def error_response(exc: Exception) -> Response:
    """Any exception as SNS answers it (a bug is logged, and an InternalError)."""
    request_id = str(uuid.uuid4())
    status, code, message = 500, "InternalError", "the server failed unexpectedly; see its log"
    if isinstance(exc, SnsRefusal):
        status, code, message = exc.status, exc.code, exc.message
    elif isinstance(exc, errors.FaasError):
        message = exc.message
        for cls, cls_status, cls_code in CODES:
            if isinstance(exc, cls):
                status, code = cls_status, cls_code
                break
        else:
            log.error("an SNS action failed", exc_info=exc)
        if code == "InvalidParameter" and (exc.field or "").startswith("MessageAttributes"):
            code = "ParameterValueInvalid"
    elif isinstance(exc, HTTPException) and exc.status_code == 413:
        status, code, message = 413, "RequestEntityTooLarge", str(exc.detail)
    else:
        log.error("an SNS action failed", exc_info=exc)
    kind = "Sender" if status < 500 else "Receiver"
    return answers.error(status, kind, code, message, request_id)
