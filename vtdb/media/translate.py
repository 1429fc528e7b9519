"""English for speech in another language: the Translator interface, Whisper's translate task, and
translations taken from a creator subtitle track.

Whisper's `task="translate"` is a second decoding pass over the same audio with the model the transcriber
already loaded (no other model, works offline with the bundled `base`); it only translates into English.
Its cost relative to the transcription is measured in bench/translate.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Mapping, Protocol, Sequence

import numpy as np

from vtdb.media.transcribe import SAMPLE_RATE, FasterWhisperTranscriber, ProgressCallback, TranscriptSegment, fixed_chunks

SOURCE_SUBTITLES = "subtitles"
SOURCE_WHISPER = "whisper-translate"


@dataclass
class Translation:
    language: str  # the language translated into ("en")
    source: str  # SOURCE_SUBTITLES | SOURCE_WHISPER
    model: str  # "subtitles:{track}" or "faster-whisper:{model}"
    segments: list[TranscriptSegment] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()

    def to_dict(self) -> dict:
        return asdict(self)


class Translator(Protocol):
    name: str
    target: str  # the one language it translates into

    def translate(self, audio: np.ndarray, language: str | None, progress: ProgressCallback | None = None) -> Translation: ...


class WhisperTranslator:
    """Whisper's own translate task (into English), with the transcriber's loaded model and decoding options."""

    target = "en"

    def __init__(self, transcriber: FasterWhisperTranscriber):
        self.transcriber = transcriber
        self.name = transcriber.name

    def translate(self, audio: np.ndarray, language: str | None, progress: ProgressCallback | None = None) -> Translation:
        from faster_whisper import BatchedInferencePipeline

        model = self.transcriber.whisper_model()
        opts = self.transcriber.options
        # The speech language is given (Whisper's own detection is unreliable on short or synthetic speech).
        # No word timestamps: windows take translated segments whole, by their middle.
        options = dict(language=language, task="translate", beam_size=opts.beam_size,
                       condition_on_previous_text=False, word_timestamps=False)
        batch_size = getattr(self.transcriber, "batch_size", 0)
        if batch_size > 0:
            extra: dict = {"vad_filter": opts.vad_filter}
            if not opts.vad_filter:
                extra["clip_timestamps"] = fixed_chunks(len(audio) / SAMPLE_RATE)
            segments_iter, _info = BatchedInferencePipeline(model=model).transcribe(audio, batch_size=batch_size, **extra, **options)
        else:
            segments_iter, _info = model.transcribe(audio, vad_filter=opts.vad_filter, **options)
        segments: list[TranscriptSegment] = []
        for seg in segments_iter:
            if seg.text.strip() and plausible_translation(seg, segments):
                segments.append(TranscriptSegment(round(seg.start, 3), round(seg.end, 3), seg.text.strip()))
            if progress:
                progress(float(seg.end))
        return Translation(self.target, SOURCE_WHISPER, self.name, segments)


# Whisper's own hallucination markers (the thresholds of its temperature fallback): a segment that repeats
# itself compresses too well; one decoded with little confidence over what it thinks is silence is invented.
MAX_COMPRESSION_RATIO = 2.4
MIN_AVG_LOGPROB = -1.0
MAX_NO_SPEECH_PROB = 0.6
REPEAT_LOOKBACK = 4


def _normalized(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


def plausible_translation(seg, kept: Sequence[TranscriptSegment]) -> bool:
    """Keep a translated segment unless it is one of Whisper's loops: the same sentence as one of the last few
    kept (translate mode repeats "I will not let you go." over unclear speech), a segment that repeats itself,
    or one decoded with low confidence over likely silence."""
    if float(getattr(seg, "compression_ratio", 0.0) or 0.0) > MAX_COMPRESSION_RATIO:
        return False
    if (float(getattr(seg, "avg_logprob", 0.0) or 0.0) < MIN_AVG_LOGPROB
            and float(getattr(seg, "no_speech_prob", 0.0) or 0.0) > MAX_NO_SPEECH_PROB):
        return False
    text = _normalized(seg.text)
    return not any(_normalized(k.text) == text for k in kept[-REPEAT_LOOKBACK:])


def translation_from_cues(cues: Sequence, language: str, label: str) -> Translation:
    """A creator subtitle track in the output language, as the translation (its cues are the segments)."""
    return Translation(language, SOURCE_SUBTITLES, f"subtitles:{label}",
                       [TranscriptSegment(c.start, c.end, c.text) for c in cues])


def text_in_window(segments: Sequence[Mapping | TranscriptSegment], start: float, end: float, last: bool) -> str:
    """The segments whose middle lies in [start, end) (the last window also takes anything after it), joined.
    Segments carry no word timing, so a segment goes whole to each window that holds its middle."""
    parts = []
    for seg in segments:
        s, e, text = (seg["start"], seg["end"], seg["text"]) if isinstance(seg, Mapping) else (seg.start, seg.end, seg.text)
        middle = (s + e) / 2
        if start <= middle < end or (last and middle >= start):
            parts.append(str(text).strip())
    return " ".join(p for p in parts if p)
