"""The SNS API at the server's root, in SNS's query protocol as boto3 and the AWS CLI
send it: a form body naming its ``Action``, answered in XML (``answers``), refused
in SNS's error shape (``errors``). ``gateway.api.aws_services`` hands each root
request that is not SQS's here (``serve``), and its errors (``error_response``).

Actions are in ``topics``, ``subscriptions`` and ``publish``. Whether the request's
key may use the topics it names was decided before (``aws_services.authorize``: an
admin key, or a function's own key within its patterns).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from gateway.api.sns import publish, subscriptions, topics
from gateway.api.sns.errors import SnsRefusal, error_response
from gateway.api.sns.query import Form
from gateway.edge.aws import AwsRequest

Action = Callable[[AwsRequest, Form, str], Awaitable[Response]]

ACTIONS: dict[str, Action] = {
    "CreateTopic": topics.create_topic,
    "ListTopics": topics.list_topics,
    "DeleteTopic": topics.delete_topic,
    "GetTopicAttributes": topics.get_topic_attributes,
    "SetTopicAttributes": topics.set_topic_attributes,
    "TagResource": topics.tag_resource,
    "UntagResource": topics.untag_resource,
    "ListTagsForResource": topics.list_tags_for_resource,
    "Subscribe": subscriptions.subscribe,
    "Unsubscribe": subscriptions.unsubscribe,
    "ListSubscriptions": subscriptions.list_subscriptions,
    "ListSubscriptionsByTopic": subscriptions.list_subscriptions_by_topic,
    "GetSubscriptionAttributes": subscriptions.get_subscription_attributes,
    "SetSubscriptionAttributes": subscriptions.set_subscription_attributes,
    "Publish": publish.publish,
    "PublishBatch": publish.publish_batch,
}

__all__ = ["error_response", "serve"]


async def serve(request: AwsRequest, operation: str) -> Response:
    """Run the action the form names and answer it."""
    action = ACTIONS.get(operation)
    if action is None:
        shown = operation or "(none)"
        raise SnsRefusal("InvalidAction", f"The action {shown} is not valid for this web service.")
    form = Form.parse(request.body)
    return await action(request, form, str(uuid.uuid4()))
