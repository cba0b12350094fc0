"""The Triggers tab makes and changes a function's queue triggers (their batching, filters,
partial batch responses and maximum concurrency), topic subscriptions and schedules, on a
real platform (process backend) and a real Redis, as a logged-in browser's htmx posts them.

The gateway's app runs in this process (httpx's ASGI transport) around a started
platform (its pollers and async workers running) with an admin key and an invoke key
for one function; each post carries the session's CSRF token in ``X-CSRF-Token`` and
``HX-Request``, as the pages do. The function writes each record it gets to a ledger
file, so a story sees it invoked by what the queue or topic was sent (or a schedule's input).
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
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
import json
import os

def handler(event, context):
    with open(os.environ["LEDGER"], "a") as ledger:
        if "Records" not in event:
            ledger.write("event " + json.dumps(event) + "\\n")
        for record in event.get("Records", []):
            if "Sns" in record:
                ledger.write("sns " + record["Sns"]["Message"] + "\\n")
            else:
                ledger.write("sqs " + record["body"] + "\\n")
    return len(event.get("Records", []))
"""


@pytest.fixture
async def ledger(deploy: Any, tmp_path: Path) -> Path:
    """Where the function ``resize``, deployed, writes each record it is given."""
    path = tmp_path / "ledger"
    await deploy("resize", LEDGER, env={"LEDGER": str(path)})
    return path


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
    browser: httpx.AsyncClient, platform: Platform, ledger: Path
) -> None:
    # Given a function and a queue nothing reads yet
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
    browser: httpx.AsyncClient, platform: Platform, ledger: Path
) -> None:
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
    browser: httpx.AsyncClient, platform: Platform, ledger: Path
) -> None:
    # Given a function, a standard topic and a FIFO one (which delivers to queues only)
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
    browser: httpx.AsyncClient, platform: Platform, ledger: Path
) -> None:
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
    browser: httpx.AsyncClient, platform: Platform, ledger: Path
) -> None:
    await platform.queues.create("orders")
    await platform.schedules.put("resize", [{"name": "tick", "expression": "rate(5 minutes)"}])
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
        (
            "mappings/update",
            {
                "uuid": mapping.uuid,
                "filters": '{"body": {"a": ["b"]}}',
                "report_failures": "on",
                "max_concurrency": "3",
            },
        ),
        ("mappings/delete", {"uuid": mapping.uuid}),
        ("subscriptions/add", {"topic": "news"}),
        ("subscriptions/filter", {"arn": subscription, "filter_policy": '{"a": ["b"]}'}),
    ]:
        answer = await browser.post(f"{FN}/triggers/{path}", data=data)
        assert answer.status_code == 403, (path, answer.text[:300])
    assert await platform.mappings.list() == [mapping]
    assert "FilterPolicy" not in await platform.topics.subscription_attributes(subscription)
    edit = await browser.post(
        f"{FN}/triggers/schedules/edit", data={"rule": "tick", "expression": "rate(1 hour)"}
    )
    assert edit.status_code == 403, edit.text[:300]
    assert (await platform.schedules.get("resize"))[0].rule.expression == "rate(5 minutes)"


# Records each body, and answers Lambda's partial batch response: those starting "fail" failed.
PARTIAL = """
import os

def handler(event, context):
    failed = []
    with open(os.environ["LEDGER"], "a") as ledger:
        for record in event["Records"]:
            ledger.write("sqs " + record["body"] + "\\n")
            if record["body"].startswith("fail"):
                failed.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failed}
"""


async def left_in(platform: Platform, queue: str) -> int:
    """The messages still in ``queue``, visible or being handled."""
    counts = (await platform.queues.get(queue)).attributes
    return int(counts["ApproximateNumberOfMessages"]) + int(
        counts["ApproximateNumberOfMessagesNotVisible"]
    )


async def following(platform: Platform, mapping: Any) -> None:
    """Until this process's poller of the mapping follows its change (within 0.5 s)."""
    assert platform.pollers is not None
    pollers = platform.pollers
    await wait_until_async(
        lambda: pollers.running[mapping.uuid].mapping,
        what="the poller to follow the change",
        done=lambda polled: polled == mapping,
    )


@KEYS
async def test_a_queue_trigger_with_a_filter_invokes_only_for_matching_messages(
    browser: httpx.AsyncClient, platform: Platform, ledger: Path
) -> None:
    # Given a function and a queue
    await platform.queues.create("orders")
    await log_in(browser, ADMIN)

    # When the admin adds a queue trigger for orders only, at most 2 at once
    orders = '{"body": {"kind": ["order"]}}'
    added = await browser.post(
        f"{FN}/triggers/mappings/add",
        data={"queue": "orders", "filters": orders, "max_concurrency": "2", "enabled": "on"},
    )
    assert added.status_code == 200, added.text[:800]
    assert saved_in(added.text) == (
        "orders is read into resize in batches of up to 10 (1 filter, at most 2 at once) (on)."
    )
    (mapping,) = await platform.mappings.list(function_name="resize")
    assert (mapping.filters, mapping.max_concurrency, mapping.report_failures) == (
        (orders,),
        2,
        False,
    )
    assert "<code>{&#34;body&#34;: {&#34;kind&#34;: [&#34;order&#34;]}}</code>" in added.text

    # Then of two messages sent, only the order invokes the function; the other is dropped
    await platform.queues.send("orders", json.dumps({"kind": "refund", "n": 1}))
    await platform.queues.send("orders", json.dumps({"kind": "order", "n": 2}))
    took = await ledger_has(ledger, 'sqs {"kind": "order", "n": 2}')
    print(f"\nthe matching message reached the function {took:.2f} s after it was sent")
    await wait_until_async(
        lambda: left_in(platform, "orders"), what="the queue read empty", done=lambda n: n == 0
    )
    assert lines(ledger) == ['sqs {"kind": "order", "n": 2}']

    # When the filter is emptied (and the cap taken away), every message invokes it
    opened = await browser.post(
        f"{FN}/triggers/mappings/update",
        data={"uuid": mapping.uuid, "batch_size": "10", "filters": "", "max_concurrency": ""},
    )
    assert (
        saved_in(opened.text)
        == "The mapping from orders takes batches of up to 10, waiting at most 0 s."
    )
    now = await platform.mappings.get(mapping.uuid)
    assert (now.filters, now.max_concurrency) == ((), None)
    await following(platform, now)
    await platform.queues.send("orders", json.dumps({"kind": "refund", "n": 3}))
    await ledger_has(ledger, 'sqs {"kind": "refund", "n": 3}')


@KEYS
async def test_with_partial_batch_responses_only_the_failed_messages_stay_in_the_queue(
    browser: httpx.AsyncClient, deploy: Any, platform: Platform, tmp_path: Path
) -> None:
    # Given a function that fails some records of a batch, and a queue that hands a
    # message out again 1 s after a failed attempt
    ledger = tmp_path / "ledger"
    await deploy("resize", PARTIAL, env={"LEDGER": str(ledger)})
    await platform.queues.create("orders", {"VisibilityTimeout": "1"})
    await log_in(browser, ADMIN)

    # When the admin adds a queue trigger that reports batch item failures
    added = await browser.post(
        f"{FN}/triggers/mappings/add",
        data={"queue": "orders", "report_failures": "on", "enabled": "on"},
    )
    assert saved_in(added.text).endswith("(batch item failures reported) (on).")
    (mapping,) = await platform.mappings.list(function_name="resize")
    assert mapping.report_failures and "<td>reported</td>" in added.text

    # Then of three messages, the two the function did not fail are deleted, the third stays
    for body in ("ok-1", "fail-1", "ok-2"):
        await platform.queues.send("orders", body)
    for body in ("ok-1", "fail-1", "ok-2"):
        await ledger_has(ledger, f"sqs {body}")
    await wait_until_async(
        lambda: left_in(platform, "orders"), what="only one left", done=lambda n: n == 1
    )
    # ...and is handed to the function again, after its visibility timeout
    await wait_until_async(
        lambda: lines(ledger), what="fail-1 again", done=lambda got: got.count("sqs fail-1") >= 2
    )
    assert lines(ledger).count("sqs ok-1") == 1 and lines(ledger).count("sqs ok-2") == 1
    assert await left_in(platform, "orders") == 1

    # When partial batch responses are switched off, the function's success takes the batch
    changed = await browser.post(
        f"{FN}/triggers/mappings/update",
        data={"uuid": mapping.uuid, "batch_size": "10", "filters": "", "max_concurrency": ""},
    )
    assert "batch item failures" not in saved_in(changed.text)
    now = await platform.mappings.get(mapping.uuid)
    assert not now.report_failures
    await following(platform, now)
    await wait_until_async(
        lambda: left_in(platform, "orders"), what="the queue read empty", done=lambda n: n == 0
    )


@KEYS
async def test_a_filter_or_cap_lambda_refuses_is_shown_by_its_field(
    browser: httpx.AsyncClient, platform: Platform, ledger: Path
) -> None:
    await platform.queues.create("orders")
    await log_in(browser, ADMIN)
    six = "\n".join(f'{{"body": {{"n": [{i}]}}}}' for i in range(6))
    refusals = [
        ({"filters": "{nope"}, "filters", "FilterCriteria.Filters[0].Pattern is an invalid"),
        ({"filters": six}, "filters", "at most 5 filters"),
        (
            {"max_concurrency": "1"},
            "max_concurrency",
            "MaximumConcurrency must be an integer from 2 to 1000",
        ),
        ({"max_concurrency": "1001"}, "max_concurrency", "from 2 to 1000"),
    ]
    for typed, field, says in refusals:
        refused = await browser.post(
            f"{FN}/triggers/mappings/add", data={"queue": "orders", **typed}
        )
        assert refused.status_code == 422, (typed, refused.text[:800])
        assert says in error_of(refused.text, field), typed
    assert await platform.mappings.list() == []

    # The same refusals in a mapping's own form, which opens with what was typed
    mapping = await platform.mappings.create(
        {"EventSourceArn": platform.queues.arn("orders"), "FunctionName": "resize"}
    )
    for typed, field, says in refusals:
        refused = await browser.post(
            f"{FN}/triggers/mappings/update", data={"uuid": mapping.uuid, **typed}
        )
        assert refused.status_code == 422, (typed, refused.text[:800])
        assert says in error_of(refused.text, field) and "<details open>" in refused.text
    assert await platform.mappings.get(mapping.uuid) == mapping


def next_noon(after: datetime) -> datetime:
    noon = after.replace(hour=12, minute=0, second=0, microsecond=0)
    return noon if noon > after else noon + timedelta(days=1)


@pytest.mark.settings(admin_key=ADMIN, invoke_keys=f"{INVOKE}:resize", schedule_seconds=True)
async def test_a_schedules_expression_and_input_edited_show_its_next_fires_and_run(
    browser: httpx.AsyncClient, platform: Platform, ledger: Path
) -> None:
    # Given a function with a schedule every 5 minutes
    await platform.schedules.put("resize", [{"name": "tick", "expression": "rate(5 minutes)"}])
    await log_in(browser, ADMIN)
    tab = (await browser.get(f"{FN}/triggers")).text
    assert 'id="schedule-tick-expression" name="expression"' in tab and "rate(5 minutes)" in tab

    # When the admin changes it to noon every day
    edit = f"{FN}/triggers/schedules/edit"
    noon = await browser.post(edit, data={"rule": "tick", "expression": "cron(0 12 * * ? *)"})

    # Then the tab shows its next fires at noon
    assert noon.status_code == 200, noon.text[:800]
    first = next_noon(datetime.now(UTC))
    assert saved_in(noon.text) == (
        f"Schedule tick runs cron(0 12 * * ? *): it fires next at {first:%Y-%m-%d} 12:00:00 UTC."
    )
    for day in range(3):
        assert f"{first + timedelta(days=day):%Y-%m-%d} 12:00:00</time>" in noon.text
    (view,) = await platform.schedules.get("resize")
    assert view.rule.expression == "cron(0 12 * * ? *)" and view.next_fires[0] == first

    # And what the API refuses is shown by its field, the rule left as it was
    for typed, status, field, says in [
        ({"expression": "cron(0 25 * * ? *)"}, 422, "expression", "at position 8: 25 is out"),
        ({"expression": "cron(0 12 * *)"}, 422, "expression", "at position"),
        ({"expression": "rate(1 hour)", "input": "{"}, 422, "input", "input is not JSON"),
        ({"expression": "rate(1 hour)", "qualifier": "live"}, 404, "qualifier", "live"),
        ({"expression": "rate(1 hour)", "qualifier": "bad/one"}, 422, "qualifier", "must be"),
    ]:  # fmt: skip
        refused = await browser.post(edit, data={"rule": "tick", **typed})
        assert refused.status_code == status, (typed, refused.text[:800])
        assert says in error_of(refused.text, field), typed
        assert "<details open>" in refused.text
    assert (await platform.schedules.get("resize"))[0].rule == view.rule
    # (and the add form, which asks for a version or alias too, looks it up the same way)
    add = {"name": "other", "expression": "rate(1 hour)", "qualifier": "live"}
    missing = await browser.post(f"{FN}/triggers/schedules", data=add)
    assert missing.status_code == 404 and "live" in error_of(missing.text, "qualifier")
    gone = await browser.post(edit, data={"rule": "nope", "expression": "rate(1 hour)"})
    assert gone.status_code == 422 and "resize has no schedule &#39;nope&#39;" in gone.text

    # When it is changed to every second with a constant input, the function gets that input
    fast = await browser.post(
        edit, data={"rule": "tick", "expression": "rate(1 second)", "input": '{"from": "tick"}'}
    )
    assert saved_in(fast.text).startswith("Schedule tick runs rate(1 second): it fires next at ")
    took = await ledger_has(ledger, 'event {"from": "tick"}')
    print(f"\nthe edited schedule ran {took:.2f} s after it was saved")
    (view,) = await platform.schedules.get("resize")
    assert (view.rule.input, view.rule.enabled) == ('{"from": "tick"}', True)
