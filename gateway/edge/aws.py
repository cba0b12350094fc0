"""The AWS APIs at the edge: each request signed (SigV4), read, let in by its key's role,
and answered with AWS's error shapes.

The rows of an AWS API are rows of ``gateway.routes`` like any other, marked
``aws``; the edge serves them all itself (FastAPI never sees them). For each:

1. on a server with keys, the ``Authorization`` header is parsed, its access
   key id found and its date checked, before the body is read (an unknown key
   or a stale date costs no read);
2. the body is read to the row's limit and hashed, and the signature verified
   over the raw path, the query, the signed headers and that hash;
3. the key must hold the row's role: admin, or for ``INVOKE`` rows a key that
   may invoke the function the path names (a name or an ARN);
4. the operation runs with an ``AwsRequest``; any error becomes AWS's error
   shape (``gateway.errors.aws_error_response``).

A server without keys (localhost only) takes unsigned requests, as ``/v1`` does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope

from faas.auth import UNRECOGNIZED_CLIENT, ApiKey
from faas.errors import FunctionNotFound, InvalidRequest, InvalidSignature, UnrecognizedClient
from faas.platform import Platform
from faas.text import check_text
from gateway.api.aws_lambda import names
from gateway.edge import bodies, limits, sigv4
from gateway.edge.table import DEFAULT_BODY_LIMIT, Found, Role
from gateway.errors import aws_error_response


@dataclass(slots=True)
class AwsRequest:
    """One request to an AWS operation, signed and let in."""

    platform: Platform
    method: str
    params: Mapping[str, str]
    query_string: bytes
    raw_headers: list[tuple[bytes, bytes]]  # lower-case names, as ASGI gives them
    body: bytes
    key: ApiKey | None  # None on a server without keys
    # The body as JSON, once something parsed it (SQS's is read to authorize the call).
    document: dict[str, Any] | None = None
    # Parsed when first asked (an invoke needs neither the query nor most headers).
    _query: dict[str, list[str]] | None = None
    _named: dict[str, names.Qualified] = field(default_factory=dict)

    @property
    def query(self) -> Mapping[str, list[str]]:
        if self._query is None:
            text = self.query_string.decode("latin-1")
            self._query = parse_qs(text, keep_blank_values=True) if text else {}
        return self._query

    def arg(self, name: str) -> str | None:
        """A query parameter's (first) value."""
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode("latin-1")
        for key, value in self.raw_headers:
            if key == wanted:
                return value.decode("latin-1")
        return None

    def json(self) -> dict[str, Any]:
        """The body, a JSON object (an empty body is ``{}``)."""
        if not self.body.strip():
            return {}
        try:
            document = json.loads(self.body)
        except (ValueError, RecursionError) as exc:
            raise InvalidRequest(f"Could not parse request body into json: {exc}") from None
        if not isinstance(document, dict):
            raise InvalidRequest("the request body must be a JSON object")
        check_text(document)
        return document

    def function(self, param: str = "FunctionName") -> names.Qualified:
        """The function the path names, with the ``Qualifier`` query parameter."""
        found = self._named.get(param)
        if found is None:
            settings = self.platform.settings
            found = self._named[param] = names.parse(
                self.params[param],
                self.arg("Qualifier"),
                region=settings.region,
                account_id=settings.account_id,
            )
        return found


Operation = Callable[[AwsRequest], Awaitable[Response]]


async def scoped(platform: Platform, key: ApiKey) -> ApiKey:
    """A function's own key with its function's ``sdk_resources`` patterns; a key of
    a function that no longer exists is no key."""
    assert key.function is not None
    try:
        spec = await platform.registry.get(key.function)
    except FunctionNotFound:
        raise UnrecognizedClient(UNRECOGNIZED_CLIENT) from None
    patterns = spec.config.sdk_resources
    return dataclasses.replace(key, resources=None if patterns is None else tuple(patterns))


def is_aws_path(path: str) -> bool:
    """Whether a path no row serves is one of an AWS API's (``/2015-03-31/...``): it is
    answered as AWS answers an unknown operation."""
    first = path[1:11]
    return len(first) == 10 and first[4] == "-" and first[7] == "-" and first[:4].isdigit()


async def serve(
    platform: Platform, found: Found, scope: Scope, receive: Receive
) -> Response | None:
    """The response to an AWS request (None: the client left before its body was whole)."""
    service = "lambda" if found.route is None else found.route.service
    if service == "*":
        from gateway.api import aws_services

        service = aws_services.service_of(scope["headers"])
    try:
        return await _serve(platform, found, scope, receive, service)
    except Exception as exc:
        if service != "lambda":
            from gateway.api import aws_services

            shaped = aws_services.error_response(service, exc)
            if shaped is not None:
                return shaped
        return aws_error_response(exc)


async def _serve(
    platform: Platform, found: Found, scope: Scope, receive: Receive, service: str
) -> Response | None:
    headers = scope["headers"]
    route = found.route
    signed = None
    key = None
    # A PUBLIC row (a signed link) carries its own proof instead of a signature.
    if not platform.access.ring.open and (route is None or route.access is not Role.PUBLIC):
        signed = sigv4.parse(headers, service=service)
        key = platform.access.signer(signed.access_key_id)
        await platform.access.limit(key)
        sigv4.check_fresh(signed, time.time())
    limit = route.body_limit if route is not None else DEFAULT_BODY_LIMIT
    if limits.declared_over(headers, limit):
        raise HTTPException(413, f"request body is larger than {limit} bytes")
    body = await bodies.read(limits.counted(receive, limit))
    if body is None:
        return None
    if signed is not None and key is not None:
        digest = hashlib.sha256(body).hexdigest()
        path = scope.get("raw_path") or scope["path"].encode()
        if not sigv4.verify(
            signed, key.secret, scope["method"], path, scope["query_string"], headers, digest
        ):
            raise InvalidSignature(sigv4.SIGNATURE_MISMATCH)
    if route is None:
        if key is not None:
            platform.access.may_manage(key)
        raise HTTPException(404)
    request = AwsRequest(
        platform=platform,
        method=scope["method"],
        params=found.params,
        query_string=scope["query_string"],
        raw_headers=headers,
        body=body,
        key=key,
    )
    if key is not None and key.function is not None:
        key = request.key = await scoped(platform, key)
    if key is not None:
        if route.access is Role.INVOKE:
            assert route.function is not None
            platform.access.may_invoke(key, request.function(route.function).name)
        elif route.access is not Role.CALLER:  # a CALLER row's operation decides
            platform.access.may_manage(key)
    operation: Operation = route.endpoint.handler
    return await operation(request)
