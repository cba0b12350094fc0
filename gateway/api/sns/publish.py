"""Publish and PublishBatch. ``TargetArn`` names a topic as ``TopicArn`` does (mobile
push endpoints are not served). A batch holds 1-10 entries with distinct ids, 256 KiB
in all; an entry that is refused is listed in ``Failed`` and the others published."""

from __future__ import annotations

import re

from starlette.responses import Response

from faas.errors import FaasError, ValidationFailed
from faas.topics.messages import MAX_BYTES
from faas.topics.topics import Draft
from gateway.api.sns import answers
from gateway.api.sns.errors import SnsRefusal
from gateway.api.sns.query import Form
from gateway.edge.aws import AwsRequest

BATCH_MAX = 10
BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")


def _topic(form: Form) -> str:
    topic, target = form.get("TopicArn"), form.get("TargetArn")
    if topic and target:
        raise ValidationFailed(
            "Invalid parameter: TopicArn or TargetArn Reason: Only one of TopicArn or "
            "TargetArn may be specified",
            field="TopicArn",
        )
    if not topic and not target:
        raise ValidationFailed(
            "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter",
            field="TopicArn",
        )
    return topic or target or ""


def _draft(form: Form) -> Draft:
    return Draft(
        message=form.get("Message"),
        subject=form.get("Subject"),
        attributes=form.message_attributes(),
        structure=form.get("MessageStructure"),
        group_id=form.get("MessageGroupId"),
        dedup_id=form.get("MessageDeduplicationId"),
    )


async def publish(request: AwsRequest, form: Form, request_id: str) -> Response:
    published = await request.platform.topics.publish(_topic(form), _draft(form))
    result = answers.fields(
        {"MessageId": published.message_id, "SequenceNumber": published.sequence}
    )
    return answers.answer("Publish", request_id, result)


async def publish_batch(request: AwsRequest, form: Form, request_id: str) -> Response:
    topic = form.required("TopicArn")
    entries = list(form.numbered("PublishBatchRequestEntries", "member"))
    if not entries:
        raise SnsRefusal("EmptyBatchRequest", "The batch request doesn't contain any entries.")
    if len(entries) > BATCH_MAX:
        raise SnsRefusal(
            "TooManyEntriesInBatchRequest",
            "The batch request contains more entries than permissible.",
        )
    ids = [entry.get("Id") or "" for entry in entries]
    if any(not BATCH_ID.fullmatch(i) for i in ids):
        raise SnsRefusal(
            "InvalidBatchEntryId",
            "The Id of a batch entry in a batch request doesn't abide by the specification.",
        )
    if len(set(ids)) != len(ids):
        raise SnsRefusal(
            "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id."
        )
    drafts = [_draft(entry) for entry in entries]
    if sum(len((d.message or "").encode()) for d in drafts) > MAX_BYTES:
        raise SnsRefusal(
            "BatchRequestTooLong",
            "The length of all the messages put together is more than the limit.",
        )
    outcomes = await request.platform.topics.publish_batch(topic, drafts)
    ok: list[str] = []
    failed: list[str] = []
    for entry_id, outcome in zip(ids, outcomes, strict=True):
        if isinstance(outcome, FaasError):
            code = "InvalidParameter"
            if (outcome.field or "").startswith("MessageAttributes"):
                code = "ParameterValueInvalid"
            failed.append(
                answers.fields(
                    {
                        "Id": entry_id,
                        "Code": code,
                        "Message": outcome.message,
                        "SenderFault": "true",
                    }
                )
            )
        else:
            ok.append(
                answers.fields(
                    {
                        "Id": entry_id,
                        "MessageId": outcome.message_id,
                        "SequenceNumber": outcome.sequence,
                    }
                )
            )
    result = (
        f"<Successful>{answers.members(ok)}</Successful><Failed>{answers.members(failed)}</Failed>"
    )
    return answers.answer("PublishBatch", request_id, result)
