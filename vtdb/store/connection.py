"""The connection: the Chroma client (embedded PersistentClient or a `chroma run` server), the retry layer
that rides out a short server outage, and the two collections.

Embeddings are always passed explicitly: Chroma's default embedding function needs the network, and
writing a status must never load a model.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from types import TracebackType
from typing import Any, Callable, Self

from vtdb.config import Config, RecoveryOptions, Settings
from vtdb.embedders import embedder_dimension
from vtdb.errors import RunAborted

VIDEO_FILES = "video_files"
VIDEO_SEGMENTS = "video_segments"
REBUILD_FILES = "video_files__rebuild"  # video_files being moved to a new dimension by --reembed
MAX_BATCH = 4000  # below Chroma's max batch (5461 here)
# Chroma's HNSW explores ef_search candidates per query (default 100), and finds fewer of the true
# nearest neighbours as the library grows. Measured with bench/phase3.py (clustered synthetic vectors,
# recall@10 against exact search; docs/BENCHMARKS.md "Search"): at 100,000 segments 100 -> 0.92, 400 -> 0.99; at
# 1,000,000 400 -> 0.89, 800 -> 0.94, 1600 -> 0.95, for 2-4 ms more per query. So ef_search grows with
# the library: HNSW_EF_SEARCH, and HNSW_EF_SEARCH_LARGE from HNSW_LARGE_LIBRARY segments on.
HNSW_EF_SEARCH = 400
HNSW_EF_SEARCH_LARGE = 1600
HNSW_LARGE_LIBRARY = 500_000


class DatabaseUnavailable(RunAborted, RuntimeError):
    """The database cannot be reached or opened (exit code 2 in the CLIs)."""


def _is_connection_error(exc: BaseException, depth: int = 0) -> bool:
    """Is this the server being unreachable (as opposed to a bad request)? Checks wrapped causes too."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        import httpx

        if isinstance(exc, httpx.TransportError):
            return True
    except ImportError:  # pragma: no cover - httpx comes with chromadb
        pass
    cause = exc.__cause__ or exc.__context__
    return depth < 5 and cause is not None and _is_connection_error(cause, depth + 1)


def _is_collection(value: Any) -> bool:
    return all(hasattr(value, attr) for attr in ("query", "upsert", "modify", "count")) and not isinstance(value, _Retrying)


class _Retrying:
    """A Chroma server client or collection whose calls ride out a short outage (see `_with_retry`)."""

    def __init__(self, target: Any, retry: Callable[[Callable[[], Any], str], Any]):
        self._target = target
        self._retry = retry

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._retry(lambda: attr(*args, **kwargs), name)

        return call


def ef_search_for(count: int) -> int:
    """The HNSW ef_search a collection of `count` vectors should search with."""
    return HNSW_EF_SEARCH_LARGE if count >= HNSW_LARGE_LIBRARY else HNSW_EF_SEARCH


def _raise_ef_search(collection: Any) -> None:
    """Raise the collection's ef_search to what its size calls for (ef_search_for), never lower it: ef_search
    is the one HNSW setting Chroma lets change later, and processes that open the collection afterwards
    search with it. A collection made before (Chroma's default 100) is raised the first time it is opened."""
    try:
        hnsw = (collection.configuration_json or {}).get("hnsw") or {}  # raw: .configuration warns (legacy embedding function)
    except Exception:  # a server without configurations (older Chroma): leave it as it is
        return
    current = hnsw.get("ef_search")
    if not isinstance(current, int) or current >= HNSW_EF_SEARCH_LARGE:
        return
    try:
        wanted = ef_search_for(collection.count())  # one count per process that opens the collection
        if current < wanted:
            collection.modify(configuration={"hnsw": {"ef_search": wanted}})
    except Exception:  # a server that refuses the change: search as it is rather than not at all
        return


class _Connection:
    """The client and the collections; the base every other part of the Store builds on.

    The client is opened on first use. `close()` releases it (also at the end of a `with` block); a
    store used after `close()` opens the database again, as a new one would.
    """

    def __init__(self, config: Config):
        # One way in: a loaded Config (chroma_dir resolves against its file's folder; the Searcher finds its
        # index folder there too). Reading a config file is the caller's job (the CLIs, ChromaDBManager).
        self.config = config
        self.settings = config.settings
        self.chroma_host = self.settings.chroma_host
        self.chroma_port = int(self.settings.chroma_port)
        self.chroma_dir = config.chroma_dir
        self._client: Any = None
        self._collections: dict[str, Any] = {}
        self._host = socket.gethostname()
        self._recovery_cache: tuple[Settings, RecoveryOptions] | None = None
        self._companions: dict[str, Any] = {}  # see companion()
        # Where the store's own notices go (a server outage and its end); the CLIs print them their way.
        self.on_notice: Callable[[str], None] | None = None
        self._outage = False
        self._outage_lock = threading.Lock()

    # ---- lifetime ----

    def companion(self, key: str, build: Callable[[], Any]) -> Any:
        """The object kept under `key` for as long as this connection is open: built by `build()` on first use,
        closed (when it has `close`) by `close()`. The layers above keep their per-connection state here (the
        search layer its one Searcher), so the store needs to know nothing of them."""
        if key not in self._companions:
            self._companions[key] = build()
        return self._companions[key]

    def close(self) -> None:
        """Release the client: its share of the embedded database (SQLite, HNSW files) or the server's HTTP session.

        Uses chromadb's `Client.close()`, which stops the embedded system once the last client of that
        path in this process has closed (other stores on the same path keep working). Closing twice,
        or closing a store that never connected, does nothing. A store used after `close()` opens
        the database again on its next call, like a new one; cached collection objects are dropped.
        """
        companions, self._companions = self._companions, {}
        for companion in companions.values():
            if callable(getattr(companion, "close", None)):
                companion.close()  # the searcher's: releases the keyword index's files
        client, self._client = self._client, None
        self._collections.clear()
        if client is None:
            return
        target = client._target if isinstance(client, _Retrying) else client
        close = getattr(target, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001 - releasing must not fail a run that is ending anyway
                pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ---- connection ----

    @property
    def is_server(self) -> bool:
        """True when the store is a Chroma server (chroma_host set), False for the embedded database."""
        return bool(self.chroma_host)

    @property
    def _recovery(self) -> RecoveryOptions:
        """The state machine's options, built once per settings object (every decision on every record uses them)."""
        if self._recovery_cache is None or self._recovery_cache[0] is not self.settings:
            self._recovery_cache = (self.settings, self.settings.recovery)
        return self._recovery_cache[1]

    @property
    def location(self) -> str:
        """Where the store is, for messages: the server's URL or the embedded database's folder."""
        return f"chroma server http://{self.chroma_host}:{self.chroma_port}" if self.is_server else f"embedded database {self.chroma_dir}"

    @property
    def _chroma(self) -> Any:
        """The Chroma client, opened on first use (a server client's calls retry through an outage)."""
        if self._client is None:
            client = self._connect()
            self._client = _Retrying(client, self._with_retry) if self.is_server else client
        return self._client

    def _notice(self, message: str) -> None:
        if self.on_notice is not None:
            self.on_notice(message)
        else:
            print(message, file=sys.stderr, flush=True)

    def _with_retry(self, call: Callable[[], Any], what: str) -> Any:
        """Run one call on the Chroma server, riding out an outage of up to chroma_retry_timeout seconds.

        One line says that it waits and one that the server is back; past the timeout DatabaseUnavailable
        stops the run (exit code 2), and whatever was in progress is picked up by the next run.
        """
        timeout = self.settings.chroma_retry_timeout
        deadline: float | None = None
        delay = 0.25
        while True:
            try:
                result = call()
            except Exception as exc:  # noqa: BLE001 - only connection failures are retried, the rest re-raised
                if not _is_connection_error(exc):
                    raise
                now = time.monotonic()
                deadline = deadline if deadline is not None else now + timeout
                if now >= deadline:
                    raise DatabaseUnavailable(
                        f"lost the connection to {self.location} for more than {timeout:.0f} s ({what}: {exc}). "
                        "Is `chroma run` still running? Nothing was lost: the next run picks up where this one stopped."
                    ) from exc
                with self._outage_lock:
                    if not self._outage:
                        self._outage = True
                        self._notice(f"the Chroma server at {self.chroma_host}:{self.chroma_port} is unreachable; "
                                     f"retrying for up to {timeout:.0f} s (chroma_retry_timeout) …")
                time.sleep(min(delay, max(0.0, deadline - now)))
                delay = min(delay * 2, 5.0)
                continue
            if deadline is not None or self._outage:
                with self._outage_lock:
                    if self._outage:
                        self._outage = False
                        self._notice(f"the Chroma server at {self.chroma_host}:{self.chroma_port} is back; going on")
            return _Retrying(result, self._with_retry) if _is_collection(result) else result

    def _connect(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        try:
            if self.is_server:
                client = chromadb.HttpClient(host=str(self.chroma_host), port=self.chroma_port, settings=chroma_settings)
                client.heartbeat()
                return client
            self.chroma_dir.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self.chroma_dir), settings=chroma_settings)
        except Exception as exc:  # chromadb raises several types for "cannot connect"
            hint = (
                "is `chroma run --host {h} --port {p}` running? Check chroma_host/chroma_port or CHROMA_HOST/CHROMA_PORT."
                if self.is_server
                else "check chroma_dir and its permissions."
            ).format(h=self.chroma_host, p=self.chroma_port)
            raise DatabaseUnavailable(f"cannot open {self.location}: {exc}. {hint}") from exc

    def _open_collection(self, name: str, create: bool = True) -> Any:
        try:
            if not create:
                return self._chroma.get_collection(name, embedding_function=None)
            dim = embedder_dimension(self.settings.embedder)
            collection = self._chroma.get_or_create_collection(
                name,
                metadata={"embedder": self.settings.embedder, "dimension": dim},
                configuration={"hnsw": {"space": "cosine", "ef_search": HNSW_EF_SEARCH}},
                embedding_function=None,
            )
            _raise_ef_search(collection)
            return collection
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            if not create:
                return None
            raise DatabaseUnavailable(f"cannot open collection {name!r} in {self.location}: {exc}") from exc

    def _collection(self, name: str) -> Any:
        """The collection `name`, opened (created for the configured embedder if needed) and cached.

        Opening video_files finishes a --reembed that died between dropping the old collection and
        renaming the new one.
        """
        if name not in self._collections:
            if name == VIDEO_FILES and self._open_collection(VIDEO_FILES, create=False) is None:
                # A --reembed that died between dropping the old collection and renaming the new one.
                pending = self._open_collection(REBUILD_FILES, create=False)
                if pending is not None:
                    pending.modify(name=VIDEO_FILES)
            self._collections[name] = self._open_collection(name)
        return self._collections[name]

    @property
    def _files(self) -> Any:
        """The `video_files` collection: one record per video."""
        return self._collection(VIDEO_FILES)

    @property
    def _segments_col(self) -> Any:
        """The `video_segments` collection: one record per analyzed window."""
        return self._collection(VIDEO_SEGMENTS)

    def connect(self) -> None:
        """Open the database and both collections now (otherwise that happens on first use)."""
        self._files, self._segments_col  # noqa: B018 - opening is the point

    def collection_metadata(self, name: str = VIDEO_SEGMENTS) -> dict[str, Any]:
        """What a collection records about itself: the embedder that built it and its vector dimension."""
        return dict(self._collection(name).metadata or {})

    def _collection_dimension(self, name: str = VIDEO_FILES) -> int:
        """The vector dimension the collection was built with."""
        meta = self._collection(name).metadata or {}
        return int(meta.get("dimension") or embedder_dimension(self.settings.embedder))
