"""Speech to timestamped words: the Transcriber interface and its faster-whisper backend.

The whole audio track is transcribed once per video (not per window: that costs ~1.43x and
cuts sentences); windows take their words by timestamp afterwards. Speech is decoded in pieces cut at
pauses (vtdb.media.pieces), and segments that are likely invented are kept apart as unsure
(vtdb.media.hallucinations).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from vtdb.commandline import command
from vtdb.config import Settings, WhisperOptions
from vtdb.errors import ModelUnavailable
from vtdb.media.hallucinations import hallucination, letters, normalized
from vtdb.media.pieces import VAD_STREAM_BLOCK_S, EncoderCache, Piece, PieceSegment, decode_pieces, speech_pieces
from vtdb.models import resolve_whisper_model

if TYPE_CHECKING:
    from vtdb.media.audio import AudioSignal

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
    unsure: str = ""  # why this text is likely not real speech (not indexed); "" = speech


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
        """The speech (segments flagged unsure left out)."""
        return " ".join(s.text.strip() for s in self.segments if not s.unsure).strip()

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

    def transcribe(self, audio: AudioSignal, language: str | None, progress: ProgressCallback | None = None) -> Transcript: ...


def fixed_chunks(duration: float, length: float = 30.0) -> list[dict[str, float]]:
    """Consecutive pieces of at most `length` seconds covering [0, duration] (batched Whisper without VAD)."""
    chunks, start = [], 0.0
    while start < duration:
        chunks.append({"start": round(start, 3), "end": round(min(start + length, duration), 3)})
        start += length
    return chunks


# whisper_batch_size "auto", per device. CPU: bench/whisper.py on 2 cores (base int8, 4 min of real speech)
# measured 31.2 s of CPU at 8 against 32.4 at 4 and 34.4 at 16 (same WER 0.038), sequential 68.5 (WER 0.047).
# CUDA: a GPU keeps gaining from wider batches; 16 is faster-whisper's own suggestion (not measured here).
AUTO_BATCH_SIZE = {"cpu": 8, "cuda": 16}


def parse_device(device: str) -> tuple[str, int]:
    """A normalized whisper_device as WhisperModel's (device, device_index): "cuda:1" -> ("cuda", 1).

    A list of GPUs (cuda:0,1) is one Phase 1 process per GPU (vtdb/commands/phase1.py starts them, each
    with its own VTDB_WHISPER_DEVICE): one transcriber never spans several GPUs, so it is refused here.
    """
    text = str(device).strip().lower()
    if text.startswith("cuda:"):
        index = text.split(":", 1)[1]
        if not index.isdigit():
            raise ModelUnavailable(
                f"whisper_device {device!r} names several GPUs: that is one Phase 1 process per GPU, started by "
                f"{command('phase1')}; a single transcriber needs one device such as 'cuda:1'"
            )
        return "cuda", int(index)
    return text, 0


def pick_device(requested: str, compute_type: str) -> tuple[str, str]:
    """cuda + float16 when a GPU is visible to CTranslate2, else cpu + int8; explicit settings win.

    The device comes back without its index ("cuda:1" -> "cuda"): see parse_device for the index.
    """
    device, _index = parse_device(requested)
    if device == "auto":
        try:
            import ctranslate2

            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        except Exception:
            device = "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


def resolve_batch_size(batch_size: str | int, device: str) -> int:
    """whisper_batch_size as a number: "auto" -> the measured value for `device` (cpu | cuda), "0" -> 0 (sequential)."""
    text = str(batch_size).strip().lower()
    if text == "auto":
        return AUTO_BATCH_SIZE["cuda" if device.startswith("cuda") else "cpu"]
    return int(text)


def whisper_model_kwargs(options: WhisperOptions) -> dict:
    """What WhisperModel(...) gets besides the model itself: device, device_index, compute_type, cpu_threads."""
    device, compute_type = pick_device(options.device, options.compute_type)
    _, index = parse_device(options.device)
    # 0 = all cores. On a GPU CTranslate2 only needs a thread or so for the host side; more would only
    # compete with the frame-extraction thread.
    threads = options.cpu_threads or (os.cpu_count() or 1)
    return {"device": device, "device_index": index, "compute_type": compute_type, "cpu_threads": threads}


class FasterWhisperTranscriber:
    """faster-whisper with word timestamps and VAD; the model loads lazily, once per process.

    Batched decoding (faster-whisper's BatchedInferencePipeline) is the default ("auto"): half the CPU time of
    sequential decoding on 2 cores and no less accurate on real speech (bench/whisper.py); it also does not
    fall into the repetition loops of conditioned sequential decoding. whisper_batch_size 0 is sequential.
    """

    def __init__(self, options: WhisperOptions | Settings):
        # Takes its own option group (a whole Settings is accepted and narrowed to it).
        self.options = options.whisper if isinstance(options, Settings) else options
        self.name = f"faster-whisper:{self.options.model}"
        self._model = None
        self._batched = None
        self.batch_size = 0  # resolved at load (auto depends on the device)
        self.model_kwargs: dict = {}
        self._lock = threading.Lock()
        self._pieces: tuple[int, int, list[Piece]] | None = None  # (id, length, pieces) of the last audio
        self.encoder: EncoderCache | None = None  # the last transcription's encoder outputs, for the translation

    def whisper_model(self):
        """The loaded faster_whisper.WhisperModel (loaded once, thread-safe): other tasks (translate) reuse it."""
        with self._lock:
            if self._model is None:
                from faster_whisper import BatchedInferencePipeline, WhisperModel

                source = resolve_whisper_model(self.options.model)
                kwargs = whisper_model_kwargs(self.options)
                where = f"{kwargs['device']}:{kwargs['device_index']}/{kwargs['compute_type']}"
                try:
                    model = WhisperModel(source, **kwargs)
                except Exception as exc:
                    raise ModelUnavailable(
                        f"cannot load Whisper model {self.options.model!r} ({source}) on {where}: {exc}. "
                        "Offline, use 'base' (bundled) or a local CTranslate2 model folder."
                    ) from exc
                self.model_kwargs = kwargs
                self.batch_size = resolve_batch_size(self.options.batch_size, kwargs["device"])
                if self.batch_size > 0:
                    self._batched = BatchedInferencePipeline(model=model)
                    self.encoder = EncoderCache(model)
                self._model = model
        return self._model

    _load = whisper_model  # the older private name (tests and benches use it)

    def speech_pieces(self, audio: AudioSignal) -> list[Piece]:
        """The pieces of speech Whisper decodes (VAD, or plain pieces with vad_filter off); the last audio's
        are kept, so the translation of the same audio cuts it the same way."""
        if self._pieces is not None and self._pieces[:2] == (id(audio), len(audio)):
            return self._pieces[2]
        pieces = speech_pieces(audio, self.options.vad_filter)
        self._pieces = (id(audio), len(audio), pieces)
        return pieces

    def release(self) -> None:
        """Forget the last audio's pieces and encoder outputs (once its translation is done or not wanted)."""
        self._pieces = None
        if self.encoder is not None:
            self.encoder.clear()

    def detect_language(self, audio: AudioSignal) -> tuple[str | None, float]:
        """(language, probability) from up to 3 x 30 s of speech, or (None, 0.0) when there is no speech."""
        model = self.whisper_model()
        segments = 3  # several 30 s segments rather than only the first: intros are often music or silence
        wanted = segments * 30 * SAMPLE_RATE  # what model.detect_language looks at (it cuts the rest off itself)
        if self.options.vad_filter:
            speech = self._speech_prefix(audio, segments * 30.0)
            if speech.size == 0:
                return None, 0.0
        else:
            speech = audio[:wanted]
        try:
            # The same detection in both modes (the batched pipeline's own looks at its first chunk only).
            lang, prob, _ = model.detect_language(speech, language_detection_segments=segments)
        except Exception as exc:  # a damaged or empty signal
            log.debug("language detection failed: %s", exc)
            return None, 0.0
        return lang, float(prob)

    @staticmethod
    def _speech_prefix(audio: AudioSignal, wanted_s: float) -> np.ndarray:
        """The speech (VAD) of the shortest prefix of `audio` that holds `wanted_s` seconds of it, or all there is.

        Detection needs only the first 90 s of speech; VAD over a whole long video would cost ~0.2 s of CPU per
        minute of audio on top of the transcription's own VAD pass (measured on 2 cores). The prefix grows 4x a
        step (by at most VAD_STREAM_BLOCK_S), each step listening only to what it adds, read as a slice: a long
        file's silence is never whole in memory.
        """
        from faster_whisper.vad import collect_chunks, get_speech_timestamps

        wanted = int(wanted_s * SAMPLE_RATE)
        found: list[np.ndarray] = []
        heard = 0
        done, step = 0, int(4 * wanted_s * SAMPLE_RATE)
        while done < len(audio) and heard < wanted:
            part = audio[done: done + step]
            chunks = get_speech_timestamps(part)
            if chunks:
                speech = np.concatenate(collect_chunks(part, chunks)[0])
                found.append(speech[: wanted - heard])  # beyond `wanted` nothing is looked at
                heard += len(found[-1])
            done += len(part)
            step = min(step * 3, int(VAD_STREAM_BLOCK_S * SAMPLE_RATE))  # the prefix 4x as long, or a block longer
        return np.concatenate(found) if found else np.zeros(0, dtype=np.float32)

    def transcribe(self, audio: AudioSignal, language: str | None, progress: ProgressCallback | None = None) -> Transcript:
        model = self.whisper_model()
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
        if self.encoder is not None:
            self.encoder.clear()  # a new audio: nothing to reuse
        pieces = self.speech_pieces(audio)
        decoded = decode_pieces(model, audio, pieces, task="transcribe", language=language,
                                beam_size=self.options.beam_size, batch_size=self.batch_size, progress=progress,
                                encoder=self.encoder)
        segments: list[TranscriptSegment] = []
        words: list[Word] = []
        for seg, reason in judge(decoded, pieces, self.options.vad_filter):
            segments.append(TranscriptSegment(seg.start, seg.end, seg.text, reason))
            if not reason:
                words += [Word(w.start, w.end, w.word, w.probability) for w in seg.words]
        return Transcript(language, round(probability, 4), source, low, self.name, segments, words)


LOOP_REPEATS = 3


def judge(decoded: list[PieceSegment], pieces: list[Piece], vad: bool) -> list[tuple[PieceSegment, str]]:
    """Each decoded segment with the reason it is likely invented ("" = speech): vtdb.media.hallucinations,
    with the speech under it from the VAD (unknown without VAD) and the sentences kept before it in its piece."""
    out: list[tuple[PieceSegment, str]] = []
    kept: dict[int, list[str]] = {}
    # A sentence said LOOP_REPEATS times or more over one piece of speech is a loop, the first time included.
    counts = Counter((seg.piece, normalized(seg.text)) for seg in decoded)
    piece_letters: Counter[int] = Counter()
    for seg in decoded:
        piece_letters[seg.piece] += letters(seg.text)
    for seg in decoded:
        if counts[(seg.piece, normalized(seg.text))] >= LOOP_REPEATS:
            out.append((seg, f"a loop: the same sentence {counts[(seg.piece, normalized(seg.text))]} times over "
                             f"{pieces[seg.piece].duration:.0f} s of audio"))
            continue
        piece = pieces[seg.piece]
        # The piece's speech, shared among its segments by their letters: the rate is the piece's own (word
        # times at a piece's edge can collapse, a segment's own span says little).
        share = letters(seg.text) / max(piece_letters[seg.piece], 1)
        speech_s = piece.speech * share if vad and piece.speech > 0 else None
        reason = hallucination(seg.text, speech_s=speech_s, word_probabilities=[w.probability for w in seg.words],
                               avg_logprob=seg.avg_logprob, no_speech_prob=seg.no_speech_prob,
                               compression_ratio=seg.compression_ratio, recent=kept.get(seg.piece, []))
        if not reason:
            kept.setdefault(seg.piece, []).append(normalized(seg.text))
        out.append((seg, reason))
    return out
