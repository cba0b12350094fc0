"""Bundles in an S3-compatible store: put, get, delete and list, by sha256.

A small client of S3's REST API rather than boto3: four operations on one bucket
need a SigV4 signature (``sign``, pure: the unit tests check it against botocore's
signer) and httpx, which the platform already has, not a second HTTP stack of ~15 MB
as a runtime dependency. Requests are path-style (``<endpoint>/<bucket>/<key>``),
which MinIO, Ceph, Garage, moto and AWS all take.

The object of a bundle is ``<prefix><sha256>.zip``. A PUT names the zip's sha256 as
its payload hash (``x-amz-content-sha256``), so the store itself refuses bytes
damaged on the way; a GET is verified again by the code store (``expect``).

Every call is blocking and bounded (connect 5 s, each read or write 60 s): callers
run them in threads (``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

from faas.settings import Settings

_CHUNK = 1024 * 1024
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_XMLNS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_BUNDLE_KEY = re.compile(r"([0-9a-f]{64})\.zip")
# A listing page is at most 1,000 keys of ~100 bytes: more than this is not S3.
_MAX_LISTING_BYTES = 4 * 1024 * 1024


class S3Error(Exception):
    """The store did not do what was asked; the message says what it answered."""


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str = ""


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    payload_sha256: str,
    credentials: Credentials,
    region: str,
    now: datetime,
) -> dict[str, str]:
    """The headers that sign a request to S3 (AWS Signature Version 4), to add to
    ``headers``: ``x-amz-date``, ``x-amz-content-sha256``, the session token if any,
    and ``Authorization`` over every one of them and ``headers``.

    ``url``'s path must be encoded already (S3 signs it as sent, not encoded twice)
    and its query encoded with only ``A-Za-z0-9-_.~`` left as they are.
    """
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    added = {"x-amz-date": stamp, "x-amz-content-sha256": payload_sha256}
    if credentials.session_token:
        added["x-amz-security-token"] = credentials.session_token
    parts = urlsplit(url)
    signed = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    signed.update(added)
    signed["host"] = parts.netloc
    names = sorted(signed)
    pairs = sorted(pair.partition("=")[::2] for pair in parts.query.split("&") if pair)
    query = "&".join(f"{name}={value}" for name, value in pairs)
    canonical = "\n".join(
        [
            method,
            parts.path or "/",
            query,
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            payload_sha256,
        ]
    )
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{credentials.secret_access_key}".encode()
    for part in (stamp[:8], region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    added["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return added


class S3Store:
    """The bundles of one bucket and prefix."""

    def __init__(
        self,
        endpoint_url: str,
        bucket: str,
        prefix: str,
        region: str,
        credentials: Credentials,
        *,
        timeout_s: float = 60.0,
    ) -> None:
        self._base = f"{endpoint_url.rstrip('/')}/{bucket}"
        self._prefix = prefix
        self._region = region
        self._credentials = credentials
        self.where = f"{self._base}/{prefix}"
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=5.0), trust_env=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store | None:
        """The store ``FAAS_S3_*`` configures, or None when no bucket is set."""
        if not settings.s3_bucket:
            return None
        endpoint = settings.s3_endpoint_url or f"https://s3.{settings.s3_region}.amazonaws.com"
        credentials = Credentials(
            settings.s3_access_key_id, settings.s3_secret_access_key, settings.s3_session_token
        )
        return cls(
            endpoint, settings.s3_bucket, settings.s3_prefix, settings.s3_region, credentials
        )

    def close(self) -> None:
        self._client.close()

    def put(self, sha: str, path: Path) -> None:
        """Store the zip at ``path``, whose sha256 is ``sha`` (the store checks it)."""
        size = os.path.getsize(path)
        with path.open("rb") as body:
            reply = self._send(
                "PUT",
                self._key_url(sha),
                sha,
                {"content-length": str(size), "content-type": "application/zip"},
                content=iter(lambda: body.read(_CHUNK), b""),
            )
        if reply.status_code != 200:
            raise S3Error(f"PUT of bundle {sha[:12]}: {_said(reply)}")

    def get(self, sha: str, fd: int, max_bytes: int) -> bool:
        """Write the zip of ``sha`` to the open file ``fd`` (closed here); False if the store
        has none. More than ``max_bytes`` is not read (``S3Error``)."""
        request = self._request("GET", self._key_url(sha), _EMPTY_SHA256, {})
        with os.fdopen(fd, "wb") as out:
            try:
                with self._client.stream(
                    request.method, request.url, headers=request.headers
                ) as reply:
                    if reply.status_code == 404:
                        return False
                    if reply.status_code != 200:
                        reply.read()
                        raise S3Error(f"GET of bundle {sha[:12]}: {_said(reply)}")
                    size = 0
                    for chunk in reply.iter_bytes(_CHUNK):
                        size += len(chunk)
                        if size > max_bytes:
                            raise S3Error(f"bundle {sha[:12]} is over {max_bytes} bytes")
                        out.write(chunk)
            except httpx.HTTPError as exc:
                raise S3Error(f"GET of bundle {sha[:12]}: {type(exc).__name__} {exc}") from None
        return True

    def delete(self, sha: str) -> None:
        """Delete the object of ``sha``; one that is not there is deleted already."""
        reply = self._send("DELETE", self._key_url(sha), _EMPTY_SHA256, {})
        if reply.status_code not in (200, 204, 404):
            raise S3Error(f"DELETE of bundle {sha[:12]}: {_said(reply)}")

    def shas(self) -> Iterator[str]:
        """The sha256 of every bundle under the prefix, a page (1,000) at a time."""
        token = ""
        while True:
            query = {"list-type": "2", "prefix": self._prefix}
            if token:
                query["continuation-token"] = token
            encoded = "&".join(f"{_q(k)}={_q(v)}" for k, v in sorted(query.items()))
            reply = self._send("GET", f"{self._base}?{encoded}", _EMPTY_SHA256, {})
            if reply.status_code != 200:
                raise S3Error(f"listing of {self.where}: {_said(reply)}")
            if len(reply.content) > _MAX_LISTING_BYTES:
                raise S3Error(f"listing of {self.where}: an answer of {len(reply.content)} bytes")
            page = ElementTree.fromstring(reply.content)
            for key in page.iter(f"{_XMLNS}Key"):
                found = _BUNDLE_KEY.fullmatch((key.text or "")[len(self._prefix) :])
                if found:
                    yield found[1]
            token = page.findtext(f"{_XMLNS}NextContinuationToken") or ""
            if page.findtext(f"{_XMLNS}IsTruncated") != "true" or not token:
                return

    def _key_url(self, sha: str) -> str:
        return f"{self._base}/{quote(self._prefix)}{sha}.zip"

    def _request(
        self,
        method: str,
        url: str,
        payload: str,
        headers: dict[str, str],
        content: Iterator[bytes] | None = None,
    ) -> httpx.Request:
        now = datetime.now(UTC)
        signed = sign(method, url, headers, payload, self._credentials, self._region, now)
        return self._client.build_request(
            method, url, headers={**headers, **signed}, content=content
        )

    def _send(
        self,
        method: str,
        url: str,
        payload: str,
        headers: dict[str, str],
        content: Iterator[bytes] | None = None,
    ) -> httpx.Response:
        try:
            return self._client.send(self._request(method, url, payload, headers, content))
        except httpx.HTTPError as exc:
            raise S3Error(f"{method} {url}: {type(exc).__name__} {exc}") from None


def _q(text: str) -> str:
    return quote(text, safe="-_.~")


def _said(reply: httpx.Response) -> str:
    code = re.search(r"<Code>([^<]{1,100})</Code>", reply.text[:4096])
    return f"HTTP {reply.status_code}" + (f" {code[1]}" if code else "")
