"""The web app (FastAPI): search pages, the video page and its media, "more like this", the status
dashboard, and the REST API under /api/ (OpenAPI at /api/openapi.json).

Read-only by default: it opens the database without the phase lock, so it runs beside cron runs.
Reset and release are POST forms that need the session's CSRF token, and are refused (403) unless
the server was started with --allow-actions; on the embedded database they take the lock for the
moment they write, and say so (409) when a phase run holds it.

Against DNS rebinding, every request must name a host the server was started for (421 otherwise),
and a request that changes anything must come from a page of this same origin (403 otherwise),
checked before its body is read.

The routes live in vtdb.web.routes (one module per concern), what they read in vtdb.web.library, the
HTML in vtdb.web.html_pages, the mapping of errors to responses in vtdb.web.errors.
"""

from __future__ import annotations

from typing import Awaitable, Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from vtdb.config import Config
from vtdb.web.errors import error_for, error_response, install_error_handlers, unreachable_types
from vtdb.web.routes import api, files, search, status, videos
from vtdb.web.security import SAFE_METHODS, SECURITY_HEADERS, same_origin
from vtdb.web.state import WebOptions, WebState

__all__ = ["WebOptions", "create_app"]

ROUTERS = (files.router, search.router, videos.router, status.router, api.router)
DESCRIPTION = ("Search the moments of a video library, play them, find more like them, and watch the pipeline. JSON "
               "shapes as `vtdb search --json`. Errors: {\"error\": message} with 400 (bad query or filter), 403 "
               "(actions off or bad token), 404 (unknown video or segment), 409 (a phase run holds the embedded "
               "database), 416 (a Range past the end).")


def create_app(config: Config, options: WebOptions | None = None) -> FastAPI:
    app = FastAPI(title="Video Tagging DB", version="1", docs_url=None, redoc_url=None, redirect_slashes=False,
                  openapi_url="/api/openapi.json", description=DESCRIPTION)
    app.state.web = WebState(config, options or WebOptions())
    app.middleware("http")(guard)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Before any route: the Host and same-origin checks, the database opened once, a trailing slash
    redirected, HEAD answered as GET; after it, the security headers on every response."""
    state: WebState = request.app.state.web
    host = request.headers.get("host", "")
    if not state.hosts.allows(host):
        return error_response(request, 421, f"this server does not answer for the host {host[:100]!r} (it answers for "
                                            f"{state.hosts.shown()}); start it with --allowed-host NAME to reach it by "
                                            "another name. Other names are refused against DNS rebinding")
    if request.method not in SAFE_METHODS and not same_origin(request):
        return error_response(request, 403, "refused: a request that changes something must come from this server's "
                                            "own pages (its Origin or Referer header must be this server); open the "
                                            "status page and use its buttons")
    path = request.url.path
    if not state.opened and not path.startswith("/static/"):
        try:
            await run_in_threadpool(state.ensure_open)
        except unreachable_types() as exc:
            return error_for(request, exc)
    response: Response
    if len(path) > 1 and path.endswith("/") and request.method in ("GET", "HEAD"):
        response = _without_trailing_slash(path, request.url.query)
    elif request.method == "HEAD" and not path.startswith("/media/"):
        # HEAD of a page: its GET's status and headers, no body (the media route answers HEAD itself).
        request.scope["method"] = "GET"
        full = await call_next(request)
        response = Response(status_code=full.status_code, headers={
            k: v for k, v in full.headers.items() if k.lower() != "set-cookie"})
    else:
        response = await call_next(request)
    for key, value in SECURITY_HEADERS.items():
        response.headers[key] = value
    return response


def _without_trailing_slash(path: str, query: str) -> Response:
    """/status/ -> /status: a path-only Location (never built from the Host header), and never "//host"."""
    target = "/" + path.strip("/")
    return Response(status_code=308, headers={
        "Location": quote(target, safe="/%:@!$&'()*+,;=") + (f"?{query}" if query else "")})
