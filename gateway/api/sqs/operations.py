"""The SQS operations: each reads its JSON request and answers JSON (``serve``)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response

from faas.errors import FaasError, InvalidRequest, ReceiptHandleIsInvalid
from faas.queues.attributes import COMPUTED, SETTABLE
from faas.queues.checks import check_batch
from faas.queues.model import BatchEntry, MessageAttribute, Received, parse_receipt_handle
from faas.queues.queues import Queues
from gateway.api.sqs.errors import CONTENT_TYPE, UnknownOperation
from gateway.edge.aws import AwsRequest

Handler = Callable[[AwsRequest, dict[str, Any]], Awaitable[dict[str, Any] | None]]
OPERATIONS: dict[str, Handler] = {}
# One encoder for every answer (``json.dumps`` with separators makes one a call).
_to_json = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def operation(handler: Handler) -> Handler:
    OPERATIONS[handler.__name__.replace("_", "")] = handler
    return handler


async def serve(request: AwsRequest, operation_name: str) -> Response:
    handler = OPERATIONS.get(operation_name.lower())
    if handler is None:
        raise UnknownOperation(f"Operation {operation_name} is not supported by this server.")
    document = request.document  # parsed once, when the call was authorized
    if document is None:
        try:
            document = json.loads(request.body) if request.body.strip() else {}
        except ValueError:
            raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    answer = await handler(request, document)
    return Response(
        b"{}" if not answer else _to_json(answer),
        media_type=CONTENT_TYPE,
    )


def _queues(request: AwsRequest) -> Queues:
    return request.platform.queues


def _url(request: AwsRequest, name: str) -> str:
    host = (
        request.header("host")
        or f"{request.platform.settings.host}:{request.platform.settings.port}"
    )
    return _queues(request).url(name, host)


def _name(request: AwsRequest, document: dict[str, Any]) -> str:
    url = document.get("QueueUrl")
    if not isinstance(url, str) or not url:
        raise InvalidRequest("The request must contain the parameter QueueUrl.", field="QueueUrl")
    return _queues(request).name_of(url)


def _string(document: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = document.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"The request must contain the parameter {key}.", field=key)
    return value


def _int(document: dict[str, Any], key: str) -> int | None:
    value = document.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidRequest(f"Value {value} for parameter {key} is invalid.", field=key)
    try:
        return int(value)
    except ValueError:
        raise InvalidRequest(f"Value {value} for parameter {key} is invalid.", field=key) from None


def _str_map(value: Any, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidRequest(f"{key} must be a map of strings.", field=key)
    return value


# -- queues ------------------------------------------------------------------


@operation
async def create_queue(request: AwsRequest, document: dict[str, Any]) -> dict[str, Any]:
    name = _string(document, "QueueName")
    assert name is not None
    await _queues(request).create(
        name,
        _str_map(document.get("Attributes"), "Attributes"),
        _str_map(document.get("tags"), "tags"),
    )
    return {"QueueUrl": _url(request, name)}


@operation
async def get_queue_url(request: AwsRequest, document: dict[str, Any]) -> dict[str, Any]:
    name = _string(document, "QueueName")
    assert name is not None
    queues = _queues(request)
    if not await queues.exists(queues.name_of(name)):
        raise_missing(name)
    return {"QueueUrl": _url(request, name)}


def raise_missing(name: str) -> None:
    from faas.errors import QueueDoesNotExist

    raise QueueDoesNotExist(f"The specified queue {name} does not exist.")


def _page(
    request: AwsRequest, names: list[str], document: dict[str, Any], key: str
) -> dict[str, Any]:
    limit = _int(document, "MaxResults")
    token = document.get("NextToken")
    start = 0
    if isinstance(token, str) and token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except (ValueError, binascii.Error):
            raise InvalidRequest("Invalid NextToken value.", field="NextToken") from None
    if limit is not None and not 1 <= limit <= 1000:
        raise InvalidRequest("MaxResults must be from 1 to 1000.", field="MaxResults")
    size = limit or 1000
    page = names[start : start + size]
    out: dict[str, Any] = {}
    if page:
        out[key] = [_url(request, n) for n in page]
    if limit is not None and start + size < len(names):
        out["NextToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return out


@operation
async def list_queues(request: AwsRequest, document: dict[str, Any]) -> dict[str, Any]:
    prefix = _string(document, "QueueNamePrefix", required=False) or ""
    return _page(request, await _queues(request).names(prefix), document, "QueueUrls")


@operation
async def list_dead_letter_source_queues(
    request: AwsRequest, document: dict[str, Any]
) -> dict[str, Any]:
    names = await _queues(request).dead_letter_sources(_name(request, document))
    return {"queueUrls": [], **_page(request, names, document, "queueUrls")}


@operation
async def delete_queue(request: AwsRequest, document: dict[str, Any]) -> None:
    await _queues(request).delete(_name(request, document))


@operation
async def purge_queue(request: AwsRequest, document: dict[str, Any]) -> None:
    await _queues(request).purge(_name(request, document))


@operation
async def get_queue_attributes(request: AwsRequest, document: dict[str, Any]) -> dict[str, Any]:
    queue = await _queues(request).get(_name(request, document))
    wanted = document.get("AttributeNames") or []
    if not isinstance(wanted, list):
        raise InvalidRequest("AttributeNames must be a list.", field="AttributeNames")
    known = SETTABLE | set(COMPUTED)
    for name in wanted:
        if name != "All" and name not in known:
            from faas.errors import InvalidAttributeValue

            raise InvalidAttributeValue(f"Unknown Attribute {name}.", field="AttributeNames")
    everything = "All" in wanted
    attributes = {k: v for k, v in queue.attributes.items() if everything or k in wanted}
    return {"Attributes": attributes} if attributes else {}


@operation
async def set_queue_attributes(request: AwsRequest, document: dict[str, Any]) -> None:
    await _queues(request).set_attributes(
        _name(request, document), _str_map(document.get("Attributes"), "Attributes")
    )


@operation
async def tag_queue(request: AwsRequest, document: dict[str, Any]) -> None:
    await _queues(request).tag(_name(request, document), _str_map(document.get("Tags"), "Tags"))


@operation
async def untag_queue(request: AwsRequest, document: dict[str, Any]) -> None:
    keys = document.get("TagKeys") or []
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise InvalidRequest("TagKeys must be a list of strings.", field="TagKeys")
    await _queues(request).untag(_name(request, document), keys)


@operation
async def list_queue_tags(request: AwsRequest, document: dict[str, Any]) -> dict[str, Any]:
    tags = await _queues(request).tags(_name(request, document))
    return {"Tags": tags} if tags else {}


# -- messages ----------------------------------------------------------------


def _message_attributes(value: Any) -> dict[str, MessageAttribute]:
    if not value:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest("MessageAttributes must be a map.", field="MessageAttributes")
    out = {}
    for name, attribute in value.items():
        if not isinstance(attribute, dict) or not isinstance(attribute.get("DataType"), str):
            raise InvalidRequest(
                f"The message attribute '{name}' must contain a DataType.",
                field="MessageAttributes",
            )
        binary = attribute.get("BinaryValue")
        if binary is not None:
            try:
                raw = base64.b64decode(binary, validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise InvalidRequest(
                    f"The message attribute '{name}' has an invalid BinaryValue.",
                    field="MessageAttributes",
                ) from None
            out[name] = MessageAttribute(attribute["DataType"], binary_value=raw)
        else:
            string = attribute.get("StringValue")
            out[name] = MessageAttribute(
                attribute["DataType"], string_value=string if isinstance(string, str) else None
            )
    return out


def _entry(document: dict[str, Any], entry_id: str = "0") -> BatchEntry:
    body = document.get("MessageBody")
    if not isinstance(body, str):
        raise InvalidRequest(
            "The request must contain the parameter MessageBody.", field="MessageBody"
        )
    if len(document) == 2:  # MessageBody and Id (or QueueUrl) only: nothing else to read
        return BatchEntry(entry_id, body)
    group, dedup = document.get("MessageGroupId"), document.get("MessageDeduplicationId")
    return BatchEntry(
        entry_id,
        body,
        _message_attributes(document.get("MessageAttributes")),
        _int(document, "DelaySeconds"),
        group if isinstance(group, str) else None,
        dedup if isinstance(dedup, str) else None,
    )


def _sender(request: AwsRequest) -> str | None:
    key = request.key
    return getattr(key, "access_key_id", None) if key is not None else None


@operation
async def send_message(request: AwsRequest, document: dict[str, Any]) -> dict[str, Any]:
    entry = _entry(document)
    sent = await _queues(request).send(
        _name(request, document),
        entry.body,
        message_attributes=entry.message_attributes,
        delay_s=entry.delay_s,
        group_id=entry.group_id,
        dedup_id=entry.dedup_id,
        sender_id=_sender(request),
    )
    out = {"MessageId": sent.message_id, "MD5OfMessageBody": sent.md5_of_body}
    if sent.md5_of_message_attributes:
        out["MD5OfMessageAttributes"] = sent.md5_of_message_attributes
    if sent.sequence_number:
        out["SequenceNumber"] = sent.sequence_number
    return out


def _entries(document: dict[str, Any]) -> list[dict[str, Any]]:
    entries = document.get("Entries")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        entries = []
    check_batch([e.get("Id") if isinstance(e.get("Id"), str) else "" for e in entries])
    return entries


def _failure(entry_id: str, exc: FaasError, code: str = "InvalidParameterValue") -> dict[str, Any]:
    return {"Id": entry_id, "SenderFault": True, "Code": code, "Message": exc.message}


@operation
async def send_message_batch(request: AwsRequest, document: dict[str, Any]) -> dict[str, Any]:
    name = _name(request, document)
    failed: list[dict[str, Any]] = []
    entries = []
    for raw in _entries(document):
        try:
            entries.append(_entry(raw, raw["Id"]))
        except FaasError as exc:
            failed.append(_failure(raw["Id"], exc))
    ok, refused = await _queues(request).send_batch(
        name, entries, sender_id=_sender(request), checked=True
    )
    successful = []
    for entry_id, sent in ok:
        item = {"Id": entry_id, "MessageId": sent.message_id, "MD5OfMessageBody": sent.md5_of_body}
        if sent.md5_of_message_attributes:
            item["MD5OfMessageAttributes"] = sent.md5_of_message_attributes
        if sent.sequence_number:
            item["SequenceNumber"] = sent.sequence_number
        successful.append(item)
    failed += [
        {"Id": f.id, "SenderFault": f.sender_fault, "Code": f.code, "Message": f.message}
        for f in refused
    ]
    return {"Successful": successful, "Failed": failed}


def _wanted(names: Any) -> tuple[bool, set[str], list[str]]:
    """(all, exact names, prefixes) of an AttributeNames-like list."""
    if not isinstance(names, list):
        return False, set(), []
    everything = "All" in names or ".*" in names
    prefixes = [n[:-2] for n in names if isinstance(n, str) and n.endswith(".*") and n != ".*"]
    return everything, {n for n in names if isinstance(n, str)}, prefixes


def _message(
    m: Received, system: tuple[bool, set[str], list[str]], user: tuple[bool, set[str], list[str]]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "MessageId": m.message_id,
        "ReceiptHandle": m.receipt_handle,
        "MD5OfBody": m.md5_of_body,
        "Body": m.body,
    }
    every, names, _ = system
    attributes = {k: v for k, v in m.attributes.items() if every or k in names}
    if attributes:
        out["Attributes"] = attributes
    every, names, prefixes = user
    chosen = {
        k: v
        for k, v in m.message_attributes.items()
        if every or k in names or any(k.startswith(p) for p in prefixes)
    }
    if chosen:
        from faas.queues.digests import md5_of_attributes

        out["MD5OfMessageAttributes"] = md5_of_attributes(chosen)
        out["MessageAttributes"] = {
            k: (
                {
                    "DataType": v.data_type,
                    "BinaryValue": base64.b64encode(v.binary_value or b"").decode(),
                }
                if v.is_binary
                else {"DataType": v.data_type, "StringValue": v.string_value}
            )
            for k, v in chosen.items()
        }
    return out


@operation
async def receive_message(request: AwsRequest, document: dict[str, Any]) -> dict[str, Any]:
    name = _name(request, document)
    wait = _int(document, "WaitTimeSeconds")
    messages = await _queues(request).receive(
        name,
        max_messages=_int(document, "MaxNumberOfMessages") or 1,
        wait_s=None if wait is None else float(wait),
        visibility_s=_int(document, "VisibilityTimeout"),
    )
    system_names = list(document.get("AttributeNames") or []) + list(
        document.get("MessageSystemAttributeNames") or []
    )
    system = _wanted(system_names)
    user = _wanted(document.get("MessageAttributeNames") or [])
    return {"Messages": [_message(m, system, user) for m in messages]} if messages else {}


@operation
async def delete_message(request: AwsRequest, document: dict[str, Any]) -> None:
    handle = _string(document, "ReceiptHandle")
    assert handle is not None
    await _queues(request).delete_message(_name(request, document), handle)


@operation
async def delete_message_batch(request: AwsRequest, document: dict[str, Any]) -> dict[str, Any]:
    name = _name(request, document)
    good: list[tuple[str, str]] = []
    failed = []
    for raw in _entries(document):
        handle = raw.get("ReceiptHandle")
        try:
            parse_receipt_handle(handle if isinstance(handle, str) else "")
        except ReceiptHandleIsInvalid as exc:
            failed.append(_failure(raw["Id"], exc, "ReceiptHandleIsInvalid"))
            continue
        good.append((raw["Id"], handle))  # type: ignore[arg-type]
    if good:
        await _queues(request).delete_messages(name, [h for _, h in good])
    return {"Successful": [{"Id": i} for i, _ in good], "Failed": failed}


@operation
async def change_message_visibility(request: AwsRequest, document: dict[str, Any]) -> None:
    handle = _string(document, "ReceiptHandle")
    timeout = _int(document, "VisibilityTimeout")
    assert handle is not None
    if timeout is None:
        raise InvalidRequest("The request must contain the parameter VisibilityTimeout.")
    await _queues(request).change_visibility(_name(request, document), handle, timeout)


@operation
async def change_message_visibility_batch(
    request: AwsRequest, document: dict[str, Any]
) -> dict[str, Any]:
    name = _name(request, document)
    good: list[tuple[str, str, int]] = []
    failed = []
    for raw in _entries(document):
        handle = raw.get("ReceiptHandle")
        try:
            parse_receipt_handle(handle if isinstance(handle, str) else "")
            timeout = _int(raw, "VisibilityTimeout")
        except ReceiptHandleIsInvalid as exc:
            failed.append(_failure(raw["Id"], exc, "ReceiptHandleIsInvalid"))
            continue
        except FaasError as exc:
            failed.append(_failure(raw["Id"], exc))
            continue
        good.append((raw["Id"], handle, timeout or 0))  # type: ignore[arg-type]
    results = (
        await _queues(request).change_visibilities(name, [(h, t) for _, h, t in good])
        if good
        else []
    )
    successful = []
    for (entry_id, _, _), changed in zip(good, results, strict=True):
        if changed:
            successful.append({"Id": entry_id})
        else:
            failed.append(
                {
                    "Id": entry_id,
                    "SenderFault": True,
                    "Code": "MessageNotInflight",
                    "Message": "Message does not exist or is not available for visibility "
                    "timeout change.",
                }
            )
    return {"Successful": successful, "Failed": failed}
