"""Queues: SendMessageBatch ingestion through the SQS API against Redis alone.

Issue 21's speed target: the server takes at least 20,000 messages/s through
``SendMessageBatch`` (batches of 10 messages of 100 bytes, 8 keep-alive
connections, for a fixed time) on a standard queue.

The request is the one boto3 sends for ``send_message_batch``: its headers and
body are caught once from a real boto3 client, then signed by botocore's
``SigV4Auth`` ahead of the clock, a pool of them for each connection, so the
client's signing is not in the measurement; the server verifies every one (it
keeps no cache of signatures). The connections are ``bench.httpraw`` clients, a
thread each.

The baseline is Redis alone: the same number of connections run the queue's own
send script (``EVALSHA`` of ``faas.queues.scripts.SEND``, the same batches of 10,
ids and message blobs made ahead) for the same time, straight to the server's
redis-server. It is the ceiling the queues' storage puts on ingestion; the gap
to it is what the gateway spends (HTTP, SigV4, JSON, ids, MD5s, the answer).
Both sides check that every message they were told was taken is in its queue.

The server's CPU per message (its threads' schedstat while the clock runs) moves
less than the rate with whatever else shares the two cores: it says what a
change to the path bought.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench import httpraw
from bench.harness import Harness, Plan
from bench.model import Result
from bench.scenarios.lambda_api import boto3_request, server_cpu
from faas import keys
from faas.auth import access_key_id_of
from faas.queues import scripts

CONNECTIONS = 8
BATCH = 10
BODY_BYTES = 100
# Signed requests each connection cycles through (the server keeps no replay cache:
# each is verified in full every time).
SIGNED_POOL = 32
QUEUE = "bench-ingest"
REDIS_QUEUE = "bench-redis"


def batch_entries() -> list[dict[str, str]]:
    return [
        {"Id": str(i), "MessageBody": f"{i:02d}" + "m" * (BODY_BYTES - 2)} for i in range(BATCH)
    ]


def send_batch_request(
    endpoint: str, credentials: Credentials, region: str, queue_url: str
) -> tuple[str, dict[str, str], bytes]:
    """boto3's ``send_message_batch`` of one batch (``lambda_api.boto3_request``)."""
    return boto3_request(
        endpoint,
        credentials,
        region,
        "sqs",
        "SendMessageBatch",
        lambda client: client.send_message_batch(QueueUrl=queue_url, Entries=batch_entries()),
    )


def signed_requests(h: Harness, queue_url: str, count: int) -> list[bytes]:
    host = f"127.0.0.1:{h.port}"
    credentials = Credentials(access_key_id_of(h.admin_key), h.admin_key)
    url, headers, body = send_batch_request(
        f"http://{host}", credentials, h.settings.region, queue_url
    )
    out = []
    for _ in range(count):
        request = AWSRequest(
            "POST", url, headers={**headers, "amz-sdk-invocation-id": str(uuid.uuid4())}, data=body
        )
        SigV4Auth(credentials, "sqs", h.settings.region).add_auth(request)
        out.append(httpraw.build("POST", "/", dict(request.headers.items()), body, host=host))
    return out


def hammer(workers: list[Callable[[], int]], seconds: float) -> tuple[int, float]:
    """Run each worker (one call = one batch; it answers the messages taken) in its own
    thread for ``seconds``: (messages taken, seconds it took)."""
    stop = threading.Event()
    start = threading.Barrier(len(workers) + 1)
    counts = [0] * len(workers)
    errors: list[BaseException] = []

    def loop(i: int, work: Callable[[], int]) -> None:
        start.wait()
        try:
            while not stop.is_set():
                counts[i] += work()
        except BaseException as exc:  # reported once all have stopped
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=loop, args=(i, w)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return sum(counts), elapsed


def through_server(h: Harness, seconds: float) -> tuple[float, int, float]:
    """Messages/s through the SQS API; the messages the server said it took; the
    server's CPU seconds while the clock ran."""
    queue_url = create_queue(h, QUEUE)
    pools = [signed_requests(h, queue_url, SIGNED_POOL) for _ in range(CONNECTIONS)]
    clients = [h.gateway() for _ in range(CONNECTIONS)]

    def worker(client: httpraw.RawClient, pool: list[bytes]) -> Callable[[], int]:
        turn = itertools.count()

        def send() -> int:
            reply = client.send(pool[next(turn) % len(pool)])
            if reply.status != 200:
                raise RuntimeError(
                    f"SendMessageBatch answered {reply.status}: {reply.body[:300]!r}"
                )
            return reply.body.count(b'"MessageId"')

        return send

    try:
        workers = [worker(c, p) for c, p in zip(clients, pools, strict=True)]
        for work in workers:  # connected, and the path warm, before the clock
            work()
        cpu = server_cpu(h.pid)
        taken, elapsed = hammer(workers, seconds)
        cpu = server_cpu(h.pid) - cpu
    finally:
        for client in clients:
            client.close()
    return taken / elapsed, taken + BATCH * CONNECTIONS, cpu / max(taken, 1)


def through_redis(h: Harness, seconds: float) -> tuple[float, int]:
    """Messages/s of the send script run straight on Redis, the same batches."""
    create_queue(h, REDIS_QUEUE)
    pool = redis.ConnectionPool.from_url(h.env["FAAS_REDIS_URL"], max_connections=CONNECTIONS)
    client = redis.Redis(connection_pool=pool)
    sha = client.script_load(scripts.SEND)
    queue_keys = keys.sqs_keys(REDIS_QUEUE)
    blob = json.dumps({"b": "m" * BODY_BYTES, "m": "0" * 32, "s": "bench"}, separators=(",", ":"))

    def worker(n: int) -> Callable[[], int]:
        counter = itertools.count()

        def send() -> int:
            batch = next(counter)
            args: list[Any] = [keys.SQS_QUEUE_PREFIX]
            for i in range(BATCH):
                args += [f"{n}-{batch}-{i}", blob, -1, "", "", "", BODY_BYTES]
            answer = client.evalsha(sha, len(queue_keys), *queue_keys, *args)
            return len(answer)

        return send

    try:
        taken, elapsed = hammer([worker(n) for n in range(CONNECTIONS)], seconds)
    finally:
        client.close()
        pool.disconnect()
    return taken / elapsed, taken


def create_queue(h: Harness, name: str) -> str:
    body = json.dumps({"QueueName": name}).encode()
    host = f"127.0.0.1:{h.port}"
    credentials = Credentials(access_key_id_of(h.admin_key), h.admin_key)
    request = AWSRequest(
        "POST",
        f"http://{host}/",
        headers={
            "X-Amz-Target": "AmazonSQS.CreateQueue",
            "Content-Type": "application/x-amz-json-1.0",
        },
        data=body,
    )
    SigV4Auth(credentials, "sqs", h.settings.region).add_auth(request)
    with h.gateway() as client:
        reply = client.send(
            httpraw.build("POST", "/", dict(request.headers.items()), body, host=host)
        )
    if reply.status != 200:
        raise RuntimeError(f"CreateQueue answered {reply.status}: {reply.body[:300]!r}")
    url: str = json.loads(reply.body)["QueueUrl"]
    return url


def stored(h: Harness, name: str) -> int:
    """Messages in a queue (its sent-time index), then the queue emptied."""
    with redis.Redis.from_url(h.env["FAAS_REDIS_URL"]) as client:
        count = int(client.zcard(keys.sqs_queue(name) + ":sent"))
        client.delete(*keys.sqs_keys(name)[1:])
    return count


def run(h: Harness, plan: Plan, result: Result) -> None:
    seconds = float(plan.wrk_seconds)
    per_s, said, cpu_per_message = through_server(h, seconds)
    kept = stored(h, QUEUE)
    redis_per_s, redis_said = through_redis(h, seconds)
    redis_kept = stored(h, REDIS_QUEUE)
    if (kept, redis_kept) != (said, redis_said):
        raise RuntimeError(
            f"messages lost or doubled: the server took {said}, its queue holds {kept}; "
            f"Redis took {redis_said}, its queue holds {redis_kept}"
        )
    label = "the send script on Redis alone"
    result.row(
        "SendMessageBatch ingestion",
        "msg/s",
        "ingest_per_s",
        per_s,
        baseline=redis_per_s,
        baseline_label=label,
    )
    result.figures["redis_per_s"] = redis_per_s
    result.figures["messages"] = float(said)
    result.row("server CPU per message", "us", "server_cpu_us", 1e6 * cpu_per_message, chart=False)
    result.row(
        "share of Redis's rate", "%", "share_of_redis_pct", 100 * per_s / redis_per_s, chart=False
    )
    result.notes.append(
        f"{CONNECTIONS} keep-alive connections (a thread each) for {seconds:g} s each side, "
        f"batches of {BATCH} messages of {BODY_BYTES} bytes to a standard queue; the server's "
        f"side sends boto3's SendMessageBatch request, signed by botocore ahead of the clock "
        f"({SIGNED_POOL} signed requests a connection, each verified in full); the baseline "
        "runs the same send script with EVALSHA straight on the server's redis-server; both "
        "sides' queues were counted afterwards: no message lost or doubled"
    )
