"""The Lambda API's list paging: every item once, in key order, whatever the page size."""

from __future__ import annotations

import pytest

from faas.errors import ValidationFailed
from gateway.api.aws_lambda.paging import max_items, page

NAMES = ["b", "a", "d", "c", "e"]


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 50])
def test_following_next_marker_lists_every_item_once_in_order(limit: int) -> None:
    seen: list[str] = []
    marker = None
    while True:
        found, marker = page(NAMES, lambda n: n, marker, limit)
        assert len(found) <= limit
        seen += found
        if marker is None:
            break
    assert seen == sorted(NAMES)


def test_a_last_full_page_has_no_next_marker_and_an_item_gone_between_pages_shifts_nothing() -> (
    None
):
    first, marker = page(NAMES, lambda n: n, None, 2)
    assert first == ["a", "b"] and marker is not None
    rest, _ = page(["a", "c", "d", "e"], lambda n: n, marker, 2)
    assert rest == ["c", "d"]
    assert page(NAMES, lambda n: n, None, 5) == (sorted(NAMES), None)


@pytest.mark.parametrize(("raw", "expected"), [(None, 50), ("1", 1), ("10000", 10000)])
def test_max_items_takes_1_to_the_most(raw: str | None, expected: int) -> None:
    assert max_items(raw, default=50, most=10_000) == expected


@pytest.mark.parametrize("raw", ["0", "10001", "-1", "x", "", "1.5"])
def test_bad_max_items_are_refused_naming_it(raw: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        max_items(raw, default=50, most=10_000)
    assert refused.value.field == "MaxItems"


def test_a_marker_this_server_never_gave_is_refused_naming_it() -> None:
    with pytest.raises(ValidationFailed) as refused:
        page(NAMES, lambda n: n, "%%%", 2)
    assert refused.value.field == "Marker"
