"""The web console's stories over httpx (the ``browser`` fixture of
``tests/integration/conftest.py``): logging in as a browser does, and timing its pages."""

from __future__ import annotations

import re
import statistics
import time

import httpx
import pytest

# The keys of the console's stories: an admin's, and an invoke key limited to one function.
ADMIN = "admin-key-0123456789abcdef"
INVOKE = "invoke-key-0123456789abcdef"


def keys(function: str) -> pytest.MarkDecorator:
    """A story's settings: the admin key, and the invoke key limited to ``function``."""
    return pytest.mark.settings(admin_key=ADMIN, invoke_keys=f"{INVOKE}:{function}")


async def log_in(browser: httpx.AsyncClient, key: str, *, as_htmx: bool = True) -> str:
    """Log in with ``key`` through the login form; the session's CSRF token. ``as_htmx``:
    later requests carry it in ``X-CSRF-Token``, with ``HX-Request``, as the pages' htmx does."""
    form = await browser.get("/ui/login")
    answer = await browser.post(
        "/ui/login", data={"csrf": csrf_of(form.text), "key": key, "next": "/ui"}
    )
    assert answer.status_code == 303, answer.text
    page = await browser.get("/ui/functions")
    assert page.status_code == 200, page.text[:300]
    token = csrf_of(page.text)
    if as_htmx:
        browser.headers.update({"X-CSRF-Token": token, "HX-Request": "true"})
    return token


def csrf_of(html: str) -> str:
    """The token a page sends back: in its forms, and in what htmx sends (``hx-headers``)."""
    found = re.search(r'name="csrf" value="([^"]+)"', html) or re.search(
        r'"X-CSRF-Token": "([^"]+)"', html
    )
    assert found is not None, html[:500]
    return found[1]


async def median_ms(browser: httpx.AsyncClient, pages: list[tuple[str, str]]) -> dict[str, float]:
    """Each page (a label and its path) asked for 7 times, each answering 200: its median
    time in ms, the first included (a cold cache counts)."""
    timings: dict[str, list[float]] = {}
    for label, path in pages:
        for _ in range(7):
            started = time.perf_counter()
            answer = await browser.get(path)
            timings.setdefault(label, []).append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, (path, answer.text[:300])
    return {label: statistics.median(ms) for label, ms in timings.items()}
