"""ChromaDBManager: the video database as a person in a Python shell uses it (the README's "From a Python shell").

A few methods over the `vtdb.store.Store` (records, statuses, segments: what the phases use) and the search
layer (text search, more like this). It sits above both, so the store needs nothing of search.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import TracebackType
from typing import Any, Mapping, Self, Sequence

from vtdb.config import Config, Settings, settings_only
from vtdb.records import VideoFlags
from vtdb.search.searcher import searcher_for
from vtdb.search.similar import Similar, similar_moments
from vtdb.store import Store
from vtdb.store.segments import result_count

# Store members that files not yet moved to `Store` still reach through a ChromaDBManager (the phases' and the
# sync's callers, the web app, the search and export commands, the tests). Each goes once its callers use
# `manager.store` or a Store of their own: the list only shrinks, and is gone with the last caller.
_NOT_YET_MOVED = frozenset({
    "add_segments", "add_video_files", "all_names", "bump_segments_revision", "candidates", "check_embedder", "claim",
    "collection_metadata", "companion", "complete", "connect", "count_segments", "count_videos",
    "create_or_update_video_file", "decide", "delete_video", "delete_video_segments", "fail", "get_many",
    "get_records", "get_segments", "give_back", "has_segments", "heartbeat", "is_server", "location",
    "page_segments", "query_segments", "rebuild_for_embedder", "retire", "retired_names", "search_videos",
    "segment_metadatas", "segment_revisions", "segments_revision", "segments_state", "set_video_summary",
    "unretire", "update_segment_paths", "update_video_status",
    "config", "settings", "chroma_dir", "chroma_host", "chroma_port", "on_notice",
    "_client", "_collections", "_files", "_segments_col", "_update",  # the tests' look inside
})


def _config_of(config: Config | str | Path | None, settings: Settings | None, chroma_dir: str | Path | None,
               chroma_host: str | None, chroma_port: int | None) -> Config:
    """The one Config a Store is built from: a loaded one, or the file at `config` (./videos_config.json when
    present if None), or `settings` alone; then the explicit database fields."""
    if isinstance(config, Config):
        cfg = config
    elif config is None and settings is not None:
        cfg = Config(path=None, settings=settings, videos=[])  # explicit settings: no config file read
    else:
        cfg = settings_only(config)
    changes: dict[str, Any] = {}
    if chroma_host:
        changes["chroma_host"] = chroma_host
    if chroma_port:
        changes["chroma_port"] = int(chroma_port)
    if chroma_dir:
        changes["chroma_dir"] = str(Path(chroma_dir).absolute())  # as given, from the current folder
    wanted = settings or cfg.settings
    if changes or wanted is not cfg.settings:
        cfg = dataclasses.replace(cfg, settings=dataclasses.replace(wanted, **changes))
    return cfg


class ChromaDBManager:
    """The video database from a Python shell.

    >>> db = ChromaDBManager()            # reads ./videos_config.json when present (or: a path, a Config, settings=)
    >>> record = db.get_video_status("news")         # the stored record, None when there is no such video
    >>> db.video_flags(record)                       # VideoFlags(stale={phase: why}, held=[phases])
    >>> db.list_videos(status_filter={"phase2_status": ["pending", "processing"]})  # a list = any of
    >>> db.search("boiling pasta", n_results=5, filters={"language": "en"})         # moments (vtdb.search.Moment)
    >>> db.similar("news_seg_3")                     # the moments nearest to a stored segment
    >>> db.reset("news", phase=2); db.release("news"); db.hold("news", 1, "why"); db.delete("news")

    Close it when done (`db.close()`, or `with ChromaDBManager() as db:`); a closed manager opens the
    database again on its next use. `db.store` is everything else (the phases' claims, segments, records).
    """

    store: Store

    def __init__(self, config: Config | str | Path | None = None, *, settings: Settings | None = None,
                 chroma_dir: str | Path | None = None, chroma_host: str | None = None, chroma_port: int | None = None):
        object.__setattr__(self, "store", Store(_config_of(config, settings, chroma_dir, chroma_host, chroma_port)))

    # ---- reading ----

    def list_videos(self, status_filter: Mapping[str, Any] | None = None) -> list[dict]:
        """Records matching every key of `status_filter` (e.g. {"phase2_status": "pending"}); a list value means
        "any of"."""
        return self.store.list_videos(status_filter)

    def get_video_status(self, name: str) -> dict | None:
        """The video's record (its stored metadata), or None; `video_flags(record)` says what is stale or held."""
        return self.store.get_video_status(name)

    def video_flags(self, record: Mapping[str, Any]) -> VideoFlags:
        """What the state machine says of a record right now: stale claims (phase -> why) and held phases."""
        return self.store.video_flags(record)

    # ---- search ----

    def search(self, query: str | Sequence[float], n_results: int = 10, where: Mapping[str, Any] | None = None,
               mode: str = "hybrid", filters: Mapping[str, Any] | None = None, include_retired: bool = False) -> list:
        """Search the moments.

        With text: hybrid search (vector + BM25 fused by reciprocal rank), overlapping windows merged
        into moments (`vtdb.search.moments.Moment`); `filters` may hold video, content_type, language,
        time_from, time_to, keyword; `mode` is hybrid, vector or keyword. Videos that left the library
        (`retired_at`) are left out unless `include_retired`.
        With a vector: the nearest segments (`vtdb.store.segments.Hit`: id, score, metadata, document),
        `where` as in Chroma. `n_results` is 1 to MAX_SEARCH_RESULTS (ValueError otherwise).
        """
        count = result_count(n_results)
        if isinstance(query, str):
            return searcher_for(self.store).search(query, count, filters, mode, include_retired)
        return self.store.nearest_segments(query, count, where, include_retired)

    def similar(self, segment_id: str, n: int = 5, include_retired: bool = False) -> Similar:
        """The `n` moments nearest to a stored segment in other videos and in its own (by its stored vector)."""
        return similar_moments(self.store, segment_id, n, include_retired)

    # ---- changing a video's statuses ----

    def reset(self, name: str, phase: str | int = "phase1") -> None:
        """Reset a phase (1, 2, 3 = load, 4, or its key) and every later one to pending (clears attempts and holds)."""
        self.store.reset(name, phase)

    def release(self, name: str, phase: str | int | None = None) -> list[str]:
        """Release held phases (all of them, or one) so that the next run retries them; returns those released."""
        return self.store.release(name, phase)

    def hold(self, name: str, phase: str | int, reason: str) -> None:
        """Hold a phase by hand (skipped until released or forced); `reason` is shown as its last error."""
        self.store.hold(name, phase, reason)

    def delete(self, name: str) -> None:
        """Forget the video: its record and its segments."""
        self.store.delete_video(name)

    # ---- lifetime ----

    def close(self) -> None:
        """Release the database (a manager used afterwards opens it again)."""
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ---- the names of _NOT_YET_MOVED, until their callers use the store ----

    def __getattr__(self, name: str) -> Any:
        if name in _NOT_YET_MOVED:
            return getattr(self.store, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r} (the phases' operations "
                             "are on its .store)")

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _NOT_YET_MOVED:
            raise AttributeError(f"{type(self).__name__!r} object has no settable attribute {name!r}")
        setattr(self.store, name, value)
