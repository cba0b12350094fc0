"""The Triggers tab makes and changes a function's queue triggers and topic subscriptions, on a
real platform (process backend) and a real Redis, as a logged-in browser's htmx posts them.

The gateway's app runs in this process (httpx's ASGI transport) around a started
platform (its pollers and async workers running) with an admin key and an invoke key
for one function; each post carries the session's CSRF token in ``X-CSRF-Token`` and
``HX-Request``, as the pages do. The function writes each record it gets to a ledger
file, so a story sees it invoked by what the queue or topic was sent.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from faas.platform import Platform
from faas.topics.topics import Draft
from tests.console_helpers import ADMIN, INVOKE, keys, log_in
from tests.helpers import wait_until_async

pytestmark = pytest.mark.process

KEYS = keys("resize")
FN = "/ui/functions/resize"
# Writes each SQS record's body and each SNS record's message to its ledger, one a line.
LEDGER = """
import os

def handler(event, context):
    with open(os.environ["LEDGER"], "a") as ledger:
        for record in event.get("Records", []):
            if "Sns" in record:
                ledger.write("sns " + record["Sns"]["Message"] + "\\n")
            else:
                ledger.write("sqs " + record["body"] + "\\n")
    return len(event.get("Records", []))
"""


@pytest.fixture
def backend() -> str:
    return "process"


def error_of(html: str, field: str) -> str:
    found = re.search(rf'id="{field}-error" class="error">([^<]*)<', html)
    assert found is not None, f"no error by {field} in {html[:800]}"
    return found[1]


def saved_in(html: str) -> str:
    found = re.search(r'<p class="ok" role="status">([^<]*)</p>', html)
    assert found is not None, f"nothing saved in {html[:800]}"
    return found[1]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def ledger_has(path: Path, line: str) -> float:
    """Seconds until ``line`` is in the ledger."""
    started = time.monotonic()
    await wait_until_async(
        lambda: lines(path), what=f"{line!r} in the ledger", done=lambda got: line in got
    )
    return time.monotonic() - started


@KEYS
async def test_a_queue_trigger_is_added_and_its_batching_changed_from_the_tab(
    browser: httpx.AsyncClient, deploy: Any, platform: Platform, tmp_path: Path
) -> None:
    # Given a function and a queue nothing reads yet
    ledger = tmp_path / "ledger"
    await deploy("resize", LEDGER, env={"LEDGER": str(ledger)})
    await platform.queues.create("orders")
    await log_in(browser, ADMIN)
    tab = (await browser.get(f"{FN}/triggers")).text
    assert (
        "No queue is read into resize." in tab and '<option value="orders">orders</option>' in tab
    )

    # When the admin adds a queue trigger in batches of 5
    added = await browser.post(
        f"{FN}/triggers/mappings/add",
        data={"queue": "orders", "batch_size": "5", "window_s": "0", "enabled": "on"},
    )

    # Then it is Lambda's mapping, shown in the table and drawn feeding the function
    assert added.status_code == 200, added.text[:800]
    assert saved_in(added.text) == "orders is read into resize in batches of up to 5 (on)."
    (mapping,) = await platform.mappings.list(function_name="resize")
    assert (mapping.queue, mapping.batch_size, mapping.window_s, mapping.enabled) == (
        "orders",
        5,
        0,
        True,
    )
    assert f'id="mapping-{mapping.uuid}"' in added.text
    assert 'aria-label="resize is invoked by Queue orders"' in added.text

    # When they change its batch size to 20 (so the window must be 1 s at least)
    early = await browser.post(
        f"{FN}/triggers/mappings/update",
        data={"uuid": mapping.uuid, "batch_size": "20", "window_s": "0"},
    )
    assert early.status_code == 422
    assert "at least 1 when BatchSize is greater than 10" in error_of(early.text, "window_s")
    assert "<details open>" in early.text and (await platform.mappings.get(mapping.uuid)) == mapping
    changed = await browser.post(
        f"{FN}/triggers/mappings/update",
        data={"uuid": mapping.uuid, "batch_size": "20", "window_s": "1"},
    )
    assert saved_in(changed.text) == (
        "The mapping from orders takes batches of up to 20, waiting at most 1 s."
    )
    now = await platform.mappings.get(mapping.uuid)
    assert (now.batch_size, now.window_s) == (20, 1)

    # Then a message sent to the queue invokes the function
    await platform.queues.send("orders", "order-1")
    took = await ledger_has(ledger, "sqs order-1")
    print(f"\nthe queued message reached the function {took:.2f} s after it was sent")

    # When they remove the mapping, nothing reads the queue any more
    removed = await browser.post(f"{FN}/triggers/mappings/delete", data={"uuid": mapping.uuid})
    assert saved_in(removed.text) == "The mapping from orders is removed."
    assert "No queue is read into resize." in removed.text
    assert await platform.mappings.list(function_name="resize") == []


@KEYS
async def test_a_queue_trigger_lambda_refuses_is_shown_by_its_field(
    browser: httpx.AsyncClient, deploy: Any, platform: Platform, tmp_path: Path
) -> None:
    await deploy("resize", LEDGER, env={"LEDGER": str(tmp_path / "ledger")})
    await platform.queues.create("orders")
    await platform.queues.create("jobs.fifo", {"FifoQueue": "true"})
    await log_in(browser, ADMIN)
    add = f"{FN}/triggers/mappings/add"

    for typed, status, field, says in [
        ({"batch_size": "0"}, 422, "batch_size", "BatchSize must be an integer from 1 to 10000"),
        ({"batch_size": "many"}, 422, "batch_size", "BatchSize must be an integer"),
        ({"batch_size": "50", "window_s": "0"}, 422, "window_s", "at least 1 when BatchSize"),
        ({"window_s": "301"}, 422, "window_s", "from 0 to 300"),
        ({"queue": "jobs.fifo", "batch_size": "11", "window_s": "1"}, 422, "batch_size",
         "at most 10 for a FIFO queue"),
        ({"queue": "nosuch"}, 422, "queue", "names a queue that does not exist"),
        ({"queue": ""}, 422, "queue", "choose the queue to read"),
        ({"qualifier": "live"}, 404, "qualifier", "Function not found"),
    ]:  # fmt: skip
        refused = await browser.post(add, data={"queue": "orders", **typed})
        assert refused.status_code == status, (typed, refused.text[:800])
        assert says in error_of(refused.text, field), typed
    assert await platform.mappings.list() == []

    # The same queue into the same function twice: Lambda's conflict, by the queue
    assert (await browser.post(add, data={"queue": "orders"})).status_code == 200
    twice = await browser.post(add, data={"queue": "orders"})
    assert twice.status_code == 409 and "already exists" in error_of(twice.text, "queue")
    # What was typed is shown again with the refusal
    late = await browser.post(add, data={"queue": "jobs.fifo", "window_s": "5"})
    assert "not supported for a FIFO queue" in error_of(late.text, "window_s")
    assert '<option value="jobs.fifo" selected>' in late.text and 'value="5"' in late.text


@KEYS
async def test_a_topic_subscription_is_added_with_a_filter_and_the_filter_changed(
    browser: httpx.AsyncClient, deploy: Any, platform: Platform, tmp_path: Path
) -> None:
    # Given a function, a standard topic and a FIFO one (which delivers to queues only)
    ledger = tmp_path / "ledger"
    await deploy("resize", LEDGER, env={"LEDGER": str(ledger)})
    news = await platform.topics.create("news", {}, {})
    await platform.topics.create("jobs.fifo", {"FifoTopic": "true"}, {})
    await log_in(browser, ADMIN)
    tab = (await browser.get(f"{FN}/triggers")).text
    assert '<option value="news">news</option>' in tab and "jobs.fifo" not in tab

    # When the admin subscribes it to news, for orders only
    policy = '{"kind": ["order"]}'
    made = await browser.post(
        f"{FN}/triggers/subscriptions/add", data={"topic": "news", "filter_policy": policy}
    )
    assert made.status_code == 200, made.text[:800]
    assert saved_in(made.text) == "resize is subscribed to topic news."
    (listed,) = await platform.topics.subscriptions(news)
    assert (listed.protocol, listed.endpoint) == ("lambda", platform.invoker.arn("resize"))
    assert (await platform.topics.subscription_attributes(listed.arn))["FilterPolicy"] == policy
    assert 'aria-label="resize is invoked by Topic news"' in made.text

    # Then a matching message published to the topic invokes it, and another does not
    await platform.topics.publish(news, Draft("other-1", attributes={"kind": ("String", "x")}))
    await platform.topics.publish(news, Draft("order-1", attributes={"kind": ("String", "order")}))
    took = await ledger_has(ledger, "sns order-1")
    print(f"\nthe published message reached the function {took:.2f} s after it was published")
    assert "sns other-1" not in lines(ledger)

    # When the filter is emptied, every message is delivered
    bad = await browser.post(
        f"{FN}/triggers/subscriptions/filter", data={"arn": listed.arn, "filter_policy": "{nope"}
    )
    assert bad.status_code == 422 and "failed to parse JSON" in error_of(bad.text, "filter_policy")
    opened = await browser.post(
        f"{FN}/triggers/subscriptions/filter", data={"arn": listed.arn, "filter_policy": ""}
    )
    assert saved_in(opened.text) == "Every message of topic news is delivered."
    await platform.topics.publish(news, Draft("other-2", attributes={"kind": ("String", "x")}))
    await ledger_has(ledger, "sns other-2")

    # Subscribing again changes nothing
    again = await browser.post(f"{FN}/triggers/subscriptions/add", data={"topic": "news"})
    assert saved_in(again.text) == "resize is subscribed to topic news already."
    assert len(await platform.topics.subscriptions(news)) == 1


@KEYS
async def test_a_subscription_sns_refuses_is_shown_by_its_field(
    browser: httpx.AsyncClient, deploy: Any, platform: Platform, tmp_path: Path
) -> None:
    await deploy("resize", LEDGER, env={"LEDGER": str(tmp_path / "ledger")})
    await platform.topics.create("news", {}, {})
    await platform.topics.create("jobs.fifo", {"FifoTopic": "true"}, {})
    await log_in(browser, ADMIN)
    add = f"{FN}/triggers/subscriptions/add"

    for typed, status, field, says in [
        ({"filter_policy": "{nope"}, 422, "filter_policy", "FilterPolicy: failed to parse JSON"),
        ({"filter_policy": '{"kind": "order"}'}, 422, "filter_policy", "an object or an array"),
        ({"filter_policy": "{}", "filter_scope": "Head"}, 422, "filter_scope", "FilterPolicyScope"),
        ({"topic": "nosuch"}, 404, "topic", "Topic does not exist"),
        ({"topic": "jobs.fifo"}, 422, "topic", "Invalid protocol type: lambda"),
        ({"topic": ""}, 422, "topic", "choose the topic to subscribe to"),
        ({"qualifier": "live"}, 404, "qualifier", "Cannot find alias live of function resize"),
        ({"qualifier": "bad/one"}, 422, "qualifier", "Lambda endpoint ARN"),
    ]:  # fmt: skip
        refused = await browser.post(add, data={"topic": "news", **typed})
        assert refused.status_code == status, (typed, refused.text[:800])
        assert says in error_of(refused.text, field), typed
    assert await platform.topics.subscriptions() == []


@KEYS
async def test_an_invoke_key_sees_the_triggers_and_may_add_or_change_none(
    browser: httpx.AsyncClient, deploy: Any, platform: Platform, tmp_path: Path
) -> None:
    await deploy("resize", LEDGER, env={"LEDGER": str(tmp_path / "ledger")})
    await platform.queues.create("orders")
    mapping = await platform.mappings.create(
        {"EventSourceArn": platform.queues.arn("orders"), "FunctionName": "resize"}
    )
    news = await platform.topics.create("news", {}, {})
    subscription = await platform.topics.subscribe(
        news, "lambda", platform.invoker.arn("resize"), {}
    )
    await log_in(browser, INVOKE)

    tab = (await browser.get(f"{FN}/triggers")).text  # the panel, as htmx asks for it
    assert "<form" not in tab and "orders" in tab and "news" in tab
    for path, data in [
        ("mappings/add", {"queue": "orders", "batch_size": "5"}),
        ("mappings/update", {"uuid": mapping.uuid, "batch_size": "5"}),
        ("mappings/delete", {"uuid": mapping.uuid}),
        ("subscriptions/add", {"topic": "news"}),
        ("subscriptions/filter", {"arn": subscription, "filter_policy": '{"a": ["b"]}'}),
    ]:
        answer = await browser.post(f"{FN}/triggers/{path}", data=data)
        assert answer.status_code == 403, (path, answer.text[:300])
    assert await platform.mappings.list() == [mapping]
    assert "FilterPolicy" not in await platform.topics.subscription_attributes(subscription)
