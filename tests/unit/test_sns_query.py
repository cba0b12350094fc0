"""SNS's query protocol at the edge of the API: forms read as botocore writes them, and
XML answers that stay well-formed whatever text they carry. Pure."""

from __future__ import annotations

from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest

from faas.errors import InvalidRequest, TopicNotFound, ValidationFailed
from gateway.api.sns import answers, errors
from gateway.api.sns.query import Form


def form(**fields: str) -> Form:
    return Form.parse(urlencode({k.replace("__", "."): v for k, v in fields.items()}).encode())


def test_maps_lists_and_message_attributes_are_read_in_order() -> None:
    read = Form.parse(
        urlencode(
            {
                "Attributes.entry.2.key": "RawMessageDelivery",
                "Attributes.entry.2.value": "true",
                "Attributes.entry.1.key": "FilterPolicy",
                "Attributes.entry.1.value": "{}",
                "TagKeys.member.10": "z",
                "TagKeys.member.2": "a",
                "Tags.member.1.Key": "team",
                "Tags.member.1.Value": "",
                "MessageAttributes.entry.1.Name": "blob",
                "MessageAttributes.entry.1.Value.DataType": "Binary",
                "MessageAttributes.entry.1.Value.BinaryValue": "AAE=",
                "MessageAttributes.entry.2.Name": "p",
                "MessageAttributes.entry.2.Value.DataType": "String",
                "MessageAttributes.entry.2.Value.StringValue": "caf\u00e9 & co",
            }
        ).encode()
    )
    assert list(read.map("Attributes")) == ["FilterPolicy", "RawMessageDelivery"]
    assert read.strings("TagKeys") == ["a", "z"]
    assert read.tags() == {"team": ""}
    assert read.message_attributes() == {
        "blob": ("Binary", "AAE="),
        "p": ("String", "caf\u00e9 & co"),
    }


def test_a_missing_required_field_is_named() -> None:
    with pytest.raises(ValidationFailed) as refused:
        form(Action="Publish").required("TopicArn")
    assert refused.value.message == (
        "Invalid parameter: TopicArn Reason: no value for required parameter"
    )
    entry = next(form(Tags__member__1__Value="v").numbered("Tags", "member"))
    with pytest.raises(ValidationFailed, match=r"Tags\.member\.1\.Key"):
        entry.required("Key")


@pytest.mark.parametrize(
    "body",
    [
        b"Message=%FF%FE",  # not UTF-8
        "Message=é".encode(),  # not URL-encoded
    ],
)
def test_a_body_that_is_no_form_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidRequest):
        Form.parse(body)


def test_text_xml_cannot_carry_is_refused_naming_its_field() -> None:
    with pytest.raises(ValidationFailed) as refused:
        form(Subject="bell\x07")
    assert refused.value.field == "Subject"


@pytest.mark.parametrize(
    "text", ["a < b & c > d", "]]>", "line\r\nnext", "\u00e9\U0001f600", '"quoted"']
)
def test_answers_carry_any_text_back_whole(text: str) -> None:
    response = answers.answer(
        "GetTopicAttributes",
        "rid",
        f"<Attributes>{answers.entries({'DisplayName': text})}</Attributes>",
    )
    root = ElementTree.fromstring(response.body)
    values = [e.text for e in root.iter() if e.tag.endswith("value")]
    assert values == [text]
    assert response.headers["x-amzn-RequestId"] == "rid"


@pytest.mark.parametrize(
    ("exc", "status", "kind", "code"),
    [
        (TopicNotFound("Topic does not exist"), 404, "Sender", "NotFound"),
        (errors.ResourceNotFound("Resource does not exist"), 404, "Sender", "ResourceNotFound"),
        (ValidationFailed("Invalid parameter: X", field="X"), 400, "Sender", "InvalidParameter"),
        (
            ValidationFailed("bad", field="MessageAttributes.k"),
            400,
            "Sender",
            "ParameterValueInvalid",
        ),
        (errors.SnsRefusal("EmptyBatchRequest", "none"), 400, "Sender", "EmptyBatchRequest"),
        (RuntimeError("bug"), 500, "Receiver", "InternalError"),
    ],
)
def test_errors_in_sns_shape(exc: Exception, status: int, kind: str, code: str) -> None:
    response = errors.error_response(exc)
    assert response.status_code == status
    root = ElementTree.fromstring(response.body)
    found = {e.tag.rsplit("}", 1)[-1]: e.text for e in root.iter()}
    assert (found["Type"], found["Code"]) == (kind, code)
    assert found["RequestId"]
