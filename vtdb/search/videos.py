"""Whole-video search: the query against the Phase 4 summaries in `video_files`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vtdb.search.moments import keywords_of
from vtdb.search.searcher import Searcher, searcher_for
from vtdb.store.segments import as_meta
from vtdb.timefmt import seconds


@dataclass
class VideoHit:
    """One summarized video that matches; `metadata` is its video_files record."""

    name: str
    score: float
    metadata: dict

    @property
    def title(self) -> str:
        return str(self.metadata.get("title") or self.name)

    @property
    def summary(self) -> str:
        return str(self.metadata.get("summary") or "")

    @property
    def keywords(self) -> list[str]:
        return keywords_of(self.metadata.get("keywords"))

    @property
    def content_type(self) -> str:
        return str(self.metadata.get("content_type") or "")

    @property
    def duration(self) -> float:
        """The video's length in seconds (0 when unknown)."""
        return max(0.0, seconds(self.metadata.get("video_duration")) or 0.0)

    def to_dict(self) -> dict:
        """The JSON form (--videos --json): the stored values as they are."""
        m = self.metadata
        return {"name": self.name, "score": self.score, "title": m.get("title"), "summary": m.get("summary"),
                "keywords": m.get("keywords"), "content_type": m.get("content_type")}


def search_videos(db, query: str, n: int = 10, searcher: Searcher | None = None, query_vector: Any = None) -> list[VideoHit]:
    """The `n` summarized videos nearest to `query` (QueryError for an empty or stop-word-only query).
    Only videos Phase 4 gave a real vector are searched. `query_vector`: the query's embedding, when the caller
    computed it already."""
    searcher = searcher if searcher is not None else searcher_for(db)
    searcher.check_query(query)
    vector = query_vector if query_vector is not None else searcher.embedder.embed_queries([query])[0]
    return [VideoHit(str(v["name"]), v["score"], as_meta(v["metadata"])) for v in db.search_videos(vector.tolist(), n)]
