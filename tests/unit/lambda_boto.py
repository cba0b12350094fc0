"""What the Lambda API's unit tests share: the bodies boto3 sends and how it reads answers.

Request bodies are built by botocore's own serializer (no network), responses are
read back by botocore's parser: the service model is the contract.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from faas.errors import ValidationFailed
from faas.models import FunctionConfig, FunctionSpec

HERE = {"region": "local-1", "account_id": "000000000000"}
ROLE = "arn:aws:iam::000000000000:role/lambda-basic"
LAYER = "arn:aws:lambda:local-1:000000000000:layer:deps:3"
SESSION = botocore.session.get_session()
MODEL = SESSION.get_service_model("lambda")


def a_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


ZIP = a_zip()


def boto_body(operation: str, **params: Any) -> Any:
    """The JSON body boto3 sends for ``operation`` with ``params`` (validated by botocore)."""
    request = create_serializer("rest-json").serialize_to_request(
        params, MODEL.operation_model(operation)
    )
    return json.loads(request["body"] or b"{}")


def boto_reads(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """What boto3 returns to its caller when the server answers ``body``."""
    response = {"status_code": 200, "headers": {}, "body": json.dumps(body).encode()}
    parsed: dict[str, Any] = create_parser("rest-json").parse(
        response, MODEL.operation_model(operation).output_shape
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


def create_body(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "FunctionName": "orders",
        "Runtime": "python3.11",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": ZIP},
    }
    params.update(overrides)
    body: dict[str, Any] = boto_body("CreateFunction", **params)
    return body


def a_spec(**config: Any) -> FunctionSpec:
    values: dict[str, Any] = {
        "name": "orders",
        "runtime": "python3.11",
        "handler": "app.handler",
        "role": ROLE,
    }
    values.update(config)
    return FunctionSpec(
        config=FunctionConfig(**values),
        code_sha256=hashlib.sha256(ZIP).hexdigest(),
        code_size=len(ZIP),
        created_at=1_700_000_000.0,
        updated_at=1_796_591_045.123,
    )


def refusal(parse: Any, doc: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as refused:
        parse(doc)
    return refused.value


def names_its_field(refused: ValidationFailed) -> bool:
    field = refused.field or ""
    camel = field[:1].lower() + field[1:]
    return field in refused.message or camel in refused.message


def body_members(operation: str) -> set[str]:
    shape = MODEL.operation_model(operation).input_shape
    return {
        name
        for name, member in shape.members.items()
        if member.serialization.get("location") not in ("uri", "querystring", "header")
    }


GOOD_CREATE = create_body(Environment={"Variables": {"A1": "x"}}, Tags={"k": "v"})
