"""The API's own documentation: its OpenAPI document, Swagger UI and ReDoc.

FastAPI would add these routes itself; the gateway asks it not to, so that their
paths are rows of ``gateway.routes`` like every other. The pages find the
document by its route's name, not by a second copy of its path.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse

from gateway.edge.table import Endpoints

endpoint = Endpoints(include_in_schema=False)


def _path_of(request: Request, route: str) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/") + str(request.app.url_path_for(route))


@endpoint()
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@endpoint()
async def swagger_ui_html(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=_path_of(request, "openapi"),
        title=f"{request.app.title} - Swagger UI",
        oauth2_redirect_url=_path_of(request, "swagger_ui_redirect"),
    )


@endpoint()
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@endpoint()
async def redoc_html(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=_path_of(request, "openapi"), title=f"{request.app.title} - ReDoc"
    )
