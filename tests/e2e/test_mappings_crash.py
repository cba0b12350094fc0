"""A mapping's worker killed every 2 seconds: no message lost, none run after its
deletion, every FIFO group in order.

``faas serve`` runs no pollers of its own (``FAAS_WORKER=0``); ``faas worker``
processes run the mapping and are SIGKILLed every 2 s, a new one started each time
(at most ``KILLS`` times, then one is left to finish), while 10,000 messages in 20
groups of a FIFO queue go through a function that appends each record it completes
to a ledger file the test owns: that file, outside the Redis under test, is the truth
of what ran. Functions run on the process backend: a killed worker's sandboxes are
host processes, reaped by the next worker as a container would be. A batch cut by a
kill comes back after the queue's visibility timeout: a message may run again (at least
once), but never before the ones ahead of it in its group, and never once deleted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from faas.compute.process import procs
from faas.settings import Settings
from tests.e2e import test_lambda_api_story as story
from tests.helpers import Server, WorkerProcess, handler_zip, upload, wait_until

GROUPS, PER_GROUP = 20, 500
KILL_EVERY_S = 2.0
KILLS = 12

# A tenth of a second a batch: kills land in the middle of work.
LEDGER = """
import os, time

def handler(event, context):
    time.sleep(0.1)
    with open(os.environ["LEDGER"], "a") as ledger:
        for record in event["Records"]:
            ledger.write(record["body"] + "\\n")
"""


@pytest.fixture
def backend() -> str:
    return "process"


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    return {**server_env, "FAAS_ADMIN_KEY": story.ADMIN, "FAAS_BACKEND": "process"}


@pytest.fixture
def cluster(
    server_env: dict[str, str], settings: Settings, tmp_path: Path
) -> Iterator[tuple[Server, list[WorkerProcess]]]:
    env = {**server_env, "FAAS_WORKER": "0", "FAAS_REAP_INTERVAL_S": "0.5"}
    server = Server(env, tmp_path / "server.log")
    workers: list[WorkerProcess] = []
    server.start()
    try:
        yield server, workers
    finally:
        for worker in workers:
            if worker.proc is not None and worker.proc.poll() is None:
                worker.kill()

        # The server reaps the sandboxes of workers whose heartbeats stopped (its own
        # generic ones go when it stops).
        def workers_sandboxes() -> list[str]:
            records = (procs.Record.read(p) for p in settings.sockets_dir.glob("*.proc"))
            return [r.token for r in records if r is not None and r.owner != "serve"]

        wait_until(
            lambda: not workers_sandboxes(),
            what="the killed workers' sandboxes reaped",
            within_s=40,
            show=workers_sandboxes,
        )
        server.stop()


def lines(path: Path) -> list[str]:
    """The complete lines (one still being written is not a line yet)."""
    if not path.exists():
        return []
    return path.read_text().rpartition("\n")[0].split("\n") if path.stat().st_size else []


def test_killed_workers_lose_nothing_and_keep_each_group_in_order(
    cluster: tuple[Server, list[WorkerProcess]],
    server_env: dict[str, str],
    tmp_path: Path,
) -> None:
    server, workers = cluster
    worker_env = {**server_env, "FAAS_LEASE_S": "2", "FAAS_REAP_INTERVAL_S": "0.5"}
    sqs, lam = story.aws_client(server, "sqs"), story.aws_client(server, "lambda")
    try:
        # Given a FIFO queue whose cut batches come back after 2 s, and a consumer
        ledger = tmp_path / "ledger.txt"
        url = sqs.create_queue(
            QueueName="orders.fifo",
            Attributes={"FifoQueue": "true", "VisibilityTimeout": "2"},
        )["QueueUrl"]
        with httpx.Client(
            base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {story.ADMIN}"}
        ) as api:
            env = json.dumps({"LEDGER": str(ledger)})
            made = upload(api, "ledger", handler_zip(LEDGER), env=env)
            assert made.status_code == 201, made.text
        # And 10,000 messages in 20 groups, sent before anything consumes them
        for seq in range(PER_GROUP):
            entries = [
                {
                    "Id": str(g),
                    "MessageBody": f"{g}:{seq}",
                    "MessageGroupId": f"g{g}",
                    "MessageDeduplicationId": f"{g}:{seq}",
                }
                for g in range(GROUPS)
            ]
            for start in (0, 10):
                sent = sqs.send_message_batch(QueueUrl=url, Entries=entries[start : start + 10])
                assert not sent.get("Failed"), sent["Failed"]
        arn = f"arn:aws:sqs:{story.REGION}:{story.ACCOUNT}:orders.fifo"
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="ledger", BatchSize=10)
        wanted = {f"{g}:{seq}" for g in range(GROUPS) for seq in range(PER_GROUP)}

        # When a worker runs the mapping and is SIGKILLed every 2 s, a new one each time
        kills = 0
        deadline = time.monotonic() + 240
        while set(lines(ledger)) != wanted and kills < KILLS and time.monotonic() < deadline:
            worker = WorkerProcess(worker_env, tmp_path / f"worker-{len(workers)}.log")
            worker.start()
            workers.append(worker)
            time.sleep(KILL_EVERY_S)
            worker.kill()
            kills += 1
        # And a last one is left to finish
        last = WorkerProcess(worker_env, tmp_path / "worker-last.log")
        last.start()
        workers.append(last)

        # Then every message ran: none lost
        wait_until(
            lambda: set(lines(ledger)) == wanted,
            what="every message in the ledger",
            within_s=120,
            show=lambda: f"{len(set(lines(ledger)))} of {len(wanted)} after {kills} kills",
        )
        assert kills >= 3, "the workers were hardly killed: the story proved nothing"
        # And the queue is empty
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

        def left() -> int:
            got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            return sum(int(got[n]) for n in names)

        wait_until(lambda: left() == 0, what="the queue emptied", within_s=30)
        # And nothing runs once deleted: the ledger stays as it is
        settled = lines(ledger)
        time.sleep(4)  # two visibility timeouts
        assert lines(ledger) == settled
        # And each group ran in order: a message only ever after the one before it, a
        # cut batch running again from where it was cut
        order: dict[str, list[int]] = {}
        for line in settled:
            group, seq = line.split(":")
            order.setdefault(group, []).append(int(seq))
        for group, seqs in order.items():
            seen = 0
            for seq in seqs:
                assert seq <= seen, (group, seq, seen)  # never ahead of the next unseen
                seen = max(seen, seq + 1)
            assert seen == PER_GROUP
        duplicates = len(settled) - len(wanted)
        print(json.dumps({"kills": kills, "duplicates": duplicates, "lines": len(settled)}))
    finally:
        sqs.close()
        lam.close()
