"""Route templates and how a request picks one, as API Gateway's HTTP API does.

A route is ``METHOD /path`` where METHOD is an HTTP method or ``ANY`` and the
path is made of literal segments, ``{name}`` (one segment) and, last only,
``{name+}`` (the rest of the path, at least one segment). A request takes the
most specific route that matches: segment by segment a literal beats a
parameter, which beats a greedy parameter; then a route naming the method
beats ``ANY``. Parameters arrive as ``pathParameters``: decoded for an HTTP API
(payload 2.0), as sent for a REST API (payload 1.0), where an encoded slash
(``%2F``) stays inside its segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from faas.errors import ValidationFailed
from faas.invoke.http.apigw import RouteMatch

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "ANY")
ROUTES_MAX = 100
_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]{0,63})(\+?)\}$")
_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()*,;=:@%-]+$")

# Segment kinds, most specific first.
LITERAL, PARAM, GREEDY = 0, 1, 2


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    # (kind, literal text or parameter name) per segment.
    segments: tuple[tuple[int, str], ...]

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def rank(self) -> tuple[tuple[int, ...], int]:
        """Sort key: more specific first (segment kinds in order, then method over ANY)."""
        return tuple(kind for kind, _ in self.segments), int(self.method == "ANY")


def parse_route(text: object) -> Route:
    """Parse ``METHOD /path``; raises ``ValidationFailed`` naming what is wrong."""
    if not isinstance(text, str) or text.count(" ") != 1:
        raise _invalid(f"route {text!r} must look like 'GET /users/{{userId}}'")
    method, path = text.split(" ")
    method = method.upper()
    if method not in METHODS:
        raise _invalid(f"route {text!r}: method must be one of {', '.join(METHODS)}")
    if not path.startswith("/") or "//" in path:
        raise _invalid(f"route {text!r}: the path must start with '/'")
    segments: list[tuple[int, str]] = []
    names: set[str] = set()
    parts = [p for p in path.split("/")[1:] if p] if path != "/" else []
    for i, part in enumerate(parts):
        param = _PARAM.fullmatch(part)
        if param:
            name, greedy = param.group(1), bool(param.group(2))
            if greedy and i != len(parts) - 1:
                raise _invalid(f"route {text!r}: a greedy {{{name}+}} must be the last segment")
            if name in names:
                raise _invalid(f"route {text!r}: {{{name}}} appears twice")
            names.add(name)
            segments.append((GREEDY if greedy else PARAM, name))
        elif _LITERAL.fullmatch(part) and "{" not in part:
            segments.append((LITERAL, part))
        else:
            raise _invalid(f"route {text!r}: segment {part!r} is not valid")
    return Route(method, path.rstrip("/") or "/", tuple(segments))


class RouteTable:
    """A function's routes; ``match`` gives the route a request takes, or None."""

    def __init__(self, routes: list[str]) -> None:
        parsed = [parse_route(r) for r in routes]
        seen: set[tuple[str, tuple[tuple[int, str], ...]]] = set()
        for route in parsed:
            shape = (route.method, tuple((k, "" if k else t) for k, t in route.segments))
            if shape in seen:
                raise _invalid(f"route {route.key!r} duplicates another")
            seen.add(shape)
        if len(parsed) > ROUTES_MAX:
            raise _invalid(f"at most {ROUTES_MAX} routes")
        self.declared = parsed
        self.routes = sorted(parsed, key=Route.rank)

    def match(self, method: str, path: str, *, encoded: bool = False) -> RouteMatch | None:
        """The most specific route for ``method`` and ``path``: decoded, or ``encoded``
        as sent (literal segments then compare decoded, parameters keep their escapes)."""
        if not self.routes:
            return RouteMatch("$default", "/{proxy+}", {"proxy": path.lstrip("/")})
        parts = [p for p in path.split("/")[1:] if p]
        literals = [unquote(p) for p in parts] if encoded else parts
        for route in self.routes:
            if route.method not in ("ANY", method) and not (
                route.method == "GET" and method == "HEAD"
            ):
                continue
            params = _bind(route, parts, literals)
            if params is not None:
                return RouteMatch(route.key, route.path, params)
        return None


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="routes")


def _bind(route: Route, parts: list[str], literals: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for i, (kind, text) in enumerate(route.segments):
        if kind == GREEDY:
            if i >= len(parts):
                return None
            params[text] = "/".join(parts[i:])
            return params
        if i >= len(parts):
            return None
        if kind == LITERAL and literals[i] != text:
            return None
        if kind == PARAM:
            params[text] = parts[i]
    return params if len(parts) == len(route.segments) else None
