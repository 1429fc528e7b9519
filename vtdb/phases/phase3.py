"""Phase 3: embed each video's window descriptions and load them into `video_segments`.

One record per analyzed window, id `{name}_seg_{i}`; a video's segments are replaced as a
whole (delete, then add), so a re-run with fewer windows leaves nothing stale behind. Each video
loaded is then brought up to date in this host's keyword index (vtdb.search.index), so the first
search after a run does not pay for it; a failure there is only warned of: the next search repairs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from vtdb.analyzers.base import EMPTY
from vtdb.analyzers.schema import validate
from vtdb.embedders import Embedder
from vtdb.errors import VideoError
from vtdb.records import ON_SCREEN_SEPARATOR, phase3_fields, segment_id, segment_metadata
from vtdb.runner import JobContext, JobResult
from vtdb.search.index import LexicalIndex, update_video
from vtdb.store import Claim
from vtdb.workfiles import (
    ANALYSIS_FIELDS,
    Phase1Data,
    Phase2Analysis,
    Window,
    WindowAnalysis,
    WorkFileError,
    phase2_analysis_path,
    phase2_redo,
    read_phase1,
    read_phase2,
)

EMBED_BATCH = 64
MAX_TRANSCRIPT_IN_METADATA = 4000
# A window may end this much after the video's recorded duration (container vs. stream durations,
# rounding) before its times count as wrong.
DURATION_TOLERANCE_S = 2.0
# How long Phase 3 waits for another process's keyword-index transaction (a search host's rebuild) before it
# leaves the video to the next search.
INDEX_WAIT_S = 10.0


@dataclass
class SegmentRecord:
    """One segment to load: its id, its document (embedded and searched) and its metadata (see `SegmentMeta`)."""

    id: str
    document: str
    metadata: dict  # the fields of vtdb.records.SegmentMeta


def segment_document(fields: dict, transcript: str = "", on_screen_text: list[str] | None = None) -> str:
    """What is embedded and searched: description + dialogue translation + the original speech when it is
    another text (so a query in either language finds the moment) + text on screen + keywords. Nothing twice."""
    parts: list[str] = []
    for text in (fields.get("description", ""), fields.get("dialogue_translation", ""), transcript):
        text = " ".join(str(text or "").split())
        if text and not any(text in p for p in parts):
            parts.append(text)
    if on_screen_text:
        parts.append("On screen: " + ON_SCREEN_SEPARATOR.join(on_screen_text))
    if fields.get("keywords"):
        parts.append("Keywords: " + ", ".join(fields["keywords"]))
    return "\n".join(parts)


def build_segments(name: str, meta: dict, analysis: Phase2Analysis, phase1: Phase1Data | None,
                   source: str = "") -> tuple[list[SegmentRecord], list[str]]:
    """Records for every usable window, plus warnings about the windows left out. Windows Phase 2 found empty
    (no speech, no text on screen, no vision model: status EMPTY) are no moments and left out quietly.

    Every window is checked first (`_check_windows`): one bad window makes the whole file an error (VideoError),
    so nothing of it is loaded and the video's previous segments stay. `source` names the file in messages.
    """
    windows = {w.index: w for w in phase1.windows} if phase1 is not None else {}
    language = (phase1.transcript.language if phase1 is not None else None) or analysis.transcript_language \
        or meta.get("language") or ""
    where = source or f"the Phase 2 analysis of {name!r}"
    _check_windows(analysis, _video_duration(meta, phase1), where, phase2_redo(name))
    records: list[SegmentRecord] = []
    warnings: list[str] = []
    for position, seg in enumerate(analysis.segments):
        index = seg.segment_index
        if seg.status == EMPTY:
            continue
        if seg.status == "failed":
            warnings.append(f"window {index} was not analyzed ({seg.error or 'failed'}); not loaded")
            continue
        window = windows.get(index)
        raw = {k: (seg.analysis or {}).get(k) for k in ANALYSIS_FIELDS}
        if isinstance(raw["description"], str) and not raw["description"].strip():
            # An empty description: the window's speech is the next best document.
            if window is None or not window.text.strip():
                warnings.append(f"window {index}: empty description and no speech; not loaded")
                continue
            raw["description"] = window.text.strip()
        try:
            fields = validate(raw)
        except (KeyError, TypeError, ValueError) as exc:  # SchemaError is a ValueError
            raise VideoError(f"{where}: window #{position} (segment_index {index}) has wrong or missing fields ({exc}); "
                             f"{phase2_redo(name)}") from None
        records.append(_segment_record(name, meta, analysis, seg, fields, window, language))
    return records, warnings


def _check_windows(analysis: Phase2Analysis, duration: float, where: str, redo: str) -> None:
    """0 <= start < end <= the video's duration + 2 s, unique segment indices (`read_phase2` checked that they
    are numbers); a VideoError names the first window that is wrong."""
    seen: dict[int, int] = {}
    for position, seg in enumerate(analysis.segments):
        try:
            _check_times(seg.start_time, seg.end_time, duration)
            if seg.segment_index in seen:
                raise ValueError(f"segment_index {seg.segment_index} is used twice (windows #{seen[seg.segment_index]} "
                                 f"and #{position})")
        except ValueError as exc:
            raise VideoError(f"{where}: window #{position} (segment_index {seg.segment_index!r}): {exc}; {redo}") from None
        seen[seg.segment_index] = position


def _segment_record(name: str, meta: dict, analysis: Phase2Analysis, seg: WindowAnalysis, fields: dict,
                    window: Window | None, language: str) -> SegmentRecord:
    """The record of one analyzed window: its document and its metadata (with the window's speech and text)."""
    window_text = window.text if window is not None else ""
    text_language = _text_language(seg, analysis, fields, language)
    metadata = segment_metadata(
        fields,
        start=seg.start_time,
        end=seg.end_time,
        index=seg.segment_index,
        video_name=name,
        video_path=str(meta.get("video_path") or ""),
        title=str(meta.get("title") or name),
        language=language,
        transcript=window_text[:MAX_TRANSCRIPT_IN_METADATA],
        analyzer=seg.analyzer or analysis.analyzer,
        model=seg.model or analysis.model,
        prompt_version=seg.prompt_version,
        analysis_status=seg.status,
        text_language=text_language,
        translation_source=seg.translation_source,
    )
    on_screen = [line.strip() for line in window.on_screen_text] if window is not None else []
    metadata["has_text"] = bool(on_screen)  # the `has_text` search filter
    metadata["on_screen_text"] = ON_SCREEN_SEPARATOR.join(on_screen)[:MAX_TRANSCRIPT_IN_METADATA]
    # The original speech joins the document only when the analysis is in another language.
    original = window_text if language and text_language != language else ""
    return SegmentRecord(segment_id(name, seg.segment_index), segment_document(fields, original, on_screen), metadata)


def _text_language(seg: WindowAnalysis, analysis: Phase2Analysis, fields: dict, speech_language: str) -> str:
    """The language of the window's description and dialogue_translation. Phase 2 records it; older
    analyses did not: the transcript analyzer copied untranslated speech, the model analyzers wrote
    the output language."""
    if seg.text_language:
        return seg.text_language
    analyzer = seg.analyzer or analysis.analyzer
    if analyzer == "transcript" and speech_language and not fields.get("dialogue_translation"):
        return speech_language
    return analysis.output_language or speech_language


def check_video_name(name: str, analysis: Phase2Analysis, source: str) -> None:
    """A Phase 2 file is the analysis of the video it is named after (not a copy of another's)."""
    found = analysis.video_name
    if found != name:
        what = ("has no video_name (not written by Phase 2?)" if found is None
                else f"is the analysis of video {found!r}, not of {name!r} (copied from another video?)")
        raise VideoError(f"{source} {what}; nothing loaded; {phase2_redo(name)}")


def _video_duration(meta: dict, phase1: Phase1Data | None) -> float:
    """The video's duration in seconds from its record (or its Phase 1 data); 0 when unknown."""
    for value in (meta.get("video_duration"), phase1.video.duration if phase1 is not None else None):
        try:
            seconds = float(value or 0)
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds) and seconds > 0:
            return seconds
    return 0.0


def _check_times(start: float, end: float, duration: float) -> None:
    for key, value in (("start_time", start), ("end_time", end)):
        if value < 0:
            raise ValueError(f"{key} is {value:g}, a negative time (times are seconds from the start of the video)")
    if start >= end:
        raise ValueError(f"start_time {start:g} is not before end_time {end:g}")
    if duration > 0 and end > duration + DURATION_TOLERANCE_S:
        raise ValueError(f"end_time {end:g} is after the end of the video ({duration:g} s long)")


class Phase3Job:
    phase = "db_load"

    def __init__(self, embedder: Embedder, keyword_index: bool = True):
        self.embedder = embedder
        self.keyword_index = keyword_index  # False: leave the keyword index to the next search
        self._index_failed = False

    def update_keyword_index(self, name: str, ctx: JobContext) -> None:
        """The video's segments, just stored, brought into this host's keyword index. The index is a derived
        cache: a failure is warned of once, and the rest of the run leaves the index to the next search,
        which re-reads whatever it does not hold."""
        if not self.keyword_index or self._index_failed:
            return
        db = ctx.db
        try:
            index = db.companion("phase3.keyword_index",
                                 lambda: LexicalIndex(Path(db.config.search_index_dir), timeout=INDEX_WAIT_S))
            update_video(index, db, name)
        except Exception as exc:  # a derived cache: never the video's failure
            self._index_failed = True
            first = (str(exc).splitlines() or [""])[0]
            ctx.warn(f"the keyword index of this host was not updated ({type(exc).__name__}: {first}); the next search "
                     "brings it up to date (warned once per run)")

    def process(self, claim: Claim, ctx: JobContext) -> JobResult:
        try:
            analysis = read_phase2(ctx.work_dir, claim.name)
        except WorkFileError as exc:
            raise VideoError(str(exc)) from None
        source = str(phase2_analysis_path(ctx.work_dir, claim.name))
        check_video_name(claim.name, analysis, source)
        phase1: Phase1Data | None
        try:
            phase1 = read_phase1(ctx.work_dir, claim.name)
        except WorkFileError as exc:
            ctx.warn(f"Phase 1 data unavailable ({exc}); segments get no transcript text")
            phase1 = None
        records, warnings = build_segments(claim.name, claim.meta, analysis, phase1, source)
        for w in warnings:
            ctx.warn(w)
        empty = sum(1 for seg in analysis.segments if seg.status == EMPTY)
        if not records and empty < len(analysis.segments):
            raise VideoError(f"{claim.name}: no usable segments in the Phase 2 analysis (all windows failed or empty)")
        if not records:  # a silent film, a blank tape: nothing to search, and that is the answer
            ctx.db.add_segments(claim.name, [], [], [], [])
            self.update_keyword_index(claim.name, ctx)
            return JobResult(count=0, fields=phase3_fields(self.embedder.name),
                             note=f"nothing to search: none of its {empty} windows has speech or text on screen")
        vectors = []
        for start in range(0, len(records), EMBED_BATCH):
            batch = records[start : start + EMBED_BATCH]
            vectors.extend(self.embedder.embed_passages([r.document for r in batch]).tolist())
            ctx.report(min(start + EMBED_BATCH, len(records)), len(records), "segments embedded")
        ctx.db.add_segments(claim.name, [r.id for r in records], vectors, [r.document for r in records], [r.metadata for r in records])
        self.update_keyword_index(claim.name, ctx)
        return JobResult(count=len(records), fields=phase3_fields(self.embedder.name),
                         note=f"segments loaded ({self.embedder.name})" + (f", {len(warnings)} windows skipped" if warnings else "")
                         + (f", {empty} with nothing in them left out" if empty else ""))
