"""The Versions and aliases tab and the Async tab: what they list, what their forms ask the
model for, and who is shown a form. Rendered from their templates, no server."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import FormData

from faas.catalog.aliases import Alias, validate
from faas.errors import ValidationFailed
from faas.invoke.asyncq.records import Invocation, State
from faas.models import LATEST, AsyncConfig
from gateway.console.pages.async_tab import error_line, payload_text
from gateway.console.pages.versions import FIELDS, alias_from, percent, version_rows
from gateway.edge.table import Role
from gateway.routes import ROUTES
from tests.unit.console_visitors import ADMIN, INVOKER, main_part, page, spec

# -- the rows ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/ui/functions/resize/versions"),
        ("POST", "/ui/functions/resize/versions"),
        ("POST", "/ui/functions/resize/aliases"),
        ("POST", "/ui/functions/resize/aliases/update"),
        ("POST", "/ui/functions/resize/aliases/delete"),
        ("GET", "/ui/functions/resize/async"),
        ("POST", "/ui/functions/resize/async/redrive"),
        ("POST", "/ui/functions/resize/async/delete"),
    ],
)
def test_the_tabs_rows_need_a_console_session(method: str, path: str) -> None:
    found = ROUTES.match(method, path)
    assert found.role is Role.CONSOLE
    assert found.route is not None and found.route.path != "/ui/{path:path}"


# -- versions ---------------------------------------------------------------------


def test_versions_are_listed_latest_first_then_newest_with_the_aliases_naming_them() -> None:
    latest = spec()
    published = [spec(version="1", description="first"), spec(version="2")]
    aliases = [Alias("live", "1", weights={"2": 0.1}), Alias("beta", "2")]
    rows = version_rows(latest, published, aliases)
    assert [r.version for r in rows] == [LATEST, "2", "1"]
    assert rows[1].aliases == ("live", "beta") and rows[2].aliases == ("live",)
    assert rows[2].description == "first"


@pytest.mark.parametrize(
    ("weight", "shown"), [(0.1, "10"), (0.125, "12.5"), (0.0, "0"), (1.0, "100")]
)
def test_a_weight_is_shown_as_a_percentage(weight: float, shown: str) -> None:
    assert percent(weight) == shown


def test_a_split_form_becomes_the_lambda_apis_weights() -> None:
    current = Alias("live", "1", revision_id="r1")
    form = FormData({"version": "1", "split_version": "2", "weight": "25", "description": " d "})
    asked = alias_from(form, current)
    assert asked.weights == {"2": 0.25} and asked.description == "d" and asked.name == "live"
    assert alias_from(FormData({"version": "2", "weight": "25"}), current).weights == {}


@pytest.mark.parametrize("weight", ["", "lots", "nan"])
def test_a_share_that_is_no_number_names_the_weight_field(weight: str) -> None:
    form = FormData({"version": "1", "split_version": "2", "weight": weight})
    with pytest.raises(ValidationFailed) as refused:
        alias_from(form, Alias("live", "1"))
    assert refused.value.field == "weight"


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"name": "123", "version": "1"}, "name"),
        ({"name": "live", "version": "one"}, "version"),
        ({"name": "live", "version": "1", "split_version": "2", "weight": "150"}, "weight"),
        ({"name": "live", "version": "1", "split_version": "1", "weight": "10"}, "weight"),
        ({"name": "live", "version": LATEST, "split_version": "2", "weight": "10"}, "weight"),
    ],
)
def test_the_models_refusal_is_shown_by_the_form_field_it_names(
    form: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        validate(alias_from(FormData(form), None))
    assert FIELDS[refused.value.field or ""] == field


def versions_page(visitor: Any, **context: Any) -> str:
    aliases = [Alias("live", "1", weights={"2": 0.1})]
    latest = spec()
    base: dict[str, Any] = {
        "rows": version_rows(latest, [spec(version="1"), spec(version="2")], aliases),
        "aliases": aliases,
        "numbers": ["2", "1"],
        "percent": percent,
        "saved": "",
        "form_id": "",
        "errors": {},
        "posted": {},
        "latest": LATEST,
    }
    base.update(context)
    return page(
        visitor, "versions.html", spec=latest, tab="versions", tab_title="Versions", warm=0, **base
    )


def test_an_admin_gets_publish_alias_forms_and_a_split_slider_with_its_number() -> None:
    html = versions_page(ADMIN)
    assert 'action="/ui/functions/resize/versions"' in html
    assert 'action="/ui/functions/resize/aliases/update"' in html
    assert 'type="range"' in html and 'name="weight"' in html and 'type="number"' in html
    assert 'value="10"' in html and "10 %" in html
    assert "versions.js" in html


def test_an_invoke_key_sees_versions_and_aliases_and_no_form() -> None:
    html = main_part(versions_page(INVOKER))
    assert "<form" not in html
    assert "10 % to version 2" in html and "live" in html


def test_a_refused_split_is_shown_next_to_its_field_with_what_was_typed() -> None:
    html = versions_page(
        ADMIN,
        form_id="alias-live",
        errors={
            "weight": "RoutingConfig.AdditionalVersionWeights: weights must be from 0.0 to 1.0"
        },
        posted={"version": "1", "split_version": "2", "weight": "150", "description": ""},
    )
    assert 'id="weight-error"' in html and 'aria-describedby="weight-error"' in html
    assert 'value="150"' in html


# -- async --------------------------------------------------------------------------


def invocation(state: State, **fields: Any) -> Invocation:
    return Invocation(
        request_id=fields.pop("request_id", "req-1"),
        function="resize",
        payload=b'{"n": 1}',
        state=state,
        enqueued_at=1_700_000_000.0,
        **fields,
    )


def test_an_events_error_is_one_line() -> None:
    failed = invocation(
        State.DEAD_LETTERED,
        error={"errorType": "ValueError", "errorMessage": "no"},
        reason="RetriesExhausted",
    )
    assert error_line(failed) == "ValueError: no"
    assert error_line(invocation(State.FAILED, reason="FunctionDeleted")) == "FunctionDeleted"
    assert payload_text(b"x" * 10, limit=4) == "xxxx …"


def async_page(visitor: Any, recent: list[Invocation], dead: list[Invocation]) -> str:
    return page(
        visitor,
        "async.html",
        spec=spec(),
        tab="async",
        tab_title="Async",
        warm=0,
        recent=recent,
        recent_max=50,
        dead=dead,
        dead_total=len(dead),
        config=AsyncConfig(max_retries=0, on_failure="alarm"),
        configured=True,
        targets=["alarm"],
        busy=any(not i.terminal for i in recent),
        poll_s=2,
        saved="",
        form_id="",
        errors={},
        posted={},
        error_line=error_line,
        payload_text=payload_text,
        dead_lettered="dead-lettered",
    )


def test_an_admin_may_redrive_or_delete_each_dead_letter_or_all() -> None:
    dead = invocation(State.DEAD_LETTERED, request_id="dead-1", attempts=1)
    html = async_page(ADMIN, [dead], [dead])
    assert html.count('action="/ui/functions/resize/async/redrive"') == 2
    assert html.count('action="/ui/functions/resize/async/delete"') == 2
    assert 'aria-label="Redrive dead-1"' in html and "Redrive all" in html
    assert (
        "Retries after a function error</dt><dd>0" in html and 'href="/ui/functions/alarm"' in html
    )


def test_the_recent_list_refreshes_itself_only_while_an_event_is_under_way() -> None:
    done = invocation(State.SUCCEEDED, attempts=1)
    assert "hx-trigger" not in async_page(ADMIN, [done], [])
    running = invocation(State.RUNNING, request_id="req-2", attempts=1)
    html = async_page(ADMIN, [running, done], [])
    assert 'hx-trigger="every 2s"' in html and "state-running" in html


def test_an_invoke_key_sees_the_lists_and_no_button() -> None:
    dead = invocation(State.DEAD_LETTERED, request_id="dead-1")
    html = main_part(async_page(INVOKER, [dead], [dead]))
    assert "dead-1" in html and "<form" not in html
