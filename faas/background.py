"""Work started behind the caller: container starts, removals, retirements.

The event loop keeps only weak references to tasks, so a task nobody holds can
vanish mid-flight; ``Background`` holds each until it is done and lets shutdown
wait for what is under way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


class Background:
    """A set of running tasks, each dropped when it ends."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run ``coro`` as a task of its own, held until it ends."""

        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def pending(self) -> list[asyncio.Task[None]]:
        """The tasks under way now."""
        return list(self._tasks)
