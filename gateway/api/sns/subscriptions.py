"""Subscription actions: Subscribe, Unsubscribe, ListSubscriptions(ByTopic) and
Get/SetSubscriptionAttributes. Subscriptions need no confirmation here (a function or
a queue of this server), so Subscribe always answers the subscription's ARN."""

from __future__ import annotations

from starlette.responses import Response

from faas.topics.topics import Listed
from gateway.api.sns import answers
from gateway.api.sns.query import Form
from gateway.api.sns.topics import PAGE, next_token, page_start
from gateway.edge.aws import AwsRequest


async def subscribe(request: AwsRequest, form: Form, request_id: str) -> Response:
    arn = await request.platform.topics.subscribe(
        form.required("TopicArn"),
        form.get("Protocol"),
        form.get("Endpoint"),
        form.map("Attributes"),
    )
    return answers.answer("Subscribe", request_id, answers.element("SubscriptionArn", arn))


async def unsubscribe(request: AwsRequest, form: Form, request_id: str) -> Response:
    await request.platform.topics.unsubscribe(form.required("SubscriptionArn"))
    return answers.answer("Unsubscribe", request_id)


def _listed(action: str, request_id: str, form: Form, found: list[Listed]) -> Response:
    start = page_start(form)
    shown = answers.members(
        answers.fields(
            {
                "SubscriptionArn": s.arn,
                "Owner": s.owner,
                "Protocol": s.protocol,
                "Endpoint": s.endpoint,
                "TopicArn": s.topic_arn,
            }
        )
        for s in found[start : start + PAGE]
    )
    result = f"<Subscriptions>{shown}</Subscriptions>"
    result += answers.element("NextToken", next_token(start, len(found)))
    return answers.answer(action, request_id, result)


async def list_subscriptions(request: AwsRequest, form: Form, request_id: str) -> Response:
    found = await request.platform.topics.subscriptions()
    return _listed("ListSubscriptions", request_id, form, found)


async def list_subscriptions_by_topic(request: AwsRequest, form: Form, request_id: str) -> Response:
    found = await request.platform.topics.subscriptions(form.required("TopicArn"))
    return _listed("ListSubscriptionsByTopic", request_id, form, found)


async def get_subscription_attributes(request: AwsRequest, form: Form, request_id: str) -> Response:
    shown = await request.platform.topics.subscription_attributes(form.required("SubscriptionArn"))
    result = f"<Attributes>{answers.entries(shown)}</Attributes>"
    return answers.answer("GetSubscriptionAttributes", request_id, result)


async def set_subscription_attributes(request: AwsRequest, form: Form, request_id: str) -> Response:
    await request.platform.topics.set_subscription_attribute(
        form.required("SubscriptionArn"),
        form.required("AttributeName"),
        form.get("AttributeValue") or "",
    )
    return answers.answer("SetSubscriptionAttributes", request_id)
