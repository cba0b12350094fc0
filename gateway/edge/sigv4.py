"""AWS Signature Version 4, checked on a request as the server received it.

The AWS API's requests are signed the way botocore (boto3, the AWS CLI) signs
them for any service but S3, and this module computes the same thing from the
bytes that arrived, in three steps the edge can take at different times:

* ``parse(headers)``: the ``Authorization`` header and the request's time, before
  the body is read; the edge then looks the access key id up in the key ring.
* ``check_fresh(auth, now)``: the request was signed within 5 minutes of ``now``,
  either side (AWS's window), so a captured request cannot be replayed later.
* ``verify(auth, secret, ...)``: once the body has been hashed, the signature
  over the canonical request, compared in constant time.

The canonical request is built from what the wire carried, as AWS's own servers
build it:

* the path as received (``scope["raw_path"]``, endpoint prefix included), its dot
  segments and repeated slashes removed, then percent-encoded once more: botocore
  signs the path it sends, already encoded, encoded again (``my%3Afn`` is signed
  as ``my%253Afn``);
* the query's pairs decoded and encoded again with only ``A-Za-z0-9-_.~`` left
  as they are, sorted by name then value (a ``+`` is a space, as botocore sends
  one when given ``params``);
* each signed header's values, trimmed, runs of whitespace made one space, joined
  with commas (header bytes are read as Latin-1, which is how http.client sends
  botocore's ``str`` values);
* the body's SHA-256; a request that names one in ``X-Amz-Content-SHA256`` must
  carry that body (``UNSIGNED-PAYLOAD`` is refused).

Cost: the key derived from a secret is cached per (secret, day, region, service),
so a warm check is one SHA-256 of the canonical request and one HMAC. For a
boto3 invoke (an ARN path, a qualifier, 8 headers; timeit, best of 5 x 10,000):
``verify`` 7.6 us, ``parse`` + ``check_fresh`` + ``verify`` 18 us. The fast paths
for a path and a query with nothing to re-encode took ``verify`` from 14 us.

Not covered: presigned URLs (``X-Amz-Signature`` in the query), SigV4a, chunked
(``aws-chunked``) bodies; the SDKs do not use them for the Lambda API.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from urllib.parse import quote_from_bytes, unquote_to_bytes

from faas.errors import (
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    SignatureExpired,
)

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
WINDOW_S = 300  # AWS's: 5 minutes either side of the server's clock
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

# AWS's own wording, so that a client's logs read as they would against AWS.
MISSING_TOKEN = "Missing Authentication Token"
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)

Headers = Sequence[tuple[bytes, bytes]]

_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
_PATH_PLAIN = _UNRESERVED + b"/%"
_QUERY_PLAIN = _UNRESERVED + b"=&"


@dataclass(frozen=True, slots=True)
class Authorization:
    """What a SigV4 ``Authorization`` header claims, and when the request was signed."""

    access_key_id: str
    date: str  # the credential scope's day, YYYYMMDD
    region: str
    service: str
    signed_headers: tuple[bytes, ...]  # lower-case names, in the header's order
    signature: str  # 64 lower-case hex digits
    amz_date: str  # the request's time as signed, YYYYMMDD'T'HHMMSS'Z'
    signed_at: float  # the same, in seconds since the epoch

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


def parse(headers: Headers, *, service: str = "lambda") -> Authorization:
    """The SigV4 claims of a request's headers (ASGI's: lower-case names, raw values).

    Raises ``MissingAuthenticationToken`` without an ``Authorization`` header,
    ``IncompleteSignature`` when it or the request's date is not of SigV4's form,
    and ``InvalidSignature`` when its scope is not ``service``'s or not the date's.
    Any region is taken: the signature covers the one the client chose.
    """
    authorization: bytes | None = None
    amz_date: bytes | None = None
    http_date: bytes | None = None
    for name, value in headers:
        if name == b"authorization":
            if authorization is not None:
                raise IncompleteSignature("the request has more than one Authorization header")
            authorization = value
        elif name == b"x-amz-date":
            amz_date = value
        elif name == b"date":
            http_date = value
    if authorization is None:
        raise MissingAuthenticationToken(MISSING_TOKEN)

    algorithm, _, rest = authorization.decode("latin-1").strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignature(
            f"Authorization header must use the {ALGORITHM} algorithm (Signature Version 4), "
            f"not '{algorithm[:32]}'"
        )
    params: dict[str, str] = {}
    for part in rest.split(","):
        if not part.strip():
            continue
        key, equals, given = part.strip().partition("=")
        if not equals:
            raise IncompleteSignature(
                f"'{key[:64]}' not a valid key=value pair (missing equal-sign) "
                "in Authorization header"
            )
        params[key] = given
    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    if amz_date is None and http_date is None:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if problems:
        raise IncompleteSignature(" ".join(problems))

    credential = params["Credential"].split("/")
    if len(credential) != 5 or not credential[0]:
        raise IncompleteSignature(
            "Credential must be ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request"
        )
    access_key_id, date, region, scoped_service, terminator = credential
    signed_headers = tuple(name.encode("latin-1") for name in params["SignedHeaders"].split(";"))
    if not all(signed_headers):
        raise IncompleteSignature("SignedHeaders must be header names separated by ';'")
    if b"host" not in signed_headers:
        raise IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    signature = params["Signature"].lower()
    if not _HEX64.fullmatch(signature):
        raise IncompleteSignature("Signature must be 64 hexadecimal digits")
    stamp, signed_at = _request_time(amz_date, http_date)

    if terminator != TERMINATOR:
        raise InvalidSignature(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
            f"not '{terminator}'."
        )
    if scoped_service != service:
        raise InvalidSignature(f"Credential should be scoped to correct service: '{service}'.")
    if date != stamp[:8]:
        raise InvalidSignature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{date}' != '{stamp[:8]}', from '{stamp}'."
        )
    return Authorization(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=scoped_service,
        signed_headers=signed_headers,
        signature=signature,
        amz_date=stamp,
        signed_at=signed_at,
    )


def _request_time(amz_date: bytes | None, http_date: bytes | None) -> tuple[str, float]:
    """The request's time as signed (ISO 8601 basic) and in epoch seconds.

    ``X-Amz-Date`` wins; a ``Date`` header (RFC 7231) is the fallback botocore
    uses when the request already had one.
    """
    if amz_date is not None:
        text = amz_date.decode("latin-1").strip()
        if _AMZ_DATE.fullmatch(text):
            try:  # by hand: strptime costs several times more
                when = datetime(
                    int(text[0:4]),
                    int(text[4:6]),
                    int(text[6:8]),
                    int(text[9:11]),
                    int(text[11:13]),
                    int(text[13:15]),
                    tzinfo=UTC,
                )
            except ValueError:
                pass
            else:
                return text, when.timestamp()
        raise IncompleteSignature(
            f"X-Amz-Date must be in the ISO 8601 basic form YYYYMMDD'T'HHMMSS'Z', not '{text[:32]}'"
        )
    text = (http_date or b"").decode("latin-1").strip()
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise IncompleteSignature(f"Date is not an HTTP date: '{text[:40]}'") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = int(when.timestamp())
    return _format(seconds), float(seconds)


def check_fresh(auth: Authorization, now: float, window_s: float = WINDOW_S) -> None:
    """Refuse a request signed more than ``window_s`` before or after ``now`` (epoch s)."""
    if auth.signed_at < now - window_s:
        raise SignatureExpired(
            f"Signature expired: {auth.amz_date} is now earlier than "
            f"{_format(now - window_s)} ({_format(now)} - {window_s / 60:g} min.)"
        )
    if auth.signed_at > now + window_s:
        raise SignatureExpired(
            f"Signature not yet current: {auth.amz_date} is still later than "
            f"{_format(now + window_s)} ({_format(now)} + {window_s / 60:g} min.)"
        )


def _format(seconds: float) -> str:
    return time.strftime(_TIME_FORMAT, time.gmtime(seconds))


def verify(
    auth: Authorization,
    secret: str,
    method: str,
    raw_path: bytes,
    query: bytes,
    headers: Headers,
    payload_sha256: str,
) -> bool:
    """Whether ``auth.signature`` signs this request with ``secret``.

    ``raw_path`` and ``query`` are the bytes of the request target as received
    (ASGI's ``raw_path`` and ``query_string``), ``payload_sha256`` the hex SHA-256
    of the body that was read.
    """
    canonical = canonical_request(auth, method, raw_path, query, headers, payload_sha256)
    if canonical is None:
        return False
    expected = signature(auth, secret, canonical)
    return hmac.compare_digest(expected, auth.signature)


def canonical_request(
    auth: Authorization,
    method: str,
    raw_path: bytes,
    query: bytes,
    headers: Headers,
    payload_sha256: str,
) -> str | None:
    """The canonical request the signature must cover; None if it cannot be this request's.

    None when a signed header is absent, or ``X-Amz-Content-SHA256`` (sent once
    at most) is not the body's hash.
    """
    wanted = auth.signed_headers
    values: dict[bytes, list[bytes]] = {}
    claimed: bytes | None = None
    for name, value in headers:
        if name in wanted:
            values.setdefault(name, []).append(value)
        if name == b"x-amz-content-sha256":
            if claimed is not None:
                return None
            claimed = value
    if claimed is not None and claimed.decode("latin-1") != payload_sha256:
        return None
    lines = [method.upper(), canonical_uri(raw_path), canonical_query(query)]
    for name in wanted:
        found = values.get(name)
        if found is None:
            return None
        lines.append(
            name.decode("latin-1")
            + ":"
            + ",".join(" ".join(value.decode("latin-1").split()) for value in found)
        )
    lines.append("")
    lines.append(b";".join(wanted).decode("latin-1"))
    lines.append(payload_sha256)
    return "\n".join(lines)


def canonical_uri(raw_path: bytes) -> str:
    """The path as signed: dot segments and empty segments gone, encoded once more."""
    if not raw_path.startswith(b"/") or b"//" in raw_path or b"/." in raw_path:
        raw_path = _remove_dot_segments(raw_path)
    if not raw_path.translate(None, _PATH_PLAIN):
        # What an SDK sends: unreserved bytes and escapes, whose '%' is all there is
        # to encode (5 us -> 0.3 us for an invoke's ARN path).
        return raw_path.replace(b"%", b"%25").decode("ascii")
    return quote_from_bytes(raw_path, safe="/~")


def _remove_dot_segments(path: bytes) -> bytes:
    # RFC 3986 5.2.4, and consecutive slashes made one (AWS's rule for all but S3).
    if not path:
        return b"/"
    kept: list[bytes] = []
    for segment in path.split(b"/"):
        if segment == b"..":
            if kept:
                kept.pop()
        elif segment and segment != b".":
            kept.append(segment)
    head = b"/" if path.startswith(b"/") else b""
    tail = b"/" if path.endswith(b"/") and kept else b""
    return head + b"/".join(kept) + tail


def canonical_query(query: bytes) -> str:
    """The query as signed: each name and value encoded strictly, pairs sorted."""
    if not query:
        return ""
    if not query.translate(None, _QUERY_PLAIN):  # nothing to decode or encode
        plain = sorted(pair.partition(b"=")[::2] for pair in query.split(b"&"))
        return b"&".join(name + b"=" + value for name, value in plain).decode("ascii")
    pairs = []
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        pairs.append((_encode_query_part(name), _encode_query_part(value)))
    pairs.sort()
    return "&".join(f"{name}={value}" for name, value in pairs)


def _encode_query_part(part: bytes) -> str:
    if b"%" in part or b"+" in part:
        part = unquote_to_bytes(part.replace(b"+", b" "))
    return quote_from_bytes(part, safe="-_.~")


def string_to_sign(auth: Authorization, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{auth.amz_date}\n{auth.scope}\n{digest}"


def signature(auth: Authorization, secret: str, canonical: str) -> str:
    """The hex signature of ``canonical`` with ``secret`` under ``auth``'s scope."""
    key = signing_key(secret, auth.date, auth.region, auth.service)
    return hmac.digest(key, string_to_sign(auth, canonical).encode("utf-8"), "sha256").hex()


@lru_cache(maxsize=1024)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The key a day's requests to one region and service are signed with.

    Four HMACs, cached: a client signs with the same one all day, so the hot
    path skips them.
    """
    key = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
    for part in (region, service, TERMINATOR):
        key = hmac.digest(key, part.encode(), "sha256")
    return key
