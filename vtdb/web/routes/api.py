"""The API's own pages: its index (/api, every documented route) and /api/health."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from vtdb.web import html_pages
from vtdb.web.state import WebState, web_state

router = APIRouter()


@router.get("/api/health", summary="Is the database reachable; how much is in it")
def api_health(state: WebState = Depends(web_state)) -> JSONResponse:
    with state.lock:
        return JSONResponse({"ok": True, "location": state.db.location, "videos": state.db.count_videos(),
                             "segments": state.db.count_segments(), "actions": state.options.allow_actions})


@router.get("/api", response_class=HTMLResponse, include_in_schema=False)
def api_index(request: Request) -> HTMLResponse:
    return HTMLResponse(html_pages.api_index(documented(request.app.routes)))


def documented(routes: list) -> list[tuple[str, str, str]]:
    """(path, methods, summary) of each route under /api/ that the OpenAPI schema documents."""
    out = []
    for route in routes:
        if getattr(route, "include_in_schema", False) and str(getattr(route, "path", "")).startswith("/api/"):
            out.append((route.path, ",".join(sorted(route.methods - {"HEAD"})), route.summary or ""))
    return out
