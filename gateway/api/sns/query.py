"""SNS's query protocol, read: a form body as botocore writes it. Pure.

``Action=Publish&TopicArn=...`` for plain fields; maps as numbered entries
(``Attributes.entry.1.key`` / ``.value``, ``MessageAttributes.entry.1.Name`` /
``.Value.DataType``), lists as numbered members (``Tags.member.1.Key``,
``TagKeys.member.1``). Values must be UTF-8 text XML can carry (SNS's own rule for
messages), so every answer that echoes one stays well-formed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from urllib.parse import parse_qsl

from faas.errors import InvalidRequest, ValidationFailed

# What XML 1.0 can hold: tab, newline, carriage return, and from space on, less the
# surrogates and U+FFFE/U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Form:
    """A request's fields (or those under one entry or member), by name."""

    def __init__(self, fields: Mapping[str, str], where: str = "") -> None:
        self._fields = fields
        self._where = where

    @classmethod
    def parse(cls, body: bytes) -> Form:
        try:
            text = body.decode("ascii")
            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequest("the request body must be a URL-encoded UTF-8 form") from None
        fields: dict[str, str] = {}
        for name, value in pairs:
            if _NOT_XML.search(value) or _NOT_XML.search(name):
                shown = _NOT_XML.sub("?", name)
                raise ValidationFailed(
                    f"Invalid parameter: {shown} Reason: it holds a character SNS does not "
                    "accept (a control character or an unpaired surrogate)",
                    field=shown,
                )
            fields.setdefault(name, value)
        return cls(fields)

    def get(self, name: str) -> str | None:
        return self._fields.get(name)

    def required(self, name: str) -> str:
        value = self._fields.get(name)
        if value is None or value == "":
            raise ValidationFailed(
                f"Invalid parameter: {self._where}{name} Reason: no value for required parameter",
                field=self._where + name,
            )
        return value

    def flag(self, name: str) -> bool:
        return (self._fields.get(name) or "").lower() == "true"

    def numbered(self, prefix: str, kind: str) -> Iterator[Form]:
        """The forms under ``prefix.kind.N.``, by N."""
        head = f"{prefix}.{kind}."
        groups: dict[int, dict[str, str]] = {}
        for name, value in self._fields.items():
            if not name.startswith(head):
                continue
            index, _, rest = name[len(head) :].partition(".")
            if not index.isdigit() or not rest:
                continue
            groups.setdefault(int(index), {})[rest] = value
        for number in sorted(groups):
            yield Form(groups[number], f"{self._where}{head}{number}.")

    def map(self, prefix: str, key: str = "key", value: str = "value") -> dict[str, str]:
        """``prefix.entry.N.key`` / ``.value`` pairs as a dict."""
        found: dict[str, str] = {}
        for entry in self.numbered(prefix, "entry"):
            found[entry.required(key)] = entry.get(value) or ""
        return found

    def strings(self, prefix: str) -> list[str]:
        """``prefix.member.N`` values, by N."""
        head = f"{prefix}.member."
        found = [
            (int(name[len(head) :]), value)
            for name, value in self._fields.items()
            if name.startswith(head) and name[len(head) :].isdigit()
        ]
        return [value for _, value in sorted(found)]

    def tags(self, prefix: str = "Tags") -> dict[str, str]:
        return {m.required("Key"): m.get("Value") or "" for m in self.numbered(prefix, "member")}

    def message_attributes(
        self, prefix: str = "MessageAttributes"
    ) -> dict[str, tuple[str | None, str | None]]:
        """name -> (DataType, StringValue or BinaryValue's base64), as Publish takes them."""
        found: dict[str, tuple[str | None, str | None]] = {}
        for entry in self.numbered(prefix, "entry"):
            name = entry.required("Name")
            binary = entry.get("Value.BinaryValue")
            found[name] = (
                entry.get("Value.DataType"),
                binary if binary is not None else entry.get("Value.StringValue"),
            )
        return found
