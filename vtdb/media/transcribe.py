"""Speech to timestamped words: the Transcriber interface and its faster-whisper backend.

The whole audio track is transcribed once per video (not per window: that costs ~1.43x and
cuts sentences); windows take their words by timestamp afterwards.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import asdict, dataclass, field
from typing import Callable, Protocol

import numpy as np

from vtdb.config import Settings, WhisperOptions
from vtdb.errors import ModelUnavailable
from vtdb.models import resolve_whisper_model

log = logging.getLogger(__name__)
SAMPLE_RATE = 16000


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass
class TranscriptSegment:
    start: float
    end: float
    text: str


@dataclass
class Transcript:
    language: str | None
    language_probability: float
    language_source: str  # "config" | "detected" | "fallback" | "none" (no audio / no speech)
    low_confidence: bool
    model: str
    segments: list[TranscriptSegment] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)
    source: str = "whisper"  # "whisper" | "subtitles" (creator subtitles from a ZIM) | "none"

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()

    def to_dict(self) -> dict:
        out = asdict(self)
        out["text"] = self.text
        return out

    @classmethod
    def empty(cls, model: str, language: str | None = None) -> "Transcript":
        return cls(language, 0.0, "none", False, model, source="none")


ProgressCallback = Callable[[float], None]  # seconds of audio done


class Transcriber(Protocol):
    name: str

    def transcribe(self, audio: np.ndarray, language: str | None, progress: ProgressCallback | None = None) -> Transcript: ...


def fixed_chunks(duration: float, length: float = 30.0) -> list[dict[str, float]]:
    """Consecutive pieces of at most `length` seconds covering [0, duration] (batched Whisper without VAD)."""
    chunks, start = [], 0.0
    while start < duration:
        chunks.append({"start": round(start, 3), "end": round(min(start + length, duration), 3)})
        start += length
    return chunks


def pick_device(requested: str, compute_type: str) -> tuple[str, str]:
    """cuda + float16 when a GPU is visible to CTranslate2, else cpu + int8; explicit settings win."""
    device = requested
    if device == "auto":
        try:
            import ctranslate2

            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        except Exception:
            device = "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


class FasterWhisperTranscriber:
    """faster-whisper with word timestamps and VAD; the model loads lazily, once per process."""

    def __init__(self, options: WhisperOptions | Settings):
        # Takes its own option group (a whole Settings is accepted and narrowed to it).
        self.options = options.whisper if isinstance(options, Settings) else options
        self.name = f"faster-whisper:{self.options.model}"
        self._model = None
        self._batched = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                from faster_whisper import BatchedInferencePipeline, WhisperModel

                source = resolve_whisper_model(self.options.model)
                device, compute_type = pick_device(self.options.device, self.options.compute_type)
                threads = self.options.cpu_threads or (os.cpu_count() or 1)
                try:
                    self._model = WhisperModel(source, device=device, compute_type=compute_type, cpu_threads=threads)
                except Exception as exc:
                    raise ModelUnavailable(
                        f"cannot load Whisper model {self.options.model!r} ({source}) on {device}/{compute_type}: {exc}. "
                        "Offline, use 'base' (bundled) or a local CTranslate2 model folder."
                    ) from exc
                if self.options.batch_size > 0:
                    self._batched = BatchedInferencePipeline(model=self._model)
        return self._model

    def detect_language(self, audio: np.ndarray) -> tuple[str | None, float]:
        model = self._load()
        try:
            # Several 30 s segments rather than only the first: intros are often music or silence.
            lang, prob, _ = model.detect_language(audio, vad_filter=self.options.vad_filter, language_detection_segments=3)
        except Exception as exc:  # e.g. VAD found no speech at all
            log.debug("language detection failed: %s", exc)
            return None, 0.0
        return lang, float(prob)

    def transcribe(self, audio: np.ndarray, language: str | None, progress: ProgressCallback | None = None) -> Transcript:
        model = self._load()
        source = "config"
        probability = 1.0
        low = False
        if language is None:
            detected, probability = self.detect_language(audio)
            low = probability < self.options.language_confidence_threshold
            if detected is None:
                return Transcript.empty(self.name)
            if low and self.options.fallback_language:
                language, source = self.options.fallback_language, "fallback"
            else:
                language, source = detected, "detected"
        options = dict(
            language=language,
            word_timestamps=True,
            beam_size=self.options.beam_size,
            # Conditioning on earlier text invites repetition loops on long audio (measured: bench/phase1.py).
            condition_on_previous_text=False,
        )
        if self._batched is not None:
            batched_options: dict = {"vad_filter": self.options.vad_filter}
            if not self.options.vad_filter:
                # Without VAD the batched pipeline needs the chunks given (it refuses audio over 30 s):
                # plain 30 s pieces, which is what "no VAD" means.
                batched_options["clip_timestamps"] = fixed_chunks(len(audio) / SAMPLE_RATE)
            segments_iter, _info = self._batched.transcribe(audio, batch_size=self.options.batch_size,
                                                            **batched_options, **options)
        else:
            segments_iter, _info = model.transcribe(audio, vad_filter=self.options.vad_filter, **options)
        segments: list[TranscriptSegment] = []
        words: list[Word] = []
        for seg in segments_iter:
            segments.append(TranscriptSegment(round(seg.start, 3), round(seg.end, 3), seg.text.strip()))
            for w in seg.words or []:
                words.append(Word(round(w.start, 3), round(w.end, 3), w.word, round(float(w.probability), 4)))
            if progress:
                progress(float(seg.end))
        return Transcript(language, round(probability, 4), source, low, self.name, segments, words)
