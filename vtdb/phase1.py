"""Phase 1: probe, transcribe the whole audio once, cut overlapping windows, sample JPEG frames.

Output: {work_dir}/{name}_phase1_data.pkl (plain data only, written atomically; see README).
Phase 1 is the only phase that reads the config: `sync_videos` mirrors it into video_files.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import events as ev
from .config import Config, Settings
from .db import ChromaDBManager, Claim
from .media import decode_audio, extract_frames, probe
from .runner import JobContext, JobResult
from .safe_pickle import dump_plain
from .sources import LocalFileSource, source_for
from .state import iso, now_utc
from .transcribe import FasterWhisperTranscriber, Transcriber, Transcript
from .windows import frame_times, join_words, plan_windows, words_in_window
from .workfiles import PHASE1_FORMAT, PHASE1_VERSION, phase1_data_path


def sync_videos(db: ChromaDBManager, config: Config, events: ev.EventLog, dry_run: bool = False) -> list[str]:
    """Create/update a video_files record per config entry; apply force_reprocess and source changes.

    Returns human-readable notes about new videos and resets; with dry_run nothing is written.
    """
    notes: list[str] = []
    for entry in config.videos:
        existing = db.get_video_status(entry.name)
        fingerprint = LocalFileSource(entry.path).fingerprint()
        fields = {
            "source_kind": "file",
            "title": entry.display_title,
            "description": entry.description,
            "language": entry.language or "",
        }
        if existing is None:
            notes.append(f"{entry.name}: new video" + (" (would be added and processed)" if dry_run else ""))
            if dry_run:
                continue
            if entry.force_reprocess:
                fields["force_token_applied"] = entry.entry_token  # nothing to redo for a new video
            db.create_or_update_video_file(entry.name, entry.path, **fields)
            continue
        reason = None
        if entry.force_reprocess and existing.get("force_token_applied") != entry.entry_token:
            reason = "force_reprocess set in the config"
            fields["force_token_applied"] = entry.entry_token
        elif existing.get("video_path") != entry.path:
            reason = f"path changed from {existing.get('video_path')}"
        elif fingerprint and existing.get("source_fingerprint") and fingerprint != existing.get("source_fingerprint"):
            reason = "source file changed (size or modification time)"
            fields["source_fingerprint"] = fingerprint  # reset once, not on every sync until done
        if dry_run:
            if reason:
                notes.append(f"{entry.name}: would reprocess ({reason})")
            continue
        db.create_or_update_video_file(entry.name, entry.path, **fields)
        if reason:
            db.reset(entry.name, "phase1")
            events.emit(ev.VIDEO_RESET, phase="phase1", video=entry.name, reason=reason)
            notes.append(f"{entry.name}: reprocessing ({reason})")
    return notes


class Phase1Job:
    phase = "phase1"

    def __init__(self, settings: Settings, transcriber: Transcriber | None = None):
        self.settings = settings
        self.transcriber = transcriber or FasterWhisperTranscriber(settings)

    def process(self, claim: Claim, ctx: JobContext) -> JobResult:
        s = self.settings
        meta = claim.meta
        source = source_for(meta)
        fingerprint = source.fingerprint() or ""
        language = meta.get("language") or None
        timings: dict[str, float] = {}
        with source.open_local(ctx.work_dir) as path:
            info = probe(path)
            ctx.record(video_duration=round(info.duration, 3), width=info.width, height=info.height, fps=info.fps)
            spans = plan_windows(info.duration, s.window_length, s.window_overlap, s.window_min_tail)

            # Frames first: a truncated or damaged file fails in seconds, not after a full Whisper pass.
            t0 = time.perf_counter()
            all_times = [t for span in spans for t in frame_times(span, s.frames_per_window)]
            ctx.report(0, len(all_times), "frames")
            frames = extract_frames(path, all_times, s.frame_max_side, s.jpeg_quality,
                                    duration=info.video_stream_duration or info.duration, fps=info.fps)
            ctx.report(len(all_times), len(all_times), "frames")
            timings["frames_s"] = round(time.perf_counter() - t0, 3)

            t0 = time.perf_counter()
            if info.has_audio:
                audio = decode_audio(path)
                transcript = self.transcriber.transcribe(
                    audio, language, progress=lambda done: ctx.report(min(done, info.duration), info.duration, "transcribing (audio s)")
                )
                del audio
            else:
                transcript = Transcript.empty(getattr(self.transcriber, "name", "none"), language)
                ctx.warn("video has no audio track: windows get empty transcripts")
            timings["transcribe_s"] = round(time.perf_counter() - t0, 3)
            if transcript.low_confidence:
                ctx.warn(
                    f"language detection is unsure: {transcript.language} with p={transcript.language_probability:.2f}"
                    f" (used {transcript.language_source}); set 'language' for this video in videos_config.json"
                )

        words = [w.__dict__ for w in transcript.words]
        windows = []
        for span in spans:
            window_words = words_in_window(span, words, last=span.index == len(spans) - 1)
            window_frames = frames[span.index * s.frames_per_window : (span.index + 1) * s.frames_per_window]
            windows.append(
                {
                    "index": span.index,
                    "start_time": span.start,
                    "end_time": span.end,
                    "duration": round(span.duration, 3),
                    "text": join_words(window_words),
                    "words": [dict(w) for w in window_words],
                    "frames": [{"time": fr.time, "jpeg": fr.jpeg, "width": fr.width, "height": fr.height} for fr in window_frames],
                }
            )
        data = {
            "format": PHASE1_FORMAT,
            "version": PHASE1_VERSION,
            "created_at": iso(now_utc()),
            "video": {
                "name": claim.name,
                "source": source.location,
                "source_kind": source.kind,
                "fingerprint": fingerprint,
                "title": meta.get("title") or claim.name,
                "description": meta.get("description") or "",
                "duration": info.duration,
                "width": info.width,
                "height": info.height,
                "fps": info.fps,
                "has_audio": info.has_audio,
                "video_codec": info.video_codec,
                "audio_codec": info.audio_codec,
            },
            "transcript": transcript.to_dict(),
            "settings": {
                "window_length": s.window_length,
                "window_overlap": s.window_overlap,
                "window_min_tail": s.window_min_tail,
                "frames_per_window": s.frames_per_window,
                "frame_max_side": s.frame_max_side,
                "jpeg_quality": s.jpeg_quality,
                "whisper_model": s.whisper_model,
            },
            "timings": timings,
            "windows": windows,
        }
        out_path = phase1_data_path(ctx.work_dir, claim.name)
        dump_plain(out_path, data)
        size_mb = out_path.stat().st_size / 1e6
        return JobResult(
            count=len(windows),
            fields={
                "video_duration": round(info.duration, 3),
                "width": info.width,
                "height": info.height,
                "fps": info.fps,
                "total_segments": len(windows),
                "has_audio": info.has_audio,
                "source_fingerprint": fingerprint,
                "transcript_language": transcript.language or "",
                "language_probability": transcript.language_probability,
                "language_source": transcript.language_source,
                "language_low_confidence": transcript.low_confidence,
                "transcript_words": len(transcript.words),
            },
            note=f"windows, {len(transcript.words)} words ({transcript.language or 'no speech'}), {size_mb:.1f} MB",
        )
