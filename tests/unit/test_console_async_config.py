"""The Async tab's configuration form: what it asks the model for, which field a refusal is
shown by, and who is shown the form. Rendered from its templates, no server."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from starlette.datastructures import FormData

from faas.errors import ValidationFailed
from faas.models import AsyncConfig
from gateway.console.pages.async_tab import (
    CONFIG_FIELDS,
    config_from,
    destinations,
    error_line,
    payload_text,
)
from gateway.edge.table import Role
from gateway.routes import ROUTES
from tests.unit.console_visitors import ADMIN, INVOKER, main_part, page, spec

FORM = {"max_retries": "0", "max_event_age_s": "3600", "on_success": "", "on_failure": "alarm"}


@pytest.mark.parametrize("path", ["/async/config", "/async/config/delete"])
def test_the_forms_rows_need_a_console_session(path: str) -> None:
    found = ROUTES.match("POST", "/ui/functions/resize" + path)
    assert found.role is Role.CONSOLE
    assert found.route is not None and found.route.path != "/ui/{path:path}"


# -- what the form asks for ----------------------------------------------------------


def test_the_form_asks_for_what_the_v1_api_would_be_sent() -> None:
    # Given a function whose backoffs were set through the API
    current = AsyncConfig(backoff_base_s=5.0, backoff_max_s=30.0, on_success="old")

    # When its form asks for no retries, an hour, and failures to "alarm"
    asked = config_from(FormData(FORM), current)

    # Then the config is the one /v1's body parses to, the backoffs kept, success to none
    body = {
        "max_retries": 0,
        "max_event_age_s": 3600,
        "backoff_base_s": 5.0,
        "backoff_max_s": 30.0,
        "on_success": None,
        "on_failure": {"function": "alarm"},
    }
    assert asked == AsyncConfig.from_dict(body)
    assert (asked.on_success, asked.on_failure, asked.backoff_max_s) == (None, "alarm", 30.0)


@pytest.mark.parametrize(
    ("field", "typed", "said"),
    [
        ("max_retries", "lots", "max_retries must be a whole number"),
        ("max_retries", "11", "max_retries must be an integer from 0 to 10"),
        ("max_retries", "-1", "max_retries must be an integer from 0 to 10"),
        ("max_retries", "", "max_retries must be an integer from 0 to 10"),
        ("max_event_age_s", "59", "max_event_age_s must be an integer from 60 to 21600"),
        ("max_event_age_s", "21601", "max_event_age_s must be an integer from 60 to 21600"),
        ("max_event_age_s", "1.5", "max_event_age_s must be a whole number"),
        ("on_success", "no such!", "on_success must be a name of 1-64 letters"),
        ("on_failure", "x" * 65, "on_failure must be a name of 1-64 letters"),
    ],
)
def test_each_refusal_is_the_models_and_names_its_field(field: str, typed: str, said: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        config_from(FormData({**FORM, field: typed}), AsyncConfig())
    assert refused.value.field == field and field in CONFIG_FIELDS
    assert refused.value.message.startswith(said)


def test_a_destination_is_chosen_among_the_other_functions_and_what_is_set() -> None:
    names = ["resize", "billing", "alarm"]
    assert destinations(names, spec()) == ["alarm", "billing"]
    # Set through the API: itself, and a function since deleted, stay shown as they are.
    itself = replace(spec(), async_config=AsyncConfig(on_success="resize", on_failure="gone"))
    assert destinations(names, itself) == ["alarm", "billing", "gone", "resize"]


# -- the tab -------------------------------------------------------------------------


def async_page(visitor: Any, config: AsyncConfig, **context: Any) -> str:
    base: dict[str, Any] = {
        "recent": [],
        "recent_max": 50,
        "dead": [],
        "dead_total": 0,
        "config": config,
        "configured": config.set_at is not None,
        "targets": ["alarm", "billing"],
        "busy": False,
        "poll_s": 2,
        "saved": "",
        "form_id": "",
        "errors": {},
        "posted": {},
        "error_line": error_line,
        "payload_text": payload_text,
        "dead_lettered": "dead-lettered",
    }
    base.update(context)
    return page(visitor, "async.html", spec=spec(), tab="async", tab_title="Async", warm=0, **base)


def selected(html: str, select: str) -> str:
    found = re.search(rf'<select id="{select}".*?</select>', html, re.S)
    assert found is not None
    chosen = re.findall(r'<option value="([^"]*)" selected>', found[0])
    assert len(chosen) == 1, found[0]
    return chosen[0]


def test_an_admin_gets_the_form_filled_with_the_config() -> None:
    config = AsyncConfig(max_retries=1, max_event_age_s=600, on_failure="alarm", set_at=1.0)
    html = async_page(ADMIN, config)
    assert 'action="/ui/functions/resize/async/config"' in html
    assert 'name="max_retries" type="number"' in html and 'value="1"' in html
    assert 'value="600"' in html
    assert selected(html, "on_success") == "" and selected(html, "on_failure") == "alarm"
    assert '<option value="billing">billing</option>' in html and ">none</option>" in html
    # A config that was set may be removed; the defaults have nothing to remove.
    assert 'action="/ui/functions/resize/async/config/delete"' in html
    assert "Remove configuration" in html
    defaults = async_page(ADMIN, AsyncConfig(), configured=False)
    assert "/async/config/delete" not in defaults and "never: the defaults apply" in defaults


def test_a_refusal_is_shown_by_its_field_with_what_was_typed_and_the_form_open() -> None:
    html = async_page(
        ADMIN,
        AsyncConfig(),
        form_id="config",
        errors={"max_event_age_s": "max_event_age_s must be an integer from 60 to 21600"},
        posted={**FORM, "max_event_age_s": "59", "on_failure": "billing"},
    )
    assert '<details class="edit" id="async-config-edit" open>' in html
    assert 'id="max_event_age_s-error" class="error">max_event_age_s must be' in html
    assert 'aria-describedby="max_event_age_s-error"' in html and 'value="59"' in html
    assert selected(html, "on_failure") == "billing"
    assert "max_retries-error" not in html


def test_saved_is_said_above_the_panel_and_the_form_closed() -> None:
    html = async_page(ADMIN, AsyncConfig(max_retries=0, set_at=1.0), saved="Saved.")
    assert '<p class="ok" role="status">Saved.</p>' in html
    assert '<details class="edit" id="async-config-edit">' in html


def test_an_invoke_key_sees_the_config_and_no_form() -> None:
    config = AsyncConfig(max_retries=0, on_failure="alarm", set_at=1.0)
    html = main_part(async_page(INVOKER, config, targets=[]))
    assert "<form" not in html and "<select" not in html
    assert "Retries after a function error</dt><dd>0" in html
    assert 'href="/ui/functions/alarm"' in html


def test_only_the_lists_refresh_themselves_so_the_form_keeps_what_is_typed() -> None:
    html = async_page(ADMIN, AsyncConfig(), busy=True)
    events = html.index('<div id="async-events"')
    assert html.index('id="async-config-edit"') < events
    polled = html[events : html.index(">", events)]
    assert 'hx-trigger="every 2s"' in polled and 'hx-select="#async-events"' in polled
    # The lists' own forms still answer with the whole panel.
    assert 'hx-disinherit="hx-select"' in polled
