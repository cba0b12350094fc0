"""The one place where platform errors become HTTP responses.

Every error body is JSON. On the platform's own API (``/v1``, ``/fn``) it is
``{"error": <class name>, "message": ..., "field"?: ...}``; on the AWS APIs it is
AWS's shape (``aws_error_response``): the error code in ``x-amzn-ErrorType`` and
``{"Type": "User"|"Service", "message": ...}``, with AWS's status codes, so that
botocore raises ``client.exceptions.<Code>``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faas import errors

log = logging.getLogger(__name__)

STATUS: list[tuple[type[errors.FaasError], int]] = [
    (errors.InvalidRequest, 400),
    (errors.PayloadTooLarge, 413),
    (errors.ValidationFailed, 422),
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.FunctionNotFound, 404),
    (errors.RouteNotFound, 404),
    (errors.InvocationNotFound, 404),
    (errors.MappingNotFound, 404),
    (errors.TopicNotFound, 404),
    (errors.SubscriptionNotFound, 404),
    (errors.ResourceConflict, 409),
    (errors.PreconditionFailed, 412),
    (errors.Throttled, 429),
    (errors.ImageUnavailable, 503),
    (errors.BackendError, 502),
    (errors.StoreUnavailable, 503),
]


def status_of(exc: errors.FaasError) -> int:
    for kind, status in STATUS:
        if isinstance(exc, kind):
            return status
    return 500


# The AWS error code and status of each class (first match wins: subclasses first).
AWS_ERRORS: list[tuple[type[errors.FaasError], int, str]] = [
    (errors.MissingAuthenticationToken, 403, "MissingAuthenticationTokenException"),
    (errors.UnrecognizedClient, 403, "UnrecognizedClientException"),
    (errors.InvalidSignature, 403, "InvalidSignatureException"),
    (errors.IncompleteSignature, 400, "IncompleteSignatureException"),
    (errors.Unauthorized, 403, "MissingAuthenticationTokenException"),
    (errors.Forbidden, 403, "AccessDeniedException"),
    (errors.PreconditionFailed, 412, "PreconditionFailedException"),
    (errors.InvalidRequest, 400, "InvalidParameterValueException"),
    (errors.ValidationFailed, 400, "InvalidParameterValueException"),
    (errors.PayloadTooLarge, 413, "RequestTooLargeException"),
    (errors.FunctionNotFound, 404, "ResourceNotFoundException"),
    (errors.RouteNotFound, 404, "ResourceNotFoundException"),
    (errors.InvocationNotFound, 404, "ResourceNotFoundException"),
    (errors.MappingNotFound, 404, "ResourceNotFoundException"),
    (errors.ResourceConflict, 409, "ResourceConflictException"),
    (errors.Throttled, 429, "TooManyRequestsException"),
]
AWS_SERVICE_ERROR = (500, "ServiceException")


def aws_error_response(exc: Exception) -> JSONResponse:
    """Any exception as an AWS API answers it (a bug is logged, and a ServiceException)."""
    status, code = AWS_SERVICE_ERROR
    kind = "Service"
    message = "the server failed unexpectedly; see its log"
    headers = {}
    if isinstance(exc, errors.FaasError):
        for cls, cls_status, cls_code in AWS_ERRORS:
            if isinstance(exc, cls):
                status, code, kind = cls_status, cls_code, "User"
                break
        message = exc.message
    elif isinstance(exc, StarletteHTTPException) and exc.status_code == 413:
        status, code, kind = 413, "RequestTooLargeException", "User"
        message = str(exc.detail)
    elif isinstance(exc, StarletteHTTPException):
        status, code, kind = 404, "UnknownOperationException", "User"
        message = "Unknown operation"
    else:
        log.error("unexpected error", exc_info=exc)
    body: dict[str, object] = {"Type": kind, "message": message}
    if isinstance(exc, errors.Throttled):
        headers["Retry-After"] = str(exc.retry_after_s)
        body["Reason"] = exc.reason
    headers["x-amzn-ErrorType"] = code
    return JSONResponse(body, status_code=status, headers=headers)


def error_response(exc: errors.FaasError) -> JSONResponse:
    body: dict[str, object] = {"error": type(exc).__name__, "message": exc.message}
    if exc.field:
        body["field"] = exc.field
    position = getattr(exc, "position", None)
    if position is not None:
        body["position"] = position
    headers = {}
    if isinstance(exc, errors.Throttled):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, errors.Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, errors.StoreUnavailable):
        headers["Retry-After"] = "1"
    return JSONResponse(body, status_code=status_of(exc), headers=headers)


async def _faas_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.FaasError)
    return error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "form")]
    field = loc[0] if loc else None
    message = first.get("msg", "invalid request")
    if field:
        message = f"{field}: {message}"
    return error_response(errors.ValidationFailed(message, field=field))


def http_error_response(exc: StarletteHTTPException) -> JSONResponse:
    name = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}.get(
        exc.status_code, "HTTPError"
    )
    return JSONResponse(
        {"error": name, "message": str(exc.detail)},
        status_code=exc.status_code,
        headers=exc.headers,
    )


def response_for(exc: Exception) -> JSONResponse:
    """Any exception as the response a client gets (for code outside FastAPI's handlers)."""
    if isinstance(exc, errors.FaasError):
        return error_response(exc)
    if isinstance(exc, StarletteHTTPException):
        return http_error_response(exc)
    # A bug, not a user's mistake: log it whole, answer JSON without the trace.
    log.error("unexpected error", exc_info=exc)
    return JSONResponse(
        {"error": "InternalError", "message": "the server failed unexpectedly; see its log"},
        status_code=500,
    )


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return http_error_response(exc)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    return response_for(exc)


async def _client_gone(_: Request, exc: Exception) -> Response:
    # The client left mid-body, or was closed for sending it too slowly
    # (gateway/edge/protocol.py): no one reads this, and it is no bug to log.
    return Response(status_code=499)


class AnswerBugs:
    """Answers a bug's 500 inside FastAPI's stack, so its connection stays usable.

    Starlette's outermost middleware answers with the ``Exception`` handler and then
    raises again, for the server to log; uvicorn, seeing an exception once a
    response has started, closes the connection without ``Connection: close``, and
    the client's next request on that keep-alive connection was reset. Here the
    500 is logged once and the request ends normally. An error after the response
    started still propagates: only closing the connection tells of a cut answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if started:
                raise
            await response_for(exc)(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_middleware(AnswerBugs)
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(errors.FaasError, _faas_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
