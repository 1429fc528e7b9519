"""More like this: the moments nearest to a stored segment, by its own stored vector (no model load).

Two lists, as the web app and `vtdb search --similar` show them: the nearest moments in other
videos, and in the same video (the segment itself and the windows that overlap it are left out:
they share its speech, so they are always "similar" and say nothing new). Retired videos are left
out unless asked for; the segment asked about is answered even when its own video is retired.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from vtdb.commandline import command
from vtdb.errors import VtdbError
from vtdb.records import segment_span
from vtdb.search.moments import Moment, merge_moments, video_of
from vtdb.search.searcher import searcher_for
from vtdb.store import Store
from vtdb.store.segments import Hit, as_meta, result_count

__all__ = ["Similar", "UnknownSegmentError", "search_moments", "similar_moments"]


class UnknownSegmentError(VtdbError, KeyError):
    """No segment with that id in video_segments."""

    def __str__(self) -> str:
        return (f"no segment with id {self.args[0]!r}; segment ids look like VIDEO_seg_N "
                f"(`{command('search', '--query', '...', '--json')}` shows them under segment_ids)")


@dataclass
class Similar:
    """The segment asked about (as a one-window moment) and its nearest moments."""

    segment_id: str
    source: Moment
    other_videos: list[Moment]
    same_video: list[Moment]

    def to_dict(self) -> dict:
        return {"segment_id": self.segment_id, "source": self.source.to_dict(),
                "other_videos": [m.to_dict() for m in self.other_videos],
                "same_video": [m.to_dict() for m in self.same_video]}


def _not_in(field_name: str, values: list[str]) -> dict:
    return {field_name: {"$ne": values[0]}} if len(values) == 1 else {field_name: {"$nin": values}}


def _hits(got: Mapping[str, Any]) -> list[Hit]:
    return [Hit(str(i), 1.0 - float(d), as_meta(m), str(doc or ""), ["similar"])
            for i, d, doc, m in zip(got["ids"][0], got["distances"][0], got["documents"][0], got["metadatas"][0])]


def similar_moments(db: Store, segment_id: str, n: int = 5, include_retired: bool = False) -> Similar:
    """The `n` nearest moments in other videos and the `n` nearest in the segment's own video.

    UnknownSegmentError when the id is not stored. Scores are cosine similarities (1 - distance)."""
    if n < 1:
        raise ValueError("n must be >= 1")
    got = db.get_segments([segment_id], include=["embeddings", "metadatas", "documents"])
    if not got["ids"]:
        raise UnknownSegmentError(segment_id)
    embeddings = got.get("embeddings")
    vector = np.asarray(embeddings[0] if embeddings is not None and len(embeddings) else [], dtype=np.float32)
    if vector.ndim != 1 or not vector.size:
        raise UnknownSegmentError(segment_id)  # a record without a vector cannot be compared
    source_hit = Hit(segment_id, 1.0, as_meta(got["metadatas"][0]), str(got["documents"][0] or ""), ["source"])
    name = video_of(source_hit)
    retired = [] if include_retired else sorted(set(db.retired_names()) - {name})

    # Other videos: one query, their windows merged into moments; ask for more windows than moments,
    # since neighbouring windows of one video merge.
    others = _hits(db.query_segments(vector.tolist(), n * 3, _not_in("video_name", [name, *retired])))
    # The same video: the segment and the windows overlapping it are dropped after the query.
    span = segment_span(source_hit.metadata)

    def overlaps(hit: Hit) -> bool:
        if hit.id == segment_id:
            return True
        other = segment_span(hit.metadata)
        return span is not None and other is not None and other[0] < span[1] and other[1] > span[0]

    same = [h for h in _hits(db.query_segments(vector.tolist(), n * 3 + 4, {"video_name": name}))
            if not overlaps(h)]
    return Similar(segment_id, merge_moments([source_hit])[0], merge_moments(others)[:n], merge_moments(same)[:n])


def search_moments(db: Store, query: str, n: int = 10, filters: Mapping[str, Any] | None = None, mode: str = "hybrid",
                   include_retired: bool = False) -> list[Moment]:
    """A text search of the store `db`: the best `n` moments (1 to MAX_SEARCH_RESULTS, ValueError otherwise),
    retired videos left out unless `include_retired`."""
    return searcher_for(db).search(query, result_count(n), filters, mode, include_retired)
