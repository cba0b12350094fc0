"""The web console's pure parts: its rows, who sees what, the forms' parsing, charts, pages.

Pages are rendered from their templates with a visitor and a spec, no server:
what an admin and an invoke key are shown, and that text stays text.
"""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from faas.errors import ValidationFailed
from gateway.console import charts, tabs
from gateway.console.gate import Visitor
from gateway.console.login import HOME, safe_next
from gateway.console.pages.configuration import (
    FIELDS,
    LIMITS,
    LINE_SECTIONS,
    SECTIONS,
    changes_of,
    form_of,
    parse_pairs,
)
from gateway.console.pages.functions import Row
from gateway.edge.table import Role
from gateway.routes import CONSOLE_ROWS, ROUTES
from tests.unit.console_visitors import ADMIN, INVOKER, page, spec

# -- the rows -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/ui/login", Role.PUBLIC),
        ("POST", "/ui/login", Role.PUBLIC),
        ("GET", "/ui/static/htmx.min.js", Role.PUBLIC),
        ("GET", "/ui", Role.CONSOLE),
        ("GET", "/ui/functions", Role.CONSOLE),
        ("POST", "/ui/functions", Role.CONSOLE),
        ("GET", "/ui/functions/resize/configuration", Role.CONSOLE),
        ("POST", "/ui/functions/resize/configuration/general", Role.CONSOLE),
        ("POST", "/ui/logout", Role.CONSOLE),
        # A page the console lacks, and a method a page does not take: still a session's.
        ("GET", "/ui/no/such/page", Role.CONSOLE),
        ("PUT", "/ui/functions", Role.CONSOLE),
        ("DELETE", "/ui/anything", Role.CONSOLE),
    ],
)
def test_every_console_path_but_login_and_assets_needs_a_session(
    method: str, path: str, role: Role
) -> None:
    assert ROUTES.match(method, path).role is role


def test_console_rows_are_under_ui_and_undocumented() -> None:
    for row in CONSOLE_ROWS:
        assert row.path == "/ui" or row.path.startswith("/ui/")
        assert not row.documented
        assert row.access in (Role.PUBLIC, Role.CONSOLE)


def test_the_tab_list_is_in_the_aws_consoles_order() -> None:
    assert [t.slug for t in tabs.TABS] == [
        "monitor",
        "test",
        "logs",
        "configuration",
        "triggers",
        "versions",
        "async",
    ]
    assert [t.slug for t in tabs.shown()] == [t.slug for t in tabs.TABS if t.exists]


# -- who sees what --------------------------------------------------------------


def test_an_admin_key_sees_and_changes_everything() -> None:
    visitor = ADMIN
    assert visitor.may_change and visitor.may_see("anything")


def test_an_invoke_key_sees_only_its_functions_and_changes_nothing() -> None:
    visitor = INVOKER
    assert visitor.may_see("resize") and not visitor.may_see("billing")
    assert not visitor.may_change


def test_an_open_server_shows_everything() -> None:
    visitor = Visitor(None, "t")
    assert visitor.may_change and visitor.may_see("billing")


@pytest.mark.parametrize(
    ("target", "followed"),
    [
        ("/ui/functions/resize", "/ui/functions/resize"),
        ("/ui/functions?q=a&page=2", "/ui/functions?q=a&page=2"),
        (None, HOME),
        ("", HOME),
        ("https://evil.example/ui", HOME),
        ("//evil.example/ui", HOME),
        ("/v1/functions", HOME),
        ("/ui\\@evil.example", HOME),
        ("/ui/x\r\nSet-Cookie: a=b", HOME),
    ],
)
def test_login_follows_only_a_local_console_path(target: str | None, followed: str) -> None:
    assert safe_next(target) == followed


# -- the configuration forms ----------------------------------------------------


def test_environment_lines_become_variables() -> None:
    text = "# a comment\nTABLE=orders\n\nGREETING= hello = world \n"
    assert parse_pairs(text, "env", "NAME=value") == {
        "TABLE": "orders",
        "GREETING": " hello = world ",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("TABLE", "line 1: write NAME=value"),
        ("A=1\n=2", "line 2: write NAME=value"),
        ("A=1\nA=2", "line 2: A is set twice"),
    ],
)
def test_a_bad_environment_line_is_named(text: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_pairs(text, "env", "NAME=value")
    assert refused.value.message == message and refused.value.field == "env"


def test_only_what_differs_is_changed() -> None:
    current = spec(memory_mb=256)
    form = FormData(
        {"memory_mb": "512", "timeout_s": "3", "concurrency": "", "keep_warm": "0", "network": "on"}
    )
    assert changes_of("general", form, current) == {"memory_mb": 512}


def test_a_memory_size_that_is_no_number_names_its_field() -> None:
    with pytest.raises(ValidationFailed) as refused:
        changes_of("general", FormData({"memory_mb": "lots"}), spec())
    assert refused.value.field == "memory_mb"


def test_layers_are_one_arn_a_line() -> None:
    arn = "arn:aws:lambda:us-east-1:000000000000:layer:pillow:3"
    changes = changes_of("layers", FormData({"layers": f"\n {arn} \n"}), spec())
    assert changes == {"layers": (arn,)}


# -- charts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "top"), [(0, 1), (0.3, 0.5), (1, 1), (7, 10), (12, 20), (240, 250), (2600, 5000)]
)
def test_an_axis_ends_at_a_round_number(value: float, top: float) -> None:
    assert charts.nice_top(value) == pytest.approx(top)


def test_a_sparkline_is_one_polyline_labelled_with_its_total() -> None:
    svg = str(charts.sparkline([0, 3, 1, None, 2]))
    assert svg.count("<polyline") == 1 and 'aria-label="6 in all"' in svg
    labelled = str(charts.sparkline([1, 2], "3 invocations in the last hour"))
    assert 'aria-label="3 invocations in the last hour"' in labelled
    assert str(charts.sparkline([])) == ""


# -- pages ----------------------------------------------------------------------


def test_the_functions_list_shows_rows_and_escapes_names() -> None:
    rows = [Row("<b>x</b>", "python3.11", 1_700_000_000.0, warm=2, invocations=5, sparkline=[1, 4])]
    html = page(
        ADMIN, "functions.html", q="", rows=rows, total=1, page=1, pages=1, section="functions"
    )
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "Create function" in html
    assert '"X-CSRF-Token": "tok"' in html


def configuration_page(visitor: Visitor) -> str:
    current = spec(env={"TABLE": "orders"})
    context = {
        "sections": SECTIONS,
        "section_name": "",
        "saved": "",
        "errors": {},
        "form": form_of(current),
        "limits": LIMITS,
        "line_sections": LINE_SECTIONS,
        "secret_names": ["DB_PASSWORD"],
    }
    return page(
        visitor,
        "configuration.html",
        spec=current,
        tab="configuration",
        tab_title="Configuration",
        warm=0,
        **context,
    )


def test_an_admin_gets_every_configuration_form() -> None:
    html = configuration_page(ADMIN)
    for section in SECTIONS:
        if section != "secrets":
            assert f'action="/ui/functions/resize/configuration/{section}"' in html
    assert 'name="memory_mb"' in html and "TABLE=orders" in html
    assert "DB_PASSWORD" in html and "code.zip" in html


def test_an_invoke_key_gets_the_values_and_no_form() -> None:
    html = configuration_page(INVOKER)
    assert "<form" not in html.split("</header>")[1]
    assert "128 MB" in html and "TABLE=orders" in html and "DB_PASSWORD" in html
    assert "code.zip" not in html


def test_every_section_field_is_one_its_form_shows() -> None:
    html = configuration_page(ADMIN)
    for section, fields in FIELDS.items():
        for field in fields:
            if section != "secrets":
                assert f'name="{field}"' in html, (section, field)


def test_a_refused_create_shows_the_message_by_its_field_and_keeps_the_input() -> None:
    from gateway.console.pages.functions import DEFAULTS, _create_context

    values = {**DEFAULTS, "name": "bad name"}
    errors = {"name": "name must be a name of 1-64 letters, digits, '-' and '_'"}
    html = page(ADMIN, "_create_form.html", **_create_context(values, errors))
    assert 'id="name-error"' in html and 'aria-describedby="name-error"' in html
    assert 'value="bad name"' in html and 'type="file"' in html
