"""Container-image functions without Docker: the Lambda API's bodies and answers, the
model's rules, the environment an image function sees, and how its followed output is
cut into invocations by the backend's fences."""

from __future__ import annotations

import asyncio
import dataclasses
import struct
from pathlib import Path
from typing import Any

import pytest

from faas.compute.docker.image_output import Output
from faas.compute.lambda_env import image_env_entries, image_function_environment
from faas.compute.process.backend import ProcessBackend
from faas.errors import ValidationFailed
from faas.image_config import ImageConfig
from faas.models import FunctionConfig, FunctionSpec, apply_patch, validate_config
from faas.settings import Settings
from gateway.api.aws_lambda.configuration import code_location, function_configuration
from gateway.api.aws_lambda.requests import parse_create, parse_update_code
from tests.unit.lambda_boto import HERE, LAYER, ROLE, names_its_field, refusal

IMAGE_ID = "ab" * 32


def image_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "FunctionName": "images",
        "PackageType": "Image",
        "Role": ROLE,
        "Code": {"ImageUri": "my-function:1"},
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def image_spec(**config: Any) -> FunctionSpec:
    values: dict[str, Any] = {
        "name": "images",
        "runtime": "",
        "handler": "",
        "package_type": "Image",
        "image": "registry.local:5000/team/my-function:1",
    }
    values.update(config)
    return FunctionSpec(FunctionConfig(**values), IMAGE_ID, 0, 1.0, 2.0)


# ---------------------------------------------------------------- the Lambda API


def test_a_boto3_image_create_becomes_an_image_function_with_its_overrides() -> None:
    # Given CreateFunction for an image, overriding its entry point, command and directory
    body = image_body(
        ImageConfig={
            "EntryPoint": ["/lambda-entrypoint.sh"],
            "Command": ["app.other"],
            "WorkingDirectory": "/srv",
        },
        MemorySize=256,
    )
    # When the server reads it
    create = parse_create(body, **HERE)
    # Then it is an image function with no zip, runtime or handler
    assert create.zip_bytes is None
    config = create.config
    assert (config.package_type, config.image, config.runtime, config.handler) == (
        "Image",
        "my-function:1",
        "",
        "",
    )
    assert config.image_config == ImageConfig(("/lambda-entrypoint.sh",), ("app.other",), "/srv")
    assert config.memory_mb == 256


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"Runtime": "python3.11"}, "Runtime"),
        ({"Handler": "app.handler"}, "Handler"),
        ({"Layers": [LAYER]}, "Layers"),
        ({"Code": {"ImageUri": "x:1", "ZipFile": "UEsFBg=="}}, "Code.ZipFile"),
        ({"Code": {}}, "Code.ImageUri"),
        ({"Code": {"ImageUri": "Not An Image!"}}, "Code.ImageUri"),
        ({"Code": {"ImageUri": 5}}, "Code.ImageUri"),
        ({"ImageConfig": {"Command": "app.handler"}}, "ImageConfig.Command"),
        ({"ImageConfig": {"EntryPoint": [1]}}, "ImageConfig.EntryPoint"),
        ({"ImageConfig": {"WorkingDirectory": "relative"}}, "ImageConfig.WorkingDirectory"),
        ({"PackageType": None, "Runtime": "python3.11", "Handler": "a.b"}, "Code.ImageUri"),
        (
            {
                "PackageType": "Zip",
                "Runtime": "python3.11",
                "Handler": "a.b",
                "Code": {"ZipFile": "UEsFBg=="},
                "ImageConfig": {"Command": ["a.b"]},
            },
            "ImageConfig",
        ),
    ],
)
def test_what_lambda_refuses_beside_an_image_is_refused_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    refused = refusal(lambda doc: parse_create(doc, **HERE), image_body(**overrides))
    assert refused.field == field
    assert names_its_field(refused), refused.message


def test_a_code_update_may_name_an_image() -> None:
    update = parse_update_code({"ImageUri": "my-function:2", "Publish": True})
    assert (update.image, update.zip_bytes, update.publish) == ("my-function:2", None, True)


def test_an_image_function_is_shown_as_lambda_shows_one() -> None:
    spec = image_spec(image_config=ImageConfig(command=("app.other",)))
    shown = function_configuration(spec, region="local-1", account_id="000000000000")
    assert shown["PackageType"] == "Image"
    assert "Runtime" not in shown and "Handler" not in shown
    assert shown["CodeSha256"] == IMAGE_ID and shown["CodeSize"] == 0
    assert shown["ImageConfigResponse"] == {"ImageConfig": {"Command": ["app.other"]}}
    assert code_location(spec) == {
        "RepositoryType": "ECR",
        "ImageUri": "registry.local:5000/team/my-function:1",
        "ResolvedImageUri": f"registry.local:5000/team/my-function@sha256:{IMAGE_ID}",
    }
    # Without an ImageConfig, Lambda leaves ImageConfigResponse out
    plain = function_configuration(image_spec(), region="local-1", account_id="000000000000")
    assert "ImageConfigResponse" not in plain


# ---------------------------------------------------------------- the model


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"runtime": "python3.11"}, "runtime"),
        ({"handler": "app.handler"}, "handler"),
        ({"layers": (LAYER,)}, "layers"),
        ({"image": ""}, "image"),
        ({"image": "Upper:1"}, "image"),
        ({"image_config": ImageConfig(working_directory="tmp")}, "image_config"),
    ],
)
def test_an_image_function_config_is_checked_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        validate_config(dataclasses.replace(image_spec().config, **changes))
    assert refused.value.field == field


def test_a_zip_function_has_no_image_and_an_image_function_changes_image_with_its_code() -> None:
    zip_config = FunctionConfig(name="z", runtime="python3.11", handler="app.handler")
    with pytest.raises(ValidationFailed) as refused:
        validate_config(dataclasses.replace(zip_config, image="my-function:1"))
    assert refused.value.field == "image"
    with pytest.raises(ValidationFailed) as patched:
        apply_patch(image_spec().config, {"image": "other:1"})
    assert patched.value.field == "image"


def test_an_image_spec_survives_the_store_and_an_older_spec_reads_as_a_zip() -> None:
    spec = image_spec(image_config=ImageConfig(("sh", "-c"), ("run",), "/srv"))
    assert FunctionSpec.from_json(spec.to_json()) == spec
    # A spec stored before image functions existed has none of their fields
    old = FunctionSpec(
        FunctionConfig(name="z", runtime="python3.11", handler="app.handler"), "cd" * 32, 9, 1, 2
    )
    raw = old.to_json()
    for name in ('"package_type": "Zip", ', '"image": "", ', '"image_config": '):
        assert name in raw
    stripped = raw.replace('"package_type": "Zip", ', "").replace('"image": "", ', "")
    stripped = stripped.replace(
        '"image_config": {"command": null, "entry_point": null, "working_directory": null}, ', ""
    )
    assert "image" not in stripped
    assert FunctionSpec.from_json(stripped) == old


def test_what_an_image_function_runs_shapes_its_pool() -> None:
    before = image_spec(image_config=ImageConfig(command=("app.a",)))
    after = image_spec(image_config=ImageConfig(command=("app.b",)))
    assert before.pool_key != after.pool_key
    moved = dataclasses.replace(before, code_sha256="cd" * 32)  # rebuilt, updated
    assert moved.pool_key != before.pool_key


async def test_the_process_backend_refuses_image_functions_naming_the_field(
    tmp_path: Path,
) -> None:
    backend = ProcessBackend(Settings(data_dir=tmp_path), "test")
    with pytest.raises(ValidationFailed) as refused:
        await backend.resolve_image("my-function:1")
    assert refused.value.field == "image"
    assert "process backend" in refused.value.message
    assert "container backend" in refused.value.message


# ---------------------------------------------------------------- the environment


def test_an_image_function_keeps_its_image_env_beneath_its_own_and_lambdas() -> None:
    image_env = image_env_entries(["PATH=/opt/bin:/bin", "GREETING=hi", "STAGE=image", "BAD"])
    assert image_env == {"PATH": "/opt/bin:/bin", "GREETING": "hi", "STAGE": "image"}
    env = {"STAGE": "function", "AWS_REGION": "local-1", "TZ": ":UTC"}
    merged = image_function_environment(image_env, env, ("app.handler",))
    assert merged["PATH"] == "/opt/bin:/bin"  # the image's, not Lambda's default
    assert merged["GREETING"] == "hi"
    assert merged["STAGE"] == "function"  # the function's variable wins over the image's
    assert merged["HOME"] == "/tmp" and merged["LAMBDA_TASK_ROOT"] == "/var/task"
    assert merged["_HANDLER"] == "app.handler"
    assert "_HANDLER" not in image_function_environment({}, env, ())


# ---------------------------------------------------------------- the output's fences


def frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + struct.pack(">I", len(data)) + data


class _Closed:
    def close(self) -> None:
        pass


async def test_fences_are_cut_out_of_the_output_even_split_across_frames() -> None:
    # Given the engine's stream of a container whose token is "abc123"
    output = Output("abc123")
    reader = asyncio.StreamReader()
    marker_out = b"\x00faas-fence:abc123:1:1\x00"
    marker_err = b"\x00faas-fence:abc123:2:1\x00"
    foreign = b"\x00faas-fence:ffff:1:1\x00"
    # When a marker arrives in two frames, between the function's own bytes
    reader.feed_data(frame(1, b"hello " + marker_out[:9]))
    reader.feed_data(frame(1, marker_out[9:] + b"world\n"))
    reader.feed_data(frame(2, b"oops\n" + marker_err + foreign))
    reader.feed_data(frame(1, b"tail\x00faas"))  # looks like a marker's start, then ends
    reader.feed_eof()
    await output.follow(reader, _Closed())  # type: ignore[arg-type]
    # Then the output is the function's bytes alone, a foreign marker kept as written
    assert await output.take() == b"hello world\noops\n" + foreign + b"tail\x00faas"
    assert output.ended.is_set()
    assert await output.take() == b""


def test_an_image_config_change_of_a_zip_function_is_refused_naming_image_config() -> None:
    zip_config = FunctionConfig(name="z", runtime="python3.11", handler="app.handler")
    with pytest.raises(ValidationFailed) as refused:
        apply_patch(zip_config, {"image_config": ImageConfig(command=("app.other",))})
    assert refused.value.field == "image_config"
