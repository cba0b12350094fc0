"""The console's door (gateway.console.gate): who is admitted, who is sent to log in, and
which posts are refused for their CSRF token. Sessions are kept in memory here; the
integration story (tests/integration/test_console_access.py) keeps them in Redis."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from starlette.responses import Response
from starlette.types import Message

from faas.auth import ApiKey, KeyRing
from gateway.console import gate, session
from gateway.console.session import Session

ADMIN = ApiKey("ops", "a" * 32, admin=True)
INVOKER = ApiKey("ci", "b" * 32, admin=False, functions=frozenset({"resize"}))


class MemorySessions:
    """``session.Sessions``' reads, from a dict."""

    def __init__(self) -> None:
        self.held: dict[str, Session] = {}
        self.ended: list[str] = []

    async def find(self, session_id: str) -> Session | None:
        return self.held.get(session_id)

    async def end(self, session_id: str) -> None:
        self.ended.append(session_id)
        self.held.pop(session_id, None)


@pytest.fixture(autouse=True)
def in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each platform's sessions are its ``held`` dict."""
    monkeypatch.setattr(gate, "sessions_of", lambda platform: platform.sessions)


def platform_with(*keys: ApiKey) -> Any:
    return SimpleNamespace(
        access=SimpleNamespace(ring=KeyRing(tuple(keys))), sessions=MemorySessions()
    )


def scope_of(method: str, path: str, cookies: str = "", **headers: str) -> dict[str, Any]:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    if cookies:
        raw.append((b"cookie", cookies.encode()))
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": raw,
    }


def body(data: bytes) -> Any:
    async def receive() -> Message:
        return {"type": "http.request", "body": data, "more_body": False}

    return receive


def logged_in(platform: Any, key: ApiKey) -> str:
    platform.sessions.held["sid"] = Session(key.name, key.access_key_id, "tok")
    return f"{session.SESSION_COOKIE}=sid"


async def test_a_page_without_a_session_sends_the_browser_to_log_in() -> None:
    scope = scope_of("GET", "/ui/functions/resize")
    scope["query_string"] = b"tab=1"
    refused = await gate.admit(platform_with(ADMIN), scope, body(b""))
    assert isinstance(refused, Response) and refused.status_code == 303
    assert refused.headers["location"] == "/ui/login?next=%2Fui%2Ffunctions%2Fresize%3Ftab%3D1"


async def test_a_post_without_a_session_is_401() -> None:
    refused = await gate.admit(platform_with(ADMIN), scope_of("POST", "/ui/logout"), body(b""))
    assert isinstance(refused, Response) and refused.status_code == 401


async def test_a_session_admits_its_key() -> None:
    platform = platform_with(ADMIN, INVOKER)
    scope = scope_of("GET", "/ui/functions", logged_in(platform, INVOKER))
    admitted = await gate.admit(platform, scope, body(b""))
    assert not isinstance(admitted, Response)
    visitor = scope["state"]["console"]
    assert visitor.key == INVOKER and visitor.csrf == "tok" and not visitor.may_change


async def test_a_removed_key_ends_its_sessions() -> None:
    platform = platform_with(ADMIN, INVOKER)
    cookie = logged_in(platform, INVOKER)
    platform.access.ring = KeyRing((ADMIN,))  # the invoke key is gone from the configuration
    refused = await gate.admit(platform, scope_of("GET", "/ui/functions", cookie), body(b""))
    assert isinstance(refused, Response) and refused.status_code == 303
    assert platform.sessions.ended == ["sid"]


@pytest.mark.parametrize(
    ("headers", "form", "admitted"),
    [
        ({"x_csrf_token": "tok"}, b"", True),
        ({"x_csrf_token": "stale"}, b"", False),
        ({}, b"", False),
        ({"content_type": "application/x-www-form-urlencoded"}, b"a=1&csrf=tok", True),
        ({"content_type": "application/x-www-form-urlencoded"}, b"a=1&csrf=nope", False),
        # A multipart body is not read at the door: an upload sends the header.
        ({"content_type": "multipart/form-data; boundary=x"}, b"--x\r\ncsrf=tok", False),
    ],
)
async def test_an_unsafe_method_needs_the_sessions_csrf_token(
    headers: dict[str, str], form: bytes, admitted: bool
) -> None:
    platform = platform_with(ADMIN)
    scope = scope_of("POST", "/ui/functions", logged_in(platform, ADMIN), **headers)
    answer = await gate.admit(platform, scope, body(form))
    if not admitted:
        assert isinstance(answer, Response) and answer.status_code == 403
        return
    assert not isinstance(answer, Response)
    replayed = await answer()  # the handler still reads the whole form
    assert replayed["body"] == form


async def test_an_open_server_admits_without_login_but_still_wants_the_token() -> None:
    platform = platform_with()
    scope = scope_of("GET", "/ui/functions")
    assert not isinstance(await gate.admit(platform, scope, body(b"")), Response)
    visitor = scope["state"]["console"]
    assert visitor.key is None and visitor.new_csrf_cookie and visitor.may_change
    # A page elsewhere posting to this localhost server has no token to send.
    post = scope_of("POST", "/ui/functions/resize/delete")
    answer = await gate.admit(platform, post, body(b""))
    assert isinstance(answer, Response) and answer.status_code == 403
    # The console's own page has the cookie and sends its token back.
    cookie = f"{session.CSRF_COOKIE}={visitor.csrf}"
    post = scope_of("POST", "/ui/functions/resize/delete", cookie, x_csrf_token=visitor.csrf)
    assert not isinstance(await gate.admit(platform, post, body(b"")), Response)


@pytest.mark.parametrize(
    ("scope", "secure"),
    [
        ({"scheme": "http", "headers": []}, False),
        ({"scheme": "https", "headers": []}, True),
        ({"scheme": "http", "headers": [(b"x-forwarded-proto", b"https")]}, True),
    ],
)
def test_the_session_cookie_is_secure_behind_tls(scope: dict[str, Any], secure: bool) -> None:
    cookie = session.cookie_header(scope, session.SESSION_COOKIE, "sid", 60)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
    assert ("Secure" in cookie) is secure
