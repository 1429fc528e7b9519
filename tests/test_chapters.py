"""Chapters made from overlapping windows do not overlap each other (issue 25)."""

from __future__ import annotations

import numpy as np

from vtdb.summarize import SegmentText, make_chapters


def _windows(count: int, length: float = 50.0, stride: float = 35.0) -> list[SegmentText]:
    return [SegmentText(i, i * stride, i * stride + length, f"window {i}", [f"topic{i // 3}"], "other") for i in range(count)]


def test_chapters_from_overlapping_windows_meet_without_overlap():
    segments = _windows(9)
    # Three topics of three windows: similar inside a topic, unlike across.
    basis = np.eye(3, dtype=np.float32)
    vectors = np.stack([basis[i // 3] + 0.01 * i for i in range(9)])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chapters = make_chapters(segments, vectors)
    assert len(chapters) == 3, chapters
    for chapter, following in zip(chapters, chapters[1:]):
        assert chapter["end"] == following["start"], chapters
    assert chapters[0]["start"] == 0.0 and chapters[-1]["end"] == segments[-1].end
    assert all(c["start"] < c["end"] for c in chapters)


def test_a_gap_between_runs_stays_a_gap():
    segments = [s for s in _windows(9) if s.index not in (3, 4)]  # windows with nothing in them were not loaded
    basis = np.eye(3, dtype=np.float32)
    vectors = np.stack([basis[s.index // 3] for s in segments])
    chapters = make_chapters(segments, vectors)
    assert all(a["end"] <= b["start"] for a, b in zip(chapters, chapters[1:])), chapters
