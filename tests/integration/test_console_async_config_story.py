"""The Async tab's configuration form on a real platform (process backend) and a real Redis,
as a logged-in browser's htmx posts it: what it saves is what ``/v1`` reads back and what
the async worker follows; removed, the defaults are back; bad values are refused by
their field; an invoke key changes nothing.

The gateway's app runs in this process (httpx's ASGI transport) around a started
platform with an admin key and an invoke key for one function.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx
import pytest

from faas.models import AsyncConfig
from faas.platform import Platform
from tests.console_helpers import ADMIN, INVOKE, keys, log_in
from tests.helpers import wait_until_async

pytestmark = pytest.mark.process

KEYS = keys("resize")
API = {"Authorization": f"Bearer {ADMIN}"}
FAILING = """
def handler(event, context):
    raise RuntimeError("no thumbnail for " + event["image"])
"""
HELLO = "def handler(event, context):\n    return 'noted'\n"
FN = "/ui/functions/resize"
# The form as the admin fills it: no retries, an hour, failures to "alarm".
NO_RETRIES = {
    "max_retries": "0",
    "max_event_age_s": "3600",
    "on_success": "",
    "on_failure": "alarm",
}


@pytest.fixture
def backend() -> str:
    return "process"


def error_of(page: str, field: str) -> str:
    found = re.search(rf'id="{field}-error" class="error">([^<]*)<', page)
    assert found is not None, f"no error by {field} in {page[:800]}"
    return html.unescape(found[1])


async def config_of(browser: httpx.AsyncClient) -> dict[str, Any]:
    """The function's async config as ``GET /v1/functions/resize/async-config`` reads it."""
    answer = await browser.get("/v1/functions/resize/async-config", headers=API)
    assert answer.status_code == 200, answer.text
    config: dict[str, Any] = answer.json()
    return config


@KEYS
async def test_a_config_set_on_the_tab_is_the_apis_and_sends_a_failure_to_its_destination(
    browser: httpx.AsyncClient, deploy: Any, platform: Platform
) -> None:
    # Given a function that always fails and one to hear of its failures
    await deploy("resize", FAILING)
    await deploy("alarm", HELLO)
    await log_in(browser, ADMIN)
    tab = (await browser.get(f"{FN}/async")).text
    assert "never: the defaults apply" in tab and '<option value="alarm">alarm</option>' in tab

    # When the admin sets no retries and failures to "alarm" on its Async tab
    saved = await browser.post(f"{FN}/async/config", data=NO_RETRIES)
    assert saved.status_code == 200, saved.text[:500]
    assert "Saved." in saved.text and 'href="/ui/functions/alarm"' in saved.text

    # Then the /v1 API reads back what was saved (the backoffs untouched)
    config = await config_of(browser)
    assert config["max_retries"] == 0 and config["max_event_age_s"] == 3600
    assert config["on_failure"] == {"function": "alarm"} and config["on_success"] is None
    assert config["backoff_base_s"] == AsyncConfig().backoff_base_s

    # And an event that fails is tried once, and its record lands on "alarm"
    queued = await browser.post(
        "/v1/functions/resize/invoke",
        content=json.dumps({"image": "cat.png"}),
        headers={**API, "X-Faas-Invocation-Type": "Event"},
    )
    assert queued.status_code == 202, queued.text
    request_id = queued.json()["requestId"]
    heard = await wait_until_async(
        lambda: platform.queue.recent("alarm"),
        what="the failure's record run on alarm",
        done=lambda events: len(events) == 1 and events[0].state.value == "succeeded",
        within_s=30,
    )
    record = json.loads(heard[0].payload or b"{}")
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestPayload"] == {"image": "cat.png"}
    assert record["responsePayload"]["errorMessage"] == "no thumbnail for cat.png"
    failed = await platform.queue.get(request_id)
    assert (failed.state.value, failed.attempts) == ("dead-lettered", 1)

    # When they remove the config, the defaults are back, as after the Lambda API's delete
    removed = await browser.post(f"{FN}/async/config/delete", data={})
    assert removed.status_code == 200 and "Removed: the defaults apply again." in removed.text
    assert "never: the defaults apply" in removed.text
    config = await config_of(browser)
    defaults = AsyncConfig()
    assert config["max_retries"] == defaults.max_retries == 2
    assert config["max_event_age_s"] == defaults.max_event_age_s
    assert config["on_failure"] is None and config["on_success"] is None
    again = await browser.post(f"{FN}/async/config/delete", data={})
    assert "No async configuration was set: the defaults apply." in again.text


@KEYS
async def test_bad_values_are_refused_by_the_field_they_name_and_nothing_changes(
    browser: httpx.AsyncClient, deploy: Any, platform: Platform
) -> None:
    await deploy("resize", FAILING)
    await deploy("alarm", HELLO)
    await log_in(browser, ADMIN)
    for field, typed, said in [
        ("max_retries", "11", "max_retries must be an integer from 0 to 10"),
        ("max_retries", "two", "max_retries must be a whole number"),
        ("max_event_age_s", "30", "max_event_age_s must be an integer from 60 to 21600"),
        ("on_failure", "ghost", "destination function 'ghost' not found"),
        ("on_success", "not a name", "on_success must be a name of 1-64 letters"),
    ]:
        refused = await browser.post(f"{FN}/async/config", data={**NO_RETRIES, field: typed})
        assert refused.status_code == 422, (field, refused.text[:300])
        assert error_of(refused.text, field).startswith(said), field
        assert f'value="{typed}"' in refused.text, field  # what was typed, shown again
        assert "Saved." not in refused.text
    assert (await platform.functions.get("resize")).async_config == AsyncConfig()


@KEYS
async def test_an_invoke_key_sees_the_config_and_gets_403_on_its_forms(
    browser: httpx.AsyncClient, deploy: Any, platform: Platform
) -> None:
    await deploy("resize", FAILING)
    await deploy("alarm", HELLO)
    await platform.functions.set_async_config("resize", AsyncConfig(max_retries=1))
    await log_in(browser, INVOKE)
    tab = await browser.get(f"{FN}/async", headers={"HX-Request": ""})
    main = tab.text.split("</header>", 1)[1]
    assert tab.status_code == 200 and "Retries after a function error</dt><dd>1" in main
    assert "<form" not in main and "<select" not in main
    for path in (f"{FN}/async/config", f"{FN}/async/config/delete"):
        assert (await browser.post(path, data=NO_RETRIES)).status_code == 403, path
    assert (await platform.functions.get("resize")).async_config.max_retries == 1
