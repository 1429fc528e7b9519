"""The pipeline's status (the page, its live table, /api/status) and the two actions of the status page
(reset, release: POST forms with the session's CSRF token, only with --allow-actions)."""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from vtdb.commandline import command
from vtdb.naming import UnsafeNameError, check_name
from vtdb.state import is_retired, phase_by_number
from vtdb.web import html_pages, library
from vtdb.web.errors import HttpError, wants_json
from vtdb.web.params import bounded_int
from vtdb.web.security import SESSION_COOKIE, session_of
from vtdb.web.state import WebState, web_state

router = APIRouter()

MAX_FORM_BYTES = 16 * 1024  # an action form is a name, a phase and a token
MAX_PAGES = 10**6


def _view(page: str, video: str) -> tuple[int, str]:
    """(page, video filter) of a status request: ?page=N (from 1) and ?video=part of a name or title."""
    return bounded_int("page", page, 1, 1, MAX_PAGES), video.strip()[:200]


def _live_table(state: WebState, token: str | None, message: str, page: int, video: str) -> str:
    records, totals = state.status.get()
    return html_pages.status_fragment(records, state.events(), state.db.location, token, message, page, video, totals)


@router.get("/status", response_class=HTMLResponse, include_in_schema=False)
def status_page(request: Request, message: str = "", page: str = "", video: str = "",
                state: WebState = Depends(web_state)) -> HTMLResponse:
    session, new = session_of(request)
    token = state.csrf(session) if state.options.allow_actions else None
    page_number, video = _view(page, video)
    if state.status.ready(wait=0.5):
        live = _live_table(state, token, message, page_number, video)
    else:  # a server just started, still reading every record once: the live table fills in when it is done
        live = html_pages.status_loading(message)
    source = "/status/table?" + urlencode({k: v for k, v in (("video", video), ("page", page_number)) if v})
    response = HTMLResponse(html_pages.status_page(live, source, video, state.options.refresh_seconds,
                                              state.options.allow_actions))
    if new:
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict")
    return response


@router.get("/status/table", response_class=HTMLResponse, include_in_schema=False)
def status_table(request: Request, page: str = "", video: str = "", state: WebState = Depends(web_state)) -> HTMLResponse:
    session, new = session_of(request)
    token = state.csrf(session) if state.options.allow_actions and not new else None
    page_number, video = _view(page, video)
    return HTMLResponse(_live_table(state, token, "", page_number, video), headers={"Cache-Control": "no-store"})


@router.get("/api/status", summary="Every record with its flags, counts per phase, and the event log's tail")
def api_status(state: WebState = Depends(web_state)) -> JSONResponse:
    records, totals = state.status.get()
    return JSONResponse({"location": state.db.location, "videos": records, "totals": totals,
                         "retired": sorted(r["name"] for r in records if is_retired(r)), "events": state.events()})


async def read_form(request: Request) -> dict[str, str]:
    """The request's form fields (the first value of each), from a body of at most MAX_FORM_BYTES (413 past it,
    before reading it when it says its length)."""
    too_big = HttpError(413, f"the form is too large: an action form has at most {MAX_FORM_BYTES} bytes")
    length = request.headers.get("content-length", "").strip()
    if length and (not length.isascii() or not length.isdigit() or len(length) > 12 or int(length) > MAX_FORM_BYTES):
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise too_big
    return {k: v[0] for k, v in parse_qs(bytes(body).decode("utf-8", "replace")).items()}


def _refuse_unless_allowed(state: WebState, kind: str) -> None:
    if not state.options.allow_actions:
        raise HttpError(403, f"{kind} is turned off: this server is read-only; start it with --allow-actions "
                             f"({command('serve', '--allow-actions')}) to reset or release videos from the web")


def _checked(state: WebState, request: Request, kind: str, form: dict[str, str]) -> tuple[str, str | None]:
    """(the video's name, the phase) of an action form that carries the session's token; 403, 404 or 400
    otherwise."""
    session = request.cookies.get(SESSION_COOKIE, "")
    if not session or not hmac.compare_digest(form.get("csrf", ""), state.csrf(session)):
        raise HttpError(403, "missing or wrong CSRF token: reload the status page and try again")
    name = form.get("name", "")
    try:
        check_name(name)
    except UnsafeNameError:
        raise HttpError(400, f"bad video name {name!r}") from None
    with state.lock:
        state.record(name)
    try:
        phase = phase_by_number(form["phase"]).key if form.get("phase") else None
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    if kind == "reset" and phase is None:
        raise HttpError(400, "reset needs a phase: 1, 2, 3 (db load) or 4")
    return name, phase


async def action(request: Request, kind: str, state: WebState) -> Response:
    _refuse_unless_allowed(state, kind)  # before reading the body
    name, phase = _checked(state, request, kind, await read_form(request))
    with state.lock:
        message = library.write_action(state, kind, name, phase)
        state.status.invalidate()
    if wants_json(request):
        return JSONResponse({"ok": True, "message": message})
    return RedirectResponse("/status?" + urlencode({"message": message}), status_code=303)


@router.post("/actions/reset", include_in_schema=False)
async def reset_action(request: Request, state: WebState = Depends(web_state)) -> Response:
    return await action(request, "reset", state)


@router.post("/actions/release", include_in_schema=False)
async def release_action(request: Request, state: WebState = Depends(web_state)) -> Response:
    return await action(request, "release", state)
