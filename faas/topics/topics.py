"""What the SNS API does to topics: create, read, change and delete topics and their
subscriptions, and publish. The decisions are in the pure modules beside this one
(``arns``, ``records``, ``messages``, ``filters``, ``envelope``); this one reads and
writes through ``store`` and hands deliveries to ``fanout``.

Everything is named by ARN as SNS names it. A FIFO topic (``.fifo``, ``FifoTopic``)
numbers its messages and drops a deduplication id seen in the last 5 minutes; it
delivers to queues only, passing each message's group on.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import redis.asyncio as aioredis

from faas.errors import FaasError, TopicNotFound, ValidationFailed
from faas.topics import arns, messages, records
from faas.topics.arns import Place
from faas.topics.fanout import Fanout, InvokeAsync, QueueSender
from faas.topics.messages import Attribute, Message
from faas.topics.records import Subscription, Topic
from faas.topics.store import TopicStore

# SQS's and SNS's rule for MessageGroupId and MessageDeduplicationId.
FIFO_ID = re.compile(r"[!-~]{1,128}")
SUBSCRIBE_PREFIX = "Invalid parameter: Attributes Reason: "
PREFIX = "Invalid parameter: "


@dataclass(frozen=True)
class Draft:
    """A message as Publish (or a PublishBatch entry) gives it, before it is checked.
    ``attributes``: name -> (DataType, the string value or the binary's base64)."""

    message: str | None
    subject: str | None = None
    attributes: Mapping[str, tuple[str | None, str | None]] = field(default_factory=dict)
    structure: str | None = None
    group_id: str | None = None
    dedup_id: str | None = None


@dataclass(frozen=True)
class Published:
    """A published message's id, and its sequence number on a FIFO topic."""

    message_id: str
    sequence: str | None = None


@dataclass(frozen=True)
class Listed:
    """A subscription as ListSubscriptions shows it."""

    arn: str
    topic_arn: str
    protocol: str
    endpoint: str
    owner: str


class Topics:
    """Topics and subscriptions, by their ARNs; publishing to them."""

    def __init__(
        self,
        redis: aioredis.Redis,
        place: Place,
        base_url: str,
        invoke_async: InvokeAsync,
        queues: Callable[[], QueueSender | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.place = place
        self._store = TopicStore(redis)
        self._fanout = Fanout(place, base_url, invoke_async, queues)
        self._clock = clock

    # -- topics -------------------------------------------------------------------

    async def create(
        self, name: str | None, attributes: Mapping[str, str], tags: Mapping[str, str]
    ) -> str:
        """The topic's ARN, made if new; the same ARN again for the same name."""
        if not name:
            raise ValidationFailed("Invalid parameter: Topic Name", field="Name")
        arns.check_name(name)
        settable = records.check_topic_attributes(name, attributes)
        tagged = records.check_tags(tags)
        topic = Topic(name, settable, tagged, self._clock())
        existing = await self._store.create(topic)
        if existing is not None:
            if any(existing.attributes.get(k, "") != v for k, v in settable.items()):
                raise ValidationFailed(
                    "Invalid parameter: Attributes Reason: Topic already exists with different "
                    "attributes",
                    field="Attributes",
                )
            if any(existing.tags.get(k) != v for k, v in tagged.items()):
                raise ValidationFailed(
                    "Invalid parameter: Tags Reason: Topic already exists with different tags",
                    field="Tags",
                )
        return self.place.topic(name)

    async def arns(self) -> list[str]:
        return [self.place.topic(t.name) for t in await self._store.all()]

    async def delete(self, arn: str) -> None:
        await self._store.delete(self.place.topic_name(arn))

    async def attributes(self, arn: str) -> dict[str, str]:
        name = self.place.topic_name(arn)
        topic = await self._store.get(name)
        return topic.shown(self.place, await self._store.count(name))

    async def set_attribute(self, arn: str, name: str | None, value: str) -> None:
        topic = await self._store.get(self.place.topic_name(arn))
        if not name:
            raise ValidationFailed("Invalid parameter: AttributeName", field="AttributeName")
        if name == "FifoTopic":
            raise ValidationFailed("Invalid parameter: AttributeName", field="AttributeName")
        records.check_topic_attribute(name, value, fifo=topic.fifo)
        await self._store.replace(replace(topic, attributes={**topic.attributes, name: value}))

    async def tags(self, arn: str) -> dict[str, str]:
        return dict((await self._tagged(arn)).tags)

    async def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        topic = await self._tagged(arn)
        await self._store.replace(replace(topic, tags=records.check_tags(tags, topic.tags)))

    async def untag(self, arn: str, tag_keys: Iterable[str]) -> None:
        topic = await self._tagged(arn)
        dropped = set(tag_keys)
        kept = {k: v for k, v in topic.tags.items() if k not in dropped}
        await self._store.replace(replace(topic, tags=kept))

    async def _tagged(self, arn: str) -> Topic:
        try:
            return await self._store.get(self.place.topic_name(arn, "ResourceArn"))
        except TopicNotFound:
            raise TopicNotFound("Resource does not exist") from None

    # -- subscriptions ------------------------------------------------------------

    async def subscribe(
        self,
        topic_arn: str,
        protocol: str | None,
        endpoint: str | None,
        attributes: Mapping[str, str],
    ) -> str:
        """The subscription's ARN: a new one, or the one already at that endpoint (if its
        attributes agree)."""
        topic = self.place.topic_name(topic_arn)
        checked = records.check_protocol(protocol)
        target = records.check_endpoint(self.place, checked, endpoint)
        records.check_fits(await self._store.get(topic), checked, target)
        sub = Subscription(str(uuid.uuid4()), topic, checked, target, {}, self._clock())
        sub = records.with_subscription_attributes(sub, attributes, SUBSCRIBE_PREFIX)
        existing = await self._store.subscribe(sub)
        if existing is None:
            return self.place.subscription(topic, sub.id)
        if dict(existing.attributes) != dict(sub.attributes) and attributes:
            raise ValidationFailed(
                f"{SUBSCRIBE_PREFIX}Subscription already exists with different attributes",
                field="Attributes",
            )
        return self.place.subscription(topic, existing.id)

    async def unsubscribe(self, arn: str) -> None:
        """Remove a subscription (one already gone is no error)."""
        topic, sub_id = self.place.subscription_of(arn)
        await self._store.unsubscribe(topic, sub_id)

    async def subscriptions(self, topic_arn: str | None = None) -> list[Listed]:
        """A topic's subscriptions, or every topic's (by topic, oldest first)."""
        if topic_arn is not None:
            names = [self.place.topic_name(topic_arn)]
        else:
            names = [t.name for t in await self._store.all()]
        listed: list[Listed] = []
        for name in names:
            try:
                subs = await self._store.subscriptions(name)
            except TopicNotFound:
                if topic_arn is not None:
                    raise
                continue  # deleted while listed
            listed.extend(
                Listed(
                    self.place.subscription(s.topic, s.id),
                    self.place.topic(s.topic),
                    s.protocol,
                    s.endpoint,
                    self.place.account_id,
                )
                for s in subs
            )
        return listed

    async def subscription_attributes(self, arn: str) -> dict[str, str]:
        return (await self._subscription(arn)).shown(self.place)

    async def set_subscription_attribute(self, arn: str, name: str | None, value: str) -> None:
        sub = await self._subscription(arn)
        if not name:
            raise ValidationFailed("Invalid parameter: AttributeName", field="AttributeName")
        changed = records.with_subscription_attribute(sub, name, value, PREFIX)
        await self._store.replace_subscription(changed)

    async def _subscription(self, arn: str) -> Subscription:
        topic, sub_id = self.place.subscription_of(arn)
        return await self._store.subscription(topic, sub_id)

    # -- publishing ---------------------------------------------------------------

    async def publish(self, topic_arn: str, draft: Draft) -> Published:
        """Deliver a message to every matching subscription."""
        name = self.place.topic_name(topic_arn)
        topic, subs = await self._store.publishing(name)
        return await self._publish(topic, subs, self.message(topic_arn, draft, topic))

    async def publish_batch(
        self, topic_arn: str, drafts: list[Draft]
    ) -> list[Published | FaasError]:
        """Each draft published, or why it was refused (the others are still published)."""
        name = self.place.topic_name(topic_arn)
        topic, subs = await self._store.publishing(name)
        outcomes: list[Published | FaasError] = []
        for draft in drafts:
            try:
                message = self.message(topic_arn, draft, topic)
            except ValidationFailed as exc:
                outcomes.append(exc)
                continue
            outcomes.append(await self._publish(topic, subs, message))
        return outcomes

    async def _publish(self, topic: Topic, subs: list[Subscription], message: Message) -> Published:
        if not topic.fifo or message.dedup_id is None:
            await self._fanout.publish(topic.name, message, subs)
            return Published(message.message_id)
        # FIFO: a deduplication id seen in the last 5 minutes answers what it was published
        # as. It is remembered after the deliveries, so a failed Publish can be retried;
        # two at once both deliver, and the FIFO queues' own deduplication keeps one.
        held = await self._store.published(topic.name, message.dedup_id)
        if held is not None:
            message_id, _, sequence = held.partition(" ")
            return Published(message_id, sequence)
        sequence = f"{await self._store.sequence(topic.name):020d}"
        message = replace(message, sequence=sequence)
        await self._fanout.publish(topic.name, message, subs)
        await self._store.remember(topic.name, message.dedup_id or "", message.message_id, sequence)
        return Published(message.message_id, sequence)

    def message(self, topic_arn: str, draft: Draft, topic: Topic) -> Message:
        """A draft checked as SNS checks a Publish to ``topic``."""
        dedup_id = draft.dedup_id
        if not topic.fifo:
            for given, field_name in (
                (draft.group_id, "MessageGroupId"),
                (draft.dedup_id, "MessageDeduplicationId"),
            ):
                if given is not None:
                    raise ValidationFailed(
                        f"Invalid parameter: The request includes {field_name} parameter that "
                        "is not valid for this topic type",
                        field=field_name,
                    )
        else:
            if not draft.group_id:
                raise ValidationFailed(
                    "Invalid parameter: The MessageGroupId parameter is required for FIFO topics",
                    field="MessageGroupId",
                )
            if dedup_id is None and not topic.content_deduplication:
                raise ValidationFailed(
                    "Invalid parameter: The topic should either have ContentBasedDeduplication "
                    "enabled or MessageDeduplicationId provided explicitly",
                    field="MessageDeduplicationId",
                )
            for given, field_name in (
                (draft.group_id, "MessageGroupId"),
                (dedup_id, "MessageDeduplicationId"),
            ):
                if given is not None and not FIFO_ID.fullmatch(given):
                    raise ValidationFailed(
                        f"Invalid parameter: {field_name} Reason: 1-128 printable ASCII characters",
                        field=field_name,
                    )
            if dedup_id is None:
                dedup_id = hashlib.sha256((draft.message or "").encode()).hexdigest()
        text, per_protocol = messages.check_message(draft.message, draft.structure)
        subject = messages.check_subject(draft.subject)
        attributes: dict[str, Attribute] = {
            n: messages.check_attribute(n, t, v) for n, (t, v) in draft.attributes.items()
        }
        messages.check_size(draft.message or "", attributes)
        return Message(
            message_id=str(uuid.uuid4()),
            topic_arn=topic_arn,
            message=text,
            timestamp=self._clock(),
            subject=subject,
            attributes=attributes,
            per_protocol=per_protocol,
            group_id=draft.group_id if topic.fifo else None,
            dedup_id=dedup_id,
        )
