"""A function's Test, Monitor, Logs and Triggers tabs in a real browser: invoke it from the Test
tab and read its result and log lines, watch its chart gain the invocations, see its log lines
arrive live in the Logs tab, add a queue trigger and a topic subscription, and give the trigger
a filter, partial batch responses and a maximum concurrency.

Headless Chromium (selenium) against ``faas serve`` on the process backend (the
module's server and the session's browser: ``conftest``). Invocations a story
makes behind the page's back go through the REST API, as another client's would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import boto3
import httpx
import pytest
from botocore.config import Config
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select

from faas.auth import access_key_id_of
from tests.e2e.console.browsing import button, deployed, field, log_in, wait
from tests.e2e.console.conftest import ADMIN
from tests.helpers import Server

pytestmark = pytest.mark.process

CHATTY = """
import logging

def handler(event, context):
    print("greeting", event.get("name"))
    logging.getLogger().warning("slow %s", event.get("name"))
    return {"hello": event.get("name")}
"""


def text_of(page: WebDriver, element_id: str) -> str:
    found = page.find_elements(By.ID, element_id)
    return found[0].text if found else ""


@pytest.fixture
def leaves(page: WebDriver) -> Iterator[WebDriver]:
    """The page, taken off the console afterwards: an open tail or poll ends with it."""
    yield page
    page.get("about:blank")


def test_invoking_from_the_test_tab_shows_the_result_and_its_log_lines(
    leaves: WebDriver, console_server: Server, admin_api: httpx.Client
) -> None:
    page = leaves
    # Given a function, and the admin on its Test tab
    deployed(admin_api, "tested", CHATTY)
    log_in(page, console_server)
    page.get(console_server.url + "/ui/functions/tested")
    page.find_element(By.LINK_TEXT, "Test").click()
    editor = field(page, "Event (JSON)")

    # When they load a template, the editor holds that event
    Select(field(page, "Event template")).select_by_visible_text("API Gateway HTTP API (v2)")
    button(page, "Load template").click()
    wait(
        page,
        lambda p: (
            '"routeKey": "$default"' in (field(p, "Event (JSON)").get_attribute("value") or "")
        ),
        "the template in the editor",
    )

    # When they write an event that is not JSON, it is refused by the editor, never sent
    editor = field(page, "Event (JSON)")
    editor.clear()
    editor.send_keys('{"name": ')
    button(page, "Invoke").click()
    wait(page, lambda p: "not JSON" in text_of(p, "event-error"), "the editor's error")
    assert editor.get_attribute("aria-invalid") == "true"
    assert not page.find_elements(By.CSS_SELECTOR, "#test-result [data-status]")

    # When they invoke it with a good one, synchronously
    editor.clear()
    editor.send_keys('{"name": "Ada"}')
    button(page, "Invoke").click()

    # Then they see it succeeded, what it returned, that it started cold, and its log lines
    wait(page, lambda p: p.find_elements(By.CSS_SELECTOR, "#test-result [data-status]"), "a result")
    outcome = page.find_element(By.CSS_SELECTOR, "#test-result [data-status]")
    assert outcome.get_attribute("data-status") == "success" and "Succeeded" in outcome.text
    assert '"hello": "Ada"' in text_of(page, "test-response")
    assert text_of(page, "test-cold").startswith("Yes, init ")
    request_id = text_of(page, "test-request-id")
    log = text_of(page, "test-log")
    assert f"START RequestId: {request_id}" in log and "greeting Ada" in log
    assert "[WARNING]" in log and f"REPORT RequestId: {request_id}" in log
    assert text_of(page, "event-error") == ""

    # When they invoke it asynchronously, it is accepted, then its state shows it ran
    page.find_element(By.XPATH, "//label[contains(., 'Asynchronous')]/input").click()
    editor.clear()
    editor.send_keys('{"name": "Bo"}')
    button(page, "Invoke").click()
    wait(page, lambda p: "Accepted" in text_of(p, "test-result"), "the async acceptance")
    async_id = text_of(page, "test-request-id")
    assert async_id and async_id != request_id
    wait(page, lambda p: text_of(p, "test-state") == "succeeded", "the async invocation to end")
    wait(page, lambda p: "greeting Bo" in text_of(p, "test-log"), "the async log lines")


def test_the_monitor_chart_gains_the_invocations_as_they_happen(
    leaves: WebDriver, console_server: Server, admin_api: httpx.Client
) -> None:
    page = leaves
    # Given a function that never ran, and its Monitor tab open
    deployed(admin_api, "watched", CHATTY)
    log_in(page, console_server)
    page.get(console_server.url + "/ui/functions/watched/monitor")

    def chart(p: WebDriver) -> WebElement:
        return p.find_element(By.ID, "chart-invocations")

    first = chart(page)
    assert first.get_attribute("data-total") == "0" and first.get_attribute("data-dots") == "0"
    assert "Latest" in text_of(page, "chart-invocations-latest")
    page.execute_script("window.sameDocument = true")  # gone if the page were reloaded

    # When the function runs three times (another client's calls)
    invoked = time.monotonic()
    for name in ("a", "b", "c"):
        assert admin_api.post("/v1/functions/watched/invoke", json={"name": name}).is_success

    # Then, within a poll and without a reload, the chart has its point and counts them
    wait(page, lambda p: chart(p).get_attribute("data-total") == "3", "the chart to count 3")
    shown_after = time.monotonic() - invoked
    assert int(chart(page).get_attribute("data-dots") or 0) >= 1
    assert chart(page).find_elements(By.CSS_SELECTOR, "circle.dot")
    assert "3 in the window" in text_of(page, "chart-invocations-latest")
    assert page.execute_script("return window.sameDocument") is True
    print(f"\nthe chart showed the invocations {shown_after:.1f} s after them (poll: 5 s)")

    # And the 24-hour view counts them too
    page.find_element(By.LINK_TEXT, "24 hours").click()
    wait(page, lambda p: "window=24h" in p.current_url, "the day's charts")
    assert chart(page).get_attribute("data-total") == "3"


def test_the_logs_tab_shows_new_lines_live_and_filters_them(
    leaves: WebDriver, console_server: Server, admin_api: httpx.Client
) -> None:
    page = leaves
    # Given a function, and its Logs tab open and live
    deployed(admin_api, "tailed", CHATTY)
    log_in(page, console_server)
    page.get(console_server.url + "/ui/functions/tailed/logs")
    lines = page.find_element(By.ID, "log-lines")
    wait(page, lambda p: lines.get_attribute("data-state") == "live", "the tail to be live")

    def shown(p: WebDriver) -> str:
        return p.find_element(By.ID, "log-lines").text

    # When the function runs, its lines appear without a reload
    started = time.monotonic()
    assert admin_api.post("/v1/functions/tailed/invoke", json={"name": "live-1"}).is_success
    wait(page, lambda p: "greeting live-1" in shown(p), "the new line in the tail")
    print(f"\nthe line showed {(time.monotonic() - started) * 1000:.0f} ms after the invoke began")
    assert "REPORT RequestId" in shown(page)

    # When they show warnings and worse only, the tail reconnects with that filter
    Select(field(page, "Level")).select_by_visible_text("WARN and above")
    wait(page, lambda p: "level=WARN" in p.current_url, "the filter in the address")
    wait(page, lambda p: lines.get_attribute("data-state") == "live", "the filtered tail")
    wait(page, lambda p: "slow live-1" in shown(p), "the earlier warning, again")
    assert "greeting live-1" not in shown(page)

    # Then a new run shows its warning, and not its print
    assert admin_api.post("/v1/functions/tailed/invoke", json={"name": "live-2"}).is_success
    wait(page, lambda p: "slow live-2" in shown(p), "the new warning")
    assert "greeting live-2" not in shown(page)


def test_a_queue_trigger_and_a_topic_subscription_are_added_from_the_triggers_tab(
    leaves: WebDriver, console_server: Server, admin_api: httpx.Client
) -> None:
    page = leaves
    clients = {
        service: boto3.client(
            service,
            endpoint_url=console_server.url,
            region_name="local-1",  # the server's (Settings.region)
            aws_access_key_id=access_key_id_of(ADMIN),
            aws_secret_access_key=ADMIN,
            config=Config(retries={"max_attempts": 0}),
        )
        for service in ("sqs", "sns", "lambda")
    }
    sqs, sns, lambda_api = clients["sqs"], clients["sns"], clients["lambda"]
    try:
        # Given a function, and a queue and a topic made with the AWS APIs
        deployed(admin_api, "fed")
        queue_url = sqs.create_queue(QueueName="fed-orders")["QueueUrl"]
        topic_arn = sns.create_topic(Name="fed-news")["TopicArn"]
        log_in(page, console_server)
        page.get(console_server.url + "/ui/functions/fed/triggers")

        def main(p: WebDriver) -> str:
            return p.find_element(By.TAG_NAME, "main").text

        def typed(element_id: str, value: str) -> None:
            box = page.find_element(By.ID, element_id)
            box.clear()
            box.send_keys(value)

        # When the admin adds a trigger of that queue in batches of 50 with no window,
        # Lambda's rule is shown by the window's field; with a 2 s window it is added
        Select(page.find_element(By.ID, "mapping-queue")).select_by_visible_text("fed-orders")
        typed("mapping-batch", "50")
        button(page, "Add queue trigger").click()
        wait(page, lambda p: "BatchSize is greater than 10" in text_of(p, "window_s-error"), "why")
        typed("mapping-window", "2")
        button(page, "Add queue trigger").click()
        wait(page, lambda p: "in batches of up to 50 (on)." in main(p), "the mapping added")
        feeds = page.find_element(By.CSS_SELECTOR, "svg.feeds").get_attribute("aria-label")
        assert feeds == "fed is invoked by Queue fed-orders"

        # When they change its batching to 5 messages and no window
        row = page.find_element(By.CSS_SELECTOR, "table.mappings tbody tr")
        row.find_element(By.TAG_NAME, "summary").click()
        for name, value in (("batch_size", "5"), ("window_s", "0")):
            box = row.find_element(By.NAME, name)
            box.clear()
            box.send_keys(value)
        button(row, "Save mapping").click()
        wait(page, lambda p: "batches of up to 5, waiting at most 0 s." in main(p), "the change")

        # Then a message sent to the queue is read into the function (and so deleted)
        sqs.send_message(QueueUrl=queue_url, MessageBody='{"name": "queued"}')

        def left(p: WebDriver) -> bool:
            counts = sqs.get_queue_attributes(
                QueueUrl=queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            return set(counts.values()) == {"0"}

        wait(page, left, "the queue read empty")

        # When they subscribe it to the topic, for orders only
        Select(page.find_element(By.ID, "subscribe-topic")).select_by_visible_text("fed-news")
        typed("subscribe-policy", '{"kind": ["order"]}')
        button(page, "Subscribe").click()
        wait(page, lambda p: "fed is subscribed to topic fed-news." in main(p), "the subscription")

        # Then SNS lists it, and the diagram draws both
        (listed,) = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        assert (listed["Protocol"], listed["Endpoint"].rsplit(":", 1)[-1]) == ("lambda", "fed")
        policy = sns.get_subscription_attributes(SubscriptionArn=listed["SubscriptionArn"])
        assert policy["Attributes"]["FilterPolicy"] == '{"kind": ["order"]}'
        feeds = page.find_element(By.CSS_SELECTOR, "svg.feeds").get_attribute("aria-label")
        assert feeds == "fed is invoked by Queue fed-orders, Topic fed-news"

        # When they give the queue trigger a filter, partial batch responses and a cap of 3
        row = page.find_element(By.CSS_SELECTOR, "table.mappings tbody tr")
        row.find_element(By.TAG_NAME, "summary").click()
        row.find_element(By.NAME, "filters").send_keys('{"body": {"name": ["queued"]}}')
        row.find_element(By.NAME, "report_failures").click()
        row.find_element(By.NAME, "max_concurrency").send_keys("3")
        button(row, "Save mapping").click()
        said = "(1 filter, batch item failures reported, at most 3 at once)."
        wait(page, lambda p: said in main(p), "the settings saved")

        # Then Lambda's API reads them back
        (listed,) = lambda_api.list_event_source_mappings(FunctionName="fed")["EventSourceMappings"]
        assert listed["FilterCriteria"] == {
            "Filters": [{"Pattern": '{"body": {"name": ["queued"]}}'}]
        }
        assert listed["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert listed["ScalingConfig"] == {"MaximumConcurrency": 3}
    finally:
        for client in clients.values():
            client.close()
