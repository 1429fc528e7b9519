"""The one place that knows the fields of a `video_files` record and of a `video_segments` record.

`VideoRecord` lists every field a video's record may hold (who writes each is noted); the helpers build
the field sets the store and the phase jobs write, so that no one spells the keys ad hoc. The phase
status fields (`phase1_status`, `phase1_claim_id`, ...) belong to the state machine: `vtdb.state`
(`phase_defaults`, `claim_update`, ...). The stored keys are the record's contract (the CLIs, exports
and tests read them): renaming one here means migrating stored records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, TypedDict

from vtdb import clock, state


class VideoRecord(TypedDict, total=False):
    """A `video_files` record's metadata (besides the phase status fields of `vtdb.state`)."""

    # Created with the record (`new_video_record`), updated by the Phase 1 sync.
    name: str
    video_path: str  # a file path, or zim://ARCHIVE#ENTRY
    source_kind: str  # "file" or "zim"
    title: str
    description: str
    language: str  # the configured language ('' = detect)
    video_duration: float
    width: int
    height: int
    fps: float
    total_segments: int
    source_fingerprint: str
    force_token_applied: str
    embedding_placeholder: bool  # True until Phase 4 gives the record a real vector
    created_at: str
    updated_at: str
    # A video of a ZIM archive (`zim_source_fields`).
    license: str
    zim_archive: str
    zim_entry: str
    zim_uuid: str
    zim_title: str
    zim_publisher: str
    zim_language: str
    zim_scraper: str
    zim_date: str
    zim_layout: str
    youtube_id: str
    publication_date: str
    chapters: str  # JSON list (vtdb.store.json_list reads it); Phase 4 replaces it with its chapters
    subtitles: str  # JSON list of subtitle tracks
    config_subtitles: str  # JSON [{"code", "path"}]: subtitle files the config names for a video file
    audio_track: str  # the config's audio_track ("2", "en"; "" = chosen by vtdb.media.audio_tracks)
    retired_at: str  # ISO time the video left the library ("" or absent = it is in the library); the sync sets it
    retired_reason: str
    retired: bool  # True while retired_at is set: what `where` filters on (Chroma's $ne also matches absent keys)
    content_fingerprint: str  # size + hash of samples of the bytes (vtdb.sources.fingerprint); the sync writes it
    # Phase 1 (`phase1_fields`).
    has_audio: bool
    has_video: bool  # False for an audio-only file (absent on records from before: True)
    audio_tracks: str  # "2 audio tracks: track 1 (ru): transcribed; track 2 (en): used as the English text"; "" = one
    transcript_language: str
    language_probability: float
    language_source: str
    language_low_confidence: bool
    transcript_words: int
    transcript_source: str
    translation_language: str  # "en" when Phase 1 made English for non-English speech, else ""
    translation_source: str  # subtitles | audio-track | whisper-translate | ""
    translation_model: str
    phase1_partial: str  # "30.0 s of 60.0 s decodable": indexed only as far as the file decodes; "" = all of it
    # Phase 2 (`phase2_fields`).
    phase2_analyzer: str
    phase2_model: str
    phase2_windows_failed: int
    # Phase 3 (`phase3_fields`).
    db_embedder: str
    # Phase 4 (`summary_fields`).
    summary: str
    keywords: list[str]
    content_type: str
    summarizer: str


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
    return f"{meta.get('title') or name}\n{meta.get('description') or ''}".strip()


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


ON_SCREEN_SEPARATOR = " | "  # joins the lines read on screen in a segment's on_screen_text and document


class SegmentMeta(TypedDict, total=False):
    """A `video_segments` record's metadata (one analyzed window; built by Phase 3's `build_segments`)."""

    # The analysis (vtdb.analyzers.schema.FIELDS, validated).
    description: str
    dialogue_translation: str
    keywords: list[str]
    content_type: str
    mood_atmosphere: str
    confidence: str  # low / medium / high
    scene_change: bool
    # Where the window is.
    start_time: float
    end_time: float
    duration: float
    segment_index: int
    video_name: str
    video_path: str
    title: str
    language: str  # the speech's language
    text_language: str  # the language of description and dialogue_translation (what an export can rely on)
    translation_source: str  # where dialogue_translation came from: analyzer | subtitles | audio-track | whisper-translate | ""
    transcript: str  # the window's speech, cut to MAX_TRANSCRIPT_IN_METADATA characters
    on_screen_text: str  # lines read on screen (Phase 1 OCR), joined by ON_SCREEN_SEPARATOR
    has_text: bool  # any on-screen text: the `has_text` search filter
    # Who analyzed it.
    analyzer: str
    model: str
    prompt_version: str
    analysis_status: str  # ok / repaired


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
