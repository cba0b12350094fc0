"""What a function tab drawn as one panel shares: its GET, and a form's change answered with it.

The Triggers, Versions and aliases and Async tabs are each one panel
(``_<tab>_panel.html``) that htmx swaps for the answer of a post or a poll; a
browser without htmx gets the function's page around it (``<tab>.html``).
``Forms.change`` runs one form's change (an admin's) and answers the panel with
what was done, or with the model's refusal by the field it names and what was
typed; a server error (5xx) is raised, to be shown at the top.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from faas.errors import FaasError
from faas.models import FunctionSpec
from faas.platform import Platform
from gateway.console import render
from gateway.console.pages.function import changing, failure, function_page, is_htmx, visible
from gateway.errors import status_of


@dataclass(frozen=True)
class Outcome:
    """What a form's change came to, as the panel shows it: ``saved`` (what was done, in a
    sentence) or a refusal with its ``status``: ``errors`` by field ("": above the panel)
    in form ``form_id``, with what was ``posted`` in it."""

    status: int = 200
    saved: str = ""
    form_id: str = ""
    errors: Mapping[str, str] = field(default_factory=dict)
    posted: Mapping[str, str] = field(default_factory=dict)


DONE = Outcome()
# A tab's own drawing of a function: its page, or (for htmx) its panel, with an outcome.
Panel = Callable[[Request, Platform, FunctionSpec, Outcome], Awaitable[Response]]
# A tab's drawing of its GET: its panel with nothing done yet (``DONE``), or the tab's own.
Draw = Callable[[Request, Platform, FunctionSpec], Awaitable[Response]]
# One form's change: what it did, in a sentence ("Alias live created."), or a FaasError.
Act = Callable[[FormData, FunctionSpec], Awaitable[str]]


def panel_or_page(
    request: Request,
    platform: Platform,
    spec: FunctionSpec,
    tab: str,
    outcome: Outcome,
    **context: Any,
) -> Response:
    """Tab ``tab``'s panel for htmx, else the function's page with it, showing ``outcome``."""
    status = outcome.status
    context.update(
        saved=outcome.saved, form_id=outcome.form_id, errors=outcome.errors, posted=outcome.posted
    )
    if is_htmx(request):
        return render.render(request, f"_{tab}_panel.html", status, spec=spec, **context)
    return function_page(request, platform, spec, f"{tab}.html", tab, status, **context)


async def view(request: Request, platform: Platform, name: str, draw: Draw) -> Response:
    """A tab's GET: function ``name`` drawn by ``draw`` if the visitor may see it."""
    try:
        spec = await visible(request, platform, name)
    except FaasError as exc:
        return failure(request, exc)
    return await draw(request, platform, spec)


@dataclass(frozen=True)
class Forms:
    """A tab's forms: ``panel`` draws the tab; ``refused_at`` says, for a refusal of form
    ``form_id``, which form shows it and next to which of its fields ("": above the panel);
    ``typed`` is what the form had, shown again with the refusal."""

    panel: Panel
    refused_at: Callable[[str, FormData, FaasError], tuple[str, str]]
    typed: Callable[[FormData], dict[str, str]]

    async def change(
        self, request: Request, platform: Platform, name: str, form_id: str, act: Act
    ) -> Response:
        changing(request)
        spec = await visible(request, platform, name)
        form = await request.form(max_files=0, max_fields=10)
        try:
            saved = await act(form, spec)
        except FaasError as exc:
            status = status_of(exc)
            if status >= 500:
                raise
            shown_in, where = self.refused_at(form_id, form, exc)
            refused = Outcome(status, "", shown_in, {where: exc.message}, self.typed(form))
            return await self.panel(request, platform, spec, refused)
        changed = await platform.functions.get(name)
        return await self.panel(request, platform, changed, Outcome(saved=saved))
