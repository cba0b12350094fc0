"""The console's assets, served from the package (``static/``): nothing comes from elsewhere.

Only the files the package holds are served (listed once, at import: a path
cannot climb out of the folder); URLs carry the package version, so browsers
may keep them a day.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, Response

from gateway.edge.table import Endpoints

endpoint = Endpoints(include_in_schema=False)

FOLDER = Path(__file__).parent / "static"
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
FILES = {p.name: p for p in FOLDER.iterdir() if p.is_file()}


@endpoint()
async def asset(path: str) -> Response:
    found = FILES.get(path)
    if found is None:
        return Response("no such asset", status_code=404, media_type="text/plain")
    media = TYPES.get(found.suffix, "text/plain; charset=utf-8")
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return FileResponse(found, media_type=media, headers=headers)
