"""The one place that knows the fields of a `video_files` record and of a `video_segments` record.

Reading: `Video.from_meta(record)` and `Segment.from_meta(metadata)` turn what is stored into typed, frozen
objects and never fail on it (a missing key reads as its default, so records written before a field existed
read as they always did; a value of the wrong type reads as the default too). Writing: the helpers below build
the field sets the store and the phase jobs write, so that no one spells the keys ad hoc. The phase status
fields (`phase1_status`, `phase1_claim_id`, ...) belong to the state machine: `vtdb.state` (`phase_defaults`,
`claim_update`, `is_retired`, ...). The stored keys are the record's contract (the CLIs, exports and tests
read them): renaming one here means migrating stored records.
"""

from __future__ import annotations

import json
import math
from dataclasses import Field, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable, Mapping, TypeVar

from vtdb import clock, state
from vtdb.timefmt import seconds

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

ON_SCREEN_SEPARATOR = " | "  # joins the lines read on screen in a segment's on_screen_text and document


# ---- reading stored values: each reader takes whatever is stored (or nothing) and never fails ----


def text_of(value: Any) -> str:
    """A stored text; "" for nothing (None, "", 0, False)."""
    return str(value) if value else ""


def number_of(value: Any) -> float:
    """A stored number as finite float; 0.0 for nothing usable."""
    number = seconds(value)
    return number if number is not None else 0.0


def count_of(value: Any) -> int:
    """A stored whole number; 0 for nothing usable."""
    return int(number_of(value))


def json_list(value: Any) -> list[Any]:
    """A list stored as a JSON string in metadata (chapters, subtitle tracks); [] when absent or bad."""
    try:
        out = json.loads(str(value or "[]"))
    except ValueError:
        return []
    return out if isinstance(out, list) else []


def json_records(value: Any) -> tuple[dict[str, Any], ...]:
    """The objects of a JSON list stored as a string (chapters, subtitle tracks); anything else is left out."""
    return tuple(dict(item) for item in json_list(value) if isinstance(item, dict))


def keywords_of(value: Any) -> list[str]:
    """Keywords as a list of strings, whatever is stored (a list, one comma-separated string, nothing)."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        return []
    return [str(k).strip() for k in value if k is not None and str(k).strip()]


def on_screen_lines(value: Any) -> list[str]:
    """The lines of a stored on_screen_text ("a | b" as Phase 3 stores it, or a list of lines), whitespace
    collapsed, empty ones dropped, each once; [] for nothing usable."""
    parts = value if isinstance(value, (list, tuple)) else str(value or "").split(ON_SCREEN_SEPARATOR)
    return list(dict.fromkeys(line for p in parts if p is not None and (line := " ".join(str(p).split()))))


def time_span(start: float | None, end: float | None) -> tuple[float, float] | None:
    """(start, end) seconds of a window, or None when unusable: a negative start reads as 0; a missing time,
    a negative end or an end before the start is no range."""
    if start is None or end is None:
        return None
    start = max(0.0, start)
    return (start, end) if end >= start else None


def segment_span(meta: Any) -> tuple[float, float] | None:
    """The (start, end) seconds of a stored segment, or None when its times are unusable.

    Search must never fail on a record, whatever is stored: times are coerced to numbers (vtdb.timefmt.seconds)
    and checked by `time_span`. Such a window stays findable by its text; it is shown without a time range and
    left out only when a --from/--to time filter asks for times. Reads the two keys only: the search runs it
    over every hit, the lexical index over every segment.
    """
    if not isinstance(meta, Mapping):
        return None
    return time_span(seconds(meta.get("start_time")), seconds(meta.get("end_time")))


def sort_start(meta: Any) -> float:
    """Sort key in time order: the segment's start, windows without usable times last."""
    span = segment_span(meta)
    return span[0] if span else math.inf


def _flag(default: bool) -> Any:
    """A stored boolean (Chroma keeps bools); anything else (absent, "", a number) reads as `default`."""
    return field(default=default, metadata={"read": lambda v: v if isinstance(v, bool) else default})


def _read_with(reader: Callable[[Any], Any], default: Any = None, default_factory: Any = None) -> Any:
    if default_factory is not None:
        return field(default_factory=default_factory, metadata={"read": reader})
    return field(default=default, metadata={"read": reader})


_READERS: dict[str, Callable[[Any], Any]] = {"str": text_of, "float": number_of, "int": count_of}


def _reader(f: Field[Any]) -> Callable[[Any], Any]:
    reader = f.metadata.get("read") or _READERS.get(str(f.type))
    if reader is None:
        raise TypeError(f"{f.name}: no reader for a stored {f.type}")
    return reader


_Record = TypeVar("_Record", bound="DataclassInstance")  # Video or Segment


def _from_meta(cls: type[_Record], meta: Any) -> _Record:
    """An instance of the record class `cls` from stored metadata: each stored key through its field's reader."""
    stored = meta if isinstance(meta, Mapping) else {}
    readers = _FIELD_READERS.get(cls)
    if readers is None:
        readers = _FIELD_READERS[cls] = [(f.name, _reader(f)) for f in fields(cls)]
    return cls(**{name: read(stored[name]) for name, read in readers if name in stored})


_FIELD_READERS: dict[type, list[tuple[str, Callable[[Any], Any]]]] = {}


@dataclass(frozen=True)
class Video:
    """A `video_files` record read into typed fields (besides the phase status fields of `vtdb.state`).

    The field names are the stored keys. Who writes each is noted; `from_meta` reads any record, old or new.
    """

    # Created with the record (`new_video_record`), updated by the Phase 1 sync.
    name: str = ""
    video_path: str = ""  # a file path, or zim://ARCHIVE#ENTRY
    source_kind: str = "file"  # "file" or "zim"
    title: str = ""
    description: str = ""
    language: str = ""  # the configured language ('' = detect)
    video_duration: float = 0.0
    width: int = 0
    height: int = 0
    fps: float = 0.0
    total_segments: int = 0
    source_fingerprint: str = ""
    force_token_applied: str = ""
    embedding_placeholder: bool = _flag(True)  # True until Phase 4 gives the record a real vector
    created_at: str = ""
    updated_at: str = ""
    # A video of a ZIM archive (`zim_source_fields`).
    license: str = ""
    zim_archive: str = ""
    zim_entry: str = ""
    zim_uuid: str = ""
    zim_title: str = ""
    zim_publisher: str = ""
    zim_language: str = ""
    zim_scraper: str = ""
    zim_date: str = ""
    zim_layout: str = ""
    youtube_id: str = ""
    publication_date: str = ""
    # Stored as JSON lists; Phase 4 replaces the chapters with its own.
    chapters: tuple[dict[str, Any], ...] = _read_with(json_records, ())
    subtitles: tuple[dict[str, Any], ...] = _read_with(json_records, ())  # the subtitle tracks of a ZIM video
    config_subtitles: tuple[dict[str, Any], ...] = _read_with(json_records, ())  # [{"code", "path"}]: files the config names
    audio_track: str = ""  # the config's audio_track ("2", "en"; "" = chosen by vtdb.media.audio_tracks)
    retired_at: str = ""  # ISO time the video left the library ("" or absent = it is in the library); the sync sets it
    retired_reason: str = ""
    # Not read here: the stored boolean `retired`, which `state.retire_update` keeps beside `retired_at` for `where`
    # filters (Chroma's $ne also matches absent keys). Whether a video is retired is `retired_at` (`state.is_retired`).
    content_fingerprint: str = ""  # size + hash of samples of the bytes (vtdb.sources.fingerprint); the sync writes it
    # Phase 1 (`phase1_fields`).
    has_audio: bool = _flag(False)
    has_video: bool = _flag(True)  # False for an audio-only file (absent on records from before: True)
    audio_tracks: str = ""  # "2 audio tracks: track 1 (ru): transcribed; track 2 (en): used as the English text"; "" = one
    transcript_language: str = ""
    language_probability: float = 0.0
    language_source: str = ""
    language_low_confidence: bool = _flag(False)
    transcript_words: int = 0
    transcript_source: str = ""
    translation_language: str = ""  # "en" when Phase 1 made English for non-English speech, else ""
    translation_source: str = ""  # subtitles | audio-track | whisper-translate | ""
    translation_model: str = ""
    phase1_partial: str = ""  # "30.0 s of 60.0 s decodable": indexed only as far as the file decodes; "" = all of it
    # Phase 2 (`phase2_fields`).
    phase2_analyzer: str = ""
    phase2_model: str = ""
    phase2_windows_failed: int = 0
    # Phase 3 (`phase3_fields`).
    db_embedder: str = ""
    # Phase 4 (`summary_fields`).
    summary: str = ""
    keywords: tuple[str, ...] = _read_with(lambda v: tuple(keywords_of(v)), ())
    content_type: str = ""
    summarizer: str = ""

    @classmethod
    def from_meta(cls, meta: Any) -> "Video":
        """The record `meta` as stored (a missing or unusable value reads as the field's default)."""
        return _from_meta(cls, meta)

    @property
    def retired(self) -> bool:
        """Has the video left the library? The rule of `vtdb.state.is_retired`, on this record's field."""
        return state.is_retired({"retired_at": self.retired_at})

    @property
    def display_title(self) -> str:
        """The title, or the name for a record without one."""
        return self.title or self.name

def record_defaults(name: str, video_path: str, now: str) -> dict[str, Any]:
    """The descriptive fields of a fresh record, before the caller's metadata is merged in."""
    return {
        "name": name,
        "video_path": video_path,
        "source_kind": "file",
        "title": name,
        "description": "",
        "language": "",
        "video_duration": 0.0,
        "width": 0,
        "height": 0,
        "fps": 0.0,
        "total_segments": 0,
        "source_fingerprint": "",
        "force_token_applied": "",
        "content_fingerprint": "",
        "retired_at": "",
        "retired_reason": "",
        "retired": False,
        "embedding_placeholder": True,
        "created_at": now,
        "updated_at": now,
    }


def new_video_record(name: str, video_path: str, metadata: Mapping[str, Any], now: str | None = None) -> dict[str, Any]:
    """A new record: the defaults, every phase pending, then `metadata` (which wins)."""
    now = now or clock.iso(clock.now_utc())
    return {**record_defaults(name, video_path, now), **state.all_phase_defaults(), **metadata}


def record_document(meta: Mapping[str, Any], name: str) -> str:
    """A record's document until Phase 4 writes its summary: title and description."""
    video = Video.from_meta(meta)
    return f"{video.title or name}\n{video.description}".strip()


def file_source_fields(title: str, description: str, language: str, subtitles: Mapping[str, str] | None = None,
                       audio_track: str = "") -> dict[str, Any]:
    """What the Phase 1 sync writes for a video file of the config. `subtitles` are the ones the config
    names ({language or "": path}), stored as JSON [{"code", "path"}] ("code" "" = the video's language)."""
    return {"source_kind": "file", "title": title, "description": description, "language": language,
            "config_subtitles": json.dumps([{"code": c, "path": p} for c, p in (subtitles or {}).items()], ensure_ascii=False),
            "audio_track": audio_track}


def zim_source_fields(*, title: str, description: str, language: str, license: str, archive: str, entry: str,
                      uuid: str, zim_title: str, publisher: str, zim_language: str, scraper: str, date: str,
                      layout: str, youtube_id: str, publication_date: str, chapters: str, subtitles: str) -> dict[str, Any]:
    """What the Phase 1 sync writes for a video of a ZIM archive."""
    return {
        "source_kind": "zim",
        "title": title,
        "description": description,
        "language": language,
        "license": license,
        "zim_archive": archive,
        "zim_entry": entry,
        "zim_uuid": uuid,
        "zim_title": zim_title,
        "zim_publisher": publisher,
        "zim_language": zim_language,
        "zim_scraper": scraper,
        "zim_date": date,
        "zim_layout": layout,
        "youtube_id": youtube_id,
        "publication_date": publication_date,
        "chapters": chapters,
        "subtitles": subtitles,
    }


def probe_fields(duration: float, width: int, height: int, fps: float) -> dict[str, Any]:
    """The video's probed size and length (Phase 1 records them as soon as it knows them)."""
    return {"video_duration": round(duration, 3), "width": width, "height": height, "fps": fps}


def phase1_fields(*, duration: float, width: int, height: int, fps: float, windows: int, has_audio: bool,
                  fingerprint: str, transcript_language: str, language_probability: float, language_source: str,
                  low_confidence: bool, words: int, transcript_source: str, translation_language: str = "",
                  translation_source: str = "", translation_model: str = "", partial: str = "", has_video: bool = True,
                  audio_tracks: str = "") -> dict[str, Any]:
    """What a completed Phase 1 writes to the record (translation_*: the English text made for non-English
    speech: "subtitles", "audio-track" or "whisper-translate", and which track or model; partial: "30.0 s of 60.0 s decodable"
    for a file indexed only as far as it decodes, "" otherwise)."""
    return {
        **probe_fields(duration, width, height, fps),
        "total_segments": windows,
        "has_audio": has_audio,
        "has_video": has_video,
        "audio_tracks": audio_tracks,
        "source_fingerprint": fingerprint,
        "transcript_language": transcript_language,
        "language_probability": language_probability,
        "language_source": language_source,
        "language_low_confidence": low_confidence,
        "transcript_words": words,
        "transcript_source": transcript_source,
        "translation_language": translation_language,
        "translation_source": translation_source,
        "translation_model": translation_model,
        "phase1_partial": partial,
    }


def phase2_fields(analyzer: str, model: str, windows_failed: int) -> dict[str, Any]:
    """What a completed Phase 2 writes to the record."""
    return {"phase2_analyzer": analyzer, "phase2_model": model, "phase2_windows_failed": windows_failed}


def phase3_fields(embedder: str) -> dict[str, Any]:
    """What a completed Phase 3 writes to the record."""
    return {"db_embedder": embedder}


def summary_fields(summary: str, keywords: list[str], content_type: str, chapters: str, summarizer: str) -> dict[str, Any]:
    """What Phase 4 writes with the record's summary vector (`chapters` as JSON, `summarizer` as name:model)."""
    return {"summary": summary, "keywords": keywords, "content_type": content_type, "chapters": chapters,
            "summarizer": summarizer}


@dataclass(frozen=True)
class Segment:
    """A `video_segments` record's metadata (one analyzed window; written by Phase 3's `build_segments` through
    `segment_metadata`), read into typed fields. The field names are the stored keys."""

    # The analysis (vtdb.analyzers.schema.FIELDS, validated).
    description: str = ""
    dialogue_translation: str = ""
    keywords: tuple[str, ...] = _read_with(lambda v: tuple(keywords_of(v)), ())
    content_type: str = ""
    mood_atmosphere: str = ""
    confidence: str = ""  # low / medium / high
    scene_change: bool = _flag(False)
    # Where the window is: start_time/end_time None when not a usable number (see `span`).
    start_time: float | None = _read_with(seconds)
    end_time: float | None = _read_with(seconds)
    duration: float = 0.0
    segment_index: int = 0
    video_name: str = ""
    video_path: str = ""
    title: str = ""
    language: str = ""  # the speech's language
    text_language: str = ""  # the language of description and dialogue_translation (what an export can rely on)
    translation_source: str = ""  # where dialogue_translation came from: analyzer | subtitles | audio-track | whisper-translate | ""
    transcript: str = ""  # the window's speech, cut to MAX_TRANSCRIPT_IN_METADATA characters
    # Lines read on screen (Phase 1 OCR), stored joined by ON_SCREEN_SEPARATOR: read as the lines, each once.
    on_screen_text: tuple[str, ...] = _read_with(lambda v: tuple(on_screen_lines(v)), ())
    has_text: bool = _flag(False)  # any on-screen text: the `has_text` search filter (older segments: absent, False)
    # Who analyzed it.
    analyzer: str = ""
    model: str = ""
    prompt_version: str = ""
    analysis_status: str = ""  # ok / repaired

    @classmethod
    def from_meta(cls, meta: Any) -> "Segment":
        """The stored metadata `meta` (anything: a record that is no mapping reads as all defaults)."""
        return _from_meta(cls, meta)

    @property
    def span(self) -> tuple[float, float] | None:
        """(start, end) seconds, or None when the stored times are unusable (see `time_span`)."""
        return time_span(self.start_time, self.end_time)


def segment_metadata(fields: Mapping[str, Any], *, start: float, end: float, index: int, video_name: str,
                     video_path: str, title: str, language: str, transcript: str, analyzer: str, model: str,
                     prompt_version: str, analysis_status: str, text_language: str = "",
                     translation_source: str = "") -> dict[str, Any]:
    """A segment record's metadata: the validated analysis `fields`, then where and by whom."""
    return {
        **fields,
        "start_time": start,
        "end_time": end,
        "duration": round(end - start, 3),
        "segment_index": index,
        "video_name": video_name,
        "video_path": video_path,
        "title": title,
        "language": language,
        "text_language": text_language or language,
        "translation_source": translation_source,
        "transcript": transcript,
        "analyzer": analyzer,
        "model": model,
        "prompt_version": prompt_version,
        "analysis_status": analysis_status,
    }


def segment_id(video_name: str, index: int) -> str:
    """A segment record's id."""
    return f"{video_name}_seg_{index}"


@dataclass(frozen=True)
class VideoFlags:
    """Derived, never stored: which phases of a video have a stale claim (and why) and which are held."""

    stale: dict[str, str]
    held: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"stale": dict(self.stale), "held": list(self.held)}
