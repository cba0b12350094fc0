"""Which bundles a sweep keeps: whatever a function, a version or a layer version names."""

from __future__ import annotations

import dataclasses

import pytest

from faas.catalog.layers import LayerVersion
from faas.catalog.references import referenced
from faas.models import FunctionConfig, FunctionSpec

ARN = "arn:aws:lambda:local-1:000000000000:layer:{name}:{number}"


def spec(name: str, sha: str, *layers: str, version: str | None = None) -> FunctionSpec:
    config = FunctionConfig(name=name, runtime="python3.11", handler="app.handler", layers=layers)
    made = FunctionSpec(config, sha, 1, created_at=0.0, updated_at=0.0)
    return dataclasses.replace(made, version=version) if version else made


def layer(name: str, number: int, sha: str, *, deleted: bool = False) -> LayerVersion:
    return LayerVersion(name, number, sha, 1, 0.0, deleted=deleted)


@pytest.mark.parametrize(
    ("specs", "layer_versions", "kept"),
    [
        # Two functions sharing a zip: one reference is enough.
        ([spec("a", "x"), spec("b", "x")], [], {"x"}),
        # A version keeps the code $LATEST has moved on from.
        ([spec("a", "new"), spec("a", "old", version="1")], [], {"new", "old"}),
        # A live layer version is kept though nothing lists it.
        ([], [layer("lib", 1, "l1")], {"l1"}),
        # A deleted one only while a function or version lists it (in any region's ARN).
        (
            [spec("a", "x", ARN.format(name="lib", number=1).replace("local-1", "eu-west-1"))],
            [layer("lib", 1, "l1", deleted=True), layer("lib", 2, "l2", deleted=True)],
            {"x", "l1"},
        ),
        ([], [layer("lib", 1, "l1", deleted=True)], set()),
    ],
)
def test_what_is_referenced(
    specs: list[FunctionSpec], layer_versions: list[LayerVersion], kept: set[str]
) -> None:
    assert referenced(specs, layer_versions) == kept
