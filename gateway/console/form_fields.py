"""What a console form posted, read the same way by every page: a field's text (a field
not posted is empty), and what was typed in a form's fields, to show it again beside
a refusal."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import FormData


def form_text(form: FormData, key: str) -> str:
    """A field's text, trimmed; a field not posted is empty."""
    return str(form.get(key) or "").strip()


def typed(form: FormData, keys: Iterable[str]) -> dict[str, str]:
    """What was typed in each of ``keys``, as posted (not trimmed); "" for one not posted."""
    return {key: str(form.get(key) or "") for key in keys}
