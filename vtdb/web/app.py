"""The web app (FastAPI): search pages, the video page and its media, "more like this", the status
dashboard, and the REST API under /api/ (OpenAPI at /api/openapi.json).

Read-only by default: it opens the database without the phase lock, so it runs beside cron runs.
Reset and release are POST forms that need the session's CSRF token, and are refused (403) unless
the server was started with --allow-actions; on the embedded database they take the lock for the
moment they write, and say so (409) when a phase run holds it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vtdb.config import Config
from vtdb.errors import VtdbError
from vtdb.naming import UnsafeNameError, check_name
from vtdb.search.filters import QueryError
from vtdb.search.moments import as_meta, segment_span
from vtdb.search.similar import UnknownSegmentError, search_moments, similar_moments
from vtdb.state import PHASE_ORDER, phase_by_number
from vtdb.store import ChromaDBManager, json_list
from vtdb.web import pages
from vtdb.web.media import MediaUnavailable, RangeNotSatisfiable, ZimMedia, media_body, parse_range
from vtdb.web.thumbs import ThumbCache

PER_PAGE = 10
MAX_N = 100
EVENT_TAIL = 40
SESSION_COOKIE = "vtdb_session"
CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; script-src 'self'; style-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


class HttpError(VtdbError):
    """A request the app refuses: its status code and a message that says what to do."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


@dataclass
class WebOptions:
    """How the app behaves (the serve command's options)."""

    allow_actions: bool = False
    refresh_seconds: float = 3.0  # the dashboard's refresh
    cache_dir: Path | None = None  # thumbnails; default {work_dir}/web_cache


@dataclass
class WebState:
    """What every request shares: the database, caches and the server's secret."""

    config: Config
    options: WebOptions
    db: ChromaDBManager = field(init=False)
    lock: threading.RLock = field(default_factory=threading.RLock)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def __post_init__(self) -> None:
        self.db = ChromaDBManager(self.config)
        self.work_dir = Path(self.config.work_dir)
        self.thumbs = ThumbCache(self.work_dir, self.options.cache_dir)
        self.zim = ZimMedia()
        self._revision: str | None = None
        self._searcher: Any = None

    @property
    def searcher(self) -> Any:
        if self._searcher is None:
            from vtdb.search.searcher import Searcher

            self._searcher = Searcher(self.db)
        return self._searcher

    def refresh(self) -> None:
        """An embedded client does not see vectors another process (a cron Phase 3) added since it opened the
        database: when the segments revision changed, reopen it (cheap, and only then)."""
        if self.db.is_server:
            return
        revision = self.db.segments_revision()
        if self._revision is not None and revision != self._revision:
            self.db.close()
            revision = self.db.segments_revision()
        self._revision = revision

    def csrf(self, session: str) -> str:
        return hmac.new(self.secret, session.encode(), hashlib.sha256).hexdigest()[:40]

    def record(self, name: str) -> dict:
        """A registered video's record, or 404 (the name is only ever looked up, never used as a path)."""
        found = self.db.get_many([name]) if name else {}
        if name not in found:
            raise HttpError(404, f"no video named {name!r}; the status page lists the videos")
        return {**found[name], "name": name}


# ---- request parsing ----


def _one(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    return str(value).strip() if value is not None else ""


def _int(params: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    text = _one(params, key)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise QueryError(f"{key}: must be a whole number from {low} to {high}, got {text!r}") from None
    if not low <= value <= high:
        raise QueryError(f"{key}: must be a whole number from {low} to {high}, got {value}")
    return value


def parse_search(state: WebState, params: Mapping[str, Any]) -> tuple[str, dict, str, bool]:
    """(query, filters, mode, include_retired) from query parameters; QueryError (400) for a bad one."""
    from vtdb.commands.search import check_languages, check_videos
    from vtdb.search.searcher import MODES

    query = _one(params, "q")
    filters: dict[str, Any] = {}
    for key, field_name in (("video", "video"), ("language", "language"), ("content_type", "content_type")):
        values = [v.strip() for v in _one(params, key).split(",") if v.strip()]
        if values:
            filters[field_name] = values
    for key, field_name in (("from", "time_from"), ("to", "time_to")):
        text = _one(params, key)
        if text:
            try:
                filters[field_name] = float(text)
            except ValueError:
                raise QueryError(f"{key}: {text!r} is not a number of seconds") from None
    if _one(params, "keyword"):
        filters["keyword"] = _one(params, "keyword")
    if filters.get("language"):
        filters["language"] = check_languages(filters["language"])
    mode = _one(params, "mode") or "hybrid"
    if mode not in MODES:
        raise QueryError(f"mode: use one of {', '.join(MODES)}, got {mode!r}")
    if filters.get("video"):
        check_videos(state.db, filters["video"])
    return query, filters, mode, _one(params, "retired") in {"1", "true", "yes", "on"} or \
        _one(params, "include_retired") in {"1", "true", "yes", "on"}


def _moment_json(m: Any) -> dict:
    return m.to_dict()


def _analyzers(state: WebState, moments: list) -> dict[str, str]:
    """The analyzer of each moment's first window (one read for the page)."""
    ids = [m.segment_ids[0] for m in moments if m.segment_ids]
    if not ids:
        return {}
    got = state.db.get_segments(ids, include=["metadatas"])
    return {i: str(as_meta(meta).get("analyzer") or "") for i, meta in zip(got["ids"], got["metadatas"])}


# ---- the app ----


def create_app(config: Config, options: WebOptions | None = None) -> Any:
    state = WebState(config, options or WebOptions())
    app = FastAPI(title="Video Tagging DB", version="1", docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json",
                  description="Search the moments of a video library, play them, find more like them, and watch the "
                              "pipeline. JSON shapes as `test_search.py --json`. Errors: {\"error\": message} with 400 "
                              "(bad query or filter), 403 (actions off or bad token), 404 (unknown video or segment), "
                              "409 (a phase run holds the embedded database), 416 (a Range past the end).")
    app.state.web = state

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")

    def fail(request: Request, status: int, message: str) -> Response:
        if is_api(request):
            return JSONResponse({"error": message, "status": status}, status_code=status)
        return HTMLResponse(pages.error_page(status, message), status_code=status)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    @app.exception_handler(HttpError)
    async def on_http_error(request: Request, exc: HttpError) -> Response:
        return fail(request, exc.status, str(exc))

    @app.exception_handler(QueryError)
    async def on_query_error(request: Request, exc: QueryError) -> Response:
        return fail(request, 400, str(exc))

    @app.exception_handler(UnknownSegmentError)
    async def on_unknown_segment(request: Request, exc: UnknownSegmentError) -> Response:
        return fail(request, 404, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_starlette(request: Request, exc: StarletteHTTPException) -> Response:
        message = "not found: the app serves only its pages, /api/, and media of registered videos" \
            if exc.status_code == 404 else str(exc.detail)
        return fail(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        return fail(request, 400, "bad request: " + "; ".join(f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}"
                                                              for e in exc.errors()))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        import logging

        logging.getLogger("vtdb.web").exception("unexpected error on %s", request.url.path)
        return fail(request, 500, f"internal error ({type(exc).__name__}); the server log has the details")

    # ---- static ----

    static = resources.files("vtdb.web") / "static"
    assets = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}

    @app.get("/static/{file_name}", include_in_schema=False)
    def static_file(file_name: str) -> Response:
        if file_name not in assets:
            raise HttpError(404, "no such file")
        return Response(static.joinpath(file_name).read_bytes(), media_type=assets[file_name],
                        headers={"Cache-Control": "no-cache"})

    # ---- search ----

    def run_search(params: Mapping[str, Any], n: int) -> tuple[str, list, bool]:
        query, filters, mode, include_retired = parse_search(state, params)
        with state.lock:
            state.refresh()
            moments = search_moments(state.db, query, n, filters, mode, include_retired)
        return query, moments, include_retired

    def retired_names() -> set[str]:
        with state.lock:
            return set(state.db.retired_names())

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def search_page(request: Request) -> HTMLResponse:
        params = dict(request.query_params)
        tab = "videos" if params.get("tab") == "videos" else "moments"
        with state.lock:
            names = state.db.all_names()
        form = pages.search_form(params, names, tab)
        body, status = "", 200
        query = params.get("q", "")
        if query.strip():
            try:
                if tab == "videos":
                    body = videos_results(params)
                else:
                    page = _int(params, "page", 1, 1, 1000)
                    _q, moments, _inc = run_search(params, page * PER_PAGE + 1)
                    more = len(moments) > page * PER_PAGE
                    shown = moments[(page - 1) * PER_PAGE : page * PER_PAGE]
                    with state.lock:
                        analyzers = _analyzers(state, shown)
                        retired = state.db.retired_names() if _inc else set()
                    frames = int(state.config.settings.frames_per_window)
                    cards = "".join(pages.moment_card(m, query, frames, analyzers.get(m.segment_ids[0], "") if m.segment_ids else "",
                                                      m.video_name in retired) for m in shown)
                    keep = {k: v for k, v in params.items() if k != "page" and v}
                    body = (f'<p class="count">{len(shown)} moments on this page</p>{cards}' if shown
                            else '<p class="none">no matching moments</p>') + pages.pager(keep, page, more)
            except QueryError as exc:
                body, status = f'<p class="error message">{pages.esc(exc)}</p>', 400
        return HTMLResponse(pages.layout(query or "Search", form + f'<section class="results">{body}</section>', "search"),
                            status_code=status)

    def videos_results(params: Mapping[str, Any]) -> str:
        from vtdb.search.videos import search_videos

        include_retired = params.get("retired") == "1"
        with state.lock:
            state.refresh()
            hits = search_videos(state.db, params.get("q", ""), 20, searcher=state.searcher)
            retired = state.db.retired_names()
        hits = [h for h in hits if include_retired or h.name not in retired]
        cards = "".join(pages.video_hit_card(h, h.name in retired) for h in hits)
        return cards or '<p class="none">no summarized videos match (Phase 4 fills them)</p>'

    @app.get("/api/search", summary="Search the moments (hybrid, as test_search.py --json)")
    def api_search(request: Request, q: str = "", n: int = 10, language: str = "", video: str = "", content_type: str = "",
                   keyword: str = "", mode: str = "hybrid", include_retired: bool = False) -> JSONResponse:
        """Query parameters as the search page: q, n (1-100), language, video, content_type (comma lists), from, to
        (seconds), keyword, mode (hybrid|vector|keyword), include_retired. Returns a list of moments."""
        params = dict(request.query_params)
        n = _int(params, "n", 10, 1, MAX_N)
        _q, moments, _inc = run_search(params, n)
        return JSONResponse([_moment_json(m) for m in moments])

    # ---- videos ----

    def video_rows(name: str) -> list[dict]:
        """The video's windows in time order: the segment (if loaded) and the Phase 1 window merged."""
        with state.lock:
            got = state.db.get_segments(where={"video_name": name}, include=["metadatas"])
        segments = sorted(((str(i), as_meta(m)) for i, m in zip(got["ids"], got["metadatas"])),
                          key=lambda p: (segment_span(p[1]) or (float("inf"), 0))[0])
        thumbs = state.thumbs.get(name)
        windows = {w.index: w for w in thumbs.windows} if thumbs else {}
        rows: list[dict] = []
        for sid, meta in segments:
            span = segment_span(meta) or (0.0, 0.0)
            index = pages.window_index(sid)
            w = windows.pop(index, None) if index is not None else None
            transcript = (w.text if w and w.text else str(meta.get("transcript") or ""))
            translation = (w.translation if w and w.translation else str(meta.get("dialogue_translation") or ""))
            if translation.strip() == transcript.strip():
                translation = ""  # an analyzer that copied the speech: nothing to translate
            rows.append({"segment_id": sid, "window": index, "start": span[0], "end": span[1], "text": transcript,
                         "translation": translation, "description": str(meta.get("description") or ""),
                         "keywords": pages.keywords_of(meta.get("keywords")), "frames": w.frames if w else 0,
                         "on_screen_text": str(meta.get("on_screen_text") or "")})  # Phase 3 keeps Phase 1's OCR lines
        for w in windows.values():  # Phase 1 windows not (yet) loaded as segments
            rows.append({"segment_id": "", "window": w.index, "start": w.start, "end": w.end, "text": w.text,
                         "translation": w.translation, "description": "", "keywords": [], "frames": w.frames,
                         "on_screen_text": ""})
        rows.sort(key=lambda r: r["start"])
        return rows

    def video_json(name: str) -> dict:
        with state.lock:
            record = state.record(name)
            flags = state.db.video_flags(record).as_dict()
        return {"name": name, "title": record.get("title") or name, "summary": record.get("summary") or "",
                "keywords": pages.record_keywords(record), "chapters": json_list(record.get("chapters")),
                "retired": bool(record.get("retired_at")), "flags": flags, "record": record, "windows": video_rows(name)}

    @app.get("/video/{name}", response_class=HTMLResponse, include_in_schema=False)
    def video_page(name: str, t: float = 0.0) -> HTMLResponse:
        info = video_json(name)
        record = info["record"]
        start = max(0.0, t)
        retired = (f'<p class="badge retired">retired {pages.esc(record.get("retired_at"))}: '
                   f'{pages.esc(record.get("retired_reason") or "")}</p>' if info["retired"] else "")
        src = f"/media/{pages.url_part(name)}"
        body = (f'<article class="video-page" data-video="{pages.esc(name)}">'
                f'<h1 class="title">{pages.esc(info["title"])}</h1>{retired}'
                f'<div class="player-row"><div class="player-box"><video id="player" controls preload="metadata" '
                f'src="{src}#t={start:.3f}" data-start="{start:.3f}"></video>'
                f'<p class="dim">{pages.esc(name)} · {pages.esc(pages.duration(record.get("video_duration")))} · '
                f'<a href="{src}">media</a></p></div>'
                f'<aside><h2>Chapters</h2>{pages.chapters_list(info["chapters"])}</aside></div>'
                f'<section class="summary"><h2>Summary</h2><p>{pages.esc(info["summary"]) or "<span class=dim>(Phase 4 writes it)</span>"}</p>'
                f'{pages.keyword_chips(info["keywords"])}<p class="dim">{pages.esc(record.get("description") or "")}</p></section>'
                f'<section><h2>Processing</h2>{pages.video_status_table({**record, "flags": info["flags"]})}</section>'
                f'<section><h2>Transcript by window</h2>{pages.window_rows(info["windows"], name)}</section></article>')
        return HTMLResponse(pages.layout(info["title"], body, "", {"start": start}))

    @app.get("/api/videos", summary="Every video (its record's main fields); with q, whole-video search")
    def api_videos(q: str = "", n: int = 20, include_retired: bool = False) -> JSONResponse:
        if q.strip():
            from vtdb.search.videos import search_videos

            with state.lock:
                state.refresh()
                hits = search_videos(state.db, q, max(1, min(n, MAX_N)), searcher=state.searcher)
                retired = state.db.retired_names()
            return JSONResponse([h.to_dict() for h in hits if include_retired or h.name not in retired])
        with state.lock:
            records = state.db.list_videos()
            out = [{"name": r["name"], "title": r.get("title") or r["name"], "duration": r.get("video_duration") or 0,
                    "segments": r.get("total_segments") or 0, "retired": bool(r.get("retired_at")),
                    "statuses": {p: r.get(f"{p}_status") or "pending" for p in PHASE_ORDER},
                    "flags": state.db.video_flags(r).as_dict()} for r in records]
        return JSONResponse(out)

    @app.get("/api/videos/{name}", summary="One video: record, flags, chapters, windows")
    def api_video(name: str) -> JSONResponse:
        return JSONResponse(video_json(name))

    # ---- segments and more like this ----

    def segment_json(segment_id: str) -> dict:
        with state.lock:
            got = state.db.get_segments([segment_id])
        if not got["ids"]:
            raise UnknownSegmentError(segment_id)
        return {"id": segment_id, "document": got["documents"][0], "metadata": as_meta(got["metadatas"][0])}

    def similar(segment_id: str, n: int, include_retired: bool) -> Any:
        with state.lock:
            state.refresh()
            return similar_moments(state.db, segment_id, n, include_retired)

    @app.get("/api/segments/{segment_id}", summary="One segment: document and metadata")
    def api_segment(segment_id: str) -> JSONResponse:
        return JSONResponse(segment_json(segment_id))

    @app.get("/api/segments/{segment_id}/similar", summary="More like this: nearest moments in other videos and the same video")
    def api_similar(request: Request, segment_id: str, n: int = 5, include_retired: bool = False) -> JSONResponse:
        n = _int(dict(request.query_params), "n", 5, 1, MAX_N)
        return JSONResponse(similar(segment_id, n, include_retired).to_dict())

    @app.get("/similar/{segment_id}", response_class=HTMLResponse, include_in_schema=False)
    def similar_page(segment_id: str, retired: str = "") -> HTMLResponse:
        result = similar(segment_id, 6, retired == "1")
        frames = int(state.config.settings.frames_per_window)
        gone = retired_names()

        def cards(moments: list) -> str:
            return "".join(pages.moment_card(m, "", frames, retired=m.video_name in gone) for m in moments) or \
                '<p class="none">nothing similar here</p>'

        body = (f'<h1>More like this</h1><section class="source">{pages.moment_card(result.source, "", frames)}</section>'
                f'<section class="similar-other"><h2>In other videos</h2>{cards(result.other_videos)}</section>'
                f'<section class="similar-same"><h2>In the same video</h2>{cards(result.same_video)}</section>')
        return HTMLResponse(pages.layout("More like this", body, "search"))

    # ---- media and thumbnails ----

    @app.get("/media/{name}", include_in_schema=False)
    def media(request: Request, name: str) -> Response:
        with state.lock:
            record = state.record(name)
        try:
            body = media_body(record, state.zim)
        except MediaUnavailable as exc:
            raise HttpError(404, f"video {name!r}: {exc}") from None
        headers = {"Accept-Ranges": "bytes", "ETag": body.etag, "Cache-Control": "no-cache"}
        try:
            wanted = parse_range(request.headers.get("range"), body.size)
        except RangeNotSatisfiable as exc:
            return Response(str(exc), status_code=416, headers={**headers, "Content-Range": f"bytes */{body.size}"},
                            media_type="text/plain; charset=utf-8")
        if request.headers.get("if-range") and request.headers["if-range"] != body.etag:
            wanted = None  # the client's copy is of another version: send it all
        first, last = wanted if wanted else (0, body.size - 1)
        length = max(0, last - first + 1)
        headers["Content-Length"] = str(length)
        status = 200
        if wanted:
            status = 206
            headers["Content-Range"] = f"bytes {first}-{last}/{body.size}"
        if request.method == "HEAD" or length == 0:
            return Response(b"", status_code=status, headers=headers, media_type=body.content_type)
        return StreamingResponse(body.read(first, last), status_code=status, headers=headers, media_type=body.content_type)

    app.add_api_route("/media/{name}", media, methods=["HEAD"], include_in_schema=False)

    @app.get("/thumbs/{name}/{window}/{frame}.jpg", include_in_schema=False)
    def thumb(request: Request, name: str, window: int, frame: int) -> Response:
        with state.lock:
            state.record(name)
        try:
            cached = state.thumbs.get(name)
        except UnsafeNameError:
            raise HttpError(404, "no such thumbnail") from None
        data = cached.thumb(window, frame) if cached else None
        if data is None:
            raise HttpError(404, f"no thumbnail {window}/{frame} for {name!r} (Phase 1 frames are missing)")
        etag = f'"{cached.version}-{window}-{frame}"' if cached else ""
        headers = {"ETag": etag, "Cache-Control": "public, max-age=86400"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(data, media_type="image/jpeg", headers=headers)

    # ---- status and actions ----

    def status_data() -> tuple[list[dict], list[dict]]:
        with state.lock:
            records = [{**r, "flags": state.db.video_flags(r).as_dict()} for r in state.db.list_videos()]
        return records, tail_events(state)

    def session_of(request: Request) -> tuple[str, bool]:
        session = request.cookies.get(SESSION_COOKIE, "")
        if len(session) == 43 and session.replace("-", "").replace("_", "").isalnum():
            return session, False
        return secrets.token_urlsafe(32), True

    @app.get("/status", response_class=HTMLResponse, include_in_schema=False)
    def status_page(request: Request, message: str = "") -> HTMLResponse:
        session, new = session_of(request)
        token = state.csrf(session) if state.options.allow_actions else None
        records, events = status_data()
        note = ("" if state.options.allow_actions else
                '<p class="dim">read-only: start the server with --allow-actions to reset or release videos here</p>')
        body = (f'<h1>Pipeline status</h1>{note}<div id="status-live" data-src="/status/table" '
                f'data-every="{state.options.refresh_seconds:g}">'
                f'{pages.status_fragment(records, events, state.db.location, token, message)}</div>')
        response = HTMLResponse(pages.layout("Status", body, "status"))
        if new:
            response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict")
        return response

    @app.get("/status/table", response_class=HTMLResponse, include_in_schema=False)
    def status_table(request: Request) -> HTMLResponse:
        session, new = session_of(request)
        token = state.csrf(session) if state.options.allow_actions and not new else None
        records, events = status_data()
        return HTMLResponse(pages.status_fragment(records, events, state.db.location, token),
                            headers={"Cache-Control": "no-store"})

    @app.get("/api/status", summary="Every record with its flags, counts per phase, and the event log's tail")
    def api_status() -> JSONResponse:
        records, events = status_data()
        return JSONResponse({"location": state.db.location, "videos": records, "totals": pages.totals(records),
                             "retired": sorted(r["name"] for r in records if r.get("retired_at")), "events": events})

    @app.get("/api/health", summary="Is the database reachable; how much is in it")
    def api_health() -> JSONResponse:
        with state.lock:
            return JSONResponse({"ok": True, "location": state.db.location, "videos": state.db.count_videos(),
                                 "segments": state.db.count_segments(), "actions": state.options.allow_actions})

    @app.get("/api", response_class=HTMLResponse, include_in_schema=False)
    def api_index() -> HTMLResponse:
        rows = "".join(f"<li><code>{pages.esc(m)} {pages.esc(p)}</code> — {pages.esc(s)}</li>"
                       for p, m, s in _documented(app))
        return HTMLResponse(pages.layout("API", f'<h1>REST API</h1><p>OpenAPI: <a href="/api/openapi.json">/api/openapi.json</a>'
                                                f'</p><ul class="api">{rows}</ul>', "api"))

    async def action(request: Request, kind: str) -> Response:
        if not state.options.allow_actions:
            raise HttpError(403, f"{kind} is turned off: this server is read-only; start it with --allow-actions "
                                 "(web_app.py --allow-actions) to reset or release videos from the web")
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
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
            message = write_action(state, kind, name, phase)
        if is_api(request):
            return JSONResponse({"ok": True, "message": message})
        return RedirectResponse("/status?" + urlencode({"message": message}), status_code=303)

    @app.post("/actions/reset", include_in_schema=False)
    async def reset_action(request: Request) -> Response:
        return await action(request, "reset")

    @app.post("/actions/release", include_in_schema=False)
    async def release_action(request: Request) -> Response:
        return await action(request, "release")

    return app


def write_action(state: WebState, kind: str, name: str, phase: str | None) -> str:
    """Reset or release one video; on the embedded database under the lock, for the moment of the write."""
    from vtdb.lock import DatabaseLock, LockHeld

    lock = None
    if not state.db.is_server:
        lock = DatabaseLock(state.db.chroma_dir, f"web_app.py {kind} {name}")
        try:
            lock.acquire(wait=False)
        except LockHeld as held:
            raise HttpError(409, f"{kind} {name!r} not done: {str(held).split('; exiting')[0]}; try again when it ends") from None
    try:
        if kind == "reset":
            assert phase is not None
            state.db.reset(name, phase)
            return f"{name}: {phase} and later phases reset to pending"
        released = state.db.release(name, phase)
        return f"{name}: released {', '.join(released)}" if released else f"{name}: nothing was held"
    finally:
        if lock is not None:
            lock.release()


def tail_events(state: WebState, n: int = EVENT_TAIL) -> list[dict]:
    """The last `n` events of the log, read from its end (the log only grows)."""
    import json

    path = state.work_dir / state.config.settings.event_log
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            lines = fh.read().splitlines()[-n:]
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a torn line (a crash mid-write, or the cut at the start of the tail)
        if isinstance(event, dict):
            out.append(event)
    return out


def _documented(app: Any) -> list[tuple[str, str, str]]:
    out = []
    for route in app.routes:
        if getattr(route, "include_in_schema", False) and str(getattr(route, "path", "")).startswith("/api/"):
            out.append((route.path, ",".join(sorted(route.methods - {"HEAD"})), route.summary or ""))
    return out
