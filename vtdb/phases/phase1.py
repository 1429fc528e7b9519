"""Phase 1: probe, transcribe the whole audio once, cut overlapping windows, sample JPEG frames.

Output: {work_dir}/{name}_phase1_data.pkl (plain data only, written atomically; see docs/PHASES.md).
Phase 1 is the only phase that reads the config: `vtdb.sources.sync.sync_videos` mirrors it into video_files.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from vtdb.clock import iso, now_utc
from vtdb.config import FrameOptions, WhisperOptions
from vtdb.errors import RunAborted
from vtdb.media.audio import AudioSignal, DiskAudio, decoded_audio
from vtdb.media.audio_tracks import SOURCE_AUDIO_TRACK, AudioChoice, choose_audio_tracks, english_track
from vtdb.media.shots import Shot, cut_inside
from vtdb.media.transcribe import FasterWhisperTranscriber, Transcriber, Transcript, TranscriptSegment, Word
from vtdb.media.translate import Translation, Translator, WhisperTranslator, text_in_window, translation_from_cues
from vtdb.media.video import AudioTrack, Frame, TruncatedMediaError, VideoInfo, cover_picture, extract_frames, probe
from vtdb.media.windows import WindowSpan, frame_times, join_words, plan_windows, words_in_window
from vtdb.records import json_list, phase1_fields, probe_fields
from vtdb.runner import JobContext, JobResult
from vtdb.safe_pickle import dump_plain
from vtdb.sources.base import VideoSource, source_for
from vtdb.sources.subtitles import (
    Cue,
    SubtitleTrack,
    cue_words,
    only_language,
    parse_subtitles,
    pick_transcript_track,
    tracks_in,
)
from vtdb.store import Claim
from vtdb.workfiles import (
    Phase1Data,
    Picture,
    SpokenWord,
    TranscriptPart,
    UnsureSpan,
    VideoPart,
    Window,
    phase1_data_path,
)

# A file that decodes for less than this is not indexed "partially": nothing of it would be worth a window.
MIN_PARTIAL_S = 1.0


@dataclass
class VideoWork:
    """One video on its way through Phase 1. The steps of `Phase1Job.process` fill in the fields below the
    first three, each step reading what the steps before it set."""

    claim: Claim
    ctx: JobContext
    source: VideoSource
    fingerprint: str = field(init=False)
    language: str | None = field(init=False)  # the configured spoken language (None: detect it)
    path: Path = field(init=False)  # the local file, while the file steps run
    info: VideoInfo = field(init=False)  # probed; cut to what decodes for a partial file
    spans: list[WindowSpan] = field(init=False)
    choice: AudioChoice = field(init=False)
    transcript: Transcript = field(init=False)
    subtitle_tracks: list[SubtitleTrack] = field(default_factory=list)  # the file's creator subtitles
    transcript_track: SubtitleTrack | None = None  # the one that became the transcript (None: Whisper or nothing)
    translation: Translation | None = None
    frames: list[Frame] = field(default_factory=list)  # frames_per_window per window, in window order
    shots: list[Shot] | None = None  # None: shot detection off
    cover: Picture | None = None
    partial: str = ""  # "30.0 s of 60.0 s decodable" when the file stops decoding early
    timings: dict[str, float] = field(default_factory=dict)
    windows: list[Window] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.fingerprint = self.source.fingerprint() or ""
        self.language = self.claim.meta.get("language") or None


class Phase1Job:
    phase = "phase1"

    def __init__(self, whisper: WhisperOptions, frames: FrameOptions, transcriber: Transcriber | None = None,
                 translator: Translator | None = None):
        self.whisper, self.frames = whisper, frames
        self.transcriber = transcriber or FasterWhisperTranscriber(whisper)
        # Whisper's translate task reuses the transcriber's loaded model; another transcriber brings its own.
        if translator is None and isinstance(self.transcriber, FasterWhisperTranscriber):
            translator = WhisperTranslator(self.transcriber)
        self.translator = translator
        self._warned: set[str] = set()  # run-wide warnings (a missing OCR language pack) are said once

    def _warn_once(self, ctx: JobContext, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            ctx.warn(message)

    def _shot_detection(self) -> bool:
        """Is the frame pass also a shot detection pass? shots: auto = when PySceneDetect is installed."""
        if self.frames.shots == "off":
            return False
        try:
            import scenedetect  # noqa: F401
        except ImportError:
            if self.frames.shots == "on":
                raise RunAborted("shots: on, but PySceneDetect (scenedetect) is not installed; run scripts/setup.sh "
                                 "or set shots to auto or off") from None
            return False
        return True

    def _frames(self, path: Path, times: list[float], info, detect: bool) -> tuple[list, list | None]:
        """The JPEG frames at `times` and, with shot detection, the shots: one sequential decoding pass whose
        samples are moved off cuts and fades (bench/shots.py); without it, OpenCV seeks to each time."""
        s = self.frames
        if detect:
            from vtdb.media.shots import scan_video

            scan = scan_video(path, times, max_side=s.frame_max_side, quality=s.jpeg_quality, margin=0.3,
                              duration=info.video_stream_duration or info.duration)
            return scan.frames, scan.shots
        return extract_frames(path, times, s.frame_max_side, s.jpeg_quality, info.video_stream_duration or info.duration,
                              info.fps), None

    def _ocr_languages(self, language: str | None, ctx: JobContext) -> list[str]:
        """The tesseract languages to read on-screen text in (`ocr_languages`: by default the video's, its region's and
        English), [] when OCR is off."""
        mode = self.frames.ocr
        if mode == "off":
            return []
        from vtdb.media.ocr import ocr_available, tessdata_dir, tesseract_languages

        wanted = tesseract_languages(language, self.frames.ocr_languages)
        ok, warning = ocr_available(wanted)
        if not ok and mode == "on":
            raise RunAborted(f"ocr: on, but {warning}; install it (scripts/setup.sh) or set ocr to auto or off")
        if warning:
            self._warn_once(ctx, warning)
        folder = tessdata_dir()
        return [c for c in wanted if folder is not None and (folder / f"{c}.traineddata").is_file()] if ok else []

    def _read_track(self, source: VideoSource, track: SubtitleTrack, ctx: JobContext, role: str) -> list[Cue] | None:
        """The cues of a track, or None with a warning (a damaged track must not cost the video)."""
        try:
            cues = parse_subtitles(source.read_subtitles(track), track.label, track.format)
        except Exception as exc:
            ctx.warn(f"subtitles {track.label} unusable as the {role} ({exc}); using Whisper")
            return None
        if not cues:
            ctx.warn(f"subtitles {track.label} have no cues; using Whisper for the {role}")
            return None
        return cues

    def _transcript_track(self, tracks: list[SubtitleTrack], language: str | None, has_audio: bool,
                          audio: Callable[[], AudioSignal], ctx: JobContext) -> tuple[SubtitleTrack | None, str | None, str]:
        """The track that becomes the transcript, its language and how that was decided (docs/PHASES.md, "Creator subtitles")."""
        track, how = pick_transcript_track(tracks, language)
        if track is not None or language or not tracks:
            return track, language or (track.language if track else None), how
        # Language unknown and no track says which is the original: ask Whisper's language detection
        # (a look at a few 30 s pieces, not a transcription), then trust a lone language.
        detect = getattr(self.transcriber, "detect_language", None)
        if has_audio and detect is not None:
            detected, probability = detect(audio())
            if detected and probability >= self.whisper.language_confidence_threshold:
                found = tracks_in(tracks, detected)
                return (found[0] if found else None), detected, "detected"
        lone = only_language(tracks)
        if lone:
            ctx.warn(f"language not set and not detected: assumed {lone}, the only language of its subtitles; "
                     "set 'language' for this video in videos_config.json")
            return tracks_in(tracks, lone)[0], lone, "subtitles"
        return None, None, ""

    def _transcribe(self, source: VideoSource, meta: dict, path: Path, has_audio: bool, language: str | None,
                    audio: Callable[[], AudioSignal], on_progress: Callable[[float], None],
                    ctx: JobContext) -> tuple[Transcript, list[SubtitleTrack], SubtitleTrack | None]:
        """The transcript (creator subtitles in the video's language, else Whisper), the video's subtitle
        tracks, and the track used (None: Whisper or nothing)."""
        w = self.whisper
        tracks: list[SubtitleTrack] = []
        if not w.prefer_whisper or w.translate != "never":  # tracks also give translations
            tracks = source.subtitle_tracks(path, meta, note=ctx.warn)
        if not w.prefer_whisper and tracks:
            track, track_language, how = self._transcript_track(tracks, language, has_audio, audio, ctx)
            cues = self._read_track(source, track, ctx, "transcript") if track is not None else None
            if track is not None and cues:
                segments = [TranscriptSegment(c.start, c.end, c.text) for c in cues]
                words = [Word(**x) for x in cue_words(cues)]
                return (Transcript(track_language or None, 1.0, how, False, f"subtitles:{track.label}", segments, words,
                                   source="subtitles"), tracks, track)
            if track is None and language:
                found = sorted({t.language or "?" for t in tracks})
                ctx.warn(f"no subtitles in {language} (found: {', '.join(found)}); using Whisper")
        if has_audio:
            return self.transcriber.transcribe(audio(), language, progress=on_progress), tracks, None
        ctx.warn("video has no audio track: windows get empty transcripts")
        return Transcript.empty(getattr(self.transcriber, "name", "none"), language), tracks, None

    def _translate(self, source: VideoSource, tracks: list[SubtitleTrack], used: SubtitleTrack | None,
                   transcript: Transcript, has_audio: bool, audio: Callable[[], AudioSignal], duration: float,
                   ctx: JobContext, english_audio: Callable[[], DiskAudio] | None = None) -> Translation | None:
        """The translation into output_language when one is wanted: a creator track in that language, else
        another audio track in it (a dub or an interpreter: transcribed), else Whisper's translate task
        (English only); None when not wanted or not possible."""
        if not transcript.text or not self._wants_translation(transcript.language):
            return None  # no speech (or only text flagged as invented): nothing to translate
        target = self.whisper.output_language
        for track in tracks_in(tracks, target, exclude=used)[:1]:
            cues = self._read_track(source, track, ctx, "translation")
            if cues:
                return translation_from_cues(cues, target, track.label)
        if english_audio is not None:
            return self._audio_track_translation(english_audio, target, duration, ctx)
        translator = self.translator
        if translator is None or translator.target != target:
            ctx.warn(f"no {target} subtitles and no translator into {target} (Whisper translates into English only): "
                     "windows get no translation")
            return None
        if not has_audio:
            return None

        def on_progress(done: float) -> None:
            ctx.report(min(done, duration), duration, "translating (audio s)")

        return translator.translate(audio(), transcript.language, progress=on_progress, transcript=transcript)

    def _audio_track_translation(self, english_audio: Callable[[], DiskAudio], target: str, duration: float,
                                 ctx: JobContext) -> Translation | None:
        """The speech of another audio track in `target`, transcribed: a translation made by people."""

        def on_progress(done: float) -> None:
            ctx.report(min(done, duration), duration, f"transcribing the {target} audio track (audio s)")

        heard = self.transcriber.transcribe(english_audio(), target, progress=on_progress)
        if not heard.text:
            ctx.warn(f"the {target} audio track has no recognized speech: windows get no translation")
            return None
        return Translation(target, SOURCE_AUDIO_TRACK, heard.model, heard.segments)

    def _wants_translation(self, speech_language: str | None) -> bool:
        w = self.whisper
        if w.translate == "never" or not speech_language:
            return False
        return w.translate == "always" or speech_language.split("-")[0].lower() != w.output_language

    def _partial(self, path: Path, info: VideoInfo, stop: TruncatedMediaError, detect_shots: bool):
        """A file whose frames stop early (truncated, damaged): windows and frames up to where it decodes.

        Retrying cannot make more of it decode, so it is not an error to retry (issue 25: three cron runs failed
        on an MKV cut at 30 s of 60, then held it, and its good half was never indexed)."""
        s = self.frames
        for _ in range(2):  # the seeking path can stop a little earlier than the sequential pass found
            if stop.decodable_until < MIN_PARTIAL_S:
                raise stop
            until = stop.decodable_until
            info = dataclasses.replace(info, duration=until, video_stream_duration=min(until, info.video_stream_duration or until))
            spans = plan_windows(info.duration, s.window_length, s.window_overlap, s.window_min_tail)
            times = [t for span in spans for t in frame_times(span, s.frames_per_window)]
            try:
                frames, shots = self._frames(path, times, info, detect_shots)
                return info, spans, frames, shots
            except TruncatedMediaError as again:
                stop = TruncatedMediaError(path, again.decodable_until, stop.duration)
        raise stop

    def process(self, claim: Claim, ctx: JobContext) -> JobResult:
        """Phase 1 of one video: the steps below, in order, each reading what the ones before it set in `work`.
        A new signal of the file (faces, voices, frame hashes) is one more step."""
        work = VideoWork(claim, ctx, source_for(claim.meta))
        with work.source.open_local(ctx.work_dir) as path, ExitStack() as scratch:  # scratch: the decoded audio
            work.path = path
            self._probe(work)
            self._speech_and_frames(work, scratch)
            self._cover(work)
            self._speech_warnings(work)
        self._cut_windows(work)
        self._read_on_screen_text(work)
        out_path = self._write(work)
        return self._result(work, out_path.stat().st_size / 1e6)

    def _probe(self, work: VideoWork) -> None:
        """The file's streams and duration (recorded at once), its window plan and the audio tracks to use."""
        s, ctx = self.frames, work.ctx
        info = work.info = probe(work.path)
        ctx.record(**probe_fields(info.duration, info.width, info.height, info.fps))
        work.spans = plan_windows(info.duration, s.window_length, s.window_overlap, s.window_min_tail)
        work.choice = choose_audio_tracks(info.audio_tracks, str(work.claim.meta.get("audio_track") or ""), work.language,
                                          self.whisper.output_language, self.whisper.translate)
        if work.choice.note():
            ctx.warn(work.choice.note())
        if not info.has_video:
            ctx.warn("audio only: indexed by its speech" + (" (its cover picture kept)" if info.cover_stream is not None else ""))

    def _track_audio(self, work: VideoWork, track: AudioTrack | None, scratch: ExitStack) -> Callable[[], DiskAudio]:
        """The track's audio, decoded once to a scratch file and only when Whisper needs it (subtitles alone never
        decode it); read in slices, so memory does not grow with the file's length."""
        cache: list[DiskAudio] = []

        def audio() -> DiskAudio:
            if not cache:
                t_decode = time.perf_counter()
                stream = track.number - 1 if track is not None else 0
                cache.append(scratch.enter_context(decoded_audio(work.path, work.ctx.work_dir, stream)))
                work.timings["decode_s"] = round(work.timings.get("decode_s", 0.0) + time.perf_counter() - t_decode, 3)
            return cache[0]

        return audio

    def _speech_and_frames(self, work: VideoWork, scratch: ExitStack) -> None:
        """The transcript and translation, while the frames (and shots) are extracted in a thread.

        OpenCV and CTranslate2 release the GIL; Whisper alone keeps about one core busy. A damaged file that fails
        frame extraction stops the transcription at its next progress report instead of after a full Whisper pass."""
        s, ctx, info = self.frames, work.ctx, work.info
        audio = self._track_audio(work, work.choice.speech, scratch)
        all_times = [t for span in work.spans for t in frame_times(span, s.frames_per_window)] if info.has_video else []
        detect_shots = self._shot_detection() and info.has_video
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="frames") as pool:
            t_frames = time.perf_counter()
            frames_job: Future = (pool.submit(self._frames, work.path, all_times, info, detect_shots) if info.has_video
                                  else pool.submit(lambda: ([], None)))
            frames_job.add_done_callback(lambda _f: work.timings.__setitem__("frames_s", round(time.perf_counter() - t_frames, 3)))

            def on_progress(done: float) -> None:
                failure = frames_job.exception() if frames_job.done() else None
                if failure is not None and not isinstance(failure, TruncatedMediaError):  # a truncated file is
                    raise failure  # indexed as far as it decodes: its speech is still wanted
                ctx.report(min(done, info.duration), info.duration, "transcribing (audio s)")

            self._transcript_step(work, audio, on_progress)
            self._translation_step(work, audio, scratch)
            release = getattr(self.transcriber, "release", None)
            if release is not None:
                release()  # the pieces and encoder outputs kept for the translation
            scratch.close()  # the scratch audio files
            try:
                work.frames, work.shots = frames_job.result()
            except TruncatedMediaError as exc:
                work.info, work.spans, work.frames, work.shots = self._partial(work.path, info, exc, detect_shots)
                work.partial = f"{work.info.duration:.1f} s of {exc.duration:.1f} s decodable"
                ctx.warn(f"partial: {work.partial}; indexed up to there ({exc})")

    def _transcript_step(self, work: VideoWork, audio: Callable[[], DiskAudio], on_progress: Callable[[float], None]) -> None:
        t0 = time.perf_counter()
        work.transcript, work.subtitle_tracks, work.transcript_track = self._transcribe(
            work.source, work.claim.meta, work.path, work.info.has_audio, work.language, audio, on_progress, work.ctx)
        work.timings["transcribe_s"] = round(time.perf_counter() - t0, 3)

    def _translation_step(self, work: VideoWork, audio: Callable[[], DiskAudio], scratch: ExitStack) -> None:
        """The translation into output_language (see `_translate`); another audio track in that language is
        decoded only now, when it is wanted."""
        choice = work.choice
        english_audio = choice.english
        if english_audio is None and choice.speech is not None and self.whisper.translate != "never":
            english_audio = english_track(choice.all, choice.speech, work.transcript.language or "", self.whisper.output_language)
        t0 = time.perf_counter()
        work.translation = self._translate(work.source, work.subtitle_tracks, work.transcript_track, work.transcript,
                                           work.info.has_audio, audio, work.info.duration, work.ctx,
                                           self._track_audio(work, english_audio, scratch) if english_audio is not None else None)
        if work.translation is not None:
            work.timings["translate_s"] = round(time.perf_counter() - t0, 3)

    def _cover(self, work: VideoWork) -> None:
        """An audio file's attached picture, kept to be shown where a video has its frames."""
        if work.info.cover_stream is not None:
            picture = cover_picture(work.path, work.info.cover_stream, self.frames.frame_max_side, self.frames.jpeg_quality)
            work.cover = Picture(*picture) if picture else None

    def _speech_warnings(self, work: VideoWork) -> None:
        transcript, ctx = work.transcript, work.ctx
        if work.info.has_audio and transcript.source == "whisper" and not transcript.words:
            ctx.warn("the audio track has no recognized speech (silence, music, or the wrong language?); "
                     "windows get empty transcripts; set 'language' for this video if it has speech")
        if transcript.low_confidence:
            ctx.warn(
                f"language detection is unsure: {transcript.language} with p={transcript.language_probability:.2f}"
                f" (used {transcript.language_source}); set 'language' for this video in videos_config.json"
            )

    def _cut_windows(self, work: VideoWork) -> None:
        """The windows: each one's words and translation by timestamp, its unsure text, its frames, its cut."""
        fpw = self.frames.frames_per_window
        transcript, translation, spans = work.transcript, work.translation, work.spans
        words = [w.__dict__ for w in transcript.words]
        for span in spans:
            last = span.index == len(spans) - 1
            window_words = words_in_window(span, words, last=last)
            translated = text_in_window(translation.segments, span.start, span.end, last) if translation else ""
            frames = work.frames[span.index * fpw : (span.index + 1) * fpw] if work.frames else []
            work.windows.append(Window(
                span.index, span.start, span.end,
                text=join_words(window_words),
                words=[SpokenWord.from_plain(w) for w in window_words],
                translation=translated,
                translation_source=translation.source if translation and translated else "",
                # Text Whisper likely invented (kept to be seen, never indexed): transcript and English.
                unsure_speech=[UnsureSpan.from_plain(u)
                               for u in unsure_in_window(transcript, translation, span.start, span.end, last)],
                # A real cut inside the window (None without shot detection: Phase 2 compares frames then).
                scene_change=cut_inside(work.shots, span.start, span.end) if work.shots is not None else None,
                frames=[Picture(fr.jpeg, fr.width, fr.height, fr.time) for fr in frames],
            ))

    def _read_on_screen_text(self, work: VideoWork) -> None:
        """Each window's on-screen text (OCR of its frames), when OCR is on and can read the video's languages."""
        languages = self._ocr_languages(work.transcript.language or work.language, work.ctx)
        if not languages:
            return
        from vtdb.media.ocr import OcrReader

        reader = OcrReader(languages)
        for window in work.windows:
            window.on_screen_text = reader.read_window_text([fr.jpeg for fr in window.frames])
            work.ctx.report(window.index + 1, len(work.windows), "reading on-screen text (windows)")
        reader.close()
        work.timings.update(reader.stats.as_dict())

    def _write(self, work: VideoWork) -> Path:
        """The Phase 1 file (vtdb.workfiles.Phase1Data), written atomically."""
        s, info, meta, translation = self.frames, work.info, work.claim.meta, work.translation
        video = VideoPart(
            name=work.claim.name, source=work.source.location, source_kind=work.source.kind,
            fingerprint=work.fingerprint, title=meta.get("title") or work.claim.name,
            description=meta.get("description") or "", duration=info.duration, width=info.width,
            height=info.height, fps=info.fps, has_audio=info.has_audio, has_video=info.has_video, cover=work.cover,
            audio_tracks=[dataclasses.asdict(t) for t in info.audio_tracks],
            audio_track_used=work.choice.speech.number if work.choice.speech is not None else 0,
            video_codec=info.video_codec, audio_codec=info.audio_codec, youtube_id=meta.get("youtube_id") or "",
            publication_date=meta.get("publication_date") or "", chapters=json_list(meta.get("chapters")))
        transcript = TranscriptPart.from_plain(
            {**work.transcript.to_dict(), "translation": translation.to_dict() if translation else None})
        data = Phase1Data(
            video, transcript, work.windows, created_at=iso(now_utc()),
            settings={"window_length": s.window_length, "window_overlap": s.window_overlap,
                      "window_min_tail": s.window_min_tail, "frames_per_window": s.frames_per_window,
                      "frame_max_side": s.frame_max_side, "jpeg_quality": s.jpeg_quality, "whisper_model": self.whisper.model},
            timings=work.timings,
            # Shot boundaries (PySceneDetect); None when shot detection was off.
            shots=[(shot.start, shot.end) for shot in work.shots] if work.shots is not None else None)
        out_path = phase1_data_path(work.ctx.work_dir, work.claim.name)
        dump_plain(out_path, data.to_plain())
        return out_path

    def _result(self, work: VideoWork, size_mb: float) -> JobResult:
        """The record fields and the line the run prints."""
        info, transcript, translation, partial = work.info, work.transcript, work.translation, work.partial
        english = f", {translation.language} by {translation.source}" if translation else ""
        return JobResult(
            count=len(work.windows),
            fields=phase1_fields(
                duration=info.duration,
                width=info.width,
                height=info.height,
                fps=info.fps,
                windows=len(work.windows),
                has_audio=info.has_audio,
                fingerprint=work.fingerprint,
                transcript_language=transcript.language or "",
                language_probability=transcript.language_probability,
                language_source=transcript.language_source,
                low_confidence=transcript.low_confidence,
                words=len(transcript.words),
                transcript_source=transcript.source,
                partial=partial,
                has_video=info.has_video,
                audio_tracks=work.choice.note(),
                translation_language=translation.language if translation else "",
                translation_source=translation.source if translation else "",
                translation_model=translation.model if translation else "",
            ),
            note=f"windows, {len(transcript.words)} words ({transcript.language or 'no speech'}){english}, {size_mb:.1f} MB"
            + (f"; partial: {partial}" if partial else ""),
        )


def unsure_in_window(transcript: Transcript, translation: Translation | None, start: float, end: float,
                     last: bool) -> list[dict]:
    """The flagged segments (transcript, then English) that overlap [start, end): {start, end, text, reason,
    kind: "speech"|"translation"}."""
    out = []
    for kind, segments in (("speech", transcript.segments), ("translation", translation.segments if translation else [])):
        for seg in segments:
            if seg.unsure and ((seg.start < end and seg.end > start) or start <= seg.start < end or (last and seg.start >= start)):
                out.append({"start": seg.start, "end": seg.end, "text": seg.text, "reason": seg.unsure, "kind": kind})
    return out
