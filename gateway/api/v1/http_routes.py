"""``ANY /fn/{name}/{path}``: plain HTTP to a function, as API Gateway's proxy integration.

The request is handed over as it came (method, path below the function, decoded
and as sent, query, headers, raw body), with who called: the connection's
address, or what a proxy named in ``FAAS_TRUSTED_PROXIES`` says of its client.
``faas.invoke.http.trigger`` does the rest.
"""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from faas.errors import ValidationFailed
from faas.invoke.http import apigw
from faas.invoke.http.apigw import HttpRequest
from faas.models import QUALIFIER_PATTERN
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints

endpoint = Endpoints(tags=["http"])


@endpoint()
async def http_route(
    platform: PlatformDep, name: str, request: Request, path: str = ""
) -> Response:
    """Invoke the function with an API Gateway event (payload 1.0 or 2.0, per its http config)."""
    scope = request.scope
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    # /fn/{name}/rest as the client wrote it: ['', 'fn', name, rest].
    sent = (scope.get("raw_path") or b"").split(b"/", 3)
    server = scope.get("server") or ("", 0)
    source_ip, forwarded = apigw.caller(
        request.client.host if request.client else "",
        headers,
        apigw.trusted_networks(platform.settings.trusted_proxies),
        scheme=scope.get("scheme", "http"),
        port=server[1] or 0,
    )
    incoming = HttpRequest(
        method=request.method,
        path="/" + path,
        raw_query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=await request.body(),
        source_ip=source_ip,
        protocol=f"HTTP/{scope.get('http_version', '1.1')}",
        raw_path=("/" + apigw.encoded_path(sent[3])) if len(sent) == 4 else "",
        forwarded=forwarded,
    )
    # /fn/NAME:QUALIFIER/... serves a version or an alias through the function's config.
    name, _, qualifier = name.partition(":")
    if qualifier and not QUALIFIER_PATTERN.fullmatch(qualifier):
        raise ValidationFailed(
            "the qualifier after the name must be $LATEST, a version or an alias",
            field="qualifier",
        )
    out = await platform.invoker.invoke_http(
        name, incoming, request.headers.get("host", "localhost"), qualifier or None
    )
    response = (
        Response(out.body, status_code=out.status)
        if out.stream is None  # a function URL's streamed response (RESPONSE_STREAM):
        else StreamingResponse(out.stream, status_code=out.status)
    )
    response.raw_headers.extend(
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in out.headers
    )
    return response
