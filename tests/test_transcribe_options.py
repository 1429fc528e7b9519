"""Whisper options that must reach faster-whisper in every mode (issue #9): `vad_filter` in batched mode.

Real faster-whisper (the bundled `base`) on real recorded speech from tests/data/speech/en. The
pipeline's own `transcribe` is wrapped only to see the options it was given; it still runs for real.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench._common import speech_dir, speech_rows
from vtdb.config import build_settings
from vtdb.media.transcribe import SAMPLE_RATE, FasterWhisperTranscriber, fixed_chunks


def _speech(seconds: float) -> np.ndarray:
    """Real utterances with 1.5 s pauses, at least `seconds` long."""
    from faster_whisper.audio import decode_audio

    parts, total = [], 0.0
    pause = np.zeros(int(1.5 * SAMPLE_RATE), dtype=np.float32)
    for file_name, _text in speech_rows("en"):
        clip = decode_audio(str(speech_dir("en") / file_name), sampling_rate=SAMPLE_RATE)
        parts += [clip, pause]
        total += (len(clip) + len(pause)) / SAMPLE_RATE
        if total >= seconds:
            break
    return np.concatenate(parts)


def test_fixed_chunks_cover_the_audio_in_30_s_pieces():
    assert fixed_chunks(0) == []
    assert fixed_chunks(12.5) == [{"start": 0.0, "end": 12.5}]
    assert fixed_chunks(75) == [{"start": 0.0, "end": 30.0}, {"start": 30.0, "end": 60.0}, {"start": 60.0, "end": 75.0}]


@pytest.mark.slow
@pytest.mark.parametrize("vad", [False, True])
def test_batched_mode_honours_vad_filter(vad):
    """Phase 1 cuts the audio into pieces itself (vtdb.media.pieces): with vad_filter, Silero VAD's pieces of
    speech; without, plain pieces covering all of it. Whisper then decodes exactly those, in batched mode too."""
    audio = _speech(40)  # over 30 s: more than one item
    transcriber = FasterWhisperTranscriber(build_settings({"whisper_batch_size": 4, "vad_filter": vad}, env={}))
    transcriber._load()
    seen: list = []
    real = transcriber.speech_pieces

    def spy(audio_arg):
        seen.extend(real(audio_arg))
        return seen

    transcriber.speech_pieces = spy  # type: ignore[method-assign]
    transcript = transcriber.transcribe(audio, "en")
    covered = sum(p.duration for p in seen)
    if vad:
        assert all(p.speech > 0 for p in seen) and covered < 0.9 * len(audio) / SAMPLE_RATE, seen  # the pauses left out
    else:
        assert seen[0].start == 0 and all(a.end == b.start for a, b in zip(seen, seen[1:])), seen
        assert seen[-1].end == pytest.approx(len(audio) / SAMPLE_RATE, abs=0.01) and all(p.speech == 0 for p in seen)
    duration = len(audio) / SAMPLE_RATE
    assert len(transcript.words) >= 20, transcript.text
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts) and 0 <= starts[0] and transcript.words[-1].end <= duration + 0.5
    assert transcript.words[-1].end > 30, "speech after the first 30 s was transcribed too"
