"""The shape of the gateway's route table, and how a request finds its row.

A ``Route`` is one row: the methods and path it serves, who may call it
(``Role``), how large a body it takes, and its ``Endpoint``. The rows are
written once, in ``gateway.routes``; this module gives them a shape and matches
requests against them. Two readers use the same rows: the edge
(``gateway.edge.dispatch``: keys, body limits, and the endpoints it serves
itself) and the API (``gateway.app`` registers every other endpoint with
FastAPI, and documents all of them).

Templates are Starlette's: ``{name}`` is one path segment, ``{name:path}`` the
rest. A path matches its row with or without one trailing slash: FastAPI
redirects the slashed form to the row, so the edge checks it as the row.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from starlette.responses import Response
from starlette.types import Receive, Scope

if TYPE_CHECKING:
    from faas.platform import Platform

DEFAULT_BODY_LIMIT = 1 << 20


class Role(enum.Enum):
    """Who may call a route."""

    PUBLIC = "public"  # anyone: health probes, the API's documentation
    TRIGGER = "trigger"  # anyone at the edge: the function's http config decides (``auth: key``)
    CALLER = "caller"  # any key; the handler shows only what that key may invoke
    INVOKE = "invoke"  # an admin key, or an invoke key for the function the path names
    ADMIN = "admin"  # an admin key
    # A web console session (a cookie; none needed on a server without keys), and its
    # CSRF token on unsafe methods: ``gateway.console.gate``, never an API key.
    CONSOLE = "console"


KEYLESS = frozenset({Role.PUBLIC, Role.TRIGGER, Role.CONSOLE})


class Need(NamedTuple):
    """What one request must present: a role, and for ``INVOKE`` the function it invokes."""

    role: Role
    function: str | None = None


# Serves a request at the edge, past FastAPI: the platform, the path's parameters,
# the request; the response, or None when the client left before its request was whole.
EdgeHandler = Callable[["Platform", Mapping[str, str], Scope, Receive], Awaitable[Response | None]]


@dataclass(frozen=True)
class Endpoint:
    """What a row serves: a FastAPI handler, and its options for ``add_api_route``.

    With ``serve``, the edge answers the request itself and FastAPI never sees it:
    ``handler`` then only documents the route (its parameters make the OpenAPI entry).
    """

    handler: Callable[..., Any]
    options: Mapping[str, Any] = field(default_factory=dict)
    serve: EdgeHandler | None = None


class Endpoints:
    """The decorator of one API module: ``@endpoint(status_code=201)`` makes an ``Endpoint``.

    ``common`` holds the module's options for every handler (tags, error responses).
    """

    def __init__(self, **common: Any) -> None:
        self.common = common

    def __call__(
        self, *, serve: EdgeHandler | None = None, **options: Any
    ) -> Callable[[Callable[..., Any]], Endpoint]:
        def make(handler: Callable[..., Any]) -> Endpoint:
            return Endpoint(handler, {**self.common, **options}, serve)

        return make


@dataclass(frozen=True)
class Route:
    """One row: ``methods`` (space-separated) at ``path``, who may call it, its body limit.

    ``function`` (``INVOKE`` rows only) names the path parameter that holds the
    function invoked: the key must be allowed to invoke that one. ``aws`` rows are
    an AWS API's operations: signed with SigV4, served by ``gateway.edge.aws`` (the
    endpoint's handler takes an ``AwsRequest``), answered with AWS's error shapes,
    and documented by AWS rather than in the OpenAPI document.
    """

    methods: str
    path: str
    access: Role
    endpoint: Endpoint
    body_limit: int = DEFAULT_BODY_LIMIT
    function: str | None = None
    documented: bool = True
    aws: bool = False
    # The service an aws row's signature is scoped to ("*": read off each request).
    service: str = "lambda"

    def __post_init__(self) -> None:
        params = re.findall(r"{(\w+)", self.path)
        if (self.access is Role.INVOKE) != (self.function is not None):
            raise ValueError(f"{self.path}: an INVOKE row must name its function, no other row")
        if self.function is not None and self.function not in params:
            raise ValueError(f"{self.path}: no parameter {{{self.function}}} names the function")


@dataclass(slots=True)
class Found:
    """What the table says of one request (slots, not frozen: made per request)."""

    route: Route | None  # None: no row serves this method at this path
    params: dict[str, str]
    role: Role
    allow: tuple[str, ...] = ()  # route None: the methods the path takes (none: unknown path)

    @property
    def function(self) -> str | None:
        """For an ``INVOKE`` row, the function the request invokes."""
        named = self.route.function if self.route is not None else None
        return None if named is None else self.params[named]

    @property
    def need(self) -> Need:
        return Need(self.role, self.function)


_PARAM = re.compile(r"{(\w+)(?::(\w+))?}")
_CONVERTORS = {"str": "[^/]+", "path": ".*"}


class _Path:
    """The rows of one path template, by method."""

    def __init__(self, template: str) -> None:
        self.pattern = re.compile(_regex(template))
        self.by_method: dict[str, Route] = {}

    def add(self, route: Route) -> None:
        for method in route.methods.split():
            if method in self.by_method:
                raise ValueError(f"{method} {route.path} is in the table twice")
            self.by_method[method] = route

    def refused(self, method: str, params: dict[str, str]) -> Found:
        """A method this path does not take: a 405, once the key is checked.

        HEAD needs what GET needs; on a keyless path any method needs nothing (its
        405 tells nothing) but a console session where it has console rows; else the
        admin key, as for a path the table does not know.
        """
        routes = list(self.by_method.values())
        get = self.by_method.get("GET") if method == "HEAD" else None
        if get is not None:
            role = get.access
        elif all(route.access in KEYLESS for route in routes):
            # A console path's 405 is the console's once its session is checked.
            consoles = [r for r in routes if r.access is Role.CONSOLE]
            role = consoles[0].access if consoles else routes[0].access
        else:
            role = Role.ADMIN
        return Found(None, params, role, tuple(self.by_method))


def _regex(template: str) -> str:
    parts, end = [], 0
    for param in _PARAM.finditer(template):
        parts.append(re.escape(template[end : param.start()]))
        parts.append(f"(?P<{param[1]}>{_CONVERTORS[param[2] or 'str']})")
        end = param.end()
    parts.append(re.escape(template[end:]))
    return "".join(parts) + "/?"


def _first_segment(path: str) -> str:
    end = path.find("/", 1)
    return path[1:] if end == -1 else path[1:end]


class Table:
    """The rows, matched in their order within each first path segment.

    Rows are grouped by their first segment (``v1``, ``fn``, ``healthz``), so a
    request tries only its own group's templates: the invoke, first of ``v1``,
    costs one regular expression.
    """

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        paths: dict[str, _Path] = {}
        self._groups: dict[str, list[_Path]] = {}
        for route in self.routes:
            if route.path not in paths:
                paths[route.path] = path = _Path(route.path)
                first = _first_segment(route.path)
                if first.startswith("{"):
                    raise ValueError(f"{route.path}: a path must start with a literal segment")
                self._groups.setdefault(first, []).append(path)
            paths[route.path].add(route)

    def plus(self, routes: Iterable[Route]) -> Table:
        """This table with more rows (a new API)."""
        return Table([*self.routes, *routes])

    def match(self, method: str, path: str) -> Found:
        end = path.find("/", 1)  # the first segment, inline: this runs for every request
        group = self._groups.get(path[1:end] if end != -1 else path[1:], ())
        refused = None
        for candidate in group:
            matched = candidate.pattern.fullmatch(path)
            if matched is None:
                continue
            route = candidate.by_method.get(method)
            if route is not None:
                return Found(route, matched.groupdict(), route.access)
            refused = refused or candidate.refused(method, matched.groupdict())
        return refused or Found(None, {}, Role.ADMIN)

    def need(self, method: str, path: str) -> Need:
        return self.match(method, path).need
