"""What every request of the web app shares (WebState: the database and its lock, the caches, the server's
secret) and how a route gets it (`web_state`, a FastAPI dependency)."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from fastapi import Request

from vtdb.config import Config
from vtdb.events import read_events
from vtdb.status_table import phase_counts
from vtdb.store import Store
from vtdb.web.errors import HttpError
from vtdb.web.media import SourceHandles
from vtdb.web.security import HostCheck, csrf_token
from vtdb.web.thumbs import ThumbCache

READ_SPACING = 5  # the status records are read again at most every 5x the last read's time (13 s for 10,000: ~1 min)
EVENT_TAIL = 40  # events on the status page


@dataclass
class WebOptions:
    """How the app behaves (the serve command's options)."""

    allow_actions: bool = False
    refresh_seconds: float = 3.0  # the dashboard's refresh
    cache_dir: Path | None = None  # thumbnails; default {work_dir}/web_cache
    host: str = "127.0.0.1"  # the address it listens on (--host): a name it answers to
    allowed_hosts: tuple[str, ...] = ()  # more names it answers to (--allowed-host)


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


Totals = dict[str, dict[str, int]]


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
        self._totals: Totals = {}  # counts per phase of _records, made once per read
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

    def get(self) -> tuple[list[dict], Totals]:
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
            with self._lock:
                self._failed = True
            logging.getLogger("vtdb.web").warning("the status page's records could not be read: %s", str(exc)[:300])
        finally:
            with self._lock:
                self._running = False

    def _read(self, wanted_after: float) -> tuple[list[dict], Totals]:
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
            totals = phase_counts(records)
            with self._lock:
                self._records, self._totals = records, totals
                self._at, self._took = time.monotonic(), time.monotonic() - t0
                self._failed = False
            return records, totals


@dataclass
class WebState:
    """What every request shares: the database, caches and the server's secret."""

    config: Config
    options: WebOptions
    db: Store = field(init=False)
    lock: SharedLock = field(default_factory=lambda: SharedLock())  # the database: shared, exclusive to reopen it
    embed_lock: threading.Lock = field(default_factory=threading.Lock)  # one query embedding at a time, never under `lock`
    model: Any = None  # the query embedder, once loaded
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def __post_init__(self) -> None:
        self.db = Store(self.config)
        self.work_dir = Path(self.config.work_dir)
        self.thumbs = ThumbCache(self.work_dir, self.options.cache_dir)
        self.handles = SourceHandles()  # what the sources keep open between requests (an archive, items played)
        self.hosts = HostCheck(self.options)
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
        return csrf_token(self.secret, session)

    def record(self, name: str) -> dict:
        """A registered video's record, or 404 (the name is only ever looked up, never used as a path)."""
        found = self.db.get_many([name]) if name else {}
        if name not in found:
            raise HttpError(404, f"no video named {name!r}; the status page lists the videos")
        return {**found[name], "name": name}

    def events(self) -> list[dict]:
        """The event log's tail (the status page's)."""
        return read_events(self.work_dir / self.config.settings.event_log, last=EVENT_TAIL)


def web_state(request: Request) -> WebState:
    """The app's WebState (a FastAPI dependency: `state: WebState = Depends(web_state)`)."""
    state: WebState = request.app.state.web
    return state
