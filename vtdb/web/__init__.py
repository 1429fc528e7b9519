"""The web app: search moments, watch them at the right second, find more like them, watch the pipeline.

`create_app(config, WebOptions(...))` builds the FastAPI app (vtdb.web.app); `vtdb serve` and
`web_app.py` run it with uvicorn (vtdb.commands.serve). The routes live in vtdb.web.routes, one module
per concern (search, videos, files, status, api), and share the WebState of vtdb.web.state. What they
read and write is in vtdb.web.library, their query parameters in vtdb.web.params, the mapping of errors
to responses in vtdb.web.errors, the Host/origin/CSRF guards in vtdb.web.security. Media
(vtdb.web.media), thumbnails (vtdb.web.thumbs) and the HTML (vtdb.web.html_pages) are plain modules with
no web framework in them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["WebOptions", "create_app"]


def __getattr__(name: str) -> Any:
    # FastAPI loads only when the app is built: importing vtdb.web stays light.
    if name in __all__:
        from vtdb.web import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
