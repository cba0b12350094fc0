"""A function's page: the shell every tab renders into, and its Overview.

``function_page`` is what a tab's handler returns: the function's facts, the tab
nav (``gateway.console.tabs``), and the tab's own template, which extends
``function.html`` and fills its ``tab`` block. ``visible`` loads a function the
visitor may see: an invoke key is told that a function it may not invoke does
not exist, as the API tells it. ``changing`` refuses a visitor who may not
change anything (an invoke key): 403.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from faas.errors import FaasError, Forbidden, FunctionNotFound, ValidationFailed
from faas.models import FunctionSpec
from faas.platform import Platform
from gateway.console import render, tabs
from gateway.console.gate import Visitor
from gateway.deps import PlatformDep
from gateway.edge.table import Endpoints
from gateway.errors import status_of

endpoint = Endpoints(include_in_schema=False)


async def visible(request: Request, platform: Platform, name: str) -> FunctionSpec:
    """Function ``name``, if the visitor may see it (else ``FunctionNotFound``)."""
    if not render.visitor_of(request).may_see(name):
        raise FunctionNotFound(f"function {name!r} not found")
    return await platform.functions.get(name)


def changing(request: Request) -> Visitor:
    """The visitor, if they may change things; else ``Forbidden`` (403)."""
    visitor = render.visitor_of(request)
    if not visitor.may_change:
        raise Forbidden("this key may look and test, not change anything")
    return visitor


def warm_here(platform: Platform, name: str) -> int:
    """Warm instances of the function in this process (its every version)."""
    return len(platform.scheduler.instances(name))


def function_page(
    request: Request,
    platform: Platform,
    spec: FunctionSpec,
    template: str,
    tab: str,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A tab of the function's page: ``template`` extends ``function.html``."""
    found = tabs.by_slug(tab)
    return render.render(
        request,
        template,
        status,
        section="functions",
        spec=spec,
        tab=tab,
        tab_title=found.title if found is not None else "Overview",
        warm=warm_here(platform, spec.name),
        **context,
    )


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def go_to(request: Request, path: str) -> Response:
    """Send the browser to ``path``: htmx follows ``HX-Redirect``, a plain form a 303."""
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": path})
    return RedirectResponse(path, status_code=303)


def failure(request: Request, exc: FaasError) -> HTMLResponse:
    """A console page for an error a page's handler met (a missing function: 404)."""
    status = status_of(exc)
    heading = {404: "Not found", 403: "Not allowed"}.get(status, "Something went wrong")
    return render.render(
        request, "error.html", status, section="functions", heading=heading, message=exc.message
    )


@endpoint()
async def overview(request: Request, platform: PlatformDep, name: str) -> Response:
    try:
        spec = await visible(request, platform, name)
    except FunctionNotFound as exc:
        return failure(request, exc)
    arn = platform.invoker.arn(spec.name)
    return function_page(request, platform, spec, "overview.html", "", arn=arn)


@endpoint()
async def delete(request: Request, platform: PlatformDep, name: str) -> Response:
    changing(request)
    await visible(request, platform, name)
    form = await request.form(max_files=0, max_fields=5)
    if form.get("confirm") != name:
        raise ValidationFailed("type the function's name to delete it", field="confirm")
    await platform.functions.delete(name)
    return go_to(request, "/ui/functions")


@endpoint()
async def not_found(request: Request, path: str) -> Response:
    return render.render(
        request,
        "error.html",
        404,
        section="",
        heading="Not found",
        message=f"The console has no page /ui/{path}.",
    )
