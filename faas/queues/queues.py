"""The queues service: what the SQS API, the CLI and the event source mappings call.

``platform.queues``. Names are checked and attributes parsed here; each change is
one script in Redis (``faas.queues.store``, ``faas.queues.scripts``), so a killed
client or a concurrent one never loses nor duplicates a message; long polls wait
on ``faas.wakeups``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis

from faas import metrics
from faas.errors import (
    BatchRequestInvalid,
    InvalidAttributeValue,
    InvalidRequest,
    MessageNotInflight,
    QueueDoesNotExist,
    QueueNameExists,
)
from faas.queues import attributes as attrs
from faas.queues.checks import check_batch, message_problem
from faas.queues.digests import md5_of_attributes
from faas.queues.model import (
    MAX_RECEIVE,
    MAX_WAIT_S,
    BatchEntry,
    BatchFailure,
    MessageAttribute,
    Queue,
    Received,
    Sent,
    is_fifo,
    message_ids,
    parse_receipt_handle,
    receipt_handle,
)
from faas.queues.store import QueueStore
from faas.wakeups import Waiters

_list = list  # ``Queues.list`` hides the builtin in its class

# What one batch may weigh in all (SQS's limit).
MAX_BATCH_BYTES = 262144
# A message's blob is written piece by piece: ``json.dumps`` of its dict was a fifth
# of send_batch's time (an encoder built a call), the C string quoting alone 0.2 us.
_to_json = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
_quote = json.encoder.encode_basestring_ascii


def _sequence(seq: str) -> str | None:
    return None if seq in ("", "0") else seq.zfill(20)


class Queues:
    """SQS-compatible queues on Redis."""

    def __init__(
        self, client: aioredis.Redis, *, region: str, account_id: str, sender_id: str = ""
    ) -> None:
        self.region = region
        self.account_id = account_id
        self._sender_id = sender_id or account_id
        self._store = QueueStore(client)
        self._waiters = Waiters(client)
        # Receives in flight to Redis at once from this process: a hundred long polls
        # woken together queue here rather than take a hundred pooled connections.
        self._receiving = asyncio.Semaphore(16)

    async def close(self) -> None:
        await self._waiters.close()

    # -- names ----------------------------------------------------------------

    def arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{name}"

    def url(self, name: str, host: str, scheme: str = "http") -> str:
        return f"{scheme}://{host}/{self.account_id}/{name}"

    @staticmethod
    def name_of(queue_url_or_arn: str) -> str:
        """A queue's name from its URL (any host: the last path segment), ARN or name."""
        text = queue_url_or_arn.strip()
        if text.startswith("arn:"):
            name = text.rsplit(":", 1)[-1]
        else:
            name = text.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if not name or not attrs.NAME.fullmatch(name.removesuffix(".fifo")):
            raise QueueDoesNotExist(
                f"The specified queue {queue_url_or_arn} does not exist.", field="QueueUrl"
            )
        return name

    # -- queues ---------------------------------------------------------------

    async def create(
        self,
        name: str,
        attributes: Mapping[str, str] = {},
        tags: Mapping[str, str] = {},
    ) -> Queue:
        attrs.check_name(name)
        given = attrs.parse(name, attributes, creating=True)
        whole = {**attrs.defaults(name), **given}
        fields = {"attrs": json.dumps(whole, sort_keys=True), **attrs.internal(name, whole)}
        existing = await self._store.create(name, fields, dict(tags))
        if existing is not None:
            have = json.loads(existing)
            if any(have.get(key) != value for key, value in given.items()):
                raise QueueNameExists(
                    f"A queue already exists with the same name ({name}) and a different "
                    "value for attribute(s)",
                    field="QueueName",
                )
        return await self.get(name)

    async def get(self, name: str) -> Queue:
        stored = await self._store.read(name)
        depth = (await self._store.depths([name], int(time.time() * 1000)))[0]
        visible = max(0, depth.total - depth.in_flight - depth.delayed)
        computed = {
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": str(depth.in_flight),
            "ApproximateNumberOfMessagesDelayed": str(depth.delayed),
            "CreatedTimestamp": str(stored.created),
            "LastModifiedTimestamp": str(stored.modified),
            "QueueArn": self.arn(name),
        }
        return Queue(name, {**stored.attributes, **computed}, await self._store.tags(name))

    async def exists(self, name: str) -> bool:
        try:
            await self._store.field(name, "fifo")
        except QueueDoesNotExist:
            return False
        return True

    async def delete(self, name: str) -> None:
        await self._store.purge(name, drop=True)
        self._waiters.forget(name)

    async def list(self, prefix: str = "") -> _list[Queue]:
        out = []
        for name in await self._store.names():
            if name.startswith(prefix):
                try:
                    out.append(await self.get(name))
                except QueueDoesNotExist:
                    continue  # deleted meanwhile
        return out

    async def names(self, prefix: str = "") -> _list[str]:
        """The queues' names, sorted (cheaper than ``list``: no attributes read)."""
        return [n for n in await self._store.names() if n.startswith(prefix)]

    async def set_attributes(self, name: str, attributes: Mapping[str, str]) -> None:
        given = attrs.parse(name, attributes, creating=False)
        for _ in range(20):
            stored = await self._store.read(name)
            whole = {**stored.attributes, **given}
            fields = {"attrs": json.dumps(whole, sort_keys=True), **attrs.internal(name, whole)}
            if await self._store.set_fields(name, stored.fields["attrs"], fields):
                return
        raise InvalidRequest(f"the attributes of {name} kept changing; try again")

    async def purge(self, name: str) -> None:
        await self._store.purge(name, drop=False)

    async def tags(self, name: str) -> dict[str, str]:
        await self._store.field(name, "fifo")
        return await self._store.tags(name)

    async def tag(self, name: str, tags: Mapping[str, str]) -> None:
        await self._store.field(name, "fifo")
        await self._store.tag(name, dict(tags))

    async def untag(self, name: str, tag_keys: Sequence[str]) -> None:
        await self._store.field(name, "fifo")
        await self._store.untag(name, tag_keys)

    async def dead_letter_sources(self, name: str) -> _list[str]:
        """The queues whose redrive policy names this one."""
        await self._store.field(name, "fifo")
        out = []
        for other in await self._store.names():
            try:
                if await self._store.field(other, "dlq") == name:
                    out.append(other)
            except QueueDoesNotExist:
                continue
        return out

    # -- messages -------------------------------------------------------------

    async def send(
        self,
        name: str,
        body: str,
        *,
        message_attributes: Mapping[str, MessageAttribute] = {},
        delay_s: int | None = None,
        group_id: str | None = None,
        dedup_id: str | None = None,
        sender_id: str | None = None,
    ) -> Sent:
        entry = BatchEntry("0", body, dict(message_attributes), delay_s, group_id, dedup_id)
        ok, failed = await self.send_batch(name, [entry], sender_id=sender_id, single=True)
        if failed:
            raise InvalidAttributeValue(failed[0].message, field="MessageBody")
        return ok[0][1]

    async def send_batch(
        self,
        name: str,
        entries: Sequence[BatchEntry],
        *,
        sender_id: str | None = None,
        single: bool = False,
        checked: bool = False,
    ) -> tuple[_list[tuple[str, Sent]], _list[BatchFailure]]:
        """Send up to 10 messages in one script: ``(ok: [(entry id, Sent)], failed)``.

        ``checked``: the caller ran ``check_batch`` on the whole batch, the entries it
        could not read included (they are not here, and may have been all of it)."""
        if not single and not checked:
            check_batch([e.id for e in entries])
        fifo = is_fifo(name)
        sender_json = _quote(sender_id or self._sender_id)
        args: _list[Any] = []
        sents: _list[tuple[str, str, str | None]] = []
        failed: _list[BatchFailure] = []
        total = 0
        ids = message_ids(len(entries))
        for entry, message_id in zip(entries, ids, strict=True):
            if fifo or entry.delay_s is not None or entry.message_attributes:
                problem = message_problem(entry, fifo)
            else:  # a standard queue's plain message: only its body to check
                problem = None if entry.body else message_problem(entry, fifo)
            if problem is not None:
                if single:
                    raise InvalidAttributeValue(problem, field="MessageBody")
                failed.append(BatchFailure(entry.id, "InvalidParameterValue", problem))
                continue
            encoded = entry.body.encode()
            body_md5 = hashlib.md5(encoded, usedforsecurity=False).hexdigest()
            size = len(encoded)
            # The blob: {"b": body, "m": its MD5, "s": sender[, "a": attributes, "ma":
            # their MD5][, "g": group, "d": deduplication id]}, as json.dumps writes it.
            blob = ['{"b":', _quote(entry.body), ',"m":"', body_md5, '","s":', sender_json]
            attrs_md5 = None
            if entry.message_attributes:
                attrs_md5 = md5_of_attributes(entry.message_attributes)
                size += sum(a.size(n) for n, a in entry.message_attributes.items())
                packed = {n: a.to_json() for n, a in entry.message_attributes.items()}
                blob += [',"a":', _to_json(packed), ',"ma":"', attrs_md5 or "", '"']
            total += size
            content = ""
            if fifo:
                if not entry.dedup_id:
                    content = hashlib.sha256(encoded).hexdigest()
                blob += [',"g":', _quote(entry.group_id or ""), ',"d":']
                blob.append(_quote(entry.dedup_id or content))
            blob.append("}")
            args += [
                message_id,
                "".join(blob),
                -1 if entry.delay_s is None else entry.delay_s,
                entry.group_id or "",
                entry.dedup_id or "",
                content,
                size,
            ]
            sents.append((entry.id, body_md5, attrs_md5))
        if total > MAX_BATCH_BYTES and not single:
            raise BatchRequestInvalid(
                f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. "
                f"You have sent {total} bytes.",
                code="BatchRequestTooLong",
            )
        ok: _list[tuple[str, Sent]] = []
        if not args:
            return ok, failed
        answers = await self._store.send(name, args)
        for (entry_id, body_md5, attrs_md5), answer in zip(sents, answers, strict=True):
            if answer == "!TooLarge":
                failed.append(
                    BatchFailure(
                        entry_id,
                        "InvalidParameterValue",
                        "One or more parameters are invalid. Reason: Message must be shorter "
                        "than the queue's MaximumMessageSize.",
                    )
                )
            elif answer == "!NoDedup":
                failed.append(
                    BatchFailure(
                        entry_id,
                        "InvalidParameterValue",
                        "The queue should either have ContentBasedDeduplication enabled or "
                        "MessageDeduplicationId provided explicitly",
                    )
                )
            else:
                message_id, seq = answer.split(" ", 1)
                ok.append((entry_id, Sent(message_id, body_md5, attrs_md5, _sequence(seq))))
        return ok, failed

    async def receive(
        self,
        name: str,
        *,
        max_messages: int = 1,
        wait_s: float | None = None,
        visibility_s: int | None = None,
    ) -> _list[Received]:
        """Up to ``max_messages``; with ``wait_s`` (else the queue's
        ReceiveMessageWaitTimeSeconds), waits that long for one, woken by a send."""
        if not 1 <= max_messages <= MAX_RECEIVE:
            raise InvalidAttributeValue(
                f"Value {max_messages} for parameter MaxNumberOfMessages is invalid. "
                "Reason: Must be between 1 and 10, if provided.",
                field="MaxNumberOfMessages",
            )
        if visibility_s is not None and not 0 <= visibility_s <= 43200:
            raise InvalidAttributeValue(
                f"Value {visibility_s} for parameter VisibilityTimeout is invalid. "
                "Reason: Must be between 0 and 43200, if provided.",
                field="VisibilityTimeout",
            )
        if wait_s is None:
            wait_s = float(await self._store.field(name, "wait"))
        if not 0 <= wait_s <= MAX_WAIT_S:
            raise InvalidAttributeValue(
                f"Value {wait_s} for parameter WaitTimeSeconds is invalid. "
                "Reason: Must be >= 0 and <= 20, if provided.",
                field="WaitTimeSeconds",
            )
        vis = -1 if visibility_s is None else visibility_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        got, next_ms = await self._take(name, max_messages, vis)
        if got or wait_s <= 0:
            return got
        channel = await self._waiters.channel(name)
        while True:
            event = channel.event
            got, next_ms = await self._take(name, max_messages, vis)
            remaining = deadline - loop.time()
            if got or remaining <= 0:
                return got
            if next_ms >= 0:
                remaining = min(remaining, max(0.0, next_ms / 1000 - time.time()) + 0.002)
            await self._waiters.wait(event, remaining)

    async def _take(self, name: str, max_messages: int, vis: int) -> tuple[_list[Received], int]:
        async with self._receiving:
            raw = await self._store.receive(name, max_messages, vis)
        moved, next_ms = int(raw[0]), int(raw[1])
        if moved:
            metrics.QUEUE_DEAD_LETTER_MOVES.labels(name).inc(moved)
        fifo = is_fifo(name)
        out = []
        for i in range(2, len(raw), 6):
            message_id, blob, count, first, sent, seq = raw[i : i + 6]
            message_id = message_id.decode()
            data = json.loads(blob)
            system = {
                "SenderId": data.get("s", self._sender_id),
                "ApproximateReceiveCount": str(int(count)),
                "SentTimestamp": str(int(float(sent))),
                "ApproximateFirstReceiveTimestamp": str(int(first)),
            }
            if fifo:
                system["MessageGroupId"] = data.get("g") or ""
                system["MessageDeduplicationId"] = data.get("d") or ""
                system["SequenceNumber"] = _sequence(seq.decode()) or ""
            packed = data.get("a")
            out.append(
                Received(
                    message_id=message_id,
                    receipt_handle=receipt_handle(message_id, int(count)),
                    body=data["b"],
                    md5_of_body=data["m"],
                    attributes=system,
                    message_attributes=(
                        {n: MessageAttribute.from_json(v) for n, v in packed.items()}
                        if packed
                        else {}
                    ),
                    md5_of_message_attributes=data.get("ma"),
                )
            )
        return out, next_ms

    async def delete_message(self, name: str, receipt_handle: str) -> None:
        await self._store.delete(name, [parse_receipt_handle(receipt_handle)])

    async def delete_messages(self, name: str, receipt_handles: Iterable[str]) -> None:
        """Several in one script (each handle already checked with ``parse_receipt_handle``)."""
        await self._store.delete(name, [parse_receipt_handle(h) for h in receipt_handles])

    async def change_visibility(self, name: str, receipt_handle: str, timeout_s: int) -> None:
        [changed] = await self.change_visibilities(name, [(receipt_handle, timeout_s)])
        if not changed:
            raise MessageNotInflight(
                f"Value {receipt_handle} for parameter ReceiptHandle is invalid. Reason: "
                "Message does not exist or is not available for visibility timeout change.",
                field="ReceiptHandle",
            )

    async def change_visibilities(
        self, name: str, changes: Sequence[tuple[str, int]]
    ) -> _list[bool]:
        parsed = []
        for handle, timeout in changes:
            if not 0 <= timeout <= 43200:
                raise InvalidAttributeValue(
                    f"Value {timeout} for parameter VisibilityTimeout is invalid. "
                    "Reason: Must be between 0 and 43200.",
                    field="VisibilityTimeout",
                )
            message_id, count = parse_receipt_handle(handle)
            parsed.append((message_id, count, int(timeout)))
        return await self._store.change_visibility(name, parsed)

    # -- metrics --------------------------------------------------------------

    async def depths(self) -> dict[str, tuple[int, int, int, float]]:
        """Every queue's messages visible, in flight and delayed, and the age of its
        oldest (s), in one pipeline: for ``/metrics`` and the console."""
        names = await self._store.names()
        now_ms = int(time.time() * 1000)
        depths = await self._store.depths(names, now_ms) if names else []
        return {
            name: (
                max(0, d.total - d.in_flight - d.delayed),
                d.in_flight,
                d.delayed,
                _age_s(d.oldest_sent_ms, now_ms),
            )
            for name, d in zip(names, depths, strict=True)
        }

    async def refresh_gauges(self) -> None:
        """Depth and age of the oldest message of every queue, at scrape time."""
        metrics.set_queues(await self.depths())


def decode_binary(value: str) -> bytes:
    return base64.b64decode(value)


def _age_s(sent_ms: int | None, now_ms: int) -> float:
    return 0.0 if sent_ms is None else max(0.0, (now_ms - sent_ms) / 1000)
