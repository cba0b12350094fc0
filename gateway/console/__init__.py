"""The web console at ``/ui``: server-rendered pages (Jinja2 templates, htmx) over the platform.

``gate`` admits each request (a session, its CSRF token); ``session`` keeps
sessions in Redis; ``login`` opens and ends them; ``pages/`` holds one module per
page, calling the platform directly (never the REST API over HTTP); ``tabs`` is the
list of a function's tabs; ``render`` the templates' environment; ``charts`` the
SVG charts, drawn on the server. Every asset is in ``static/`` (htmx vendored with
its licence): an offline server serves the whole console. docs/console.md.
"""
