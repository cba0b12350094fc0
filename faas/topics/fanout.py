"""Publish's deliveries: which subscriptions get a message and what each gets (``plan``,
pure), then carried out (``Fanout``).

A function subscription (``lambda``) gets an Event invoke of the function, its
version or its alias, through the platform's one async path
(``faas.invoke.invoker.Invoker.invoke_async``): it shows in the function's logs,
metrics and invocation records, with their retries and dead letters. A queue
subscription (``sqs``) gets a message sent to the queue (``faas.queues``), the
SNS envelope as its body unless ``RawMessageDelivery``.

A delivery that cannot be made (the function or queue is gone, the queue refuses
the message) is counted and logged, and the others are still made: SNS does not
fail a Publish for one subscriber. Only Redis being unreachable fails the Publish,
so that the publisher retries rather than believe the message went out.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from faas import metrics
from faas.errors import FaasError, StoreUnavailable
from faas.queues.model import MessageAttribute
from faas.topics import envelope
from faas.topics.arns import FIFO_SUFFIX, Place
from faas.topics.messages import Message
from faas.topics.records import LAMBDA, Subscription

log = logging.getLogger(__name__)

InvokeAsync = Callable[[str, bytes, str | None], Awaitable[str]]


class QueueSender(Protocol):
    """What fanout asks of ``faas.queues``."""

    async def send(
        self,
        name: str,
        body: str,
        *,
        message_attributes: Mapping[str, MessageAttribute] = ...,
        delay_s: int | None = None,
        group_id: str | None = None,
        dedup_id: str | None = None,
    ) -> Any: ...


@dataclass(frozen=True)
class Delivery:
    """One subscription's copy of a message: what to invoke or send, and where."""

    subscription_arn: str
    protocol: str
    target: str  # the function's or the queue's name
    qualifier: str | None = None
    event: bytes = b""  # lambda
    body: str = ""  # sqs
    attributes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    group_id: str | None = None  # FIFO topics' queues
    dedup_id: str | None = None


@dataclass(frozen=True)
class Plan:
    deliveries: list[Delivery]
    filtered: list[Subscription]
    unusable: list[Subscription]  # an endpoint no longer of this server


def plan(message: Message, subscriptions: list[Subscription], place: Place, base_url: str) -> Plan:
    """Which subscriptions get ``message`` (their filter policies), and what each gets."""
    deliveries: list[Delivery] = []
    filtered: list[Subscription] = []
    unusable: list[Subscription] = []
    attributes = message.filter_view()
    for sub in subscriptions:
        policy = sub.policy
        if policy is not None and not policy.accepts(
            message.for_protocol(sub.protocol), attributes
        ):
            filtered.append(sub)
            continue
        arn = place.subscription(sub.topic, sub.id)
        if sub.protocol == LAMBDA:
            named = place.function(sub.endpoint)
            if named is None:
                unusable.append(sub)
                continue
            event = envelope.lambda_event(message, arn, base_url)
            deliveries.append(Delivery(arn, LAMBDA, named[0], named[1], event=event))
        else:
            queue = place.queue(sub.endpoint)
            if queue is None:
                unusable.append(sub)
                continue
            body = envelope.sqs_body(message, arn, base_url, raw=sub.raw)
            shown = envelope.sqs_attributes(message, raw=sub.raw)
            deliveries.append(
                Delivery(
                    arn,
                    sub.protocol,
                    queue,
                    body=body,
                    attributes=shown,
                    # A FIFO topic's groups carry on into FIFO queues.
                    group_id=message.group_id if queue.endswith(FIFO_SUFFIX) else None,
                    dedup_id=message.dedup_id if queue.endswith(FIFO_SUFFIX) else None,
                )
            )
    return Plan(deliveries, filtered, unusable)


class Fanout:
    """Carries out a plan: Event invokes and queue sends, at once."""

    def __init__(
        self,
        place: Place,
        base_url: str,
        invoke_async: InvokeAsync,
        queues: Callable[[], QueueSender | None],
    ) -> None:
        self._place = place
        self._base_url = base_url
        self._invoke_async = invoke_async
        self._queues = queues

    async def publish(
        self, topic: str, message: Message, subscriptions: list[Subscription]
    ) -> None:
        metrics.TOPIC_PUBLISHED.labels(topic).inc()
        chosen = plan(message, subscriptions, self._place, self._base_url)
        for sub in chosen.filtered:
            metrics.TOPIC_FILTERED.labels(topic, sub.protocol).inc()
        for sub in chosen.unusable:
            metrics.TOPIC_DELIVERIES.labels(topic, sub.protocol, "failed").inc()
            log.warning("topic %s: subscription %s names no endpoint here", topic, sub.id)
        results = await asyncio.gather(
            *(self._deliver(topic, d) for d in chosen.deliveries), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _deliver(self, topic: str, delivery: Delivery) -> None:
        try:
            if delivery.protocol == LAMBDA:
                await self._invoke_async(delivery.target, delivery.event, delivery.qualifier)
            else:
                queues = self._queues()
                if queues is None:
                    raise FaasError("this server has no queues")
                await queues.send(
                    delivery.target,
                    delivery.body,
                    message_attributes=_queue_attributes(delivery.attributes),
                    group_id=delivery.group_id,
                    dedup_id=delivery.dedup_id,
                )
        except StoreUnavailable:
            metrics.TOPIC_DELIVERIES.labels(topic, delivery.protocol, "failed").inc()
            raise
        except FaasError as exc:
            metrics.TOPIC_DELIVERIES.labels(topic, delivery.protocol, "failed").inc()
            log.warning(
                "topic %s: delivery to %s %s failed: %s",
                topic,
                delivery.protocol,
                delivery.target,
                exc.message,
            )
            return
        metrics.TOPIC_DELIVERIES.labels(topic, delivery.protocol, "delivered").inc()


def _queue_attributes(shown: Mapping[str, Mapping[str, str]]) -> dict[str, MessageAttribute]:
    """Raw delivery's attributes as ``faas.queues`` takes them (a Binary's bytes decoded)."""
    return {
        name: MessageAttribute(a["DataType"], binary_value=base64.b64decode(a["BinaryValue"]))
        if "BinaryValue" in a
        else MessageAttribute(a["DataType"], string_value=a["StringValue"])
        for name, a in shown.items()
    }
