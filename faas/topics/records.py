"""Topics and subscriptions as plain data, and the attributes the API may set. Pure.

A topic keeps the attributes set on it (``DisplayName``, ``Policy``...) and its
tags; the attributes SNS computes (``TopicArn``, ``Owner``, subscription counts)
are added when they are shown. A subscription keeps its protocol (``lambda`` or
``sqs``), its endpoint (the function's or the queue's ARN) and its attributes
(``FilterPolicy``, ``FilterPolicyScope``, ``RawMessageDelivery``...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from faas.errors import ValidationFailed
from faas.topics import filters
from faas.topics.arns import FIFO_SUFFIX, Place

LAMBDA = "lambda"
SQS = "sqs"
PROTOCOLS = (LAMBDA, SQS)
# Protocols SNS has that no subscription here can use.
OTHER_PROTOCOLS = ("http", "https", "email", "email-json", "sms", "application", "firehose")
TOPIC_ATTRIBUTES = (
    "DisplayName",
    "Policy",
    "DeliveryPolicy",
    "KmsMasterKeyId",
    "TracingConfig",
    "SignatureVersion",
    "DataProtectionPolicy",
    "ArchivePolicy",
)
FIFO_ATTRIBUTES = ("ContentBasedDeduplication", "FifoThroughputScope")
FIFO_SCOPES = ("Topic", "MessageGroup")
SUBSCRIPTION_ATTRIBUTES = (
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
)
MAX_TAGS = 50
DISPLAY_NAME_MAX = 100


@dataclass(frozen=True)
class Topic:
    name: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    created_at: float = 0.0

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoTopic") == "true"

    @property
    def content_deduplication(self) -> bool:
        return self.attributes.get("ContentBasedDeduplication") == "true"

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "attributes": dict(self.attributes),
                "tags": dict(self.tags),
                "created_at": self.created_at,
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Topic:
        data = json.loads(raw)
        return cls(data["name"], data["attributes"], data["tags"], data["created_at"])

    def shown(self, place: Place, subscriptions: int) -> dict[str, str]:
        """GetTopicAttributes: what is set, and what SNS computes."""
        arn = place.topic(self.name)
        shown = {
            "TopicArn": arn,
            "Owner": place.account_id,
            "Policy": default_policy(arn, place.account_id),
            "DisplayName": "",
            "SubscriptionsConfirmed": str(subscriptions),
            "SubscriptionsPending": "0",
            "SubscriptionsDeleted": "0",
            "EffectiveDeliveryPolicy": json.dumps(
                {"http": {"defaultHealthyRetryPolicy": {"numRetries": 3}}}
            ),
        }
        shown.update(self.attributes)
        return shown


@dataclass(frozen=True)
class Subscription:
    id: str
    topic: str
    protocol: str
    endpoint: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    created_at: float = 0.0

    @property
    def raw(self) -> bool:
        return self.attributes.get("RawMessageDelivery", "false") == "true"

    @property
    def policy(self) -> filters.FilterPolicy | None:
        text = self.attributes.get("FilterPolicy")
        if not text:
            return None
        return _policy(text, self.attributes.get("FilterPolicyScope", filters.ATTRIBUTES))

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "topic": self.topic,
                "protocol": self.protocol,
                "endpoint": self.endpoint,
                "attributes": dict(self.attributes),
                "created_at": self.created_at,
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Subscription:
        d = json.loads(raw)
        return cls(
            d["id"], d["topic"], d["protocol"], d["endpoint"], d["attributes"], d["created_at"]
        )

    def shown(self, place: Place) -> dict[str, str]:
        """GetSubscriptionAttributes."""
        shown = {
            "SubscriptionArn": place.subscription(self.topic, self.id),
            "TopicArn": place.topic(self.topic),
            "Owner": place.account_id,
            "Protocol": self.protocol,
            "Endpoint": self.endpoint,
            "ConfirmationWasAuthenticated": "true",
            "PendingConfirmation": "false",
            "RawMessageDelivery": "false",
        }
        shown.update(self.attributes)
        if "FilterPolicy" in self.attributes:
            shown.setdefault("FilterPolicyScope", filters.ATTRIBUTES)
        return shown


_POLICIES: dict[tuple[str, str], filters.FilterPolicy] = {}


def _policy(text: str, scope: str) -> filters.FilterPolicy:
    """A subscription's policy, parsed once per process (it was checked when set)."""
    found = _POLICIES.get((text, scope))
    if found is None:
        if len(_POLICIES) > 4096:
            _POLICIES.clear()
        found = _POLICIES[(text, scope)] = filters.parse(text, scope)
    return found


def default_policy(topic_arn: str, account_id: str) -> str:
    return json.dumps(
        {
            "Version": "2008-10-17",
            "Id": "__default_policy_ID",
            "Statement": [
                {
                    "Sid": "__default_statement_ID",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": ["SNS:Publish", "SNS:Subscribe", "SNS:GetTopicAttributes"],
                    "Resource": topic_arn,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": account_id}},
                }
            ],
        }
    )


# -- checks -------------------------------------------------------------------------


def check_protocol(protocol: str | None) -> str:
    if not protocol:
        raise ValidationFailed("Invalid parameter: Protocol", field="Protocol")
    if protocol in PROTOCOLS:
        return protocol
    if protocol in OTHER_PROTOCOLS:
        raise ValidationFailed(
            f"Invalid parameter: Protocol Reason: {protocol} subscriptions are not supported "
            "by this server (lambda and sqs are)",
            field="Protocol",
        )
    raise ValidationFailed(
        f"Invalid parameter: Amazon SNS does not support this protocol string: {protocol}",
        field="Protocol",
    )


def check_endpoint(place: Place, protocol: str, endpoint: str | None) -> str:
    """A function's ARN (a version's or an alias's too) or a queue's, of this server."""
    if protocol == LAMBDA and endpoint and place.function(endpoint) is not None:
        return endpoint
    if protocol == SQS and endpoint and place.queue(endpoint) is not None:
        return endpoint
    kind = "Lambda" if protocol == LAMBDA else "SQS"
    raise ValidationFailed(f"Invalid parameter: {kind} endpoint ARN", field="Endpoint")


def check_fits(topic: Topic, protocol: str, endpoint: str) -> None:
    """Whether a subscriber may subscribe to ``topic``: a FIFO topic delivers to queues
    only, and a FIFO queue takes a FIFO topic's messages only."""
    if topic.fifo and protocol != SQS:
        raise ValidationFailed(
            f"Invalid parameter: Invalid protocol type: {protocol}", field="Protocol"
        )
    if not topic.fifo and protocol == SQS and endpoint.endswith(FIFO_SUFFIX):
        raise ValidationFailed(
            "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be "
            "subscribed to standard SNS topics",
            field="Endpoint",
        )


def check_topic_attribute(name: str, value: str, *, fifo: bool) -> None:
    if name in FIFO_ATTRIBUTES:
        if not fifo:
            raise ValidationFailed(
                f"Invalid parameter: Attributes Reason: {name} is only for FIFO topics",
                field=name,
            )
        allowed = ("true", "false") if name == "ContentBasedDeduplication" else FIFO_SCOPES
        if value not in allowed:
            raise ValidationFailed(
                f"Invalid parameter: Attributes Reason: {name}: Invalid value [{value}]",
                field=name,
            )
        return
    if name not in TOPIC_ATTRIBUTES:
        raise ValidationFailed("Invalid parameter: AttributeName", field="AttributeName")
    if name == "DisplayName" and len(value) > DISPLAY_NAME_MAX:
        raise ValidationFailed("Invalid parameter: DisplayName", field="DisplayName")
    if name in ("Policy", "DeliveryPolicy", "DataProtectionPolicy", "ArchivePolicy") and value:
        _check_json_object(name, value, "Invalid parameter: ")
    if name == "TracingConfig" and value not in ("PassThrough", "Active"):
        raise ValidationFailed(
            f"Invalid parameter: TracingConfig: Invalid value [{value}]. Must be "
            "PassThrough or Active",
            field="TracingConfig",
        )
    if name == "SignatureVersion" and value not in ("1", "2"):
        raise ValidationFailed("Invalid parameter: SignatureVersion", field="SignatureVersion")


def check_topic_attributes(name: str, attributes: Mapping[str, str]) -> dict[str, str]:
    """CreateTopic's attributes: a FIFO topic is ``FifoTopic=true`` and a ``.fifo`` name."""
    fifo = attributes.get("FifoTopic", "false").lower()
    if fifo not in ("true", "false"):
        raise ValidationFailed("Invalid parameter: FifoTopic", field="FifoTopic")
    if (fifo == "true") != name.endswith(FIFO_SUFFIX):
        if fifo == "true":
            raise ValidationFailed(
                "Invalid parameter: Fifo Topic names must end with .fifo and must be made up "
                "of only uppercase and lowercase ASCII letters, numbers, underscores, and "
                "hyphens, and must be between 1 and 256 characters long.",
                field="Name",
            )
        raise ValidationFailed("Invalid parameter: Topic Name", field="Name")
    checked = {"FifoTopic": "true"} if fifo == "true" else {}
    for key, value in attributes.items():
        if key != "FifoTopic":
            check_topic_attribute(key, value, fifo=fifo == "true")
            checked[key] = value
    return checked


def with_subscription_attribute(
    subscription: Subscription, name: str, value: str, prefix: str = "Invalid parameter: "
) -> Subscription:
    """The subscription with one attribute set (``prefix``: Subscribe words its refusals
    ``Invalid parameter: Attributes Reason: ...``)."""
    if name not in SUBSCRIPTION_ATTRIBUTES:
        raise ValidationFailed(f"{prefix}AttributeName", field="AttributeName")
    attributes = dict(subscription.attributes)
    if name == "RawMessageDelivery":
        flag = value.lower()
        if flag not in ("true", "false"):
            raise ValidationFailed(
                f"{prefix}RawMessageDelivery: Invalid value [{value}]. Must be true or false.",
                field=name,
            )
        if flag == "true" and subscription.protocol == LAMBDA:
            raise ValidationFailed(
                f"{prefix}Delivery protocol [lambda] does not support raw message delivery.",
                field=name,
            )
        attributes[name] = flag
    elif name == "FilterPolicyScope":
        scope = filters.scope_of(value, prefix)
        if attributes.get("FilterPolicy"):
            filters.parse(attributes["FilterPolicy"], scope, prefix)
        attributes[name] = scope
    elif name == "FilterPolicy":
        if value == "":
            attributes.pop(name, None)
            attributes.pop("FilterPolicyScope", None)
        else:
            scope = attributes.get("FilterPolicyScope", filters.ATTRIBUTES)
            filters.parse(value, scope, prefix)
            attributes[name] = value
    else:
        if name in ("DeliveryPolicy", "RedrivePolicy") and value:
            _check_json_object(name, value, prefix)
        attributes[name] = value
    return replace(subscription, attributes=attributes)


def with_subscription_attributes(
    subscription: Subscription, attributes: Mapping[str, str], prefix: str
) -> Subscription:
    # The scope first: a policy given with it is checked in it.
    order = sorted(attributes, key=lambda name: name != "FilterPolicyScope")
    for name in order:
        subscription = with_subscription_attribute(subscription, name, attributes[name], prefix)
    return subscription


def check_tags(
    tags: Mapping[str, str], existing: Mapping[str, str] | None = None
) -> dict[str, str]:
    merged = {**(existing or {}), **tags}
    for key, value in tags.items():
        if not 1 <= len(key) <= 128:
            raise ValidationFailed(
                "Invalid parameter: Tags Reason: a tag key must be 1-128 characters", field="Tags"
            )
        if len(value) > 256:
            raise ValidationFailed(
                "Invalid parameter: Tags Reason: a tag value must be at most 256 characters",
                field="Tags",
            )
    if len(merged) > MAX_TAGS:
        raise ValidationFailed(
            "Could not complete request: tag quota of per resource exceeded", field="Tags"
        )
    return merged


def _check_json_object(name: str, value: str, prefix: str) -> None:
    try:
        document: Any = json.loads(value)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        raise ValidationFailed(f"{prefix}{name}: failed to parse JSON.", field=name)
