"""The web app's one error mapping: an exception (of the app, of the search, of the database, of the web
framework) becomes an HTTP status and a message, answered as JSON under /api/ (or when the client asks for
JSON) and as a page otherwise, always with the security headers."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from vtdb.errors import VtdbError
from vtdb.search.filters import QueryError
from vtdb.search.index import SearchIndexError
from vtdb.search.similar import UnknownSegmentError
from vtdb.web import html_pages
from vtdb.web.security import SECURITY_HEADERS

RETRY_AFTER_S = 10  # the Retry-After of a 503 while the Chroma server is unreachable

log = logging.getLogger("vtdb.web")


class HttpError(VtdbError):
    """A request the app refuses: its status code and a message that says what to do."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        self.status = status
        self.headers = dict(headers or {})
        super().__init__(message)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def error_response(request: Request, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """An error response: JSON under /api/ (or when asked for), a page otherwise; always with the security
    headers (a 500 is made outside the middleware that adds them to the others)."""
    extra = {**SECURITY_HEADERS, **(headers or {})}
    if wants_json(request):
        return JSONResponse({"error": message, "status": status}, status_code=status, headers=extra)
    return HTMLResponse(html_pages.error_page(status, message), status_code=status, headers=extra)


def unreachable_types() -> tuple[type[Exception], ...]:
    """The exceptions that mean the database cannot be reached (503, not 500)."""
    import httpx

    from vtdb.store.connection import DatabaseUnavailable

    return (DatabaseUnavailable, ConnectionError, TimeoutError, httpx.TransportError)


def _is_unreachable(exc: BaseException) -> bool:
    from vtdb.store.connection import _is_connection_error

    return isinstance(exc, unreachable_types()) or _is_connection_error(exc)  # the latter: wrapped in another


def _framework_error(request: Request, exc: StarletteHTTPException) -> tuple[int, str, dict[str, str]]:
    message = "not found: the app serves only its pages, /api/, and media of registered videos" \
        if exc.status_code == 404 else str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        methods = [m.strip() for m in headers.get("Allow", "").split(",") if m.strip()]
        if "GET" in methods and "HEAD" not in methods:
            methods.append("HEAD")  # the guard answers HEAD for every GET page
        headers["Allow"] = ", ".join(methods)
        message = f"method {request.method} is not allowed here; use {headers['Allow'] or 'another path'}"
    return exc.status_code, message, headers


def decide(request: Request, exc: BaseException) -> tuple[int, str, dict[str, str]]:
    """(status, message, extra headers) of an exception: the one mapping."""
    if isinstance(exc, HttpError):
        return exc.status, str(exc), exc.headers
    if isinstance(exc, QueryError):  # a bad query or filter
        return 400, str(exc), {}
    if isinstance(exc, UnknownSegmentError):
        return 404, str(exc), {}
    if isinstance(exc, RequestValidationError):
        return 400, "bad request: " + "; ".join(f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}"
                                                for e in exc.errors()), {}
    if isinstance(exc, StarletteHTTPException):
        return _framework_error(request, exc)
    if isinstance(exc, SearchIndexError):  # the keyword index cannot be kept where the config says
        log.warning("%s: %s", request.url.path, exc)
        return 500, f"the search cannot run on this server: {exc}", {}
    if _is_unreachable(exc):  # one warning line in the log, no traceback
        log.warning("%s: the database is unreachable: %s", request.url.path,
                    (str(exc).splitlines() or [type(exc).__name__])[0][:300])
        location = request.app.state.web.db.location
        return 503, (f"the database at {location} cannot be reached right now (is the Chroma server running?); "
                     f"try again in {RETRY_AFTER_S} s"), {"Retry-After": str(RETRY_AFTER_S)}
    log.error("unexpected error on %s", request.url.path, exc_info=exc)
    return 500, f"internal error ({type(exc).__name__}); the server log has the details", {}


def error_for(request: Request, exc: BaseException) -> Response:
    status, message, headers = decide(request, exc)
    return error_response(request, status, message, headers)


async def _handle(request: Request, exc: Exception) -> Response:
    return error_for(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    # Each type by name: only the catch-all `Exception` handler is followed by Starlette re-raising the
    # exception for the server to log a traceback, which an unreachable database must not cause.
    handled: tuple[Any, ...] = (HttpError, QueryError, UnknownSegmentError, RequestValidationError,
                                StarletteHTTPException, SearchIndexError, *unreachable_types(), Exception)
    for kind in handled:
        app.add_exception_handler(kind, _handle)
