"""Overlapping analysis windows, frame times inside them, and words assigned by timestamp."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence


@dataclass(frozen=True)
class WindowSpan:
    index: int
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def plan_windows(duration: float, length: float = 50.0, overlap: float = 15.0, min_tail: float = 5.0) -> list[WindowSpan]:
    """Windows of `length` s every `length - overlap` s; the last one ends exactly at `duration`.

    A tail shorter than `min_tail` beyond the last full window stretches that window instead
    of making a sliver window of its own.
    """
    if duration <= 0:
        return []
    stride = length - overlap
    if stride <= 0:
        raise ValueError("overlap must be smaller than the window length")
    spans: list[tuple[float, float]] = []
    start = 0.0
    while True:
        end = start + length
        if end >= duration:
            spans.append((start, duration))
            break
        if duration - end < min_tail:
            spans.append((start, duration))  # stretch to swallow the short tail
            break
        spans.append((start, end))
        start = round(start + stride, 6)
    return [WindowSpan(i, round(s, 6), round(e, 6)) for i, (s, e) in enumerate(spans)]


def frame_times(span: WindowSpan, count: int) -> list[float]:
    """`count` times spaced evenly inside the window (centres of equal slices: never on a cut edge)."""
    step = span.duration / count
    return [round(span.start + (i + 0.5) * step, 3) for i in range(count)]


def words_in_window(span: WindowSpan, words: Sequence[Mapping], last: bool) -> list[Mapping]:
    """Words whose middle lies in [start, end) (the last window also takes words whose middle is at or past its
    end). The middle, not the start: Whisper starts a phrase's first word a little early (0.1 s before the
    speech in the recording), which put a lone "Add" into the silent window before its phrase."""
    def middle(w: Mapping) -> float:
        return (float(w["start"]) + float(w.get("end", w["start"]))) / 2

    return [w for w in words if span.start <= middle(w) < span.end or (last and middle(w) >= span.end)]


def join_words(words: Sequence[Mapping]) -> str:
    # Whisper words carry their own leading spaces (and none for languages without spaces).
    return "".join(w["word"] for w in words).strip()
