"""The console's navigation: its pages in the header, and the tabs of a function's page.

``PAGES`` are the header's links (a section and its path). ``TABS`` are a
function's tabs in the AWS console's order: a slug (its path under
``/ui/functions/NAME/``) and a title; the nav shows only the tabs that exist. A
new tab flips its entry to ``exists=True``, a new page adds its entry, and each
adds its rows to ``gateway.routes.CONSOLE_ROWS``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tab:
    slug: str
    title: str
    exists: bool = False


@dataclass(frozen=True)
class Page:
    """A link of the header: the section it is (pages pass ``section``), its title, path."""

    section: str
    title: str
    path: str


PAGES: tuple[Page, ...] = (Page("functions", "Functions", "/ui/functions"),)


TABS: tuple[Tab, ...] = (
    Tab("monitor", "Monitor", exists=True),
    Tab("test", "Test", exists=True),
    Tab("logs", "Logs", exists=True),
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
