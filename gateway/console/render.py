"""The templates' environment, and a page or fragment rendered with what every page needs.

Every template sees ``visitor`` (``gateway.console.gate.Visitor``: who is
logged in, what they may do), ``csrf`` (the token forms and htmx send back),
``static(path)`` (an asset's URL, versioned so browsers may cache it),
``tabs`` (the function tabs that exist) and ``nav`` (the header's links).
Autoescaping is on: a function's name, environment or log line is text, never
markup.

Every answer carries a Content-Security-Policy allowing only this origin's
scripts and styles (no inline script: htmx's eval is off, its indicator styles
are in ``console.css``), and is neither cached nor framed.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

import faas
from gateway.console import charts, session, tabs
from gateway.console.gate import Visitor

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("gateway.console", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def static(path: str) -> str:
    return f"/ui/static/{path}?v={faas.__version__}"


def ago(epoch: float | None, now: float | None = None) -> str:
    """How long ago ``epoch`` was, in the largest whole unit ("3 min ago")."""
    if not epoch:
        return ""
    seconds = max(0, int((now or time.time()) - epoch))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def timestamp(epoch: float | None) -> str:
    """An ISO 8601 time in UTC, to the second."""
    if not epoch:
        return ""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def size(count: int | None) -> str:
    if count is None:
        return ""
    value = float(count)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


ENV.globals.update(static=static, sparkline=charts.sparkline)
ENV.filters.update(ago=ago, timestamp=timestamp, size=size)


def visitor_of(request: Request) -> Visitor:
    """Who the gate admitted (``gateway.console.gate``)."""
    visitor: Visitor = request.state.console
    return visitor


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered for the request's visitor: a whole page or an htmx fragment."""
    visitor = visitor_of(request)
    context.setdefault("section", "")
    body = ENV.get_template(template).render(
        request=request,
        visitor=visitor,
        csrf=visitor.csrf,
        tabs=tabs.shown(),
        nav=tabs.PAGES,
        **context,
    )
    response = HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
    if visitor.new_csrf_cookie:
        response.headers.append(
            "set-cookie",
            session.cookie_header(request.scope, session.CSRF_COOKIE, visitor.csrf, None),
        )
    return response


def bare(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page rendered with no visitor (the login form), with its security headers."""
    body = ENV.get_template(template).render(request=request, section="", tabs=[], **context)
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
