"""The Test and Monitor tabs on a real platform (process backend, a real Redis): what a user
logged in with a key sees when they invoke a function, save a test event, and watch its charts.

The gateway's app runs in this process (httpx's ASGI transport) around a started
platform with an admin key and an invoke key for one function. Requests are the
ones the pages' htmx sends: the session's CSRF token in ``X-CSRF-Token``, forms as
``multipart/form-data``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from faas.platform import Platform
from gateway.console.pages.test import saved_events
from tests.console_helpers import ADMIN, INVOKE, keys, log_in
from tests.helpers import wait_until_async

pytestmark = pytest.mark.process

KEYS = keys("greeter")
GREETER = """
def handler(event, context):
    print("greeting", event.get("name"))
    if event.get("fail"):
        raise ValueError("no name to greet")
    return {"hello": event.get("name")}
"""
TEST = "/ui/functions/greeter/test"


@pytest.fixture
def backend() -> str:
    return "process"


def multipart(**fields: str) -> dict[str, Any]:
    """Fields as a browser's FormData sends them (multipart), for httpx."""
    return {"files": {name: (None, value) for name, value in fields.items()}}


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert found is not None, f"no #{element_id} in {html[:500]}"
    return found[1]


@KEYS
async def test_a_sync_invoke_shows_its_result_cold_start_and_its_own_log_lines(
    browser: httpx.AsyncClient, deploy: Any
) -> None:
    # Given a function, and the admin on its Test tab
    await deploy("greeter", GREETER)
    await log_in(browser, ADMIN)

    # When they invoke it with an event
    first = await browser.post(f"{TEST}/invoke", **multipart(event='{"name": "Ada"}'))

    # Then they see it succeeded, its response, that it started cold, and its log lines
    assert first.status_code == 200
    assert 'data-status="success"' in first.text and "Succeeded" in first.text
    assert "&#34;hello&#34;: &#34;Ada&#34;" in text_of(first.text, "test-response")
    assert text_of(first.text, "test-cold").startswith("Yes, init ")
    request_id = text_of(first.text, "test-request-id")
    log = text_of(first.text, "test-log")
    assert f"START RequestId: {request_id}" in log and "greeting Ada" in log
    assert f"REPORT RequestId: {request_id}" in log

    # And the next one runs warm, with its own lines only
    second = await browser.post(f"{TEST}/invoke", **multipart(event='{"name": "Bo"}'))
    assert text_of(second.text, "test-cold") == "No"
    assert "greeting Bo" in second.text and "greeting Ada" not in second.text


@KEYS
async def test_a_function_error_and_a_bad_event_are_told_apart(
    browser: httpx.AsyncClient, deploy: Any
) -> None:
    await deploy("greeter", GREETER)
    await log_in(browser, ADMIN)

    failed = await browser.post(f"{TEST}/invoke", **multipart(event='{"fail": true}'))
    assert failed.status_code == 200 and 'data-status="error"' in failed.text
    assert "Function error" in failed.text and "<code>ValueError</code>" in failed.text
    assert "[ERROR] ValueError: no name to greet" in text_of(failed.text, "test-log")

    # An event that is not JSON never runs: the form comes back, the fault by its editor
    refused = await browser.post(f"{TEST}/invoke", **multipart(event='{"name": }'))
    assert refused.status_code == 422
    assert refused.headers["HX-Retarget"] == "#test-form"
    assert "the event is not JSON" in text_of(refused.text, "event-error")
    assert "{&#34;name&#34;: }" in refused.text  # what they typed, kept


@KEYS
async def test_an_async_invoke_is_accepted_then_shows_its_state_and_log(
    browser: httpx.AsyncClient, deploy: Any
) -> None:
    await deploy("greeter", GREETER)
    await log_in(browser, ADMIN)

    accepted = await browser.post(
        f"{TEST}/invoke", **multipart(event='{"name": "Cy"}', type="Event")
    )
    assert accepted.status_code == 200 and "Accepted" in accepted.text
    request_id = text_of(accepted.text, "test-request-id")
    assert f"/test/invocation?request_id={request_id}" in accepted.text  # it asks again

    async def state() -> str:
        answer = await browser.get(f"{TEST}/invocation", params={"request_id": request_id})
        return answer.text

    done = await wait_until_async(
        state,
        done=lambda html: 'data-state="succeeded"' in html and 'id="test-log"' in html,
        what="the async invocation to succeed with its log",
        within_s=20,
    )
    assert "greeting Cy" in text_of(done, "test-log")
    assert 'hx-trigger="every 1s"' not in done  # over: no more asking


@KEYS
async def test_saved_events_are_saved_loaded_and_deleted_by_an_admin(
    browser: httpx.AsyncClient, deploy: Any
) -> None:
    await deploy("greeter", GREETER)
    await log_in(browser, ADMIN)

    saved = await browser.post(
        f"{TEST}/events", **multipart(event_name="ada", event='{\n  "name": "Ada"\n}')
    )
    assert saved.status_code == 200 and "Saved ada." in saved.text
    loaded = await browser.get(f"{TEST}/template", params={"saved": "ada"})
    assert "{\n  &#34;name&#34;: &#34;Ada&#34;\n}</textarea>" in loaded.text  # as typed
    template = await browser.get(f"{TEST}/template", params={"template": "sqs"})
    assert "aws:sqs" in template.text

    for i in range(9):
        await browser.post(f"{TEST}/events", **multipart(event_name=f"e{i}", event="{}"))
    eleventh = await browser.post(f"{TEST}/events", **multipart(event_name="more", event="{}"))
    assert eleventh.status_code == 422 and "at most 10 saved events" in eleventh.text

    deleted = await browser.post(f"{TEST}/events/delete", data={"event_name": "ada"})
    assert deleted.status_code == 200 and "Deleted ada." in deleted.text
    assert 'aria-label="Load ada"' not in deleted.text


@KEYS
async def test_an_invoke_key_tests_its_function_but_changes_no_saved_event(
    browser: httpx.AsyncClient, deploy: Any, platform: Platform
) -> None:
    await deploy("greeter", GREETER)
    await deploy("payroll", GREETER)
    await saved_events(platform).save("greeter", "shared", '{"name": "Di"}')
    await log_in(browser, INVOKE)

    page = (await browser.get(TEST)).text
    assert 'aria-label="Load shared"' in page and "Save event" not in page
    ran = await browser.post(f"{TEST}/invoke", **multipart(event='{"name": "Di"}'))
    assert 'data-status="success"' in ran.text

    save = await browser.post(f"{TEST}/events", **multipart(event_name="mine", event="{}"))
    delete = await browser.post(f"{TEST}/events/delete", data={"event_name": "shared"})
    assert save.status_code == 403 and delete.status_code == 403
    assert [e.name for e in await saved_events(platform).list("greeter")] == ["shared"]

    other = await browser.post(
        "/ui/functions/payroll/test/invoke", **multipart(event='{"name": "x"}')
    )
    assert other.status_code == 404 and 'data-status="refused"' in other.text
    assert (await browser.get("/ui/functions/payroll/test")).status_code == 404


@KEYS
async def test_the_monitor_charts_count_the_functions_invocations(
    browser: httpx.AsyncClient, deploy: Any, platform: Platform
) -> None:
    # Given a function, and an invoke key on its Monitor tab
    await deploy("greeter", GREETER)
    await log_in(browser, INVOKE)

    def figure(html: str, chart: str, what: str = "total") -> str:
        """A chart's figure: its count over the window, or its latest point's value."""
        found = re.search(rf'id="chart-{chart}" [^>]*data-{what}="([^"]*)"', html)
        assert found is not None, html[:500]
        return found[1]

    before = (await browser.get("/ui/functions/greeter/monitor/charts")).text
    assert figure(before, "invocations") == "0" and 'hx-trigger="every 5s"' in before
    assert figure(before, "duration", "latest") == ""  # no duration yet: a gap, not 0

    # When it runs four times (the first cold, the last failing)
    for event in (b'{"name": "a"}', b'{"name": "b"}', b'{"name": "c"}', b'{"fail": true}'):
        await platform.invoker.invoke("greeter", event)

    # Then the charts count them at their next poll
    after = (await browser.get("/ui/functions/greeter/monitor/charts")).text
    counts = {c: figure(after, c) for c in ("invocations", "errors", "throttles", "cold-starts")}
    assert counts == {"invocations": "4", "errors": "1", "throttles": "0", "cold-starts": "1"}
    assert int(figure(after, "duration", "dots")) >= 2  # p50 and p99 of their minute(s)
    assert int(figure(after, "invocations", "dots")) >= 1
    day = (await browser.get("/ui/functions/greeter/monitor/charts?window=24h")).text
    assert figure(day, "invocations") == "4" and 'hx-trigger="every 30s"' in day
    day_page = (await browser.get("/ui/functions/greeter/monitor?window=24h")).text
    assert "a point per 10 minutes" in day_page
