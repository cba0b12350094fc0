"""Event source mappings: messages through a queue's mapping into a no-op function.

- **Throughput**: ``plan.messages`` messages sent with SendMessageBatch (10 a call,
  8 senders) into a queue whose mapping (batch 10) is disabled; then the mapping is
  enabled and the clock runs until the queue is empty (every message received,
  delivered to the function in a batch, and deleted). The baseline, in the same
  run, is the queue emptied by 8 plain consumers (ReceiveMessage of 10, then
  DeleteMessageBatch: what a mapping does, without a function).
- **Idle delivery**: with the mapping enabled and the queue idle, one message at a
  time is sent and the time until it is deleted (the function has run) measured, by
  polling the queue's attributes every millisecond; ``plan.idle_messages`` of them.
  The baseline is the same message's time until a long-polling consumer receives it.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config

from bench.harness import Harness, Plan
from bench.model import Result
from bench.stats import summary
from faas.auth import access_key_id_of

FUNCTION = "noop"
SENDERS = 8
BODY = "x" * 100


def clients(h: Harness, service: str, n: int) -> list[Any]:
    config = Config(retries={"max_attempts": 0}, max_pool_connections=4)
    return [
        boto3.client(
            service,
            endpoint_url=h.server.url if h.server else None,
            region_name=h.settings.region,
            aws_access_key_id=access_key_id_of(h.admin_key),
            aws_secret_access_key=h.admin_key,
            config=config,
        )
        for _ in range(n)
    ]


def fill(sqs: list[Any], url: str, total: int) -> None:
    """``total`` messages into ``url``, 10 a call, from every client at once."""
    per = total // len(sqs)

    def send(client: Any) -> None:
        for start in range(0, per, 10):
            entries = [{"Id": str(i), "MessageBody": BODY} for i in range(min(10, per - start))]
            answer = client.send_message_batch(QueueUrl=url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"send_message_batch failed: {answer['Failed'][:2]}")

    with ThreadPoolExecutor(len(sqs)) as pool:
        list(pool.map(send, sqs))


def remaining(client: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attrs[n]) for n in names)


def until_empty(client: Any, url: str, every_s: float, limit_s: float) -> float:
    started = time.perf_counter()
    while remaining(client, url):
        if time.perf_counter() - started > limit_s:
            raise RuntimeError(f"{url} still holds messages after {limit_s:.0f} s")
        time.sleep(every_s)
    return time.perf_counter() - started


def consume(sqs: list[Any], url: str) -> None:
    """Plain consumers: receive 10, delete them in one call, until nothing comes."""
    stop = threading.Event()

    def loop(client: Any) -> None:
        while not stop.is_set():
            got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            messages = got.get("Messages", [])
            if not messages:
                return
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ]
            client.delete_message_batch(QueueUrl=url, Entries=entries)

    with ThreadPoolExecutor(len(sqs)) as pool:
        list(pool.map(loop, sqs))
    stop.set()


def run(h: Harness, plan: Plan, result: Result) -> None:
    sqs = clients(h, "sqs", SENDERS)
    (lam,) = clients(h, "lambda", 1)
    try:
        _run(h, plan, result, sqs, lam)
    finally:
        for client in (*sqs, lam):
            client.close()


def _run(h: Harness, plan: Plan, result: Result, sqs: list[Any], lam: Any) -> None:
    total = plan.messages
    run_id = uuid.uuid4().hex[:6]
    base_url = sqs[0].create_queue(QueueName=f"bench-base-{run_id}")["QueueUrl"]
    url = sqs[0].create_queue(QueueName=f"bench-map-{run_id}")["QueueUrl"]
    arn = sqs[0].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    # Baseline: the queue emptied by plain consumers.
    fill(sqs, base_url, total)
    started = time.perf_counter()
    consume(sqs, base_url)
    base_s = time.perf_counter() - started
    if remaining(sqs[0], base_url):
        raise RuntimeError("the plain consumers left messages behind")
    # Project: the same through a mapping into the no-op function.
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=FUNCTION, BatchSize=10, Enabled=False
    )["UUID"]
    fill(sqs, url, total)
    lam.update_event_source_mapping(UUID=mapping, Enabled=True)
    mapped_s = until_empty(sqs[0], url, 0.05, 300)
    project, baseline = total / mapped_s, total / base_s
    result.figures["messages"] = float(total)
    result.figures["base_per_s"] = baseline
    result.row(
        "messages/s through a mapping (batch 10) into a no-op function",
        "/s",
        "per_s",
        project,
        baseline=baseline,
        baseline_label="8 plain consumers (receive 10, delete batch), same queue kind",
    )
    # Idle delivery: one message at a time into the idle mapping.
    time.sleep(1.5)  # the pollers back down to one, long polling
    delivered, received = [], []
    (probe,) = sqs[:1]
    for _ in range(plan.idle_messages):
        sent = time.perf_counter()
        probe.send_message(QueueUrl=url, MessageBody=BODY)
        until_empty(probe, url, 0.001, 30)
        delivered.append((time.perf_counter() - sent) * 1000)
        time.sleep(0.2)
    lam.update_event_source_mapping(UUID=mapping, Enabled=False)
    time.sleep(2)  # its pollers stop
    for _ in range(plan.idle_messages):
        waiting: list[Any] = []

        def wait(into: list[Any] = waiting) -> None:
            answer = sqs[1].receive_message(QueueUrl=base_url, WaitTimeSeconds=5)
            into.append((answer, time.perf_counter()))

        consumer = threading.Thread(target=wait)
        consumer.start()
        time.sleep(0.2)  # it waits in its long poll
        sent = time.perf_counter()
        probe.send_message(QueueUrl=base_url, MessageBody=BODY)
        consumer.join()
        answer, at = waiting[0]
        received.append((at - sent) * 1000)
        for m in answer.get("Messages", []):
            sqs[1].delete_message(QueueUrl=base_url, ReceiptHandle=m["ReceiptHandle"])
    d, r = summary(delivered), summary(received)
    result.figures["idle_delivery_p99_ms"] = d["p99"]
    result.row(
        "idle mapping: a new message run and deleted, p50",
        "ms",
        "idle_delivery_p50_ms",
        d["p50"],
        baseline=r["p50"],
        baseline_label="a long-polling consumer receives it",
    )
    result.notes.append(
        f"{total} messages, 8 senders (SendMessageBatch of 10); mapping with BatchSize 10; "
        f"idle delivery over {plan.idle_messages} messages, polled every ms"
    )
