"""Topic actions: CreateTopic, ListTopics, DeleteTopic, Get/SetTopicAttributes, and the
tagging actions (a topic is the only resource they name here)."""

from __future__ import annotations

from starlette.responses import Response

from faas.errors import TopicNotFound, ValidationFailed
from gateway.api.sns import answers
from gateway.api.sns.errors import ResourceNotFound
from gateway.api.sns.query import Form
from gateway.edge.aws import AwsRequest

PAGE = 100


def page_start(form: Form) -> int:
    """Where a page starts: ``NextToken`` is the index of its first item."""
    token = form.get("NextToken")
    if token is None or token == "":
        return 0
    if not token.isdigit():
        raise ValidationFailed("Invalid parameter: NextToken", field="NextToken")
    return int(token)


def next_token(start: int, total: int) -> str | None:
    return str(start + PAGE) if start + PAGE < total else None


async def create_topic(request: AwsRequest, form: Form, request_id: str) -> Response:
    arn = await request.platform.topics.create(
        form.get("Name"), form.map("Attributes"), form.tags()
    )
    return answers.answer("CreateTopic", request_id, answers.element("TopicArn", arn))


async def list_topics(request: AwsRequest, form: Form, request_id: str) -> Response:
    start = page_start(form)
    arns = await request.platform.topics.arns()
    shown = answers.members(answers.element("TopicArn", a) for a in arns[start : start + PAGE])
    result = f"<Topics>{shown}</Topics>" + answers.element(
        "NextToken", next_token(start, len(arns))
    )
    return answers.answer("ListTopics", request_id, result)


async def delete_topic(request: AwsRequest, form: Form, request_id: str) -> Response:
    await request.platform.topics.delete(form.required("TopicArn"))
    return answers.answer("DeleteTopic", request_id)


async def get_topic_attributes(request: AwsRequest, form: Form, request_id: str) -> Response:
    shown = await request.platform.topics.attributes(form.required("TopicArn"))
    result = f"<Attributes>{answers.entries(shown)}</Attributes>"
    return answers.answer("GetTopicAttributes", request_id, result)


async def set_topic_attributes(request: AwsRequest, form: Form, request_id: str) -> Response:
    await request.platform.topics.set_attribute(
        form.required("TopicArn"), form.required("AttributeName"), form.get("AttributeValue") or ""
    )
    return answers.answer("SetTopicAttributes", request_id)


async def list_tags_for_resource(request: AwsRequest, form: Form, request_id: str) -> Response:
    try:
        tags = await request.platform.topics.tags(form.required("ResourceArn"))
    except TopicNotFound as exc:
        raise ResourceNotFound(exc.message) from None
    shown = answers.members(
        answers.element("Key", k) + answers.element("Value", v) for k, v in tags.items()
    )
    return answers.answer("ListTagsForResource", request_id, f"<Tags>{shown}</Tags>")


async def tag_resource(request: AwsRequest, form: Form, request_id: str) -> Response:
    try:
        await request.platform.topics.tag(form.required("ResourceArn"), form.tags())
    except TopicNotFound as exc:
        raise ResourceNotFound(exc.message) from None
    return answers.answer("TagResource", request_id, "")


async def untag_resource(request: AwsRequest, form: Form, request_id: str) -> Response:
    try:
        await request.platform.topics.untag(form.required("ResourceArn"), form.strings("TagKeys"))
    except TopicNotFound as exc:
        raise ResourceNotFound(exc.message) from None
    return answers.answer("UntagResource", request_id, "")
