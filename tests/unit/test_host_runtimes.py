"""What the process backend can run: the host's own Python, and its node's major."""

from __future__ import annotations

import sys

import pytest

from faas.compute.process.backend import ProcessBackend, host_runtime_problem
from faas.settings import Settings


@pytest.mark.parametrize(
    ("runtime", "python", "node", "runs"),
    [
        ("python3.11", (3, 11), None, True),
        ("python3.12", (3, 11), 20, False),
        ("nodejs20.x", (3, 11), 20, True),
        ("nodejs22.x", (3, 11), 20, False),
        ("nodejs20.x", (3, 11), None, False),
        ("provided.al2023", (3, 11), None, True),
    ],
)
def test_the_host_runs_its_own_python_and_its_nodes_major(
    runtime: str, python: tuple[int, int], node: int | None, runs: bool
) -> None:
    problem = host_runtime_problem(runtime, python, node)
    assert (problem is None) is runs, problem


async def test_a_refusal_names_what_this_host_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    backend = ProcessBackend(Settings(data_dir=tmp_path), "test")
    host = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert await backend.unavailable(host) is None
    other = "python3.13" if host != "python3.13" else "python3.12"
    refused = await backend.unavailable(other)
    assert refused is not None and f"This server can run: {host}" in refused
