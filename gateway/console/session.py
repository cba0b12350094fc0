"""Console sessions: a random id in a cookie, its record in Redis; and CSRF tokens.

Logging in with an API key makes a session: a random id goes to the browser in
an HttpOnly, SameSite=Strict cookie (Secure behind TLS); Redis keeps, under the
id's sha256 (``faas.keys.console_session``: a reader of Redis cannot take over a
session), the key's name and access key id (never its secret) and the session's
CSRF token, for ``TTL_S`` after its last use. Each request finds the key again
in the key ring, so a key removed from the configuration ends its sessions.

CSRF: every unsafe request under ``/ui`` carries the session's token (a form
field ``csrf`` or the ``X-CSRF-Token`` header; ``gateway.console.gate``). Where
there is no session (the login form; a server without keys, which needs no
login) the token is a double-submit cookie: a page on another site can neither
read it nor, the cookie being SameSite=Strict, make the browser send it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from http.cookies import SimpleCookie

import redis.asyncio as aioredis
from starlette.types import Scope

from faas import keys
from faas.auth import ApiKey, KeyRing
from faas.store import redis_errors

SESSION_COOKIE = "faas_session"
CSRF_COOKIE = "faas_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
# Sliding: each request renews it; an idle session ends this long after its last use.
TTL_S = 12 * 3600


@dataclass(frozen=True)
class Session:
    """What Redis holds of one session: whose key, and its CSRF token."""

    key_name: str
    access_key_id: str
    csrf: str


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(presented: str | None, expected: str) -> bool:
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """The sessions, in Redis."""

    def __init__(self, client: aioredis.Redis, ttl_s: int = TTL_S) -> None:
        self._redis = client
        self.ttl_s = ttl_s

    async def open(self, key: ApiKey) -> tuple[str, Session]:
        """A new session for ``key``: its id (for the cookie) and its record."""
        session_id = secrets.token_urlsafe(32)
        session = Session(key.name, key.access_key_id, new_token())
        record = json.dumps(
            {"key": session.key_name, "key_id": session.access_key_id, "csrf": session.csrf}
        )
        async with redis_errors():
            await self._redis.set(keys.console_session(_digest(session_id)), record, ex=self.ttl_s)
        return session_id, session

    async def find(self, session_id: str) -> Session | None:
        """The session of ``session_id``, renewed for another ``ttl_s``; None if it ended."""
        async with redis_errors():
            raw = await self._redis.getex(keys.console_session(_digest(session_id)), ex=self.ttl_s)
        if raw is None:
            return None
        data = json.loads(raw)
        return Session(data["key"], data["key_id"], data["csrf"])

    async def end(self, session_id: str) -> None:
        async with redis_errors():
            await self._redis.delete(keys.console_session(_digest(session_id)))


def key_of(ring: KeyRing, session: Session) -> ApiKey | None:
    """The configured key a session was opened with, if it is still configured."""
    key = ring.by_access_key(session.access_key_id)
    return key if key is not None and key.name == session.key_name else None


def cookies(scope: Scope) -> dict[str, str]:
    """The request's cookies (the last ``Cookie`` header wins, as browsers send one)."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is no cookie
                continue
            found.update({k: m.value for k, m in jar.items()})
    return found


def is_tls(scope: Scope) -> bool:
    """Whether the browser reached us over TLS (directly, or through a proxy that says so)."""
    if scope.get("scheme") == "https":
        return True
    for name, value in scope["headers"]:
        if name == b"x-forwarded-proto":
            proto: str = value.decode("latin-1")
            return proto.split(",")[0].strip().lower() == "https"
    return False


def cookie_header(scope: Scope, name: str, value: str, max_age: int | None) -> str:
    """A ``Set-Cookie`` value for the console: HttpOnly, SameSite=Strict, path /ui."""
    parts = [f"{name}={value}", "Path=/ui", "HttpOnly", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if is_tls(scope):
        parts.append("Secure")
    return "; ".join(parts)
