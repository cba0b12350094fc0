"""The MD5s SQS answers: of a body, and of message attributes as SQS computes it.

For the attributes (AWS's documented algorithm, the one the SDKs check): sorted
by name, each as its name, its data type and its value, each of those prefixed
with its length as 4 big-endian bytes, a transport byte (1 string, 2 binary)
between the type and the value; the MD5 of it all, in hex.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping

from faas.queues.model import MessageAttribute

_LENGTH = struct.Struct(">I")


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: Mapping[str, MessageAttribute]) -> str | None:
    """None for no attributes (SQS leaves the field out)."""
    if not attributes:
        return None
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        attribute = attributes[name]
        for text in (name, attribute.data_type):
            encoded = text.encode()
            digest.update(_LENGTH.pack(len(encoded)) + encoded)
        if attribute.is_binary:
            value, transport = attribute.binary_value or b"", b"\x02"
        else:
            value, transport = (attribute.string_value or "").encode(), b"\x01"
        digest.update(transport + _LENGTH.pack(len(value)) + value)
    return digest.hexdigest()
