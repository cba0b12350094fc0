"""Logging in to the console with an API key, and out.

The login form is public; its POST checks a double-submit CSRF token (the
form's ``csrf`` field against the ``faas_csrf`` cookie the form's page set), as
no session exists yet. A right key opens a session (``gateway.console.session``)
and sends the browser on to ``next`` (a path of this console only); a wrong one
gets the form again with its error, 401, and no cookie. Logging out ends the
session in Redis and clears its cookie.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.console import gate, render, session
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints

endpoint = Endpoints(include_in_schema=False)

HOME = "/ui/functions"


def safe_next(target: str | None) -> str:
    """``target`` if it is a path of this console, else the functions list: a login must
    never send the browser to another site (``//evil.example``, ``/ui\\..``)."""
    if (
        not target
        or not target.startswith("/ui")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x20 for c in target)
    ):
        return HOME
    return target


@endpoint()
async def login_page(request: Request, platform: PlatformDep) -> Response:
    """The login form (straight to the console on a server without keys)."""
    target = safe_next(request.query_params.get("next"))
    if platform.access.ring.open:
        return RedirectResponse(target, status_code=303)
    return _form(request, target, "", 200)


@endpoint()
async def login(request: Request, platform: PlatformDep) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    target = safe_next(str(form.get("next") or ""))
    expected = session.cookies(request.scope).get(session.CSRF_COOKIE, "")
    presented = str(form.get(session.CSRF_FIELD) or "")
    if not session.same_token(presented, expected):
        return _form(request, target, "The form had expired: log in again.", 403)
    key = platform.access.ring.find(str(form.get("key") or "").strip())
    if key is None:
        return _form(request, target, "That key is not a key of this server.", 401)
    session_id, _ = await gate.sessions_of(platform).open(key)
    response = RedirectResponse(target, status_code=303)
    response.headers.append(
        "set-cookie",
        session.cookie_header(
            request.scope, session.SESSION_COOKIE, session_id, gate.sessions_of(platform).ttl_s
        ),
    )
    return response


@endpoint()
async def logout(request: Request, platform: PlatformDep) -> Response:
    visitor = render.visitor_of(request)
    if visitor.session_id is not None:
        await gate.sessions_of(platform).end(visitor.session_id)
    response = RedirectResponse(gate.LOGIN_PATH, status_code=303)
    response.headers.append(
        "set-cookie", session.cookie_header(request.scope, session.SESSION_COOKIE, "", 0)
    )
    return response


def _form(request: Request, target: str, error: str, status: int) -> Response:
    token = session.cookies(request.scope).get(session.CSRF_COOKIE) or session.new_token()
    response = render.bare(request, "login.html", status, csrf=token, next=target, error=error)
    response.headers.append(
        "set-cookie", session.cookie_header(request.scope, session.CSRF_COOKIE, token, None)
    )
    return response
