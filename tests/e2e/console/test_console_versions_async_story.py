"""The console's operations in a real browser: redrive a dead letter from the Async tab,
publish a version and move an alias with a weighted split, and the Queues and topics and
Cluster pages with real data.

Headless Chromium (selenium) against ``faas serve`` on the process backend (the
``conftest``'s server and browser). Each story does what a user does on the page and
checks what changed through the REST API.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from faas.auth import access_key_id_of
from tests.e2e.console.browsing import button, deployed, field, log_in, wait
from tests.e2e.console.conftest import ADMIN, INVOKE, ITS_FUNCTION, WAIT_S
from tests.helpers import Server

pytestmark = pytest.mark.process

REGION = "local-1"  # the server's (Settings.region), in its ARNs
QUEUE_ARN = f"arn:aws:sqs:{REGION}:000000000000:"
CLIENTS: list[Any] = []

# Fails until the file the event names exists: dead-lettered, then redriven to success.
FLAKY = """
import os

def handler(event, context):
    if not os.path.exists(event["ready"]):
        raise RuntimeError("not ready yet")
    return "ran"
"""


def aws(server: Server, service: str) -> Any:
    """boto3's client of one of the server's AWS APIs, signed with the admin key."""
    client = boto3.client(
        service,
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=access_key_id_of(ADMIN),
        aws_secret_access_key=ADMIN,
        config=Config(retries={"max_attempts": 0}),
    )
    CLIENTS.append(client)
    return client


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    yield
    while CLIENTS:
        CLIENTS.pop().close()


def said(page: WebDriver, text: str) -> Callable[[WebDriver], bool]:
    return lambda p: text in p.find_element(By.TAG_NAME, "main").text


def test_a_dead_letter_is_redriven_from_the_async_tab_and_runs_again(
    page: WebDriver, console_server: Server, admin_api: httpx.Client, tmp_path: Path
) -> None:
    # Given a function that fails until a file exists, with no retries
    deployed(admin_api, "flaky", FLAKY)
    config = admin_api.put("/v1/functions/flaky/async-config", json={"max_retries": 0})
    assert config.status_code == 200, config.text
    ready = tmp_path / "ready"

    # And an async event of it that failed into the dead letters
    queued = admin_api.post(
        "/v1/functions/flaky/invoke",
        content=json.dumps({"ready": str(ready)}),
        headers={"X-Faas-Invocation-Type": "Event"},
    )
    assert queued.status_code == 202, queued.text
    request_id = queued.json()["requestId"]
    deadline = time.monotonic() + WAIT_S
    while admin_api.get("/v1/functions/flaky/dead-letters").json()["total"] != 1:
        assert time.monotonic() < deadline, "the event never reached the dead letters"
        time.sleep(0.2)

    # When the admin opens its Async tab
    log_in(page, console_server, ADMIN)
    page.get(console_server.url + "/ui/functions/flaky")
    page.find_element(By.LINK_TEXT, "Async").click()
    table = page.find_element(By.CSS_SELECTOR, "table.dead-letters")
    assert request_id in table.text and "RuntimeError: not ready yet" in table.text

    # And, the cause mended, redrives that dead letter
    ready.write_text("ok")
    page.find_element(By.CSS_SELECTOR, f"button[aria-label='Redrive {request_id}']").click()

    # Then the list is empty, and the event runs again, to success
    wait(page, said(page, "Redriven: 1 event queued again."), "the redrive's answer")
    assert "No dead letters." in page.find_element(By.TAG_NAME, "main").text
    recent = wait(
        page,
        lambda p: "succeeded" in p.find_element(By.CSS_SELECTOR, "table.recent").text,
        "the event's state, refreshed to succeeded",
    )
    assert recent
    record = admin_api.get(f"/v1/invocations/{request_id}").json()
    assert (record["state"], record["result"]) == ("succeeded", "ran")
    assert admin_api.get("/v1/functions/flaky/dead-letters").json()["total"] == 0


def test_a_version_is_published_and_an_alias_moved_with_a_weighted_split(
    page: WebDriver, console_server: Server, admin_api: httpx.Client
) -> None:
    # Given a function, and the admin on its Versions and aliases tab
    deployed(admin_api, "pricing")
    log_in(page, console_server, ADMIN)
    page.get(console_server.url + "/ui/functions/pricing")
    page.find_element(By.LINK_TEXT, "Versions and aliases").click()

    # When they publish two versions (the code changed in between)
    field(page, "Description of the new version").send_keys("launch")
    button(page, "Publish new version").click()
    wait(page, said(page, "Version 1 published."), "version 1")
    changed = admin_api.patch("/v1/functions/pricing", json={"memory_mb": 256})
    assert changed.status_code == 200, changed.text
    button(page, "Publish new version").click()
    wait(page, said(page, "Version 2 published."), "version 2")

    # And create an alias "live" at version 1
    field(page, "Name").send_keys("live")
    create = page.find_element(By.ID, "alias-version")
    create.find_element(By.XPATH, "./option[@value='1']").click()
    button(page, "Create alias").click()
    wait(page, said(page, "Alias live created."), "the alias")

    # And send a share of it to version 2 with the slider: its number follows
    alias = page.find_element(By.ID, "alias-live")
    field(alias, "Split with version").find_element(By.XPATH, "./option[@value='2']").click()
    slider = field(alias, "Share to the split version")
    slider.send_keys(Keys.HOME + Keys.ARROW_RIGHT * 30)  # 30 %, as a keyboard user sets it
    assert field(alias, "or type it").get_attribute("value") == "30"
    assert alias.find_element(By.TAG_NAME, "output").text == "30 %"
    button(alias, "Save live").click()

    # Then the alias runs version 1, and version 2 for 30 % of its calls
    wait(page, said(page, "Alias live now points at 1, 30 % to version 2."), "the split saved")
    live = aws(console_server, "lambda").get_alias(FunctionName="pricing", Name="live")
    assert live["FunctionVersion"] == "1"
    assert live["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.3}}

    # When they type a share past 100 %, the model's refusal shows by the number
    alias = page.find_element(By.ID, "alias-live")
    number = field(alias, "or type it")
    number.clear()
    number.send_keys("150")
    page.execute_script("arguments[0].removeAttribute('max')", number)
    button(alias, "Save live").click()
    error = wait(page, lambda p: p.find_elements(By.ID, "weight-error"), "the weight's error")
    assert "weights must be from 0.0 to 1.0" in error[0].text  # type: ignore[index]

    # And when, the page reloaded, they move the alias whole to version 2, the table says so
    page.refresh()
    alias = page.find_element(By.ID, "alias-live")
    assert field(alias, "or type it").get_attribute("value") == "30"  # nothing was saved
    field(alias, "Version").find_element(By.XPATH, "./option[@value='2']").click()
    field(alias, "Split with version").find_element(By.XPATH, "./option[@value='']").click()
    button(alias, "Save live").click()
    wait(page, said(page, "Alias live now points at 2."), "the alias moved")
    rows = page.find_elements(By.CSS_SELECTOR, "#versions-panel table tbody tr")
    assert [r.find_element(By.TAG_NAME, "th").text for r in rows] == ["$LATEST", "2", "1"]
    assert "live" in rows[1].text and "launch" in rows[2].text


def test_the_queues_and_cluster_pages_show_real_data(
    page: WebDriver, console_server: Server, admin_api: httpx.Client
) -> None:
    # Given a queue read into a function, its dead-letter queue, a topic, a warm instance
    deployed(admin_api, "reader")
    assert admin_api.post("/v1/functions/reader/invoke", json={}).status_code == 200
    sqs = aws(console_server, "sqs")
    sqs.create_queue(QueueName="jobs-dlq")
    policy = {"deadLetterTargetArn": f"{QUEUE_ARN}jobs-dlq", "maxReceiveCount": "5"}
    sqs.create_queue(QueueName="jobs", Attributes={"RedrivePolicy": json.dumps(policy)})
    aws(console_server, "sns").create_topic(Name="alerts")
    mapping = admin_api.post(
        "/v1/mappings",
        json={
            "EventSourceArn": f"{QUEUE_ARN}jobs",
            "FunctionName": "reader",
            "Enabled": False,
        },
    )
    assert mapping.status_code in (200, 201), mapping.text

    # When the admin opens Queues and topics from the header and sends a test message
    log_in(page, console_server, ADMIN)
    page.find_element(By.LINK_TEXT, "Queues and topics").click()
    wait(page, lambda p: p.current_url.endswith("/ui/queues"), "the queues page")
    jobs = page.find_element(By.ID, "queue-jobs")
    assert "jobs-dlq" in jobs.text and "after 5 receives" in jobs.text and "reader" in jobs.text
    assert "alerts" in page.find_element(By.ID, "topics-title").find_element(By.XPATH, "..").text
    field(page, "Queue").find_element(By.XPATH, "./option[@value='jobs']").click()
    field(page, "Body").send_keys('{"order": 7}')
    button(page, "Send message").click()

    # Then the queue shows one visible message
    wait(page, said(page, "Sent to jobs: message"), "the sent message")
    cells = page.find_element(By.ID, "queue-jobs").find_elements(By.TAG_NAME, "td")
    assert cells[0].text == "1"

    # And the Cluster page shows this node live, its URL, the instance and Redis
    page.find_element(By.LINK_TEXT, "Cluster").click()
    main = page.find_element(By.TAG_NAME, "main")
    assert "this node" in main.text and "live" in main.text
    assert (
        console_server.url.replace("localhost", "127.0.0.1") in main.text
        or "127.0.0.1" in main.text
    )
    here = page.find_element(By.ID, "here-title").find_element(By.XPATH, "..")
    assert "idle" in here.text and "reader: 1" in here.text  # its warm instance, here
    assert "Version" in page.find_element(By.ID, "redis-title").find_element(By.XPATH, "..").text


def test_an_invoke_key_has_no_account_pages_and_no_controls_on_the_tabs(
    page: WebDriver, console_server: Server, admin_api: httpx.Client
) -> None:
    deployed(admin_api, ITS_FUNCTION)
    log_in(page, console_server, INVOKE)
    header = page.find_element(By.CSS_SELECTOR, "header.top").text
    assert "Queues and topics" not in header and "Cluster" not in header
    for tab in ("Triggers", "Versions and aliases", "Async"):
        page.get(f"{console_server.url}/ui/functions/{ITS_FUNCTION}")
        page.find_element(By.LINK_TEXT, tab).click()
        assert not page.find_element(By.TAG_NAME, "main").find_elements(By.TAG_NAME, "form"), tab
    page.get(console_server.url + "/ui/cluster")
    assert page.find_element(By.TAG_NAME, "h1").text == "Not allowed"


def test_the_async_configuration_is_edited_and_removed_on_the_async_tab(
    page: WebDriver, console_server: Server, admin_api: httpx.Client
) -> None:
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.wait import WebDriverWait

    # Given a function, another to hear of its failures, and the admin on its Async tab
    deployed(admin_api, "thumbs")
    deployed(admin_api, "thumbs-alarm")
    lambda_api = aws(console_server, "lambda")
    log_in(page, console_server, ADMIN)
    page.get(console_server.url + "/ui/functions/thumbs/async")

    # When they edit its configuration: no retries, an hour, failures to "thumbs-alarm"
    page.find_element(By.XPATH, "//summary[normalize-space()='Edit']").click()
    for label, value in (("Retry attempts", "0"), ("Maximum age of event (seconds)", "3600")):
        field(page, label).clear()
        field(page, label).send_keys(value)
    Select(field(page, "On failure, invoke")).select_by_visible_text("thumbs-alarm")
    button(page, "Save").click()

    # Then the tab says it is saved, and boto3 reads it back from the Lambda API
    wait(page, said(page, "Saved."), "the config saved")
    got = lambda_api.get_function_event_invoke_config(FunctionName="thumbs")
    assert (got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]) == (0, 3600)
    assert got["DestinationConfig"]["OnFailure"]["Destination"].endswith(":thumbs-alarm")

    # When they type 99 retries, the model's refusal shows by that field
    page.find_element(By.XPATH, "//summary[normalize-space()='Edit']").click()
    field(page, "Retry attempts").clear()
    field(page, "Retry attempts").send_keys("99")
    button(page, "Save").click()
    error = wait(page, lambda p: p.find_elements(By.ID, "max_retries-error"), "the refusal")
    assert "from 0 to 10" in error[0].text  # type: ignore[index]

    # And when they remove the configuration (and confirm), the Lambda API has none
    button(page, "Remove configuration").click()
    WebDriverWait(page, WAIT_S).until(expected_conditions.alert_is_present()).accept()
    wait(page, said(page, "Removed: the defaults apply again."), "the config removed")
    with pytest.raises(lambda_api.exceptions.ResourceNotFoundException):
        lambda_api.get_function_event_invoke_config(FunctionName="thumbs")
