"""What counts as text: a string UTF-8 can encode, as Redis, JSON replies and Docker need.

JSON can spell half a surrogate pair (``"\\ud800"``) and Python keeps it; such a
string is refused where it would be stored (with the path to it) and replaced
where it is only shown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from faas.errors import ValidationFailed

# Why a string was refused (JSON spells half a surrogate pair "\ud800"; Python keeps it).
NOT_TEXT = "is not text: it holds a lone UTF-16 surrogate (like \\ud800) that UTF-8 cannot encode"


def is_text(value: str) -> bool:
    """Whether ``value`` can be encoded as UTF-8, as Redis, JSON replies and Docker need."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


_SURROGATE = re.compile("[\ud800-\udfff]")


def as_text(value: str) -> str:
    """``value`` with each lone surrogate (JSON's ``"\\ud800"``; a parsed pair is one
    character) replaced by U+FFFD, as Go's JSON and the WHATWG encoder show it."""
    return _SURROGATE.sub("\ufffd", value)


def check_text(document: object) -> None:
    """Refuse a parsed JSON document holding a string, value or key, that is not text.

    The error's field is the path to that string (``TOKEN``, ``[0].input.msg``), a
    bad key escaped in it (``[0].\\ud800``). A value is never echoed: it may be a secret.
    """
    try:
        # One pass in C clears a good document: a 1 MB list of strings took 12 ms, not 89.
        json.dumps(document, ensure_ascii=False).encode()
        return
    except (UnicodeEncodeError, RecursionError):
        pass  # find where (a deep body is walked too: the walk does not recurse)
    for path, text, is_key in _texts(document):
        if is_text(text):
            continue
        if is_key:
            escaped = text.encode("utf-8", "backslashreplace").decode()
            where = f"{path}.{escaped}" if path else escaped
            raise ValidationFailed(f"the key {where} {NOT_TEXT}", field=where)
        raise ValidationFailed(f"{path or 'the body'} {NOT_TEXT}", field=path or None)


def _texts(document: object) -> Iterator[tuple[str, str, bool]]:
    """(path, string, is it a key) for every string in ``document``, depth first.

    A loop, not recursion: a body may nest as deep as the JSON parser allows.
    """
    stack: list[tuple[str, object]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            yield path, value, False
        elif isinstance(value, dict):
            for key in value:
                yield path, key, True
            stack.extend(
                (f"{path}.{key}" if path else key, item) for key, item in reversed(value.items())
            )
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in reversed(list(enumerate(value))))
