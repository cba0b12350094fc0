"""API keys: an operator configures them, a client presents one, the edge decides.

Keys come from the environment or a JSON file; each request's key is found in
constant time, checked against what the request needs (admin, invoke of one
function, any key, an HTTP route's key), and counted against its rate.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from faas.auth import (
    Access,
    ApiKey,
    KeyRing,
    access_key_id_of,
    admin_key,
    admin_key_of,
    init_keys_file,
)
from faas.auth import presented_key as presented
from faas.errors import Forbidden, Unauthorized, ValidationFailed
from faas.settings import Settings

ADMIN = "admin-key-0123456789abcdef"
ADMIN_2 = "admin-key-second-0123456789"
CI = "invoke-ci-0123456789abcdef"
ANY = "invoke-any-0123456789abcdef"
STRANGER = "stranger-0123456789abcdef"


def ring_of(**settings: str) -> KeyRing:
    return KeyRing.from_settings(Settings(**settings))  # type: ignore[arg-type]


def write_keys(tmp_path: Path, data: object) -> str:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(data))
    return str(path)


class NoRates:
    """No key here has a rate, so no bucket is ever taken (rates: tests/integration)."""

    async def take(self, bucket: str, rate: float, now_s: float) -> float:
        raise AssertionError("a key without a rate took a token")


NO_RATES = NoRates()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- Keys from the environment -------------------------------------------------------------


def test_admin_keys_are_comma_separated() -> None:
    ring = ring_of(admin_key=f" {ADMIN} , {ADMIN_2},")

    assert [k.secret for k in ring.keys] == [ADMIN, ADMIN_2]
    assert all(k.admin for k in ring.keys)


def test_invoke_keys_may_be_limited_to_listed_functions() -> None:
    ring = ring_of(admin_key=ADMIN, invoke_keys=f"{ANY},{CI}:build|deploy")

    any_key, ci_key = ring.find(ANY), ring.find(CI)
    assert any_key is not None and not any_key.admin
    assert any_key.functions is None
    assert any_key.may_invoke("whatever")
    assert ci_key is not None and not ci_key.admin
    assert ci_key.functions == frozenset({"build", "deploy"})
    assert ci_key.may_invoke("build") and not ci_key.may_invoke("payroll")


def test_keys_are_read_from_the_environment_variables() -> None:
    settings = Settings.from_env(
        {"FAAS_ADMIN_KEY": ADMIN, "FAAS_INVOKE_KEYS": f"{CI}:build", "FAAS_KEY_RATE_PER_S": "5"}
    )

    ring = KeyRing.from_settings(settings)

    assert ring.find(ADMIN) is not None and ring.find(ADMIN).admin  # type: ignore[union-attr]
    assert ring.find(CI).functions == frozenset({"build"})  # type: ignore[union-attr]
    assert settings.key_rate_per_s == 5.0


def test_no_key_configured_is_an_open_ring() -> None:
    ring = ring_of()

    assert ring.open
    assert ring.find(ADMIN) is None


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="shorter than 16"):
        ring_of(admin_key="x" * 15)


def test_a_key_of_sixteen_characters_is_long_enough() -> None:
    assert ring_of(admin_key="x" * 16).find("x" * 16) is not None


def test_a_short_invoke_key_is_refused_even_with_a_good_admin_key() -> None:
    with pytest.raises(ValidationFailed, match="shorter than 16"):
        ring_of(admin_key=ADMIN, invoke_keys="short:fn")


def test_invoke_keys_without_an_admin_key_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="no admin key") as caught:
        ring_of(invoke_keys=CI)
    assert caught.value.field == "admin_key"


# --- Keys from a file ----------------------------------------------------------------------


def test_a_keys_file_gives_admin_and_invoke_keys(tmp_path: Path) -> None:
    keys_file = write_keys(
        tmp_path,
        {
            "admin": [ADMIN],
            "invoke": [
                ANY,
                {"key": CI, "name": "ci", "functions": ["build"], "rate_per_s": 50},
            ],
        },
    )

    ring = ring_of(keys_file=keys_file)

    admin, any_key, ci = ring.find(ADMIN), ring.find(ANY), ring.find(CI)
    assert admin is not None and admin.admin
    assert any_key is not None and not any_key.admin and any_key.functions is None
    assert ci == ApiKey("ci", CI, admin=False, functions=frozenset({"build"}), rate_per_s=50.0)


def test_keys_from_the_file_and_the_environment_add_up(tmp_path: Path) -> None:
    keys_file = write_keys(tmp_path, {"invoke": [CI]})

    ring = ring_of(admin_key=ADMIN, keys_file=keys_file)

    assert ring.find(ADMIN) is not None
    assert ring.find(CI) is not None


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("{not json", "not readable JSON"),
        (json.dumps([ADMIN]), "must be an object"),
        (json.dumps({"admins": [ADMIN]}), "must be an object"),
        (json.dumps({"admin": ADMIN}), '"admin" must be a list'),
        (json.dumps({"admin": [42]}), "must be a string or"),
        (json.dumps({"admin": [{"name": "no key"}]}), "must be a string or"),
        (json.dumps({"admin": [{"key": ADMIN, "role": "root"}]}), "unknown field 'role'"),
        (
            json.dumps({"admin": [ADMIN], "invoke": [{"key": CI, "functions": "build"}]}),
            "functions must be a list",
        ),
        (
            json.dumps({"admin": [ADMIN], "invoke": [{"key": CI, "functions": ["a", 1]}]}),
            "functions must be a list",
        ),
        (
            json.dumps({"admin": [ADMIN], "invoke": [{"key": CI, "rate_per_s": -1}]}),
            "rate_per_s must be a number >= 0",
        ),
        (
            json.dumps({"admin": [ADMIN], "invoke": [{"key": CI, "rate_per_s": "fast"}]}),
            "rate_per_s must be a number >= 0",
        ),
    ],
)
def test_a_bad_keys_file_says_what_is_wrong(tmp_path: Path, content: str, complaint: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)

    with pytest.raises(ValidationFailed) as caught:
        ring_of(keys_file=str(path))

    assert complaint in caught.value.message
    assert caught.value.field == "keys_file"


def test_a_missing_keys_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "keys.json"

    with pytest.raises(ValidationFailed, match="does not exist") as caught:
        ring_of(keys_file=str(missing))

    assert str(missing) in caught.value.message


def test_a_short_key_in_the_file_is_refused(tmp_path: Path) -> None:
    keys_file = write_keys(tmp_path, {"admin": [{"key": "tiny", "name": "ops"}]})

    with pytest.raises(ValidationFailed, match="'ops' is shorter than 16"):
        ring_of(keys_file=keys_file)


def test_a_file_of_invoke_keys_only_is_refused(tmp_path: Path) -> None:
    keys_file = write_keys(tmp_path, {"invoke": [CI]})

    with pytest.raises(ValidationFailed, match="no admin key"):
        ring_of(keys_file=keys_file)


# --- Finding a presented key ----------------------------------------------------------------


@pytest.mark.parametrize(
    "attempt",
    [
        "",
        ADMIN[:-1],  # a prefix
        ADMIN + "x",  # the key and more
        ADMIN.upper(),
        " " + ADMIN,
        ADMIN[:-1] + "g",  # one character off
    ],
)
def test_only_the_exact_key_is_found(attempt: str) -> None:
    ring = ring_of(admin_key=ADMIN, invoke_keys=CI)

    assert ring.find(attempt) is None


def test_each_key_is_found_as_itself() -> None:
    ring = ring_of(admin_key=ADMIN, invoke_keys=CI)

    assert ring.find(ADMIN) is not None and ring.find(ADMIN).secret == ADMIN  # type: ignore[union-attr]
    assert ring.find(CI) is not None and ring.find(CI).secret == CI  # type: ignore[union-attr]


def test_a_key_never_shows_its_secret_in_its_repr() -> None:
    key = ring_of(admin_key=ADMIN).find(ADMIN)

    assert ADMIN not in repr(key)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"authorization": f"Bearer {ADMIN}"}, ADMIN),
        ({"authorization": f"bearer {ADMIN}"}, ADMIN),
        ({"authorization": f"BEARER {ADMIN}"}, ADMIN),
        ({"authorization": f"Bearer   {ADMIN}  "}, ADMIN),
        ({"x-api-key": f" {CI} "}, CI),
        # Bearer wins over X-Api-Key when both are sent.
        ({"authorization": f"Bearer {ADMIN}", "x-api-key": CI}, ADMIN),
        # Another scheme is not a key; X-Api-Key still counts.
        ({"authorization": "Basic dXNlcjpwYXNz", "x-api-key": CI}, CI),
        ({"authorization": "Basic dXNlcjpwYXNz"}, None),
        ({"authorization": "Bearer "}, None),
        ({"x-api-key": "  "}, None),
        ({}, None),
    ],
)
def test_the_key_is_read_from_bearer_or_x_api_key(
    headers: dict[str, str], expected: str | None
) -> None:
    assert presented(headers) == expected


def test_the_key_is_read_through_a_header_lookup_function() -> None:
    headers = {"x-api-key": CI}

    assert presented(lambda name: headers.get(name, "")) == CI


# --- AWS credentials: every key signs AWS requests -------------------------------------------


def test_each_key_has_an_access_key_id_derived_from_its_secret() -> None:
    ring = ring_of(admin_key=ADMIN, invoke_keys=CI)

    admin, ci = ring.find(ADMIN), ring.find(CI)

    assert admin is not None and ci is not None
    # Pinned: clients keep it in their config, so it must never change between versions.
    assert admin.access_key_id == "AKIAS7AABGYUPJLTKV7N"
    assert ci.access_key_id == "AKIA3ASP4GPHD4XWE6HJ"
    assert access_key_id_of(ADMIN) == admin.access_key_id


def test_the_access_key_id_is_the_same_on_every_node_and_after_a_restart(tmp_path: Path) -> None:
    keys_file = write_keys(tmp_path, {"admin": [ADMIN], "invoke": [CI]})

    one, other = ring_of(keys_file=keys_file), ring_of(keys_file=keys_file)

    assert [k.access_key_id for k in one.keys] == [k.access_key_id for k in other.keys]


def test_a_key_is_found_by_its_access_key_id() -> None:
    ring = ring_of(admin_key=ADMIN, invoke_keys=f"{CI}:build")

    found = ring.by_access_key(access_key_id_of(CI))

    assert found is not None and found.secret == CI and found.functions == frozenset({"build"})
    assert ring.by_access_key(access_key_id_of(STRANGER)) is None
    assert ring.by_access_key("") is None


def test_a_keys_file_entry_may_name_its_own_access_key_id(tmp_path: Path) -> None:
    keys_file = write_keys(
        tmp_path, {"admin": [{"key": ADMIN, "access_key_id": "AKIAOPSTEAM000000001"}]}
    )

    ring = ring_of(keys_file=keys_file)

    found = ring.by_access_key("AKIAOPSTEAM000000001")
    assert found is not None and found.secret == ADMIN
    assert ring.by_access_key(access_key_id_of(ADMIN)) is None


@pytest.mark.parametrize("given", ["AKIA-SHORT", "A" * 15, "A" * 129, "AKIA 0123456789ABCDEF", 42])
def test_an_access_key_id_of_the_wrong_form_is_refused(tmp_path: Path, given: object) -> None:
    keys_file = write_keys(tmp_path, {"admin": [{"key": ADMIN, "access_key_id": given}]})

    with pytest.raises(ValidationFailed, match=r"admin\[0\]: access_key_id must be") as caught:
        ring_of(keys_file=keys_file)

    assert caught.value.field == "keys_file"


def test_two_keys_may_not_share_an_access_key_id(tmp_path: Path) -> None:
    keys_file = write_keys(
        tmp_path,
        {
            "admin": [{"key": ADMIN, "name": "ops"}],
            # Named to collide with the admin key's derived id.
            "invoke": [{"key": CI, "name": "ci", "access_key_id": access_key_id_of(ADMIN)}],
        },
    )

    with pytest.raises(ValidationFailed, match="'ops' and 'ci' have the same access_key_id"):
        ring_of(keys_file=keys_file)


def test_the_same_secret_listed_twice_is_one_credential(tmp_path: Path) -> None:
    keys_file = write_keys(tmp_path, {"admin": [ADMIN]})

    ring = ring_of(admin_key=ADMIN, keys_file=keys_file)

    found = ring.by_access_key(access_key_id_of(ADMIN))
    assert found is not None and found.secret == ADMIN


def test_the_admin_key_for_clients_is_the_files_else_the_environments(tmp_path: Path) -> None:
    keys_file = write_keys(tmp_path, {"admin": [{"key": ADMIN_2, "name": "ops"}]})

    assert admin_key(Settings(admin_key=ADMIN)).secret == ADMIN  # type: ignore[union-attr]
    from_file = admin_key(Settings(admin_key=ADMIN, keys_file=keys_file))
    assert from_file is not None and from_file.name == "ops" and from_file.secret == ADMIN_2
    assert admin_key(Settings()) is None


# --- A keys file made on first start (docker compose) --------------------------------------


def test_init_keys_file_creates_a_private_file_with_a_working_admin_key(tmp_path: Path) -> None:
    path = tmp_path / "state" / "keys.json"

    key = init_keys_file(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    found = ring_of(keys_file=str(path)).find(key)
    assert found is not None and found.admin
    assert admin_key_of(path) == key
    assert sorted(p.name for p in path.parent.iterdir()) == ["keys.json"]  # no temp file left


def test_init_keys_file_keeps_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = init_keys_file(path)
    written = path.read_bytes()

    second = init_keys_file(path)

    assert second == first
    assert path.read_bytes() == written


def test_init_keys_file_never_replaces_keys_the_operator_wrote(tmp_path: Path) -> None:
    path = Path(write_keys(tmp_path, {"admin": [{"key": ADMIN, "name": "ops"}], "invoke": [CI]}))

    assert init_keys_file(path) == ADMIN
    assert json.loads(path.read_text())["invoke"] == [CI]


def test_admin_key_of_a_file_without_one_is_refused(tmp_path: Path) -> None:
    path = Path(write_keys(tmp_path, {"admin": [], "invoke": [CI]}))

    with pytest.raises(ValidationFailed, match="no admin key"):
        admin_key_of(path)


# --- Deciding each request -----------------------------------------------------------------


@pytest.fixture
def access() -> Access:
    ring = ring_of(admin_key=ADMIN, invoke_keys=f"{ANY},{CI}:build|deploy")
    return Access(ring, NO_RATES, clock=Clock())


def test_an_open_server_lets_every_request_through() -> None:
    access = Access(KeyRing(), NO_RATES, clock=Clock())

    assert access.admin(None) is None
    assert access.admin(STRANGER) is None
    assert access.invoke(None, "payroll") is None
    assert access.caller(None) is None


def test_an_open_server_refuses_routes_that_need_a_key() -> None:
    access = Access(KeyRing(), NO_RATES, clock=Clock())

    with pytest.raises(Unauthorized):
        access.route(None, "hook")
    with pytest.raises(Forbidden, match="the server has none"):
        access.route(STRANGER, "hook")


def decide(access: Access, role: str, key: str | None) -> object:
    if role == "admin":
        return access.admin(key)
    if role == "invoke":
        return access.invoke(key, "build")
    if role == "caller":
        return access.caller(key)
    return access.route(key, "build")


@pytest.mark.parametrize("role", ["admin", "invoke", "caller", "route"])
def test_a_request_without_a_key_is_unauthorized(access: Access, role: str) -> None:
    with pytest.raises(Unauthorized, match="Authorization: Bearer"):
        decide(access, role, None)


@pytest.mark.parametrize("role", ["admin", "invoke", "caller", "route"])
def test_a_wrong_key_is_forbidden(access: Access, role: str) -> None:
    with pytest.raises(Forbidden, match="not valid"):
        decide(access, role, STRANGER)


def test_the_admin_key_may_manage_and_invoke_anything(access: Access) -> None:
    admin = access.admin(ADMIN)
    assert admin is not None and admin.admin
    assert access.invoke(ADMIN, "payroll") == admin
    assert access.caller(ADMIN) == admin
    assert access.route(ADMIN, "payroll") is not None


def test_an_invoke_key_cannot_manage(access: Access) -> None:
    with pytest.raises(Forbidden, match="may invoke functions but not manage them"):
        access.admin(ANY)
    with pytest.raises(Forbidden, match="not manage"):
        access.admin(CI)


def test_an_invoke_key_invokes_only_its_listed_functions(access: Access) -> None:
    ci = access.invoke(CI, "build")
    assert ci is not None and ci.secret == CI
    assert access.invoke(CI, "deploy") == ci

    with pytest.raises(Forbidden, match="may not invoke function 'payroll'"):
        access.invoke(CI, "payroll")
    with pytest.raises(Forbidden):
        access.route(CI, "payroll")


def test_an_unlimited_invoke_key_invokes_any_function(access: Access) -> None:
    assert access.invoke(ANY, "payroll") is not None
    assert access.route(ANY, "payroll") is not None


def test_any_valid_key_may_ask_after_an_invocation(access: Access) -> None:
    assert access.caller(CI) is not None
    assert access.caller(ANY) is not None


# --- Settings the operator gives ------------------------------------------------------------


def test_a_negative_key_rate_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="FAAS_KEY_RATE_PER_S") as caught:
        Settings.from_env({"FAAS_KEY_RATE_PER_S": "-1"})

    assert caught.value.field == "key_rate_per_s"


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="FAAS_LOG_FORMAT") as caught:
        Settings.from_env({"FAAS_LOG_FORMAT": "xml"})

    assert caught.value.field == "log_format"


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_the_known_log_formats_are_accepted(log_format: str) -> None:
    assert Settings.from_env({"FAAS_LOG_FORMAT": log_format}).log_format == log_format


def test_invoke_key_function_lists_are_trimmed_and_an_empty_list_means_every_function() -> None:
    ring = KeyRing.from_settings(
        Settings(
            admin_key=ADMIN_KEY_FOR_LISTS,
            invoke_keys="listed-key-0123456789:a | b ,open-key-0123456789ab:",
        )
    )
    listed, anything = ring.find("listed-key-0123456789"), ring.find("open-key-0123456789ab")
    assert listed is not None and listed.functions == frozenset({"a", "b"})
    assert anything is not None and anything.functions is None


@pytest.mark.parametrize("rate", [True, float("nan"), float("inf"), "2"])
def test_a_keys_file_rate_must_be_a_finite_number(tmp_path: Path, rate: object) -> None:
    path = tmp_path / "keys.json"
    path.write_text(
        json.dumps(
            {"admin": [ADMIN_KEY_FOR_LISTS], "invoke": [{"key": "k" * 20, "rate_per_s": rate}]}
        )
    )
    with pytest.raises(ValidationFailed, match="rate_per_s"):
        KeyRing.from_settings(Settings(keys_file=str(path)))


ADMIN_KEY_FOR_LISTS = "admin-key-for-lists-0123"
