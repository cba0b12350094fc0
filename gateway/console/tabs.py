"""The tabs of a function's page, in the AWS console's order: THE list the nav is drawn from.

A tab is a slug (its path under ``/ui/functions/NAME/``) and a title; the nav
shows only the tabs that exist. A new tab flips its entry to ``exists=True`` (and
adds its rows to ``gateway.routes.CONSOLE_ROWS``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tab:
    slug: str
    title: str
    exists: bool = False


TABS: tuple[Tab, ...] = (
    Tab("monitor", "Monitor"),
    Tab("test", "Test"),
    Tab("logs", "Logs"),
    Tab("configuration", "Configuration", exists=True),
    Tab("triggers", "Triggers"),
    Tab("versions", "Versions and aliases"),
    Tab("async", "Async"),
)


def shown() -> list[Tab]:
    """The tabs the nav shows, in order."""
    return [tab for tab in TABS if tab.exists]


def by_slug(slug: str) -> Tab | None:
    return next((tab for tab in TABS if tab.slug == slug), None)
