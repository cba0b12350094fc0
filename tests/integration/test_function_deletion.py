"""A deleted function leaves nothing behind for a new function of the same name: not its
dead letters, not the console's saved test events.

A real platform (process backend, a real Redis) behind the gateway's app in this
process (httpx's ASGI transport): the function is deleted the ways a user deletes
one, through ``/v1``, the Lambda API's DeleteFunction and the console, and made
again under the same name.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from faas.platform import Platform
from gateway.app import create_app
from tests.helpers import wait_until_async

pytestmark = pytest.mark.process

ADMIN = "admin-key-0123456789abcdef"
FAILING = """
def handler(event, context):
    raise ValueError("the order cannot be filled")
"""
FN = "/ui/functions/orders"


@pytest.fixture
def backend() -> str:
    return "process"


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway around the started platform, as a browser or an API client reaches it."""
    app = create_app(platform.settings)
    app.api.state.platform = platform  # started by the fixture; the app's lifespan is not run
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


async def dead_letter_an_event(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """An async event of ``orders`` (no retries) that fails and is dead-lettered: its id."""
    configured = await client.put(
        "/v1/functions/orders/async-config", json={"max_retries": 0}, headers=headers
    )
    assert configured.status_code == 200, configured.text
    queued = await client.post(
        "/v1/functions/orders/invoke",
        json={"order": 7},
        headers={**headers, "X-Faas-Invocation-Type": "Event"},
    )
    assert queued.status_code == 202, queued.text
    await wait_until_async(
        lambda: client.get("/v1/functions/orders/dead-letters", headers=headers),
        what="the event dead-lettered",
        done=lambda answer: answer.json()["total"] == 1,
        within_s=30,
    )
    request_id: str = queued.json()["requestId"]
    return request_id


@pytest.mark.parametrize(
    "delete", ["/v1/functions/orders", "/2015-03-31/functions/orders"], ids=["v1", "lambda-api"]
)
async def test_a_function_made_again_under_a_deleted_ones_name_has_none_of_its_dead_letters(
    client: httpx.AsyncClient, deploy: Any, delete: str
) -> None:
    # Given a function whose failed event is in its dead letters
    await deploy("orders", FAILING)
    request_id = await dead_letter_an_event(client, {})

    # When the function is deleted, and one is made again under its name
    deleted = await client.delete(delete)
    assert deleted.status_code == 204, deleted.text
    await deploy("orders", FAILING)

    # Then the new function has no dead letters, and the old one's is gone for good
    letters = await client.get("/v1/functions/orders/dead-letters")
    assert letters.status_code == 200
    assert letters.json()["total"] == 0 and letters.json()["items"] == []
    assert (await client.get(f"/v1/invocations/{request_id}")).status_code == 404


@pytest.mark.settings(admin_key=ADMIN)
async def test_a_function_made_again_after_a_console_delete_starts_with_a_clean_slate(
    client: httpx.AsyncClient, deploy: Any
) -> None:
    # Given a function with a dead letter and a saved test event, open in the console
    await deploy("orders", FAILING)
    await dead_letter_an_event(client, {"Authorization": f"Bearer {ADMIN}"})
    await log_in(client, ADMIN)
    saved = await client.post(
        f"{FN}/test/events", files={"event_name": (None, "big-order"), "event": (None, "{}")}
    )
    assert "Saved big-order." in saved.text
    async_tab = (await client.get(f"{FN}/async")).text
    assert "No dead letters." not in async_tab

    # When the admin deletes it there, and the function is made again under its name
    deleted = await client.post(f"{FN}/delete", data={"confirm": "orders"})
    assert deleted.headers.get("HX-Redirect") == "/ui/functions", deleted.text[:300]
    await deploy("orders", FAILING)

    # Then its Test tab offers no saved event, and its Async tab no dead letter
    test_tab = (await client.get(f"{FN}/test")).text
    assert 'aria-label="Load big-order"' not in test_tab and "big-order" not in test_tab
    assert "No dead letters." in (await client.get(f"{FN}/async")).text


async def log_in(client: httpx.AsyncClient, key: str) -> None:
    """Log in with ``key``; later requests carry the session's token as htmx does."""
    form = await client.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    answer = await client.post("/ui/login", data={"csrf": token[1], "key": key, "next": "/ui"})
    assert answer.status_code == 303, answer.text
    page = await client.get(f"{FN}/test")
    session = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert session is not None, page.text[:300]
    client.headers.update({"X-CSRF-Token": session[1], "HX-Request": "true"})
