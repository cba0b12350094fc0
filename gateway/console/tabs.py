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
    """A link of the header: the section it is (pages pass ``section``), its title, path;
    ``admin``: the account's pages, which an invoke key neither sees nor may open."""

    section: str
    title: str
    path: str
    admin: bool = False


PAGES: tuple[Page, ...] = (
    Page("functions", "Functions", "/ui/functions"),
    Page("queues", "Queues and topics", "/ui/queues", admin=True),
    Page("cluster", "Cluster", "/ui/cluster", admin=True),
)


TABS: tuple[Tab, ...] = (
    Tab("monitor", "Monitor", exists=True),
    Tab("test", "Test", exists=True),
    Tab("logs", "Logs", exists=True),
    Tab("configuration", "Configuration", exists=True),
    Tab("triggers", "Triggers", exists=True),
    Tab("versions", "Versions and aliases", exists=True),
    Tab("async", "Async", exists=True),
)


def shown() -> list[Tab]:
    """The tabs the nav shows, in order."""
    return [tab for tab in TABS if tab.exists]


def by_slug(slug: str) -> Tab | None:
    return next((tab for tab in TABS if tab.slug == slug), None)
