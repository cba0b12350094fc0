"""Which bundles a sweep keeps: whatever a function, a version or a layer version names."""

from __future__ import annotations

import dataclasses

import pytest

from faas.catalog.layers import LayerVersion
from faas.catalog.references import layer_lists, referenced
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


def test_the_lists_of_layers_kept_are_each_function_and_versions_in_its_order() -> None:
    lib1, lib2, tools1 = (
        ARN.format(name=n, number=k) for n, k in (("lib", 1), ("lib", 2), ("tools", 1))
    )
    known = [layer("lib", 1, "l1"), layer("lib", 2, "l2", deleted=True), layer("tools", 1, "t1")]
    specs = [
        spec("a", "x", lib1, tools1),
        spec("a", "y", lib2, version="1"),  # a version keeps its own list
        spec("b", "x", tools1, lib1),  # the same layers in another order: another merge
        spec("c", "x", lib1, tools1),  # the same list as a's: one merge for both
        spec("d", "x"),  # no layers, no merge
    ]
    assert layer_lists(specs, known) == {("l1", "t1"), ("l2",), ("t1", "l1")}
    # A list naming a version the catalog does not hold: keep every merge
    assert layer_lists([spec("e", "x", ARN.format(name="gone", number=9))], known) is None
