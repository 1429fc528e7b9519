"""Whole-video search: the query against the Phase 4 summaries in `video_files`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vtdb.records import Video
from vtdb.search.searcher import Searcher, searcher_for
from vtdb.store.segments import as_meta


@dataclass
class VideoHit:
    """One summarized video that matches; `metadata` is its video_files record, `video` the same read typed."""

    name: str
    score: float
    metadata: dict
    video: Video = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.video = Video.from_meta(self.metadata)

    @property
    def title(self) -> str:
        return self.video.title or self.name

    @property
    def summary(self) -> str:
        return self.video.summary

    @property
    def keywords(self) -> list[str]:
        return list(self.video.keywords)

    @property
    def content_type(self) -> str:
        return self.video.content_type

    @property
    def duration(self) -> float:
        """The video's length in seconds (0 when unknown)."""
        return max(0.0, self.video.video_duration)

    def to_dict(self) -> dict:
        """The JSON form (--videos --json): the stored values as they are, not as read."""
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
