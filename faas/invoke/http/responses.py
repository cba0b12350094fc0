"""API Gateway's proxy responses as pure functions: a handler's return value to HTTP.

Payload format ``1.0`` (REST API) takes only a proxy response: ``statusCode``,
``headers`` and ``multiValueHeaders``, ``body``, ``isBase64Encoded``. Format
``2.0`` (HTTP API, function URLs) also takes ``cookies``, and a return value
that is not a proxy response becomes a 200 JSON response. A binary body travels
base64 with ``isBase64Encoded: true``. A return value that is not a valid proxy
response is ``MalformedResponse`` (502); a handler that raised or timed out is
answered by ``function_error``. The events handlers read are built in
``faas.invoke.http.apigw``.

A function URL in ``RESPONSE_STREAM`` mode sends what a streaming function
writes as it writes it (``HttpResponse.stream``); the function's HTTP metadata,
if it gave any, is the JSON before the first 8 NUL bytes (``prelude``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from faas.errors import BackendError
from faas.text import as_text

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*$")


class MalformedResponse(BackendError):
    """The function's return value is not a proxy response (API Gateway answers 502)."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    # A streamed body, sent as it arrives (``body`` is empty then).
    stream: AsyncIterator[bytes] | None = None


# What a streaming function's content type is when its stream starts with HTTP metadata
# (Lambda's ``awslambda.HttpResponseStream.from``), and what ends that metadata.
HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
PRELUDE_END = b"\0" * 8
PRELUDE_MAX = 64 * 1024


def prelude(raw: bytes) -> tuple[int, list[tuple[str, str]]]:
    """The status and headers a streaming function's HTTP metadata (JSON: ``statusCode``,
    ``headers``, ``cookies``) asks for; 200 and ``application/octet-stream`` by default."""
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise MalformedResponse("the stream's HTTP metadata is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedResponse("the stream's HTTP metadata must be an object")
    value = {"statusCode": 200, **value, "body": None, "isBase64Encoded": False}
    out = _proxy(value, "2.0", default_type="application/octet-stream")
    return out.status, out.headers


def response(payload: bytes, payload_format: str) -> HttpResponse:
    """Map a handler's return value (JSON bytes) to the HTTP response API Gateway would send."""
    try:
        value = json.loads(payload) if payload.strip() else None
    except ValueError:
        raise MalformedResponse("the function returned something that is not JSON") from None
    if payload_format == "2.0" and not (isinstance(value, dict) and "statusCode" in value):
        # HTTP API: a plain value is the body of a 200 JSON response.
        body = value if isinstance(value, str) else json.dumps(value)
        return HttpResponse(200, [("content-type", "application/json")], _utf8(body))
    if not isinstance(value, dict):
        raise MalformedResponse("a proxy response must be an object with a statusCode")
    return _proxy(value, payload_format)


def _proxy(
    value: dict[str, Any], payload_format: str, default_type: str = "application/json"
) -> HttpResponse:
    status = value.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode must be an HTTP status, not {status!r}")
    headers: list[tuple[str, str]] = []
    single = value.get("headers")
    multi = value.get("multiValueHeaders")
    single = {} if single is None else single
    multi = {} if multi is None else multi
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise MalformedResponse("headers and multiValueHeaders must be objects")
    for name, item in single.items():
        if name not in multi:
            headers.append((str(name), _scalar(name, item)))
    for name, items in multi.items():
        if not isinstance(items, list):
            raise MalformedResponse(f"multiValueHeaders[{name!r}] must be a list")
        headers.extend((str(name), _scalar(name, i)) for i in items)
    cookies = value.get("cookies") if payload_format == "2.0" else None
    if cookies is not None:
        if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
            raise MalformedResponse("cookies must be a list of strings")
        headers.extend(("set-cookie", _scalar("set-cookie", c)) for c in cookies)
    body = value.get("body")
    if body is None:
        raw = b""
    elif not isinstance(body, str):
        raise MalformedResponse("body must be a string (JSON-encode objects)")
    elif value.get("isBase64Encoded") is True:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedResponse(
                "body is not valid base64 though isBase64Encoded is true"
            ) from None
    else:
        raw = _utf8(body)
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("content-type", default_type))
    return HttpResponse(status, headers, raw)


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate (JSON's "\ud800") has no UTF-8: sent as U+FFFD, never a 500.
        return as_text(text).encode()


def _scalar(name: object, value: object) -> str:
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        raise MalformedResponse(f"header name {name!r} is not a valid HTTP header name")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise MalformedResponse(f"header {name!r} must be a string, not {type(value).__name__}")
    if not _HEADER_VALUE.fullmatch(value):
        raise MalformedResponse(f"header {name!r} has a line break or a non-Latin-1 character")
    return value


def function_error(
    request_id: str, error: dict[str, Any], *, timed_out: bool, debug: bool
) -> HttpResponse:
    """What an HTTP route answers when the handler raised (502) or timed out (504).

    The error's type is always given; its message and stack trace only in debug
    mode, since they may tell a caller more than the function's author wants.
    """
    body: dict[str, Any] = {
        "error": "FunctionTimeout" if timed_out else "FunctionError",
        "message": "the function timed out" if timed_out else "the function failed",
        "errorType": error.get("errorType", "Runtime.Unknown"),
        "requestId": request_id,
    }
    if debug:
        body["errorMessage"] = error.get("errorMessage", "")
        body["stackTrace"] = error.get("stackTrace") or []
    return HttpResponse(
        504 if timed_out else 502,
        [("content-type", "application/json"), ("x-faas-function-error", "Unhandled")],
        json.dumps(body).encode(),
    )
