"""How a function is exposed over plain HTTP, and CORS as the gateway answers it.

``HttpConfig`` is what ``PUT /v1/functions/{name}/http`` sets: whether the
function is reachable under ``/fn/{name}/...``, the API Gateway payload format
its handler expects, its route table, whether a key is needed, CORS, and debug
(error details in responses), and whether a function that streams its response
is sent as it streams (``invoke_mode`` ``RESPONSE_STREAM``, a function URL's
``InvokeMode``) or collected first (``BUFFERED``). CORS follows API Gateway's HTTP API: when it is
configured the gateway answers preflight requests itself and puts the CORS
headers on every response, over whatever the function set.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from faas.errors import ValidationFailed
from faas.invoke.http.routes import METHODS, RouteTable

PAYLOAD_FORMATS = ("1.0", "2.0")
AUTH_MODES = ("none", "key")
INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")
CORS_MAX_AGE_S = 86400
_ORIGIN = re.compile(r"^(\*|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?)$")
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


@dataclass(frozen=True)
class Cors:
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int = 0
    allow_credentials: bool = False

    def origin_allowed(self, origin: str) -> bool:
        return "*" in self.allow_origins or origin in self.allow_origins

    def allow_origin_value(self, origin: str) -> str:
        # With credentials a browser refuses "*": echo the origin instead.
        if "*" in self.allow_origins and not self.allow_credentials:
            return "*"
        return origin

    def preflight(self, origin: str, method: str, headers: str) -> list[tuple[str, str]] | None:
        """The headers of a preflight answer, or None when the request is not allowed."""
        if not self.origin_allowed(origin):
            return None
        methods = self.allow_methods
        if "*" not in methods and "ANY" not in methods and method.upper() not in methods:
            return None
        asked = [h.strip().lower() for h in headers.split(",") if h.strip()]
        allowed = {h.lower() for h in self.allow_headers}
        if "*" not in allowed and any(h not in allowed for h in asked):
            return None
        out = [
            ("access-control-allow-origin", self.allow_origin_value(origin)),
            ("access-control-allow-methods", ",".join(methods) if methods else method.upper()),
        ]
        if asked:
            out.append(("access-control-allow-headers", ",".join(asked)))
        if self.max_age:
            out.append(("access-control-max-age", str(self.max_age)))
        if self.allow_credentials:
            out.append(("access-control-allow-credentials", "true"))
        if self.allow_origin_value(origin) != "*":
            out.append(("vary", "Origin"))
        return out

    def response_headers(self, origin: str) -> list[tuple[str, str]]:
        """CORS headers for an actual (not preflight) response to ``origin``."""
        if not origin or not self.origin_allowed(origin):
            return []
        out = [("access-control-allow-origin", self.allow_origin_value(origin))]
        if self.expose_headers:
            out.append(("access-control-expose-headers", ",".join(self.expose_headers)))
        if self.allow_credentials:
            out.append(("access-control-allow-credentials", "true"))
        if self.allow_origin_value(origin) != "*":
            out.append(("vary", "Origin"))
        return out


@dataclass(frozen=True)
class HttpConfig:
    """A function's HTTP exposure; a function nobody configured is not exposed."""

    enabled: bool = True
    payload_format: str = "2.0"
    routes: tuple[str, ...] = ()
    auth: str = "none"
    cors: Cors | None = None
    # Function errors on HTTP routes show the error message and stack trace.
    debug: bool = False
    # RESPONSE_STREAM: a streaming function's response is sent as it is written.
    invoke_mode: str = "BUFFERED"

    @property
    def streams(self) -> bool:
        return self.invoke_mode == "RESPONSE_STREAM"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["routes"] = list(self.routes)
        if self.cors is not None:
            data["cors"] = {
                k: list(v) if isinstance(v, tuple) else v for k, v in data["cors"].items()
            }
        return data

    @classmethod
    def from_dict(cls, data: object) -> HttpConfig:
        """Parse the API's (and the store's) shape; raises ``ValidationFailed`` naming the field."""
        if not isinstance(data, dict):
            raise ValidationFailed("the http config must be a JSON object")
        _no_unknown(data, {f.name for f in dataclasses.fields(cls)}, "")
        values = dict(data)
        for name in ("enabled", "debug"):
            if name in values and not isinstance(values[name], bool):
                raise ValidationFailed(f"{name} must be true or false", field=name)
        if values.get("payload_format", "2.0") not in PAYLOAD_FORMATS:
            raise ValidationFailed(
                'payload_format must be "1.0" (REST API) or "2.0" (HTTP API)',
                field="payload_format",
            )
        if values.get("auth", "none") not in AUTH_MODES:
            raise ValidationFailed('auth must be "none" or "key"', field="auth")
        if values.get("invoke_mode", "BUFFERED") not in INVOKE_MODES:
            raise ValidationFailed(
                'invoke_mode must be "BUFFERED" or "RESPONSE_STREAM"', field="invoke_mode"
            )
        routes = values.get("routes") or []
        if not isinstance(routes, list):
            raise ValidationFailed(
                "routes must be a list like ['GET /users/{userId}']", field="routes"
            )
        values["routes"] = tuple(route.key for route in RouteTable(routes).declared)
        if values.get("cors") is not None:
            values["cors"] = _cors(values["cors"])
        return cls(**values)

    @classmethod
    def disabled(cls) -> HttpConfig:
        return cls(enabled=False)


def _cors(data: object) -> Cors:
    if not isinstance(data, dict):
        raise ValidationFailed("cors must be an object or null", field="cors")
    _no_unknown(data, {f.name for f in dataclasses.fields(Cors)}, "cors.")
    values: dict[str, Any] = {}
    checks = {
        "allow_origins": (_ORIGIN, "an origin like https://app.example.com, or *"),
        "allow_methods": (None, f"one of {', '.join(METHODS)} or *"),
        "allow_headers": (_TOKEN, "a header name, or *"),
        "expose_headers": (_TOKEN, "a header name"),
    }
    for name, (pattern, what) in checks.items():
        items = data.get(name, [])
        if not isinstance(items, list) or len(items) > 100:
            raise ValidationFailed(f"cors.{name} must be a list", field=f"cors.{name}")
        for item in items:
            ok = isinstance(item, str) and (
                item.upper() in (*METHODS, "*")
                if pattern is None
                else bool(pattern.fullmatch(item))
            )
            if not ok:
                raise ValidationFailed(f"cors.{name}: {item!r} is not {what}", field=f"cors.{name}")
        values[name] = tuple(i.upper() if pattern is None else i for i in items)
    max_age = data.get("max_age", 0)
    if (
        isinstance(max_age, bool)
        or not isinstance(max_age, int)
        or not 0 <= max_age <= CORS_MAX_AGE_S
    ):
        raise ValidationFailed(
            f"cors.max_age must be an integer from 0 to {CORS_MAX_AGE_S}", field="cors.max_age"
        )
    values["max_age"] = max_age
    credentials = data.get("allow_credentials", False)
    if not isinstance(credentials, bool):
        raise ValidationFailed(
            "cors.allow_credentials must be true or false", field="cors.allow_credentials"
        )
    values["allow_credentials"] = credentials
    return Cors(**values)


def _no_unknown(data: dict[str, Any], allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationFailed(
            f"unknown field {prefix}{unknown[0]!r}", field=f"{prefix}{unknown[0]}"
        )
