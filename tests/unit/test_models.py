"""The rules of function config, pool keys and placement, as tables."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import pytest

from faas.compute.placement import cpus_for, expired, lru_idle, pick_warm
from faas.errors import ValidationFailed
from faas.models import FunctionConfig, FunctionSpec, apply_patch, validate_config
from faas.outcomes import InvocationResult, Outcome
from faas.text import check_text

GOOD = FunctionConfig(name="hello", runtime="python3.11", handler="app.handler")


@pytest.mark.parametrize("name", ["a", "A-b_9", "x" * 64])
def test_lambda_names_are_accepted(name: str) -> None:
    assert validate_config(dataclasses.replace(GOOD, name=name)).name == name


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "../etc"}, "name"),
        ({"name": "trailing-newline\n"}, "name"),
        ({"handler": "app.handler\n"}, "handler"),
        ({"env": {"KEY\n": "x"}}, "env"),
        ({"volumes": {"data": "/mnt/data\n"}}, "volumes"),
        ({"runtime": "cobol"}, "runtime"),
        ({"handler": "nodot"}, "handler"),
        ({"handler": "a b.c"}, "handler"),
        ({"memory_mb": 127}, "memory_mb"),
        ({"memory_mb": 10241}, "memory_mb"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": 901}, "timeout_s"),
        ({"concurrency": -1}, "concurrency"),
        ({"keep_warm": -1}, "keep_warm"),
        ({"env": {"1BAD": "x"}}, "env"),
        ({"env": {"AWS_REGION": "x"}}, "env"),
        ({"env": {"A": 1}}, "env"),
        ({"volumes": {"data": "/etc"}}, "volumes"),
        ({"volumes": {"data": "/mnt/a/../b"}}, "volumes"),
        ({"volumes": {"../x": "/mnt/x"}}, "volumes"),
        ({"volumes": {"a": "/mnt/x", "b": "/mnt/x"}}, "volumes"),
        ({"volumes": {f"v{i}": f"/mnt/v{i}" for i in range(6)}}, "volumes"),
        ({"env": {"BIG": "x" * 4094}}, "env"),
    ],
)
def test_out_of_range_config_names_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_config(dataclasses.replace(GOOD, **change))  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_patch_cannot_rename_and_rejects_unknown_fields() -> None:
    assert apply_patch(GOOD, {"memory_mb": 512}).memory_mb == 512
    with pytest.raises(ValidationFailed):
        apply_patch(GOOD, {"name": "other"})
    with pytest.raises(ValidationFailed):
        apply_patch(GOOD, {"colour": "red"})


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"A": "\ud800"}, "env value of 'A' is not text: it holds a lone UTF-16 surrogate"),
        ({"A": "ok\udfffok"}, "env value of 'A' is not text"),
        ({"A": "x\x00y"}, "env value of 'A' holds a NUL character"),
        ({"A": "\x00"}, "env value of 'A' holds a NUL character"),
        ({"": "x"}, "env name '' is not a valid variable name"),
        ({"A=B": "x"}, "env name 'A=B' is not a valid variable name"),
        ({"A\x00": "x"}, "env name 'A\\x00' is not a valid variable name"),
        ({"\ud800": "x"}, "env name '\\ud800' is not a valid variable name"),
    ],
)
def test_env_that_no_process_could_be_given_is_refused_on_create_and_patch(
    env: dict[str, str], words: str
) -> None:
    # Given an env a container could not start with (execve takes NUL-ended UTF-8 strings)
    # When a function is created with it, or patched to it
    for configure in (
        lambda: validate_config(dataclasses.replace(GOOD, env=env)),
        lambda: apply_patch(GOOD, {"env": env}),
    ):
        with pytest.raises(ValidationFailed) as caught:
            configure()
        # Then it is refused naming the env and the variable, in a message JSON can carry
        assert caught.value.field == "env"
        assert caught.value.message.startswith(words)
        json.dumps(caught.value.message, ensure_ascii=False).encode()


def test_env_of_any_real_text_is_accepted() -> None:
    env = {"GREETING": "héllo wörld 😀", "EMPTY": "", "SPACES": " a = b "}
    assert validate_config(dataclasses.replace(GOOD, env=env)).env == env


@pytest.mark.parametrize(
    ("document", "field", "words"),
    [
        ({"TOKEN": "\ud800"}, "TOKEN", "TOKEN is not text"),
        ({"\ud800": "x"}, "\\ud800", "the key \\ud800 is not text"),
        ([{"name": "t", "input": {"msg": "a\udc00"}}], "[0].input.msg", "[0].input.msg is not"),
        ({"cors": {"origins": ["ok", "\udbff"]}}, "cors.origins[1]", "cors.origins[1] is not"),
        ([{"x": {"\udfff": 1}}], "[0].x.\\udfff", "the key [0].x.\\udfff is not text"),
        ("\ud800", None, "the body is not text"),
    ],
)
def test_a_document_with_a_lone_surrogate_is_refused_naming_where(
    document: object, field: str | None, words: str
) -> None:
    # Given a parsed JSON body that spelled half a surrogate pair somewhere
    # When it is checked
    with pytest.raises(ValidationFailed) as caught:
        check_text(document)
    # Then the error names the path to it, and itself encodes (a 422, not a 500)
    assert caught.value.field == field
    assert caught.value.message.startswith(words)
    assert "lone UTF-16 surrogate" in caught.value.message
    json.dumps([caught.value.message, field], ensure_ascii=False).encode()


def test_a_refused_value_is_never_echoed() -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_text({"DB_PASSWORD": "hunter2\ud800"})
    assert "hunter2" not in caught.value.message


def test_real_text_of_any_script_and_any_shape_passes() -> None:
    check_text({"a": ["é", "😀", "\u4e2d", None, 1, 2.5, True, {"": ""}], "\x00": "\x00"})
    check_text(json.loads('"\\ud83d\\ude00"'))  # a whole pair is one character: 😀


def test_a_surrogate_at_the_bottom_of_a_deep_body_is_found_without_recursion() -> None:
    # Given a body nested about as deep as json.loads goes, with a bad string at the bottom
    depth = 900
    document = json.loads("[" * depth + '"\\ud800"' + "]" * depth)
    # When it is checked, then it is refused by path, not by a RecursionError
    with pytest.raises(ValidationFailed) as caught:
        check_text(document)
    assert caught.value.field == "[0]" * depth


def spec(config: FunctionConfig = GOOD, sha: str = "a" * 64) -> FunctionSpec:
    return FunctionSpec(config, sha, 10, 1.0, 1.0)


@pytest.mark.parametrize(
    ("change", "same_pool"),
    [
        ({"memory_mb": 256}, False),
        ({"env": {"A": "1"}}, False),
        ({"handler": "app.other"}, False),
        ({"network": False}, False),
        ({"timeout_s": 30}, True),
        ({"concurrency": 5}, True),
        ({"keep_warm": 2}, True),
    ],
)
def test_pool_key_changes_only_with_container_shaping_config(
    change: dict[str, object], same_pool: bool
) -> None:
    changed = spec(dataclasses.replace(GOOD, **change))  # type: ignore[arg-type]
    assert (changed.pool_key == spec().pool_key) is same_pool


def test_new_code_gives_a_new_pool_key() -> None:
    assert spec(sha="b" * 64).pool_key != spec().pool_key


def test_a_spec_worked_out_once_still_gives_its_changes_a_new_pool_key() -> None:
    # Given a spec whose pool key was asked for (it is kept with the spec)
    original = spec()
    key = original.pool_key
    # When its code or its secrets change, the changed spec has its own key
    assert dataclasses.replace(original, code_sha256="c" * 64).pool_key != key
    assert dataclasses.replace(original, secrets_version="s2").pool_key != key
    # and the kept key is not part of what the spec stores or compares
    assert FunctionSpec.from_json(original.to_json()) == original
    assert "pool_key" not in original.to_json()


def test_spec_survives_json() -> None:
    original = spec(dataclasses.replace(GOOD, env={"A": "1"}, concurrency=3))
    assert FunctionSpec.from_json(original.to_json()) == original


@dataclass
class Inst:
    pool_key: str
    idle: bool
    last_used: float


def test_the_freshest_idle_instance_of_the_key_serves() -> None:
    instances = [Inst("k", True, 1), Inst("k", True, 5), Inst("k", False, 9), Inst("old", True, 7)]
    assert pick_warm(instances, "k") is instances[1]
    assert pick_warm(instances, "none") is None


def test_expiry_spares_keep_warm_and_busy_and_drops_stale_keys() -> None:
    fresh, old1, old2, busy, stale = (
        Inst("k", True, 99),
        Inst("k", True, 10),
        Inst("k", True, 5),
        Inst("k", False, 1),
        Inst("old", True, 99),
    )
    gone = expired([fresh, old1, old2, busy, stale], "k", now=100, keep_alive_s=30, keep_warm=1)
    assert stale in gone and old1 in gone and old2 in gone
    assert fresh not in gone and busy not in gone
    kept = expired([fresh, old1, old2], "k", now=100, keep_alive_s=30, keep_warm=3)
    assert kept == []


def test_the_coldest_idle_instance_is_evicted_first() -> None:
    instances = [Inst("a", True, 5), Inst("b", True, 2), Inst("c", False, 1)]
    assert lru_idle(instances) is instances[1]
    assert lru_idle([Inst("c", False, 1)]) is None


@pytest.mark.parametrize(
    ("memory", "cpus"),
    [(128, 0.25), (1769, 1.0), (3538, 2.0), (10240, 2.0)],
)
def test_cpu_is_proportional_to_memory_within_the_host(memory: int, cpus: float) -> None:
    assert cpus_for(memory, floor=0.25, host_cpus=2) == cpus


def test_an_error_that_is_not_json_is_shown_as_its_text() -> None:
    # Given a failed invocation whose payload is not a JSON object (bytes that are not UTF-8)
    result = InvocationResult(
        request_id="r1",
        outcome=Outcome.FUNCTION_ERROR,
        payload=b"crashed \xff",
        cold_start=False,
        duration_ms=1.0,
    )
    # Then its error is Lambda's shape with the text, the bad byte replaced
    assert result.error == {"errorType": "Runtime.Unknown", "errorMessage": "crashed \ufffd"}
