"""Stories of a function's layers as plain data: which ARNs it may list, what they change
about its sandboxes and environment, and where they cannot run (no services)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from faas.catalog.layers import LayerVersion
from faas.compute.backend import SandboxSpec
from faas.compute.lambda_env import lambda_environment
from faas.compute.process.backend import ProcessBackend
from faas.errors import BackendError, ValidationFailed
from faas.models import FunctionConfig, FunctionSpec, validate_config
from faas.settings import Settings

LAYER = "arn:aws:lambda:local-1:000000000000:layer:{}:{}"


def spec(*layers: str, runtime: str = "python3.11") -> FunctionSpec:
    config = FunctionConfig(name="f", runtime=runtime, handler="app.handler", layers=layers)
    return FunctionSpec(config, "a" * 64, 10, 1.0, 1.0)


def test_a_function_lists_up_to_five_versions_of_different_layers() -> None:
    five = tuple(LAYER.format(f"l{i}", 1) for i in range(5))
    assert validate_config(spec(*five).config).layers == five


@pytest.mark.parametrize(
    ("layers", "words"),
    [
        pytest.param(tuple(LAYER.format(f"l{i}", 1) for i in range(6)), "at most 5", id="six"),
        pytest.param(("arn:aws:lambda:local-1:000000000000:function:f",), "not a layer", id="fn"),
        pytest.param((LAYER.format("deps", "latest"),), "not a layer", id="no number"),
        pytest.param((LAYER.format("d", 1), LAYER.format("d", 2)), "two versions", id="twice"),
        pytest.param([LAYER.format("deps", 1)], "a list", id="not a tuple"),
    ],
)
def test_layers_that_are_no_list_of_version_arns_are_refused(layers: object, words: str) -> None:
    with pytest.raises(ValidationFailed, match=words) as refused:
        validate_config(dataclasses.replace(spec().config, layers=layers))  # type: ignore[arg-type]
    assert refused.value.field == "layers"


def test_other_layers_or_another_order_give_fresh_sandboxes() -> None:
    one, two = LAYER.format("a", 1), LAYER.format("b", 1)
    keys = {spec().pool_key, spec(one).pool_key, spec(one, two).pool_key, spec(two, one).pool_key}
    assert len(keys) == 4


def test_a_spec_keeps_its_layers_in_order_through_json() -> None:
    layered = spec(LAYER.format("b", 2), LAYER.format("a", 1))
    back = FunctionSpec.from_json(layered.to_json())
    assert back == layered and back.config.layers == layered.config.layers
    assert back.pool_key == layered.pool_key


def test_python_finds_the_function_then_site_packages_then_opt_python() -> None:
    env = lambda_environment(spec(), region="local-1", log_stream="s")
    assert env["PYTHONPATH"].split(":") == [
        "/var/task",
        "/opt/python/lib/python3.11/site-packages",
        "/opt/python",
        "/var/runtime",  # the runtime's boto3, last: a bundled or layered one wins
    ]
    assert env["PATH"].split(":")[-1] == "/opt/bin"
    # Libraries: the system's first, then the function's, then its layers', as on Lambda
    libraries = env["LD_LIBRARY_PATH"].split(":")
    assert libraries[-3:] == ["/var/task", "/var/task/lib", "/opt/lib"]
    assert libraries.index("/usr/lib/x86_64-linux-gnu") < libraries.index("/var/task")
    # A function's own PYTHONPATH or LD_LIBRARY_PATH replaces the default, as on Lambda
    own = dataclasses.replace(spec().config, env={"PYTHONPATH": "vendor", "LD_LIBRARY_PATH": "x"})
    env = lambda_environment(dataclasses.replace(spec(), config=own), region="r", log_stream="s")
    assert (env["PYTHONPATH"], env["LD_LIBRARY_PATH"]) == ("vendor", "x")
    # A custom runtime is given no Python paths under /opt
    custom = lambda_environment(spec(runtime="provided.al2"), region="r", log_stream="s")
    assert custom["PYTHONPATH"] == "/var/task"


def test_the_process_backend_refuses_a_function_with_layers(tmp_path: Path) -> None:
    backend = ProcessBackend(Settings(data_dir=tmp_path), "owner")
    sandbox = SandboxSpec(
        function="f",
        pool_key="k",
        token="t0",
        image="host",
        code_dir=tmp_path,
        env={},
        memory_mb=128,
        cpus=1.0,
        network=False,
        readonly_mounts={tmp_path / "python": "/opt/python"},
    )
    with pytest.raises(BackendError, match="layers, which the process backend cannot place"):
        asyncio.run(backend.create(sandbox))
    # and starts nothing
    assert not list((tmp_path / "sockets").glob("t0*"))


@pytest.mark.parametrize(
    ("runtime", "architecture", "matches"),
    [
        (None, None, True),
        ("python3.11", None, True),
        ("python3.12", None, False),
        (None, "x86_64", True),
        ("python3.11", "arm64", False),
    ],
)
def test_a_layer_version_matches_the_filters_it_declares(
    runtime: str | None, architecture: str | None, matches: bool
) -> None:
    version = LayerVersion(
        "deps",
        1,
        "a" * 64,
        10,
        1.0,
        compatible_runtimes=("python3.11",),
        compatible_architectures=("x86_64",),
    )
    assert version.matches(runtime, architecture) is matches
    assert LayerVersion.from_json(version.to_json()) == version
