"""Secrets a user PUTs for a function: accepted within limits, refused without ever echoing them.

Each secret becomes a file ``/run/secrets/<NAME>`` in the function's containers,
so its name must be a safe file name; its value must never appear in an error
the API returns or the platform logs.
"""

from __future__ import annotations

import pytest

from faas.catalog.secrets import MAX_SECRETS, MAX_TOTAL_BYTES, validate
from faas.errors import ValidationFailed

VALUE = "s3cr3t-p@ssw0rd-do-not-leak"


def refused(data: object) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        validate(data)
    return caught.value


def test_good_secrets_are_accepted_as_given() -> None:
    secrets = {"DB_PASSWORD": VALUE, "api.token": "t", "_private-1": "", "9LIVES": "x"}

    assert validate(secrets) == secrets


def test_no_secrets_at_all_is_fine() -> None:
    assert validate({}) == {}


def test_the_accepted_secrets_are_a_copy() -> None:
    secrets = {"DB_PASSWORD": VALUE}

    accepted = validate(secrets)
    secrets["DB_PASSWORD"] = "changed"

    assert accepted == {"DB_PASSWORD": VALUE}


@pytest.mark.parametrize("data", [[["DB_PASSWORD", VALUE]], VALUE, None, 42])
def test_secrets_must_be_a_json_object(data: object) -> None:
    error = refused(data)

    assert "must be a JSON object" in error.message
    assert VALUE not in str(error)


@pytest.mark.parametrize("value", [12345, None, ["a"], {"nested": "x"}, True])
def test_a_value_that_is_not_a_string_is_refused_by_name(value: object) -> None:
    error = refused({"DB_PASSWORD": value})

    assert error.message == "secret 'DB_PASSWORD' must be a string"
    assert error.field == "DB_PASSWORD"


@pytest.mark.parametrize(
    "name",
    ["", "..", ".", "/x", "a/b", "../etc/passwd", "-flag", ".hidden", "x" * 65, "with space", "é"],
)
def test_a_name_that_is_not_a_safe_file_name_is_refused(name: str) -> None:
    error = refused({"OK": "fine", name: VALUE})

    assert repr(name) in error.message
    assert VALUE not in str(error)
    assert VALUE not in error.message


def test_a_name_of_64_characters_is_accepted() -> None:
    assert validate({"x" * 64: VALUE}) == {"x" * 64: VALUE}


def test_a_name_ending_in_a_newline_is_refused() -> None:
    refused({"DB\n": VALUE})


def test_fifty_secrets_are_accepted_and_fifty_one_refused() -> None:
    fifty = {f"S{i}": VALUE for i in range(MAX_SECRETS)}
    assert validate(fifty) == fifty

    error = refused({**fifty, "ONE_MORE": VALUE})

    assert "at most 50 secrets" in error.message
    assert VALUE not in str(error)


def test_secrets_over_64_kb_in_all_are_refused() -> None:
    # Names count too: 2 + 32,766 bytes each, 65,536 in all, exactly at the limit.
    at_limit = {"A1": "a" * 32766, "B1": "b" * 32766}
    assert validate(at_limit) == at_limit

    error = refused({"A1": "a" * 32766, "B1": "b" * 32767})

    assert f"at most {MAX_TOTAL_BYTES} bytes" in error.message
    assert "a" * 100 not in str(error) and "b" * 100 not in str(error)


def test_the_size_limit_counts_bytes_not_characters() -> None:
    # 22,000 characters of three bytes each: 66,000 bytes.
    error = refused({"K": "€" * 22000})

    assert "bytes in all" in error.message
    assert "€" not in str(error)


def test_no_refusal_ever_repeats_a_value() -> None:
    cases: list[object] = [
        {"bad name": VALUE},
        {"": VALUE},
        {"OK": VALUE, "../up": VALUE},
        {f"S{i}": VALUE for i in range(MAX_SECRETS + 1)},
        {"BIG": VALUE * 3000},
    ]
    for data in cases:
        error = refused(data)
        assert VALUE not in str(error)
        assert VALUE not in error.message
        assert VALUE not in repr(error)
