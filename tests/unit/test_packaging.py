"""The installed package carries everything `faas serve` and the images need.

The other tests run from the source tree, so a module or data file missing
from the wheel would only show up in a deployed gateway image.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from faas.compute.docker.images import RUNTIME_FILES
from tests.helpers import ROOT


def test_the_wheel_holds_every_module_and_the_runtime_build_context(tmp_path: Path) -> None:
    # Given the project built as a wheel, as deploy/up and pip install do
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("faas-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    # Then every Python module of the source tree is in it
    for package in ("faas", "gateway", "runtimes"):
        for source in (ROOT / package).rglob("*.py"):
            assert str(source.relative_to(ROOT)) in names
    # and so is everything the runtime image is built from
    for name in RUNTIME_FILES:
        assert f"runtimes/{name}" in names
