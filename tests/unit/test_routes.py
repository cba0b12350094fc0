"""Route templates, their matching order, the http config and CORS, without any service."""

from __future__ import annotations

import pytest

from faas.errors import ValidationFailed
from faas.invoke.http.config import HttpConfig
from faas.invoke.http.routes import RouteTable

TABLE = RouteTable(
    [
        "GET /users",
        "POST /users",
        "GET /users/me",
        "ANY /users/{userId}",
        "GET /users/{userId}",
        "GET /files/{path+}",
        "ANY /{proxy+}",
    ]
)


@pytest.mark.parametrize(
    ("method", "path", "route_key", "params"),
    [
        ("GET", "/users", "GET /users", {}),
        ("POST", "/users", "POST /users", {}),
        ("GET", "/users/", "GET /users", {}),
        ("GET", "/users/me", "GET /users/me", {}),
        ("GET", "/users/42", "GET /users/{userId}", {"userId": "42"}),
        ("HEAD", "/users/42", "GET /users/{userId}", {"userId": "42"}),
        ("DELETE", "/users/42", "ANY /users/{userId}", {"userId": "42"}),
        ("GET", "/files/a/b/c.txt", "GET /files/{path+}", {"path": "a/b/c.txt"}),
        ("POST", "/files/a", "ANY /{proxy+}", {"proxy": "files/a"}),
        ("PUT", "/users", "ANY /{proxy+}", {"proxy": "users"}),
        ("GET", "/users/42/orders", "ANY /{proxy+}", {"proxy": "users/42/orders"}),
    ],
)
def test_the_most_specific_route_takes_the_request(
    method: str, path: str, route_key: str, params: dict[str, str]
) -> None:
    match = TABLE.match(method, path)
    assert match is not None
    assert (match.route_key, match.path_parameters) == (route_key, params)
    assert match.resource == route_key.split(" ")[1]


def test_no_route_matches_outside_the_table() -> None:
    table = RouteTable(["GET /users/{userId}"])
    assert table.match("GET", "/users") is None
    assert table.match("POST", "/users/1") is None
    assert table.match("GET", "/users/1/x") is None
    assert table.match("GET", "/files/{path+}") is None


@pytest.mark.parametrize(
    ("path", "route_key", "params"),
    [
        # An encoded slash stays inside its segment; parameters keep their escapes.
        ("/users/a%2Fb", "GET /users/{userId}", {"userId": "a%2Fb"}),
        ("/users/a%20b", "GET /users/{userId}", {"userId": "a%20b"}),
        ("/files/x/a%20b.txt", "GET /files/{path+}", {"path": "x/a%20b.txt"}),
        # Literal segments compare decoded.
        ("/users/%6De", "GET /users/me", {}),
    ],
)
def test_an_encoded_path_matches_by_its_segments_as_sent(
    path: str, route_key: str, params: dict[str, str]
) -> None:
    match = TABLE.match("GET", path, encoded=True)
    assert match is not None
    assert (match.route_key, match.path_parameters) == (route_key, params)


def test_a_greedy_parameter_needs_a_segment() -> None:
    table = RouteTable(["GET /files/{path+}"])
    assert table.match("GET", "/files") is None
    assert table.match("GET", "/files/x") is not None


def test_without_routes_everything_is_the_default_route() -> None:
    match = RouteTable([]).match("PATCH", "/a/b")
    assert match is not None
    assert (match.route_key, match.resource, match.path_parameters) == (
        "$default",
        "/{proxy+}",
        {"proxy": "a/b"},
    )


@pytest.mark.parametrize(
    ("route", "why"),
    [
        ("GET", "must look like"),
        ("FETCH /x", "method must be one of"),
        ("GET users", "must start with '/'"),
        ("GET /a//b", "must start with '/'"),
        ("GET /{p+}/x", "must be the last segment"),
        ("GET /{a}/{a}", "appears twice"),
        ("GET /a{b}", "is not valid"),
        ("GET /{}", "is not valid"),
        (42, "must look like"),
    ],
)
def test_bad_route_templates_are_refused_naming_the_route(route: object, why: str) -> None:
    with pytest.raises(ValidationFailed, match=why) as info:
        RouteTable([route])  # type: ignore[list-item]
    assert info.value.field == "routes"


def test_two_routes_of_the_same_shape_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="duplicates"):
        RouteTable(["GET /users/{id}", "get /users/{userId}"])


def test_http_config_defaults_and_normalises() -> None:
    config = HttpConfig.from_dict({"routes": ["get /users/{userId}/"]})
    assert config.enabled and config.payload_format == "2.0" and config.auth == "none"
    assert config.routes == ("GET /users/{userId}",)
    assert HttpConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"payload_format": "3.0"}, "payload_format"),
        ({"auth": "iam"}, "auth"),
        ({"enabled": "yes"}, "enabled"),
        ({"routes": "GET /"}, "routes"),
        ({"colour": 1}, "colour"),
        ({"cors": {"allow_origins": ["ftp://x"]}}, "cors.allow_origins"),
        ({"cors": {"allow_methods": ["FETCH"]}}, "cors.allow_methods"),
        ({"cors": {"allow_headers": ["bad header"]}}, "cors.allow_headers"),
        ({"cors": {"max_age": -1}}, "cors.max_age"),
        ({"cors": {"origins": []}}, "cors.origins"),
        ({"cors": []}, "cors"),
    ],
)
def test_a_bad_http_config_names_its_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        HttpConfig.from_dict(data)
    assert info.value.field == field


CORS = HttpConfig.from_dict(
    {
        "cors": {
            "allow_origins": ["https://app.example.com"],
            "allow_methods": ["GET", "POST"],
            "allow_headers": ["content-type", "authorization"],
            "expose_headers": ["x-request-id"],
            "max_age": 600,
        }
    }
).cors


def test_a_preflight_from_an_allowed_origin_is_answered() -> None:
    assert CORS is not None
    headers = dict(CORS.preflight("https://app.example.com", "POST", "Content-Type"))
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-allow-methods"] == "GET,POST"
    assert headers["access-control-allow-headers"] == "content-type"
    assert headers["access-control-max-age"] == "600"
    assert headers["vary"] == "Origin"


@pytest.mark.parametrize(
    ("origin", "method", "asked"),
    [
        ("https://evil.example.com", "GET", ""),
        ("https://app.example.com", "DELETE", ""),
        ("https://app.example.com", "GET", "x-secret"),
    ],
)
def test_a_preflight_outside_the_config_is_refused(origin: str, method: str, asked: str) -> None:
    assert CORS is not None
    assert CORS.preflight(origin, method, asked) is None


def test_a_wildcard_origin_is_echoed_when_credentials_are_allowed() -> None:
    star = HttpConfig.from_dict({"cors": {"allow_origins": ["*"]}}).cors
    creds = HttpConfig.from_dict({"cors": {"allow_origins": ["*"], "allow_credentials": True}}).cors
    assert star is not None and creds is not None
    assert dict(star.response_headers("https://a.example"))["access-control-allow-origin"] == "*"
    echoed = dict(creds.response_headers("https://a.example"))
    assert echoed["access-control-allow-origin"] == "https://a.example"
    assert echoed["access-control-allow-credentials"] == "true"
    assert star.response_headers("") == []
