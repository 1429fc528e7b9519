"""English for speech in another language: the Translator interface, Whisper's translate task, and
translations taken from a creator subtitle track.

Whisper's `task="translate"` is a second decoding pass over the same pieces of speech as the transcription,
with the model the transcriber already loaded (no other model, works offline with the bundled `base`); it
only translates into English. Every English word is mapped back to the piece of speech it was heard in
(vtdb.media.pieces), so each window gets the English of its own speech, however sparse the speech is. Its
cost relative to the transcription is measured in bench/translate.py.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence

from vtdb.media.pieces import Piece, decode_pieces
from vtdb.media.transcribe import (
    FasterWhisperTranscriber,
    ProgressCallback,
    Transcript,
    TranscriptSegment,
    judge,
)

if TYPE_CHECKING:
    from vtdb.media.audio import AudioSignal

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
        """The English (segments flagged unsure left out)."""
        return " ".join(s.text.strip() for s in self.segments if not s.unsure).strip()

    def to_dict(self) -> dict:
        return asdict(self)


class Translator(Protocol):
    name: str
    target: str  # the one language it translates into

    def translate(self, audio: AudioSignal, language: str | None, progress: ProgressCallback | None = None,
                  transcript: Transcript | None = None) -> Translation: ...


class WhisperTranslator:
    """Whisper's own translate task (into English), with the transcriber's loaded model and decoding options.

    It decodes the same pieces of speech as the transcription, reusing their encoder outputs when the
    transcription of the same audio just ran batched, with word timestamps: each English word goes back to
    the piece it was heard in, and each piece's English is a segment at that piece's time.
    """

    target = "en"

    def __init__(self, transcriber: FasterWhisperTranscriber):
        self.transcriber = transcriber
        self.name = transcriber.name

    def translate(self, audio: AudioSignal, language: str | None, progress: ProgressCallback | None = None,
                  transcript: Transcript | None = None) -> Translation:
        """English for `audio`, whose speech is in `language` (given: Whisper's detection is unreliable on short
        speech). With the `transcript` of the same audio, English over a stretch where the transcript holds no
        speech (nothing heard, or only text flagged as invented) is flagged unsure as well."""
        transcriber = self.transcriber
        model = transcriber.whisper_model()
        pieces = transcriber.speech_pieces(audio)
        decoded = decode_pieces(model, audio, pieces, task="translate", language=language,
                                beam_size=transcriber.options.beam_size, batch_size=transcriber.batch_size,
                                progress=progress, encoder=transcriber.encoder)
        spoken = pieces_with_speech(pieces, transcript) if transcript is not None else None
        segments = []
        for seg, reason in judge(decoded, pieces, transcriber.options.vad_filter):
            if not reason and spoken is not None and seg.piece not in spoken:
                reason = "the transcript holds no speech here"
            segments.append(TranscriptSegment(seg.start, seg.end, seg.text, reason))
        return Translation(self.target, SOURCE_WHISPER, self.name, segments)


def pieces_with_speech(pieces: Sequence[Piece], transcript: Transcript) -> set[int]:
    """The pieces that hold a word of the transcript's speech (words of flagged segments are not in it)."""
    starts = [p.start for p in pieces]
    found = set()
    for w in transcript.words:
        middle = (w.start + w.end) / 2
        i = bisect.bisect_right(starts, middle) - 1
        near = [k for k in (i, i + 1) if 0 <= k < len(pieces) and pieces[k].start - 0.5 <= middle <= pieces[k].end + 0.5]
        found.update(near[:1])
    return found


def translation_from_cues(cues: Sequence, language: str, label: str) -> Translation:
    """A creator subtitle track in the output language, as the translation (its cues are the segments)."""
    return Translation(language, SOURCE_SUBTITLES, f"subtitles:{label}",
                       [TranscriptSegment(c.start, c.end, c.text) for c in cues])


def text_in_window(segments: Sequence[Mapping | TranscriptSegment], start: float, end: float, last: bool) -> str:
    """The segments that overlap [start, end) (the last window also takes anything after it), joined; segments
    flagged unsure are left out. A segment goes whole to every window it overlaps: a translated segment is
    the English of one stretch of speech (a piece of it, or a creator cue), so a window gets the English of
    the speech it holds, and overlapping windows share a sentence said across their edge."""
    parts = []
    for seg in segments:
        if isinstance(seg, Mapping):
            s, e, text, unsure = seg["start"], seg["end"], seg["text"], seg.get("unsure", "")
        else:
            s, e, text, unsure = seg.start, seg.end, seg.text, seg.unsure
        if unsure:
            continue
        if (s < end and e > start) or (start <= s < end) or (last and s >= start):
            parts.append(str(text).strip())
    return " ".join(p for p in parts if p)
