"""The installed package carries everything `faas serve` and the images need.

The other tests run from the source tree, so a module or data file missing
from the wheel would only show up in a deployed gateway image.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from faas.compute.docker.images import RUNTIME_CONTEXT, runtime_files, runtime_tag
from faas.settings import Settings
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
    # and so is everything the runtime image is built from (its tag digests the same)
    for name in runtime_files():
        assert f"runtimes/{name}" in names


def test_the_runtime_image_tag_changes_with_any_file_of_its_build_context(
    tmp_path: Path,
) -> None:
    # Given a copy of the runtime image's build context and its tag
    context = tmp_path / "runtimes"
    shutil.copytree(RUNTIME_CONTEXT, context, ignore=shutil.ignore_patterns("__pycache__"))
    settings = Settings.from_env({})
    before = runtime_tag(settings, context)
    # When bytecode appears, as it does beside the sources on the host
    (context / "protocol" / "__pycache__").mkdir()
    (context / "protocol" / "__pycache__" / "invocation.cpython-311.pyc").write_bytes(b"x")
    # Then the image is still the same one
    assert runtime_tag(settings, context) == before
    # When a file in a package changes, or a new runtime's file is added
    for change in ("protocol/__init__.py", "node/bootstrap.js"):
        (context / change).parent.mkdir(exist_ok=True)
        with (context / change).open("a") as f:
            f.write("// changed\n")
        # Then the tag is a new one: the platform never runs a stale image
        after = runtime_tag(settings, context)
        assert after != before
        before = after
