"""The per-video work files in work_dir: their names, their typed contents, and safe loading.

Phase 1 writes `{name}_phase1_data.pkl` (a pickle of plain data: `Phase1Data.to_plain()`), Phase 2 writes
`{name}_phase2_vllm_analysis.json` (`Phase2Analysis.to_plain()`). Readers get the typed objects (`read_phase1`,
`read_phase2`); the keys on disk are spelled only here, in the `to_plain()`/`from_plain()` pairs. `from_plain`
takes every file the earlier versions wrote: keys they did not have get their defaults.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from vtdb.commandline import command
from vtdb.errors import VtdbError
from vtdb.naming import check_name, path_inside
from vtdb.safe_pickle import UnsafePickleError, load_plain

PHASE1_FORMAT = "vtdb.phase1"
# 2: windows carry "translation" and "translation_source", the transcript a "translation" (or None).
PHASE1_VERSION = 2
READABLE_PHASE1_VERSIONS = (1, 2)  # a version-1 file reads as one with no translation
PHASE2_FORMAT = "vtdb.phase2"
PHASE2_VERSION = 1

PHASE1_SUFFIX = "_phase1_data.pkl"
PHASE2_SUFFIX = "_phase2_vllm_analysis.json"

# What an analyzer says about one window (the answer schema's fields, vtdb.analyzers.schema), stored flat in
# each Phase 2 segment beside its bookkeeping.
ANALYSIS_FIELDS = ("description", "dialogue_translation", "keywords", "content_type", "mood_atmosphere", "confidence",
                   "scene_change")


class WorkFileError(VtdbError, RuntimeError):
    pass


def phase1_data_path(work_dir: Path, name: str) -> Path:
    return path_inside(Path(work_dir), Path(work_dir) / f"{check_name(name)}{PHASE1_SUFFIX}")


def phase2_analysis_path(work_dir: Path, name: str) -> Path:
    return path_inside(Path(work_dir), Path(work_dir) / f"{check_name(name)}{PHASE2_SUFFIX}")


def report_path(work_dir: Path, name: str) -> Path:
    """Phase 4's Markdown report of a video."""
    return path_inside(Path(work_dir), Path(work_dir) / "reports" / f"{check_name(name)}.md")


def subtitles_dir(work_dir: Path) -> Path:
    """Where Phase 4 writes the subtitle files (vtdb.formats.subtitles names them)."""
    return Path(work_dir) / "subtitles"


def work_files_of(work_dir: Path, name: str) -> list[Path]:
    """A video's work files that exist: the Phase 1 pickle, the Phase 2 analysis, the Phase 4 report and subtitle
    files (NAME.LANG.vtt|srt, vtdb.formats.subtitles' naming; a video "a.en" never matches "a")."""
    work_dir = Path(work_dir)
    safe = check_name(name)
    folder = subtitles_dir(work_dir)
    subtitle = re.compile(re.escape(safe) + r"\.[a-z]{2,3}\.(vtt|srt)")
    subtitles = sorted(p for p in folder.iterdir() if subtitle.fullmatch(p.name)) if folder.is_dir() else []
    candidates = [phase1_data_path(work_dir, safe), phase2_analysis_path(work_dir, safe), report_path(work_dir, safe),
                  *subtitles]
    return [path_inside(work_dir, p) for p in candidates if p.exists()]


# ---------------------------------------------------------------- Phase 1


def _float(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _texts(value: Any) -> list[str]:
    """Lines of text, blank ones left out (on-screen text)."""
    return [str(v) for v in value if str(v).strip()] if isinstance(value, list) else []


@dataclass
class SpokenWord:
    start: float
    end: float
    word: str  # with its leading space (none for languages without spaces)
    probability: float = 1.0

    def to_plain(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "word": self.word, "probability": self.probability}

    @classmethod
    def from_plain(cls, d: Mapping[str, Any]) -> SpokenWord:
        return cls(float(d["start"]), float(d.get("end", d["start"])), str(d.get("word", "")),
                   _float(d.get("probability"), 1.0))


@dataclass
class TimedText:
    """A transcript or translation segment; `unsure` says why it is likely invented ("" = real speech)."""

    start: float
    end: float
    text: str
    unsure: str = ""

    def to_plain(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text, "unsure": self.unsure}

    @classmethod
    def from_plain(cls, d: Mapping[str, Any]) -> TimedText:
        return cls(float(d["start"]), float(d["end"]), str(d.get("text") or ""), str(d.get("unsure") or ""))


@dataclass
class TranslationPart:
    language: str  # the language translated into
    source: str  # "subtitles" | "audio-track" | "whisper-translate"
    model: str
    segments: list[TimedText] = field(default_factory=list)

    def to_plain(self) -> dict[str, Any]:
        return {"language": self.language, "source": self.source, "model": self.model,
                "segments": [s.to_plain() for s in self.segments]}

    @classmethod
    def from_plain(cls, d: Mapping[str, Any]) -> TranslationPart:
        return cls(str(d.get("language") or ""), str(d.get("source") or ""), str(d.get("model") or ""),
                   [TimedText.from_plain(s) for s in d.get("segments") or []])


@dataclass
class TranscriptPart:
    """The whole video's speech (vtdb.media.transcribe.Transcript as stored) and its translation."""

    language: str | None = None
    language_probability: float = 0.0
    language_source: str = "none"
    low_confidence: bool = False
    model: str = ""
    segments: list[TimedText] = field(default_factory=list)
    words: list[SpokenWord] = field(default_factory=list)
    source: str = "whisper"  # "whisper" | "subtitles" | "none"
    text: str = ""  # the speech, segments flagged unsure left out
    translation: TranslationPart | None = None

    def to_plain(self) -> dict[str, Any]:
        return {"language": self.language, "language_probability": self.language_probability,
                "language_source": self.language_source, "low_confidence": self.low_confidence, "model": self.model,
                "segments": [s.to_plain() for s in self.segments], "words": [w.to_plain() for w in self.words],
                "source": self.source, "text": self.text,
                "translation": self.translation.to_plain() if self.translation is not None else None}

    @classmethod
    def from_plain(cls, d: Mapping[str, Any]) -> TranscriptPart:
        translation, language = d.get("translation"), d.get("language")
        return cls(language if isinstance(language, str) else None, _float(d.get("language_probability")), str(d.get("language_source") or "none"),
                   bool(d.get("low_confidence")), str(d.get("model") or ""),
                   [TimedText.from_plain(s) for s in d.get("segments") or []],
                   [SpokenWord.from_plain(w) for w in d.get("words") or []], str(d.get("source") or "whisper"),
                   str(d.get("text") or ""),
                   TranslationPart.from_plain(translation) if isinstance(translation, Mapping) else None)


@dataclass
class Picture:
    """A JPEG: a sampled frame (with its time) or an audio file's cover picture."""

    jpeg: bytes
    width: int
    height: int
    time: float = 0.0

    def to_plain(self) -> dict[str, Any]:
        return {"time": self.time, "jpeg": self.jpeg, "width": self.width, "height": self.height}

    def cover_to_plain(self) -> dict[str, Any]:
        return {"jpeg": self.jpeg, "width": self.width, "height": self.height}

    @classmethod
    def from_plain(cls, d: Any) -> Picture | None:
        """The picture, or None for an entry without JPEG bytes (a reader shows a gap, never fails)."""
        if not isinstance(d, Mapping) or not isinstance(d.get("jpeg"), bytes):
            return None
        return cls(d["jpeg"], int(_float(d.get("width"))), int(_float(d.get("height"))), _float(d.get("time")))


@dataclass
class UnsureSpan:
    """Text Whisper likely invented in a window (kept to be seen, never indexed)."""

    start: float
    end: float
    text: str
    reason: str
    kind: str  # "speech" | "translation"

    def to_plain(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text, "reason": self.reason, "kind": self.kind}

    @classmethod
    def from_plain(cls, d: Mapping[str, Any]) -> UnsureSpan:
        return cls(float(d["start"]), float(d["end"]), str(d.get("text") or ""), str(d.get("reason") or ""),
                   str(d.get("kind") or "speech"))


@dataclass
class Window:
    """One analysis window of Phase 1: its speech, translation, on-screen text and frames."""

    index: int
    start_time: float
    end_time: float
    text: str = ""
    words: list[SpokenWord] = field(default_factory=list)
    translation: str = ""
    translation_source: str = ""
    unsure_speech: list[UnsureSpan] = field(default_factory=list)
    on_screen_text: list[str] = field(default_factory=list)
    scene_change: bool | None = None  # a real cut inside (shot detection); None = not known
    frames: list[Picture] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.end_time - self.start_time

    def to_plain(self) -> dict[str, Any]:
        return {"index": self.index, "start_time": self.start_time, "end_time": self.end_time,
                "duration": round(self.duration, 3), "text": self.text, "words": [w.to_plain() for w in self.words],
                "translation": self.translation, "translation_source": self.translation_source,
                "unsure_speech": [u.to_plain() for u in self.unsure_speech], "on_screen_text": self.on_screen_text,
                "scene_change": self.scene_change, "frames": [f.to_plain() for f in self.frames]}

    @classmethod
    def from_plain(cls, d: Mapping[str, Any]) -> Window:
        frames = [Picture.from_plain(f) for f in d.get("frames") or []]
        cut = d.get("scene_change")
        return cls(int(d["index"]), float(d["start_time"]), float(d["end_time"]), str(d.get("text") or ""),
                   [SpokenWord.from_plain(w) for w in d.get("words") or []], str(d.get("translation") or ""),
                   str(d.get("translation_source") or ""),
                   [UnsureSpan.from_plain(u) for u in d.get("unsure_speech") or []], _texts(d.get("on_screen_text")),
                   cut if isinstance(cut, bool) else None, [f for f in frames if f is not None])


@dataclass
class VideoPart:
    """What Phase 1 found out about the file, and the record fields it was indexed with."""

    name: str = ""
    source: str = ""  # the source's location (a path, a zim:// address)
    source_kind: str = ""
    fingerprint: str = ""
    title: str = ""
    description: str = ""
    duration: float = 0.0
    width: int = 0
    height: int = 0
    fps: float = 0.0
    has_audio: bool = True
    has_video: bool = True  # False: audio only (no frames in any window)
    cover: Picture | None = None  # an audio-only file's attached picture
    audio_tracks: list[dict[str, Any]] = field(default_factory=list)  # vtdb.media.video.AudioTrack as dicts
    audio_track_used: int = 0  # 1-based; 0 = none
    video_codec: str = ""
    audio_codec: str = ""
    youtube_id: str = ""
    publication_date: str = ""
    chapters: list[Any] = field(default_factory=list)

    def to_plain(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "source_kind": self.source_kind,
                "fingerprint": self.fingerprint, "title": self.title, "description": self.description,
                "duration": self.duration, "width": self.width, "height": self.height, "fps": self.fps,
                "has_audio": self.has_audio, "has_video": self.has_video,
                "cover": self.cover.cover_to_plain() if self.cover is not None else None,
                "audio_tracks": self.audio_tracks, "audio_track_used": self.audio_track_used,
                "video_codec": self.video_codec, "audio_codec": self.audio_codec, "youtube_id": self.youtube_id,
                "publication_date": self.publication_date, "chapters": self.chapters}

    @classmethod
    def from_plain(cls, d: Mapping[str, Any]) -> VideoPart:
        tracks, chapters = d.get("audio_tracks"), d.get("chapters")
        return cls(str(d.get("name") or ""), str(d.get("source") or ""), str(d.get("source_kind") or ""),
                   str(d.get("fingerprint") or ""), str(d.get("title") or ""), str(d.get("description") or ""),
                   _float(d.get("duration")), int(_float(d.get("width"))), int(_float(d.get("height"))),
                   _float(d.get("fps")), d.get("has_audio") is not False, d.get("has_video") is not False,
                   Picture.from_plain(d.get("cover")),
                   [dict(t) for t in tracks if isinstance(t, Mapping)] if isinstance(tracks, list) else [],
                   int(_float(d.get("audio_track_used"))), str(d.get("video_codec") or ""),
                   str(d.get("audio_codec") or ""), str(d.get("youtube_id") or ""),
                   str(d.get("publication_date") or ""), list(chapters) if isinstance(chapters, list) else [])


def _shots(value: Any) -> list[tuple[float, float]] | None:
    """Shot boundaries [(start, end), ...]; malformed entries are left out. None: no shot detection ran."""
    if not isinstance(value, list):
        return None
    return [(float(s[0]), float(s[1])) for s in value
            if isinstance(s, (list, tuple)) and len(s) == 2 and all(isinstance(x, (int, float)) for x in s)]


@dataclass
class Phase1Data:
    """The contents of `{name}_phase1_data.pkl`."""

    video: VideoPart
    transcript: TranscriptPart
    windows: list[Window]
    created_at: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # the window and frame settings it was made with
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, OCR counts
    shots: list[tuple[float, float]] | None = None  # None when shot detection was off

    def to_plain(self) -> dict[str, Any]:
        return {"format": PHASE1_FORMAT, "version": PHASE1_VERSION, "created_at": self.created_at,
                "video": self.video.to_plain(), "transcript": self.transcript.to_plain(), "settings": self.settings,
                "timings": self.timings, "shots": [list(s) for s in self.shots] if self.shots is not None else None,
                "windows": [w.to_plain() for w in self.windows]}

    @classmethod
    def from_plain(cls, d: Mapping[str, Any]) -> Phase1Data:
        """The data of a checked file (see `read_phase1`); KeyError, TypeError or ValueError for a malformed one."""
        video, transcript = d.get("video"), d.get("transcript")
        return cls(VideoPart.from_plain(video if isinstance(video, Mapping) else {}),
                   TranscriptPart.from_plain(transcript if isinstance(transcript, Mapping) else {}),
                   [Window.from_plain(w) for w in d["windows"]], str(d.get("created_at") or ""),
                   dict(d.get("settings") or {}), dict(d.get("timings") or {}), _shots(d.get("shots")))


def read_phase1(work_dir: Path, name: str) -> Phase1Data:
    """A video's Phase 1 data, loaded with the plain-data unpickler and checked; WorkFileError says what is wrong."""
    path = phase1_data_path(work_dir, name)
    if not path.exists():
        raise WorkFileError(f"{path}: Phase 1 data not found; re-run {command('phase1')} for {name!r}")
    try:
        data = load_plain(path)
    except UnsafePickleError as exc:
        raise WorkFileError(f"{path}: unsafe pickle refused ({exc})") from None
    except Exception as exc:
        raise WorkFileError(f"{path}: corrupt Phase 1 data ({type(exc).__name__}: {exc}); reset phase 1 for {name!r}") from None
    if not isinstance(data, dict) or data.get("format") != PHASE1_FORMAT:
        raise WorkFileError(f"{path}: not a Phase 1 data file (format marker missing)")
    if data.get("version") not in READABLE_PHASE1_VERSIONS:
        raise WorkFileError(f"{path}: Phase 1 data version {data.get('version')} is not one of "
                            f"{', '.join(map(str, READABLE_PHASE1_VERSIONS))}; reset phase 1 for {name!r}")
    if not isinstance(data.get("windows"), list):
        raise WorkFileError(f"{path}: Phase 1 data has no window list")
    try:
        return Phase1Data.from_plain(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WorkFileError(f"{path}: Phase 1 data is malformed ({type(exc).__name__}: {exc}); "
                            f"reset phase 1: {command('reset', name, '--phase', '1')}") from None


def load_phase1_data(work_dir: Path, name: str) -> dict[str, Any]:
    """The Phase 1 file as plain data in today's layout (keys an older version lacked filled in), for code
    that inspects or re-serializes the file as it is stored."""
    return read_phase1(work_dir, name).to_plain()


# ---------------------------------------------------------------- Phase 2


def _number(seg: Mapping[str, Any], key: str) -> float:
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


def _index(seg: Mapping[str, Any]) -> int:
    value = _number(seg, "segment_index")
    if value < 0 or value != int(value):
        raise ValueError(f"segment_index must be a whole number >= 0, got {seg['segment_index']!r}")
    return int(value)


class AnalysisWindowError(ValueError):
    """A Phase 2 segment that cannot be read; the message names it ("window #3 (segment_index 2): ...")."""


@dataclass
class WindowAnalysis:
    """One window of a Phase 2 file: its analysis (the ANALYSIS_FIELDS, as the analyzer gave them, not yet
    validated; None when it failed) and who made it."""

    segment_index: int
    start_time: float
    end_time: float
    status: str = "ok"  # "ok" | "repaired" | "failed" | "empty"
    analyzer: str = ""
    model: str = ""
    prompt_version: str = ""
    analysis: dict[str, Any] | None = None
    text_language: str = ""  # the language of description and dialogue_translation ("" in older files)
    translation_source: str = ""
    error: str = ""
    notes: list[str] = field(default_factory=list)

    def to_plain(self) -> dict[str, Any]:
        out: dict[str, Any] = {"segment_index": self.segment_index, "start_time": self.start_time,
                               "end_time": self.end_time, "status": self.status, "analyzer": self.analyzer,
                               "model": self.model, "prompt_version": self.prompt_version}
        if self.analysis is not None:
            out.update({k: self.analysis[k] for k in ANALYSIS_FIELDS})
            out["text_language"] = self.text_language
            out["translation_source"] = self.translation_source
        else:
            out["error"] = self.error
        if self.notes:
            out["notes"] = self.notes
        return out

    @classmethod
    def from_plain(cls, seg: Any, position: int) -> WindowAnalysis:
        """The segment at `position`; AnalysisWindowError for one that is no object or has no usable index or times."""
        if not isinstance(seg, Mapping):
            raise AnalysisWindowError(f"window #{position} is not an object")
        try:
            index, start, end = _index(seg), _number(seg, "start_time"), _number(seg, "end_time")
        except ValueError as exc:
            label = f"window #{position}" + (f" (segment_index {seg['segment_index']!r})" if "segment_index" in seg else "")
            raise AnalysisWindowError(f"{label}: {exc}") from None
        present = [k for k in ANALYSIS_FIELDS if k in seg]
        notes = seg.get("notes")
        return cls(index, start, end, str(seg.get("status") or "ok"), str(seg.get("analyzer") or ""),
                   str(seg.get("model") or ""), str(seg.get("prompt_version") or ""),
                   {k: seg.get(k) for k in ANALYSIS_FIELDS} if present else None, str(seg.get("text_language") or ""),
                   str(seg.get("translation_source") or ""), str(seg.get("error") or ""),
                   [str(n) for n in notes] if isinstance(notes, list) else [])


@dataclass
class Phase2Analysis:
    """The contents of `{name}_phase2_vllm_analysis.json`."""

    video_name: str | None  # None: not written by Phase 2
    analyzer: str
    model: str
    output_language: str
    transcript_language: str
    segments: list[WindowAnalysis]
    created_at: str = ""

    @property
    def windows_failed(self) -> int:
        return sum(1 for s in self.segments if s.analysis is None)

    def to_plain(self) -> dict[str, Any]:
        return {"format": PHASE2_FORMAT, "version": PHASE2_VERSION, "video_name": self.video_name,
                "created_at": self.created_at, "analyzer": self.analyzer, "model": self.model,
                "output_language": self.output_language, "transcript_language": self.transcript_language,
                "windows_total": len(self.segments), "windows_failed": self.windows_failed,
                "windows_repaired": sum(1 for s in self.segments if s.status == "repaired"),
                "segments": [s.to_plain() for s in self.segments]}

    @classmethod
    def from_plain(cls, doc: Mapping[str, Any]) -> Phase2Analysis:
        """AnalysisWindowError names the first window that cannot be read."""
        name = doc.get("video_name")
        return cls(str(name) if name is not None else None, str(doc.get("analyzer") or ""), str(doc.get("model") or ""),
                   str(doc.get("output_language") or ""), str(doc.get("transcript_language") or ""),
                   [WindowAnalysis.from_plain(seg, i) for i, seg in enumerate(doc["segments"])],
                   str(doc.get("created_at") or ""))


def phase2_redo(name: str) -> str:
    """What to do about a Phase 2 file that cannot be loaded."""
    return f"reset phase 2 for this video to redo it: {command('reset', name, '--phase', '2')}"


def read_phase2(work_dir: Path, name: str) -> Phase2Analysis:
    """A video's Phase 2 analysis, checked; WorkFileError names the file and the first window it cannot read."""
    path = phase2_analysis_path(work_dir, name)
    try:
        return Phase2Analysis.from_plain(load_phase2_analysis(work_dir, name))
    except AnalysisWindowError as exc:
        raise WorkFileError(f"{path}: {exc}; {phase2_redo(name)}") from None


def load_phase2_analysis(work_dir: Path, name: str) -> dict[str, Any]:
    """A Phase 2 file as stored (a JSON object with a segment list), checked for its format marker."""
    path = phase2_analysis_path(work_dir, name)
    if not path.exists():
        raise WorkFileError(f"{path}: Phase 2 analysis not found; run {command('phase2')} for {name!r}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorkFileError(f"{path}: corrupt Phase 2 analysis ({exc}); reset phase 2 for {name!r}") from None
    if not isinstance(doc, dict) or doc.get("format") != PHASE2_FORMAT or not isinstance(doc.get("segments"), list):
        raise WorkFileError(f"{path}: not a Phase 2 analysis file")
    return doc
