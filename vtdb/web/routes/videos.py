"""A video (its page and /api/videos), its segments, and "more like this" (page and API)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, JSONResponse

from vtdb.formats.subtitles import track_elements
from vtdb.web import html_pages, library
from vtdb.web.media import is_audio_only
from vtdb.web.params import MAX_N, bounded_int
from vtdb.web.routes.search import cut_header
from vtdb.web.state import WebState, web_state

router = APIRouter()


@router.get("/video/{name}", response_class=HTMLResponse, include_in_schema=False)
def video_page(name: str, t: float = 0.0, state: WebState = Depends(web_state)) -> HTMLResponse:
    info = library.video_json(state, name)
    cached = library.cached_extras(state, name)
    if is_audio_only(info["record"]):
        tracks = None  # browsers show no subtitle cues on <audio>: the transcript by window is below it
    else:
        tracks = track_elements(cached.subtitle_languages if cached else [],
                                lambda lang: f"/subtitles/{html_pages.url_part(name)}/{lang}.vtt",
                                state.config.settings.output_language)
    return HTMLResponse(html_pages.video_page(info, t, tracks, bool(cached and cached.has_cover)))


@router.get("/api/videos", summary="Every video (its record's main fields); with q, whole-video search")
def api_videos(q: str = "", n: str = "20", include_retired: bool = False,
               state: WebState = Depends(web_state)) -> JSONResponse:
    """With q: the n (1-100, as /api/search) summarized videos nearest to it; a query cut to what the search
    reads says so in the X-Query-Cut header."""
    count = bounded_int("n", n, 20, 1, MAX_N)
    if q.strip():
        hits, _retired, cut = library.search_videos(state, q, count, include_retired)
        return JSONResponse([h.to_dict() for h in hits], headers=cut_header(cut))
    return JSONResponse(library.video_list(state))


@router.get("/api/videos/{name}", summary="One video: record, flags, chapters, windows")
def api_video(name: str, state: WebState = Depends(web_state)) -> JSONResponse:
    return JSONResponse(library.video_json(state, name))


@router.get("/api/segments/{segment_id}", summary="One segment: document and metadata")
def api_segment(segment_id: str, state: WebState = Depends(web_state)) -> JSONResponse:
    return JSONResponse(library.segment_json(state, segment_id))


@router.get("/api/segments/{segment_id}/similar",
            summary="More like this: nearest moments in other videos and the same video")
def api_similar(segment_id: str, n: str = "5", include_retired: bool = False,
                state: WebState = Depends(web_state)) -> JSONResponse:
    count = bounded_int("n", n, 5, 1, MAX_N)
    return JSONResponse(library.similar(state, segment_id, count, include_retired).to_dict())


@router.get("/similar/{segment_id}", response_class=HTMLResponse, include_in_schema=False)
def similar_page(segment_id: str, retired: str = "", state: WebState = Depends(web_state)) -> HTMLResponse:
    result = library.similar(state, segment_id, 6, retired == "1")
    audio = library.audio_only(state, [result.source, *result.other_videos, *result.same_video])
    return HTMLResponse(html_pages.similar_page(result, int(state.config.settings.frames_per_window),
                                           library.retired_names(state), audio))
