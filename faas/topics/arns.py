"""Topic and subscription ARNs, and the names in them. Pure.

A topic is ``arn:aws:sns:<region>:<account>:<name>``; a subscription is its topic's
ARN and an id (``...:<name>:<uuid>``), so the ARN alone finds its topic's
subscriptions. A name is 1-256 letters, digits, hyphens and underscores; a FIFO
topic's ends in ``.fifo``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from faas.errors import SubscriptionNotFound, TopicNotFound, ValidationFailed

NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
FIFO_SUFFIX = ".fifo"
_TOPIC = re.compile(
    r"arn:aws[a-zA-Z-]*:sns:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>[A-Za-z0-9_.-]{1,256})"
)
_SUBSCRIPTION = re.compile(_TOPIC.pattern + r":(?P<id>[0-9a-f-]{36})")
_FUNCTION = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[A-Za-z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[A-Za-z0-9_-]{1,128}))?"
)
_QUEUE = re.compile(
    r"arn:aws[a-zA-Z-]*:sqs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>[A-Za-z0-9_.-]{1,80})"
)


@dataclass(frozen=True)
class Place:
    """Where ARNs point: this server's region and account."""

    region: str
    account_id: str

    def topic(self, name: str) -> str:
        return f"arn:aws:sns:{self.region}:{self.account_id}:{name}"

    def subscription(self, topic: str, subscription_id: str) -> str:
        return f"{self.topic(topic)}:{subscription_id}"

    def topic_name(self, arn: str, field: str = "TopicArn") -> str:
        """The name of the topic ``arn`` names; ``TopicNotFound`` for another place's."""
        found = _TOPIC.fullmatch(arn)
        if found is None:
            raise ValidationFailed(
                f"Invalid parameter: {field} Reason: An ARN must have "
                "the form arn:aws:sns:region:account:name",
                field=field,
            )
        if not self._is_here(found):
            raise TopicNotFound("Topic does not exist")
        return found["name"]

    def subscription_of(self, arn: str, field: str = "SubscriptionArn") -> tuple[str, str]:
        """(topic name, subscription id) of a subscription's ARN."""
        found = _SUBSCRIPTION.fullmatch(arn)
        if found is None:
            raise ValidationFailed(
                f"Invalid parameter: {field} Reason: An ARN must have "
                "the form arn:aws:sns:region:account:topic:id",
                field=field,
            )
        if not self._is_here(found):
            raise SubscriptionNotFound("Subscription does not exist")
        return found["name"], found["id"]

    def function(self, arn: str) -> tuple[str, str | None] | None:
        """(name, qualifier) of a function ARN of this place (None: not one)."""
        found = _FUNCTION.fullmatch(arn)
        if found is None or not self._is_here(found):
            return None
        return found["name"], found["qualifier"]

    def queue(self, arn: str) -> str | None:
        """The name in a queue ARN of this place (None: not one)."""
        found = _QUEUE.fullmatch(arn)
        if found is None or not self._is_here(found):
            return None
        return found["name"]

    def _is_here(self, found: re.Match[str]) -> bool:
        return found["region"] == self.region and found["account"] == self.account_id


def check_name(name: str) -> str:
    """A topic name as CreateTopic takes it."""
    base = name.removesuffix(FIFO_SUFFIX)
    if not NAME.fullmatch(base) or len(name) > 256:
        raise ValidationFailed("Invalid parameter: Topic Name", field="Name")
    return name


def is_fifo(name: str) -> bool:
    return name.endswith(FIFO_SUFFIX)
