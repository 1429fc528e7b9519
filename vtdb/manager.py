"""ChromaDBManager: the video database as a person in a Python shell uses it (docs/OPERATIONS.md, "From a Python shell").

A few methods over the `vtdb.store.Store` (records, statuses, segments: what the phases use) and the search
layer (text search, more like this). It sits above both, so the store needs nothing of search.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, Mapping, Self, Sequence

from vtdb.config import Config, settings_only
from vtdb.records import VideoFlags
from vtdb.search.moments import Moment
from vtdb.search.similar import Similar, search_moments, similar_moments
from vtdb.store import Store
from vtdb.store.segments import Hit


class ChromaDBManager:
    """The video database from a Python shell.

    >>> db = ChromaDBManager()            # reads ./videos_config.json when present (or: its path, a loaded Config)
    >>> record = db.get_video_status("news")         # the stored record, None when there is no such video
    >>> db.video_flags(record)                       # VideoFlags(stale={phase: why}, held=[phases])
    >>> db.list_videos(status_filter={"phase2_status": ["pending", "processing"]})  # a list = any of
    >>> db.search("boiling pasta", n_results=5, filters={"language": "en"})         # moments (vtdb.search.Moment)
    >>> db.similar("news_seg_3")                     # the moments nearest to a stored segment
    >>> db.reset("news", phase=2); db.release("news"); db.hold("news", 1, "why"); db.delete("news")

    Close it when done (`db.close()`, or `with ChromaDBManager() as db:`); a closed manager opens the
    database again on its next use. `db.store` is everything else (the phases' claims, segments, records).
    """

    __slots__ = ("store",)  # the shell's surface is these methods; nothing else is set on it
    store: Store

    def __init__(self, config: Config | str | Path | None = None):
        self.store = Store(config if isinstance(config, Config) else settings_only(config))

    # ---- reading ----

    def list_videos(self, status_filter: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Records matching every key of `status_filter` (e.g. {"phase2_status": "pending"}); a list value means
        "any of"."""
        return self.store.list_videos(status_filter)

    def get_video_status(self, name: str) -> dict[str, Any] | None:
        """The video's record (its stored metadata), or None; `video_flags(record)` says what is stale or held."""
        return self.store.get_video_status(name)

    def video_flags(self, record: Mapping[str, Any]) -> VideoFlags:
        """What the state machine says of a record right now: stale claims (phase -> why) and held phases."""
        return self.store.video_flags(record)

    # ---- search ----

    def search(self, query: str | Sequence[float], n_results: int = 10, where: Mapping[str, Any] | None = None,
               mode: str = "hybrid", filters: Mapping[str, Any] | None = None,
               include_retired: bool = False) -> list[Moment] | list[Hit]:
        """Search the moments.

        With text: hybrid search (vector + BM25 fused by reciprocal rank), overlapping windows merged
        into moments (`vtdb.search.moments.Moment`); `filters` may hold video, content_type, language,
        time_from, time_to, keyword; `mode` is hybrid, vector or keyword. Videos that left the library
        (`retired_at`) are left out unless `include_retired`.
        With a vector: the nearest segments (`vtdb.store.segments.Hit`: id, score, metadata, document),
        `where` as in Chroma. `n_results` is 1 to MAX_SEARCH_RESULTS (ValueError otherwise).
        """
        if isinstance(query, str):
            return search_moments(self.store, query, n_results, filters, mode, include_retired)
        return self.store.nearest_segments(query, n_results, where, include_retired)

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
