"""Reading stored segment records, and merging matching windows into moments.

The one reader of `video_segments` metadata for every face (search, Phase 4, export): a record
may hold anything, and these helpers never fail on it (see segment_span, keywords_of).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from vtdb.timefmt import seconds

__all__ = ["Hit", "Moment", "as_meta", "keywords_of", "merge_moments", "seconds", "segment_span", "sort_start", "video_of"]


@dataclass
class Hit:
    id: str
    score: float
    metadata: dict
    document: str
    modes: list[str] = field(default_factory=list)


@dataclass
class Moment:
    """One result. start_time/end_time are None when the stored window has no usable times (see segment_span)."""

    video_name: str
    title: str
    start_time: float | None
    end_time: float | None
    score: float
    description: str
    transcript: str
    keywords: list[str]
    content_type: str
    language: str
    video_path: str
    segment_ids: list[str]
    modes: list[str]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def as_meta(meta: Any) -> dict:
    """A stored metadata record as a (new) dict; {} for anything that is not a mapping (None, a list ...)."""
    return dict(meta) if isinstance(meta, Mapping) else {}


def segment_span(meta: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """The (start, end) seconds of a stored segment, or None when its times are unusable.

    Search must never fail on a record, whatever is stored: times are coerced to numbers, a
    negative start is read as 0, and a window without a usable range (missing, not a number,
    negative end, end before start) is None. Such a window stays findable by its text; it is
    shown without a time range and left out only when a --from/--to time filter asks for times.
    """
    if not isinstance(meta, Mapping):
        return None
    start, end = seconds(meta.get("start_time")), seconds(meta.get("end_time"))
    if start is None or end is None:
        return None
    start = max(0.0, start)
    return (start, end) if end >= start else None


def sort_start(meta: Mapping[str, Any] | None) -> float:
    """Sort key in time order: the segment's start, windows without usable times last."""
    span = segment_span(meta)
    return span[0] if span else math.inf


def keywords_of(value: Any) -> list[str]:
    """Keywords as a list of strings, whatever is stored (a list, one comma-separated string, nothing)."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        return []
    return [str(k).strip() for k in value if k is not None and str(k).strip()]


def video_of(hit: Hit) -> str:
    """The video a hit belongs to: its video_name, else the part of its id before "_seg_"."""
    name = hit.metadata.get("video_name")
    if isinstance(name, str) and name:
        return name
    return hit.id.rsplit("_seg_", 1)[0] if "_seg_" in hit.id else str(name or hit.id)


def merge_moments(hits: Sequence[Hit]) -> list[Moment]:
    """Overlapping matching windows of one video become one moment.

    Each moment grows from its best window and takes only the windows that overlap that one, so
    a run of neighbouring matches never chains into a moment as long as the whole video. A window
    without usable times (segment_span is None) is a moment of its own, with no time range.
    """
    by_video: dict[str, list[Hit]] = {}
    for hit in hits:
        by_video.setdefault(video_of(hit), []).append(hit)
    moments: list[Moment] = []
    for video, group in by_video.items():
        left = sorted(group, key=lambda h: -_score(h))
        while left:
            seed = left.pop(0)
            span = segment_span(seed.metadata)
            members = [seed]
            if span is not None:
                s0, e0 = span
                members += [h for h in left if (sp := segment_span(h.metadata)) is not None and sp[0] < e0 and sp[1] > s0]
            left = [h for h in left if h not in members]
            moments.append(_moment(video, members))
    moments.sort(key=lambda m: -m.score)
    return moments


def _score(hit: Hit) -> float:
    score = seconds(hit.score)  # a finite float, whatever came back
    return score if score is not None else 0.0


def _moment(video: str, hits: list[Hit]) -> Moment:
    best = max(hits, key=_score)
    meta = best.metadata
    spans = [sp for h in hits if (sp := segment_span(h.metadata)) is not None]
    return Moment(
        video_name=video,
        title=str(meta.get("title") or video),
        start_time=min(sp[0] for sp in spans) if spans else None,
        end_time=max(sp[1] for sp in spans) if spans else None,
        score=round(_score(best), 6),
        description=str(meta.get("description") or ""),
        transcript=str(meta.get("transcript") or ""),
        keywords=keywords_of(meta.get("keywords")),
        content_type=str(meta.get("content_type") or ""),
        language=str(meta.get("language") or ""),
        video_path=str(meta.get("video_path") or ""),
        segment_ids=[h.id for h in sorted(hits, key=lambda h: sort_start(h.metadata))],
        modes=sorted({m for h in hits for m in h.modes}),
    )
