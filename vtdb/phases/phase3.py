"""Phase 3: embed each video's window descriptions and load them into `video_segments`.

One record per analyzed window, id `{name}_seg_{i}`; a video's segments are replaced as a
whole (delete, then add), so a re-run with fewer windows leaves nothing stale behind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vtdb.analyzers.base import EMPTY
from vtdb.analyzers.schema import FIELDS, validate
from vtdb.embedders import Embedder
from vtdb.records import ON_SCREEN_SEPARATOR, phase3_fields, segment_id, segment_metadata
from vtdb.runner import JobContext, JobResult, VideoError
from vtdb.store import Claim
from vtdb.workfiles import WorkFileError, load_phase1_data, load_phase2_analysis, phase2_analysis_path

EMBED_BATCH = 64
MAX_TRANSCRIPT_IN_METADATA = 4000
# A window may end this much after the video's recorded duration (container vs. stream durations,
# rounding) before its times count as wrong.
DURATION_TOLERANCE_S = 2.0


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


def build_segments(name: str, meta: dict, analysis: dict, phase1: dict | None,
                   source: str = "") -> tuple[list[SegmentRecord], list[str]]:
    """Records for every usable window, plus warnings about the windows left out. Windows Phase 2 found empty
    (no speech, no text on screen, no vision model: status EMPTY) are no moments and left out quietly.

    Every window is checked first (finite times, 0 <= start < end <= the video's duration + 2 s,
    unique segment indices): one bad window makes the whole file an error (VideoError), so nothing
    of it is loaded and the video's previous segments stay. `source` names the file in messages.
    """
    windows = {int(w["index"]): w for w in (phase1 or {}).get("windows", [])}
    transcript = (phase1 or {}).get("transcript", {})
    language = transcript.get("language") or analysis.get("transcript_language") or meta.get("language") or ""
    duration = _video_duration(meta, phase1)
    where = source or f"the Phase 2 analysis of {name!r}"
    redo = _redo(name)
    records: list[SegmentRecord] = []
    warnings: list[str] = []
    seen: dict[int, int] = {}
    checked: list[tuple[int, float, float]] = []
    for position, seg in enumerate(analysis["segments"]):
        if not isinstance(seg, dict):
            raise VideoError(f"{where}: window #{position} is not an object; {redo}")
        try:
            index = _index(seg)
            start, end = _number(seg, "start_time"), _number(seg, "end_time")
            _check_times(start, end, duration)
            if index in seen:
                raise ValueError(f"segment_index {index} is used twice (windows #{seen[index]} and #{position})")
        except ValueError as exc:
            label = f"window #{position}" + (f" (segment_index {seg['segment_index']!r})" if "segment_index" in seg else "")
            raise VideoError(f"{where}: {label}: {exc}; {redo}") from None
        seen[index] = position
        checked.append((index, start, end))
    for position, (seg, (index, start, end)) in enumerate(zip(analysis["segments"], checked)):
        if seg.get("status") == EMPTY:
            continue
        if seg.get("status") == "failed":
            warnings.append(f"window {index} was not analyzed ({seg.get('error', 'failed')}); not loaded")
            continue
        raw = {k: seg.get(k) for k in FIELDS}
        if isinstance(raw["description"], str) and not raw["description"].strip():
            # An empty description: the window's speech is the next best document.
            spoken = str(windows.get(index, {}).get("text") or "").strip()
            if not spoken:
                warnings.append(f"window {index}: empty description and no speech; not loaded")
                continue
            raw["description"] = spoken
        try:
            fields = validate(raw)
        except (KeyError, TypeError, ValueError) as exc:  # SchemaError is a ValueError
            raise VideoError(f"{where}: window #{position} (segment_index {index}) has wrong or missing fields ({exc}); {redo}") from None
        window = windows.get(index, {})
        window_text = str(window.get("text") or "")
        text_language = _text_language(seg, analysis, fields, language)
        metadata = segment_metadata(
            fields,
            start=start,
            end=end,
            index=index,
            video_name=name,
            video_path=str(meta.get("video_path") or ""),
            title=str(meta.get("title") or name),
            language=language,
            transcript=window_text[:MAX_TRANSCRIPT_IN_METADATA],
            analyzer=str(seg.get("analyzer") or analysis.get("analyzer") or ""),
            model=str(seg.get("model") or analysis.get("model") or ""),
            prompt_version=str(seg.get("prompt_version") or ""),
            analysis_status=str(seg.get("status") or "ok"),
            text_language=text_language,
            translation_source=str(seg.get("translation_source") or ""),
        )
        on_screen = _text_lines(window.get("on_screen_text"))
        metadata["has_text"] = bool(on_screen)  # the `has_text` search filter
        metadata["on_screen_text"] = ON_SCREEN_SEPARATOR.join(on_screen)[:MAX_TRANSCRIPT_IN_METADATA]
        # The original speech joins the document only when the analysis is in another language.
        original = window_text if language and text_language != language else ""
        records.append(SegmentRecord(segment_id(name, index), segment_document(fields, original, on_screen), metadata))
    return records, warnings


def _text_lines(value: object) -> list[str]:
    """The window's on-screen text lines (Phase 1 OCR), or none."""
    return [str(v).strip() for v in value if str(v).strip()] if isinstance(value, list) else []


def _text_language(seg: dict, analysis: dict, fields: dict, speech_language: str) -> str:
    """The language of the window's description and dialogue_translation. Phase 2 records it; older
    analyses did not: the transcript analyzer copied untranslated speech, the model analyzers wrote
    the output language."""
    if seg.get("text_language"):
        return str(seg["text_language"])
    analyzer = str(seg.get("analyzer") or analysis.get("analyzer") or "")
    if analyzer == "transcript" and speech_language and not fields.get("dialogue_translation"):
        return speech_language
    return str(analysis.get("output_language") or speech_language)


def check_video_name(name: str, analysis: dict, source: str) -> None:
    """A Phase 2 file is the analysis of the video it is named after (not a copy of another's)."""
    found = analysis.get("video_name")
    if found != name:
        what = ("has no video_name (not written by Phase 2?)" if found is None
                else f"is the analysis of video {found!r}, not of {name!r} (copied from another video?)")
        raise VideoError(f"{source} {what}; nothing loaded; {_redo(name)}")


def _redo(name: str) -> str:
    return f"reset phase 2 for this video to redo it: python db_manager.py reset {name} --phase 2"


def _video_duration(meta: dict, phase1: dict | None) -> float:
    """The video's duration in seconds from its record (or its Phase 1 data); 0 when unknown."""
    for value in (meta.get("video_duration"), ((phase1 or {}).get("video") or {}).get("duration")):
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


def _index(seg: dict) -> int:
    value = _number(seg, "segment_index")
    if value < 0 or value != int(value):
        raise ValueError(f"segment_index must be a whole number >= 0, got {seg['segment_index']!r}")
    return int(value)


def _number(seg: dict, key: str) -> float:
    """A finite numeric field of a Phase 2 segment; the error names the field (not just the bad value)."""
    if key not in seg:
        raise ValueError(f"{key} is missing")
    value = seg[key]
    if isinstance(value, bool):
        raise ValueError(f"{key} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{key} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{key} is {value!r}, not a finite number")
    return number


class Phase3Job:
    phase = "db_load"

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    def process(self, claim: Claim, ctx: JobContext) -> JobResult:
        try:
            analysis = load_phase2_analysis(ctx.work_dir, claim.name)
        except WorkFileError as exc:
            raise VideoError(str(exc)) from None
        source = str(phase2_analysis_path(ctx.work_dir, claim.name))
        check_video_name(claim.name, analysis, source)
        try:
            phase1 = load_phase1_data(ctx.work_dir, claim.name)
        except WorkFileError as exc:
            ctx.warn(f"Phase 1 data unavailable ({exc}); segments get no transcript text")
            phase1 = None
        records, warnings = build_segments(claim.name, claim.meta, analysis, phase1, source)
        for w in warnings:
            ctx.warn(w)
        empty = sum(1 for seg in analysis["segments"] if isinstance(seg, dict) and seg.get("status") == EMPTY)
        if not records and empty < len(analysis["segments"]):
            raise VideoError(f"{claim.name}: no usable segments in the Phase 2 analysis (all windows failed or empty)")
        if not records:  # a silent film, a blank tape: nothing to search, and that is the answer
            ctx.db.add_segments(claim.name, [], [], [], [])
            return JobResult(count=0, fields=phase3_fields(self.embedder.name),
                             note=f"nothing to search: none of its {empty} windows has speech or text on screen")
        vectors = []
        for start in range(0, len(records), EMBED_BATCH):
            batch = records[start : start + EMBED_BATCH]
            vectors.extend(self.embedder.embed_passages([r.document for r in batch]).tolist())
            ctx.report(min(start + EMBED_BATCH, len(records)), len(records), "segments embedded")
        ctx.db.add_segments(claim.name, [r.id for r in records], vectors, [r.document for r in records], [r.metadata for r in records])
        return JobResult(count=len(records), fields=phase3_fields(self.embedder.name),
                         note=f"segments loaded ({self.embedder.name})" + (f", {len(warnings)} windows skipped" if warnings else "")
                         + (f", {empty} with nothing in them left out" if empty else ""))
