"""Phase 1: probe, transcribe the whole audio once, cut overlapping windows, sample JPEG frames.

Output: {work_dir}/{name}_phase1_data.pkl (plain data only, written atomically; see README).
Phase 1 is the only phase that reads the config: `sync_videos` mirrors it into video_files.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from vtdb.config import Settings
from vtdb.media.transcribe import FasterWhisperTranscriber, Transcriber, Transcript, TranscriptSegment, Word
from vtdb.media.video import decode_audio, extract_frames, probe
from vtdb.media.windows import frame_times, join_words, plan_windows, words_in_window
from vtdb.records import phase1_fields, probe_fields
from vtdb.runner import JobContext, JobResult
from vtdb.safe_pickle import dump_plain
from vtdb.sources.base import source_for
from vtdb.sources.subtitles import SubtitleError, cue_words, parse_vtt
from vtdb.sources.sync import sync_videos  # noqa: F401  (moved to vtdb.sources.sync; re-exported)
from vtdb.state import iso, now_utc
from vtdb.store import Claim, json_list
from vtdb.workfiles import PHASE1_FORMAT, PHASE1_VERSION, phase1_data_path


class Phase1Job:
    phase = "phase1"

    def __init__(self, settings: Settings, transcriber: Transcriber | None = None):
        self.settings = settings
        self.transcriber = transcriber or FasterWhisperTranscriber(settings)

    def _subtitle_transcript(self, meta: dict, source, language: str | None, ctx: JobContext) -> Transcript | None:
        """Creator subtitles in the video's language (ZIM archives) instead of Whisper, unless prefer_whisper."""
        if self.settings.prefer_whisper or not source.has_entries:
            return None
        try:
            tracks = json.loads(str(meta.get("subtitles") or "[]"))
        except ValueError:
            return None
        wanted = language or ""
        track = next((t for t in tracks if wanted and str(t.get("code", "")).split("-")[0].lower() == wanted), None)
        if track is None:
            if tracks and wanted:
                ctx.warn(f"no subtitles in {wanted} (archive has {', '.join(t.get('code', '?') for t in tracks)}); using Whisper")
            return None
        try:
            cues = parse_vtt(source.read_entry(track["entry"]), track["entry"])
        except (SubtitleError, Exception) as exc:  # a damaged track must not cost the video
            ctx.warn(f"subtitles {track['entry']} unusable ({exc}); using Whisper")
            return None
        if not cues:
            ctx.warn(f"subtitles {track['entry']} have no cues; using Whisper")
            return None
        segments = [TranscriptSegment(c.start, c.end, c.text) for c in cues]
        words = [Word(**w) for w in cue_words(cues)]
        return Transcript(wanted, 1.0, "subtitles", False,
                          f"subtitles:{track['entry']}", segments, words, source="subtitles")

    def process(self, claim: Claim, ctx: JobContext) -> JobResult:
        s = self.settings
        meta = claim.meta
        source = source_for(meta)
        fingerprint = source.fingerprint() or ""
        language = meta.get("language") or None
        timings: dict[str, float] = {}
        with source.open_local(ctx.work_dir) as path:
            info = probe(path)
            ctx.record(**probe_fields(info.duration, info.width, info.height, info.fps))
            spans = plan_windows(info.duration, s.window_length, s.window_overlap, s.window_min_tail)

            # Frames are extracted in a thread while Whisper runs (OpenCV and CTranslate2 release the GIL;
            # Whisper alone keeps about one core busy). A damaged file that fails frame extraction stops
            # the transcription at its next progress report instead of after a full Whisper pass.
            all_times = [t for span in spans for t in frame_times(span, s.frames_per_window)]
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="frames") as pool:
                t_frames = time.perf_counter()
                frames_job = pool.submit(extract_frames, path, all_times, s.frame_max_side, s.jpeg_quality,
                                         info.video_stream_duration or info.duration, info.fps)
                frames_job.add_done_callback(lambda _f: timings.__setitem__("frames_s", round(time.perf_counter() - t_frames, 3)))

                def on_progress(done: float) -> None:
                    if frames_job.done() and frames_job.exception() is not None:
                        raise frames_job.exception()  # type: ignore[misc]
                    ctx.report(min(done, info.duration), info.duration, "transcribing (audio s)")

                t0 = time.perf_counter()
                subtitles = self._subtitle_transcript(meta, source, language, ctx)
                if subtitles is not None:
                    transcript = subtitles
                elif info.has_audio:
                    t_decode = time.perf_counter()
                    audio = decode_audio(path)
                    timings["decode_s"] = round(time.perf_counter() - t_decode, 3)
                    transcript = self.transcriber.transcribe(audio, language, progress=on_progress)
                    del audio
                else:
                    transcript = Transcript.empty(getattr(self.transcriber, "name", "none"), language)
                    ctx.warn("video has no audio track: windows get empty transcripts")
                timings["transcribe_s"] = round(time.perf_counter() - t0, 3)
                frames = frames_job.result()
            if info.has_audio and transcript.source == "whisper" and not transcript.words:
                ctx.warn("the audio track has no recognized speech (silence, music, or the wrong language?); "
                         "windows get empty transcripts; set 'language' for this video if it has speech")
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
                "youtube_id": meta.get("youtube_id") or "",
                "publication_date": meta.get("publication_date") or "",
                "chapters": json_list(meta.get("chapters")),
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
            fields=phase1_fields(
                duration=info.duration,
                width=info.width,
                height=info.height,
                fps=info.fps,
                windows=len(windows),
                has_audio=info.has_audio,
                fingerprint=fingerprint,
                transcript_language=transcript.language or "",
                language_probability=transcript.language_probability,
                language_source=transcript.language_source,
                low_confidence=transcript.low_confidence,
                words=len(transcript.words),
                transcript_source=transcript.source,
            ),
            note=f"windows, {len(transcript.words)} words ({transcript.language or 'no speech'}), {size_mb:.1f} MB",
        )
