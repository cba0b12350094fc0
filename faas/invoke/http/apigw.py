"""API Gateway's proxy events as pure functions: a plain ``HttpRequest`` to the event.

Handlers written for API Gateway read an event of one of two documented shapes
and return a proxy response; this module builds those events, and
``faas.invoke.http.responses`` maps a handler's return value back to HTTP.

- Payload format ``1.0`` (REST API): ``resource``, ``path``, ``httpMethod``,
  ``headers`` and ``multiValueHeaders``, ``queryStringParameters`` and
  ``multiValueQueryStringParameters``, ``pathParameters``, ``requestContext``,
  ``body``, ``isBase64Encoded``.
- Payload format ``2.0`` (HTTP API, function URLs): ``version``, ``routeKey``,
  ``rawPath``, ``rawQueryString``, ``cookies``, lower-case ``headers`` with
  repeats joined by commas, ``queryStringParameters``, ``requestContext.http``,
  ``pathParameters``, ``body``, ``isBase64Encoded``.

A binary body travels base64 with ``isBase64Encoded: true``.

Both formats carry ``X-Forwarded-For``, ``-Port`` and ``-Proto`` as API Gateway
adds them, and ``sourceIp`` is the caller's address: ``caller`` works both out
from the connection and, only when it comes from a proxy the operator trusts,
from that proxy's headers. The path follows AWS's captured events: payload 1.0
(REST API) has ``path`` and ``pathParameters`` as sent, percent-encoded; payload
2.0 (HTTP API) has ``rawPath`` and ``pathParameters`` decoded.
"""

from __future__ import annotations

import base64
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, quote

TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
    "+json",
    "+xml",
)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# What API Gateway sets itself on every proxy event; a client's own copies never pass as they are.
_FORWARDED = frozenset({"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"})


@dataclass(frozen=True)
class Forwarded:
    """The ``X-Forwarded-*`` headers API Gateway adds: the hops up to the client, the
    port and the scheme the client used."""

    for_: str = ""
    port: str = ""
    proto: str = "http"


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request as it arrived, before any shape is imposed on it.

    ``path`` is decoded; ``raw_path`` is the same path as sent, percent-encoding
    intact (empty: ``path`` encoded again). ``source_ip`` is the caller's address.
    """

    method: str
    path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"
    raw_path: str = ""
    forwarded: Forwarded = Forwarded()

    @property
    def encoded_path(self) -> str:
        return self.raw_path or quote(self.path, safe=_PATH_SAFE)

    def header(self, name: str) -> str:
        """The first value of header ``name`` (any case), or ''."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), "")


@dataclass(frozen=True)
class RouteMatch:
    """Which route took the request: ``route_key`` like ``GET /users/{userId}``."""

    route_key: str = "$default"
    resource: str = "/{proxy+}"
    path_parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """What ``requestContext`` says of the API: ids, stage, time."""

    request_id: str
    account_id: str
    api_id: str
    domain: str
    stage: str = "$default"
    now: float = field(default_factory=time.time)


# Characters a path segment may hold as they are (RFC 3986 pchar), with "/" and "%".
_PATH_SAFE = "/%:@!$&'()*+,;=~-._"


def encoded_path(raw: bytes) -> str:
    """A request path as the client sent it, with any byte a URL may not hold as it is
    (a space, non-ASCII) percent-encoded; escapes already there are kept."""
    return quote(raw, safe=_PATH_SAFE)


@lru_cache(maxsize=8)
def trusted_networks(raw: str) -> tuple[Network, ...]:
    """``FAAS_TRUSTED_PROXIES`` (comma-separated addresses and CIDRs, checked by Settings)."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()
    )


@lru_cache(maxsize=4096)  # ipaddress parses in ~3 us; a proxy's and clients' addresses repeat
def _address(text: str) -> Address | None:
    """An IP address, also as ``1.2.3.4:port`` or ``[::1]:port``; None for anything else."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(hop: str, trusted: Sequence[Network]) -> bool:
    if not trusted:
        return False
    address = _address(hop)
    return address is not None and any(address in network for network in trusted)


def caller(
    peer: str,
    headers: list[tuple[str, str]],
    trusted: Sequence[Network],
    *,
    scheme: str,
    port: int,
) -> tuple[str, Forwarded]:
    """Who called: the ``sourceIp`` and the ``X-Forwarded-*`` headers of the event.

    ``peer`` is the address of the connection. As API Gateway does, the client's
    address is appended to the X-Forwarded-For it sent, and ``sourceIp`` is the
    address that connected, never one a client wrote. Only when ``peer`` is a
    trusted proxy are its X-Forwarded-For (read from the right, past further
    trusted proxies), -Proto and -Port believed; the proxies' own hops are then
    left out of the chain, as API Gateway leaves out its own.
    """
    hops = [
        hop.strip()
        for name, value in headers
        if name.lower() == "x-forwarded-for"
        for hop in value.split(",")
        if hop.strip()
    ]
    hops.append(peer)
    if not _trusted(peer, trusted):
        return peer, Forwarded(", ".join(hops), str(port) if port else "", scheme)
    client = len(hops) - 1
    while client > 0 and _trusted(hops[client], trusted):
        client -= 1
    if _address(hops[client]) is None:
        client += 1  # a proxy passed on something that is no address: the proxy is the caller
    address = _address(hops[client])
    source_ip = str(address) if address is not None else hops[client]
    chain = Forwarded(", ".join(hops[: client + 1]), str(port) if port else "", scheme)
    proto = _last(headers, "x-forwarded-proto").lower()
    proto = proto if proto in ("http", "https") else ""
    sent_port = _last(headers, "x-forwarded-port")
    if sent_port.isdigit() and 0 < int(sent_port) < 65536:
        chain = Forwarded(chain.for_, sent_port, proto or scheme)
    elif proto:
        chain = Forwarded(chain.for_, "443" if proto == "https" else "80", proto)
    return source_ip, chain


def _last(headers: list[tuple[str, str]], name: str) -> str:
    """The last value of header ``name`` (a proxy's, if it appended to a client's)."""
    values = [v for k, v in headers if k.lower() == name]
    return values[-1].split(",")[-1].strip() if values else ""


def _event_headers(request: HttpRequest) -> list[tuple[str, str]]:
    """The request's headers with the ``X-Forwarded-*`` ones API Gateway sets itself."""
    headers = [(k, v) for k, v in request.headers if k.lower() not in _FORWARDED]
    forwarded = request.forwarded
    if forwarded.for_ or request.source_ip:
        headers.append(("x-forwarded-for", forwarded.for_ or request.source_ip))
    if forwarded.port:
        headers.append(("x-forwarded-port", forwarded.port))
    headers.append(("x-forwarded-proto", forwarded.proto))
    return headers


def _is_text(content_type: str) -> bool:
    kind = content_type.lower()
    return not kind or any(t in kind for t in TEXT_TYPES)


def _body(request: HttpRequest) -> tuple[str | None, bool]:
    if not request.body:
        return None, False
    if _is_text(request.header("content-type")):
        try:
            return request.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode("ascii"), True


def _canonical(name: str) -> str:
    # HTTP/1.1 servers hand header names over lower-cased; REST API handlers
    # look them up as clients usually send them (``Content-Type``).
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def event_v1(request: HttpRequest, route: RouteMatch, ctx: Context) -> dict[str, Any]:
    """The REST API (payload 1.0) event."""
    multi_headers: dict[str, list[str]] = {}
    for name, value in _event_headers(request):
        multi_headers.setdefault(_canonical(name), []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.raw_query, keep_blank_values=True):
        multi_query.setdefault(name, []).append(value)
    body, encoded = _body(request)
    resource = route.resource
    # A REST API hands the path over as sent (AWS's captured events: "/a%20b").
    path = request.encoded_path
    return {
        "resource": resource,
        "path": path,
        "httpMethod": request.method,
        "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(route.path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ctx.account_id,
            "apiId": ctx.api_id,
            "domainName": ctx.domain,
            "domainPrefix": ctx.domain.split(".")[0],
            "extendedRequestId": ctx.request_id,
            "httpMethod": request.method,
            "identity": {"sourceIp": request.source_ip, "userAgent": request.header("user-agent")},
            "path": path,
            "protocol": request.protocol,
            "requestId": ctx.request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ctx.now)),
            "requestTimeEpoch": int(ctx.now * 1000),
            "resourceId": route.route_key,
            "resourcePath": resource,
            "stage": ctx.stage,
        },
        "body": body,
        "isBase64Encoded": encoded,
    }


def event_v2(request: HttpRequest, route: RouteMatch, ctx: Context) -> dict[str, Any]:
    """The HTTP API (payload 2.0) event."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in _event_headers(request):
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.path,
        "rawQueryString": request.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": ctx.account_id,
            "apiId": ctx.api_id,
            "domainName": ctx.domain,
            "domainPrefix": ctx.domain.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": request.header("user-agent"),
            },
            "requestId": ctx.request_id,
            "routeKey": route.route_key,
            "stage": ctx.stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ctx.now)),
            "timeEpoch": int(ctx.now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if route.path_parameters:
        event["pathParameters"] = dict(route.path_parameters)
    body, encoded = _body(request)
    if body is not None:
        event["body"] = body
        event["isBase64Encoded"] = encoded
    return event
