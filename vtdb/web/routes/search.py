"""The search page (/: moments or whole videos) and /api/search."""

from __future__ import annotations

from typing import Any, Mapping

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from vtdb.search.filters import QueryError
from vtdb.web import html_pages, library
from vtdb.web.params import MAX_N, PER_PAGE, SearchParams, bounded_int, search_params
from vtdb.web.state import WebState, web_state

router = APIRouter()


def cut_header(note: str) -> dict[str, str]:
    """The note that the query was cut, as a response header of the JSON API (its body stays a list)."""
    return {"X-Query-Cut": note} if note else {}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def search_page(request: Request, params: SearchParams = Depends(search_params), tab: str = "", page: str = "",
                state: WebState = Depends(web_state)) -> HTMLResponse:
    values = dict(request.query_params)  # what the form shows again, and the pager links keep
    tab = "videos" if tab == "videos" else "moments"
    query, results, status = params.q, "", 200
    if query.strip():
        try:
            if tab == "videos":
                results = video_results(state, params)
            else:
                query, results = moment_results(state, params, values, bounded_int("page", page, 1, 1, 1000))
        except QueryError as exc:
            results, status = html_pages.refusal(exc), 400
    return HTMLResponse(html_pages.search_page(query, values, tab, results), status_code=status)


def moment_results(state: WebState, params: SearchParams, values: Mapping[str, Any], page: int) -> tuple[str, str]:
    """(the query as searched, the HTML of one page of its moments)."""
    query, moments, cut = library.search_moments(state, params, page * PER_PAGE + 1)
    shown = moments[(page - 1) * PER_PAGE : page * PER_PAGE]
    retired = library.retired_names(state) if params.include_retired else set()
    keep = {k: v for k, v in values.items() if k != "page" and v}
    return query, html_pages.moment_results(shown, query, int(state.config.settings.frames_per_window),
                                       library.analyzers_of(state, shown), retired, library.audio_only(state, shown),
                                       cut, keep, page, more=len(moments) > page * PER_PAGE)


def video_results(state: WebState, params: SearchParams) -> str:
    hits, retired, cut = library.search_videos(state, params.q, library.VIDEO_HITS, params.include_retired)
    return html_pages.video_results(hits, retired, cut)


@router.get("/api/search", summary="Search the moments (hybrid, as `vtdb search --json`)")
def api_search(params: SearchParams = Depends(search_params), n: str = "10",
               state: WebState = Depends(web_state)) -> JSONResponse:
    """Query parameters as the search page: q, n (1-100), language, video, content_type (comma lists), from, to
    (seconds), keyword, mode (hybrid|vector|keyword), include_retired. Returns a list of moments."""
    _query, moments, cut = library.search_moments(state, params, bounded_int("n", n, 10, 1, MAX_N))
    return JSONResponse([m.to_dict() for m in moments], headers=cut_header(cut))
