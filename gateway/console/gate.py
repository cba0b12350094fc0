"""The console's door: every ``CONSOLE`` row's session and CSRF checks, before its handler.

``gateway.edge.dispatch`` calls ``admit`` for each request to a console row, in
place of the API key check the API's rows have:

- no session where keys are configured: a GET (or HEAD) is sent to the login
  form (303, ``next`` the page asked for), anything else gets 401;
- an unsafe method (POST, PUT, PATCH, DELETE) must carry the session's CSRF
  token in the ``X-CSRF-Token`` header (htmx sends it with every request) or,
  for a plain urlencoded form, its ``csrf`` field: else 403. A multipart form
  (an upload) must send the header: its body is not read here.

What it admits is a ``Visitor`` in the request's state (``request.state.console``):
the key (None on a server without keys, which opens without login), and the
CSRF token the pages put in their forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, quote

from starlette.responses import RedirectResponse, Response
from starlette.types import Message, Receive, Scope

from faas.auth import ApiKey
from faas.errors import Forbidden, Unauthorized
from faas.platform import Platform
from gateway.console import session as sessions
from gateway.errors import error_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_PATH = "/ui/login"
# A urlencoded form read here for its ``csrf`` field: the console's own forms are small.
FORM_LIMIT = 256 * 1024


@dataclass(frozen=True)
class Visitor:
    """Who is using the console: their key (None: a server without keys) and CSRF token."""

    key: ApiKey | None
    csrf: str
    session_id: str | None = None
    # The CSRF token is new (no session, no cookie yet): the page sets its cookie.
    new_csrf_cookie: bool = False

    @property
    def may_change(self) -> bool:
        """An admin key (or a server without keys) changes anything; an invoke key nothing."""
        return self.key is None or self.key.admin

    def may_see(self, function: str) -> bool:
        """An invoke key sees only the functions it may invoke."""
        return self.key is None or self.key.may_invoke(function)

    @property
    def who(self) -> str:
        if self.key is None:
            return "open server"
        return f"{self.key.name} ({'admin' if self.key.admin else 'invoke'} key)"


def sessions_of(platform: Platform) -> sessions.Sessions:
    """The console's sessions, in the platform's Redis (a wrapper of its client: no state)."""
    return sessions.Sessions(platform.redis)


def login_redirect(scope: Scope) -> RedirectResponse:
    target = scope["path"]
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303)


async def admit(platform: Platform, scope: Scope, receive: Receive) -> Response | Receive:
    """The response that refuses the request, or the ``receive`` to go on with (the
    body replayed when its form was read for the token); the ``Visitor`` goes to
    ``scope["state"]["console"]``."""
    method = scope["method"]
    jar = sessions.cookies(scope)
    visitor = await _visitor(platform, jar)
    if visitor is None:
        if method in SAFE_METHODS:
            return login_redirect(scope)
        return error_response(Unauthorized(f"a console session is needed: log in at {LOGIN_PATH}"))
    if method not in SAFE_METHODS:
        presented = _header(scope, sessions.CSRF_HEADER)
        if presented is None and _content_type(scope) == "application/x-www-form-urlencoded":
            body = await _read(receive, FORM_LIMIT)
            if body is None:
                return error_response(Forbidden("the form is too large for the console"))
            field = parse_qs(body.decode("latin-1")).get(sessions.CSRF_FIELD)
            presented = field[0] if field else None
            receive = _replay(body)
        if not sessions.same_token(presented, visitor.csrf):
            return error_response(
                Forbidden("the CSRF token is missing or stale: reload the page and try again")
            )
    scope.setdefault("state", {})["console"] = visitor
    return receive


async def _visitor(platform: Platform, jar: dict[str, str]) -> Visitor | None:
    ring = platform.access.ring
    session_id = jar.get(sessions.SESSION_COOKIE)
    if session_id:
        found = await sessions_of(platform).find(session_id)
        if found is not None:
            key = sessions.key_of(ring, found)
            if key is not None:
                return Visitor(key, found.csrf, session_id)
            await sessions_of(platform).end(session_id)  # its key was removed
    if not ring.open:
        return None
    token = jar.get(sessions.CSRF_COOKIE)
    return Visitor(None, token or sessions.new_token(), new_csrf_cookie=not token)


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode()
    for key, value in scope["headers"]:
        if key == wanted:
            return str(value.decode("latin-1"))
    return None


def _content_type(scope: Scope) -> str:
    return (_header(scope, "content-type") or "").split(";")[0].strip().lower()


async def _read(receive: Receive, limit: int) -> bytes | None:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body)
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(body)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
