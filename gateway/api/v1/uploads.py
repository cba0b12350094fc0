"""Spooling uploaded code to a temporary file the code store can take."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
from starlette.datastructures import UploadFile

from faas.errors import BundleTooLarge

CHUNK = 1 << 20


@contextmanager
def temp_path(directory: Path) -> Iterator[Path]:
    """A fresh temporary file path, removed afterwards whatever happens."""
    fd, name = tempfile.mkstemp(dir=directory, prefix="upload-", suffix=".zip")
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


async def save_upload(upload: UploadFile, dest: Path, max_bytes: int) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await upload.read(CHUNK):
            yield chunk

    await save_stream(chunks(), dest, max_bytes)


async def save_stream(chunks: AsyncIterator[bytes], dest: Path, max_bytes: int) -> None:
    size = 0
    async with await anyio.open_file(dest, "wb") as out:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise BundleTooLarge(
                    f"the zip is larger than the {max_bytes // (1 << 20)} MB limit"
                )
            await out.write(chunk)
