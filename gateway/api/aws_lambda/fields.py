"""The Lambda API's JSON values checked one field at a time; pure, no I/O.

Every refusal is a ``ValidationFailed`` whose ``field`` is the AWS field's path
(``MemorySize``, ``Environment.Variables``, ``Code.ZipFile``) and whose message
starts with it; the gateway answers it as ``InvalidParameterValueException``.
:func:`in_aws_terms` renames a refusal of ``faas.models`` the same way. A value
echoed in a message is bounded and escaped first (:func:`shown`).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Collection, Sequence
from typing import Any, NoReturn

from faas.errors import FunctionNotFound, ValidationFailed
from faas.image_config import IMAGE_ITEMS_MAX, WORKDIR_MAX, ImageConfig, validate_image
from faas.models import DESCRIPTION_MAX, ENV_MAX_BYTES, ROLE_MAX
from gateway.api.aws_lambda import names

_ROLE = re.compile(r"^arn:aws[a-zA-Z-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@/-]+$")
_TAG_PUNCTUATION = frozenset("_.:/=+-@")

_AWS_FIELDS = {
    "name": "FunctionName",
    "runtime": "Runtime",
    "handler": "Handler",
    "memory_mb": "MemorySize",
    "timeout_s": "Timeout",
    "env": "Environment.Variables",
    "description": "Description",
    "role": "Role",
    "layers": "Layers",
    "concurrency": "ReservedConcurrentExecutions",
    "package_type": "PackageType",
    "image": "Code.ImageUri",
    "image_config": "ImageConfig",
    "max_retries": "MaximumRetryAttempts",
    "max_event_age_s": "MaximumEventAgeInSeconds",
    "on_success": "DestinationConfig.OnSuccess.Destination",
    "on_failure": "DestinationConfig.OnFailure.Destination",
}


def in_aws_terms(exc: ValidationFailed) -> ValidationFailed:
    """A refusal of ``faas.models`` with the field, and the message's first word, renamed
    to the Lambda API's (``memory_mb`` -> ``MemorySize``)."""
    ours = exc.field or ""
    aws = _AWS_FIELDS.get(ours, ours)
    message = exc.message
    if ours and aws != ours:
        if message.startswith(f"{ours} "):
            message = aws + message[len(ours) :]
        else:
            message = f"{aws}: {message}"
    return ValidationFailed(message, field=aws or None)


def new_name(value: object, *, region: str, account_id: str) -> str:
    # The pattern check echoes the value: bound it first (140 is Lambda's limit).
    if not isinstance(value, str) or not 1 <= len(value) <= 140:
        refuse("FunctionName", "must be a function name of 1-64 letters, digits, '-' and '_'")
    try:
        named = names.parse(value, region=region, account_id=account_id)
    except FunctionNotFound:
        refuse("FunctionName", "is an ARN of another region or account than this server's")
    if named.qualifier is not None:
        refuse("FunctionName", "of a new function cannot name a version or alias")
    return named.name


def runtime(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        refuse("Runtime", "must be a runtime name such as python3.11")
    return value


def handler(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128:
        refuse("Handler", "must be a string of 1-128 characters, such as 'app.handler'")
    return value


def role(value: object) -> str:
    if not isinstance(value, str) or len(value) > ROLE_MAX or not _ROLE.fullmatch(value):
        refuse("Role", "must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    return value


def description(value: object) -> str:
    if not isinstance(value, str) or len(value) > DESCRIPTION_MAX:
        refuse("Description", f"must be a string of at most {DESCRIPTION_MAX} characters")
    return value


def environment(value: object) -> dict[str, str]:
    if value is None:
        return {}
    env = json_object(value, "Environment", {"Variables"}, "Environment")
    where = "Environment.Variables"
    variables = json_object(env.get("Variables", {}), where, None, where)
    size = 0
    for key, text in variables.items():
        if not isinstance(text, str):
            refuse(where, f"value of {shown(key)} must be a string")
        size += len(key.encode(errors="surrogatepass")) + len(text.encode(errors="surrogatepass"))
    # Refused before the names are checked (and shown): a huge body ends here.
    if size > ENV_MAX_BYTES:
        refuse(where, f"is {size} bytes; names and values total at most {ENV_MAX_BYTES}")
    return {key: str(text) for key, text in variables.items()}


def zip_file(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        refuse(where, "must be the zip file's bytes in base64")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        refuse(where, "is not base64: send the zip file's bytes in base64")


def image_uri(value: object, where: str) -> str:
    """A local image's name, as ``docker build -t`` gave it (``my-function:1``)."""
    try:
        return validate_image(value)
    except ValidationFailed:
        refuse(where, "must name a local container image, such as my-function:latest")


def image_config(value: object) -> ImageConfig:
    """``ImageConfig``: lists of strings ``EntryPoint`` and ``Command``, an absolute
    ``WorkingDirectory``; an empty list or string keeps the image's own, as on Lambda."""
    if value is None:
        return ImageConfig()
    where = "ImageConfig"
    config = json_object(value, where, {"EntryPoint", "Command", "WorkingDirectory"}, where)
    lists: dict[str, tuple[str, ...] | None] = {}
    for aws, ours in (("EntryPoint", "entry_point"), ("Command", "command")):
        items = config.get(aws, [])
        if (
            not isinstance(items, list)
            or len(items) > IMAGE_ITEMS_MAX
            or not all(isinstance(item, str) and "\x00" not in item for item in items)
        ):
            refuse(f"{where}.{aws}", f"must be a list of at most {IMAGE_ITEMS_MAX} strings")
        lists[ours] = tuple(items) or None
    workdir = config.get("WorkingDirectory", "")
    if not isinstance(workdir, str) or len(workdir) > WORKDIR_MAX or "\x00" in workdir:
        refuse(f"{where}.WorkingDirectory", f"must be a path of at most {WORKDIR_MAX} characters")
    if workdir and not workdir.startswith("/"):
        refuse(f"{where}.WorkingDirectory", "must be an absolute path, such as /var/task")
    return ImageConfig(working_directory=workdir or None, **lists)


def revision(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 128:
        refuse("RevisionId", "must be the RevisionId string of the function")
    return value


def json_object(
    value: object, where: str | None, known: Collection[str] | None, shape: str
) -> dict[str, Any]:
    """``value`` as an object; a structure (``known`` its fields: any other key refused)
    without its nulls, a map (``known`` None) as it is."""
    if not isinstance(value, dict):
        refuse(where, "must be a JSON object")
    for key in value:
        if not isinstance(key, str) or (known is not None and key not in known):
            path = f"{where}.{key}" if where else str(key)
            refuse(bounded(path), f"is not a field of {shape}")
    if known is None:
        return value  # a map: a null value is a value, refused by its checks
    return {key: item for key, item in value.items() if item is not None}


def required(body: dict[str, Any], key: str, where: str | None = None) -> object:
    if key not in body:
        refuse(where or key, "is required")
    return body[key]


def integer(value: object, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        refuse(where, f"must be an integer from {low} to {high}")
    return value


def boolean(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        refuse(where, "must be true or false")
    return value


def choice(value: object, where: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        refuse(where, f"must be one of {', '.join(choices)}")
    return value


def tag_text(text: str) -> bool:
    return all(ch in _TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LNZ" for ch in text)


def shown(value: object) -> str:
    """``value`` quoted for a message: bounded, and escaped so that it is text."""
    text = repr(value)
    return text if len(text) <= 66 else text[:60] + "...'"


def bounded(path: str) -> str:
    shown = path.encode("utf-8", "backslashreplace").decode()
    return shown if len(shown) <= 128 else shown[:125] + "..."


def refuse(where: str | None, why: str) -> NoReturn:
    """Raise the refusal of ``where``: its message starts with the field's path."""
    raise ValidationFailed(f"{where} {why}" if where else f"The request body {why}", field=where)
