"""Merging matching windows into moments, and cutting snippets around matched words.

Segment metadata is read through `vtdb.records` (`Segment.from_meta`, `segment_span`, ...), which never fails
on a record; a face that reads segments imports those readers from there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from vtdb.records import ON_SCREEN_SEPARATOR, Segment, on_screen_lines, segment_span, sort_start
from vtdb.store.segments import Hit
from vtdb.text import search_tokens, stem
from vtdb.timefmt import seconds

__all__ = ["Moment", "Snippet", "merge_moments", "snippet_parts", "video_of"]



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
    on_screen_text: str  # the lines read on screen (Phase 1 OCR), each once, joined by ON_SCREEN_SEPARATOR; "" if none
    keywords: list[str]
    content_type: str
    language: str
    video_path: str
    segment_ids: list[str]
    modes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Snippet:
    """A text cut around its first matched word: `parts` in order, `matches[i]` tells whether parts[i] is a
    matched word; the text between two matches is one part. Every face renders it in its own markup (web:
    <mark>, terminal: rich), escaping each part: whole, so that no markup can form across parts."""

    parts: tuple[str, ...]
    matches: tuple[bool, ...]
    cut_before: bool  # text was left out before the first part ("…")
    cut_after: bool  # and after the last


def snippet_parts(text: str, query: str, width: int = 260) -> Snippet:
    """The `width` characters of `text` around its first word matching the query (the way search matches
    words: vtdb.text.search_tokens and stem), split into words and the runs between them."""
    stems = set(search_tokens(query)) if query else set()
    tokens = re.split(r"(\W+)", text)
    first = next((i for i, t in enumerate(tokens) if t and stem(t.lower()) in stems), 0)
    start = max(0, len("".join(tokens[:first])) - width // 3)
    parts: list[str] = []
    matches: list[bool] = []
    for piece in re.split(r"(\W+)", text[start : start + width]):
        if not piece:
            continue
        hit = stem(piece.lower()) in stems
        if parts and not hit and not matches[-1]:
            parts[-1] += piece  # one run of unmatched text (rich's escape must see "[bold]" whole)
        else:
            parts.append(piece)
            matches.append(hit)
    return Snippet(tuple(parts), tuple(matches), start > 0, start + width < len(text))


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
        left = sorted(group, key=lambda h: (-_score(h), h.id))
        while left:
            seed = left.pop(0)
            span = segment_span(seed.metadata)
            members = [seed]
            if span is not None:
                s0, e0 = span
                members += [h for h in left if (sp := segment_span(h.metadata)) is not None and sp[0] < e0 and sp[1] > s0]
            left = [h for h in left if h not in members]
            moments.append(_moment(video, members))
    moments.sort(key=lambda m: (-m.score, m.video_name, m.start_time if m.start_time is not None else -1.0))
    return moments


def _score(hit: Hit) -> float:
    score = seconds(hit.score)  # a finite float, whatever came back
    return score if score is not None else 0.0


def _moment(video: str, hits: list[Hit]) -> Moment:
    best = max(hits, key=_score)
    seg = Segment.from_meta(best.metadata)
    spans = [sp for h in hits if (sp := segment_span(h.metadata)) is not None]
    in_time_order = sorted(hits, key=lambda h: sort_start(h.metadata))
    # Overlapping windows share frames, so they often read the same lines: each line once, in time order.
    on_screen = on_screen_lines([line for h in in_time_order for line in Segment.from_meta(h.metadata).on_screen_text])
    return Moment(
        video_name=video,
        title=seg.title or video,
        start_time=min(sp[0] for sp in spans) if spans else None,
        end_time=max(sp[1] for sp in spans) if spans else None,
        score=round(_score(best), 6),
        description=seg.description,
        transcript=seg.transcript,
        on_screen_text=ON_SCREEN_SEPARATOR.join(on_screen),
        keywords=list(seg.keywords),
        content_type=seg.content_type,
        language=seg.language,
        video_path=seg.video_path,
        segment_ids=[h.id for h in in_time_order],
        modes=sorted({m for h in hits for m in h.modes}),
    )
