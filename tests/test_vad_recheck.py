"""Speech after a long steady sound is still heard (issue 25's archive set: 40 s of a sine sweep before speech).

Silero VAD, run over a whole file, wore out on a long tone or sweep and heard none of the speech after it, so
Whisper never saw it. Real parts: a real recording, ffmpeg's tone and sweep, Silero VAD, the bundled Whisper."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from faster_whisper.audio import decode_audio

from bench._common import speech_dir
from vtdb.config import build_settings
from vtdb.media.pieces import SAMPLE_RATE, vad_chunks
from vtdb.media.transcribe import FasterWhisperTranscriber

LEADS = {"tone": "sine=frequency=200:sample_rate=16000:duration=40,volume=0.3",
         "sweep": "aevalsrc=0.3*sin(2*PI*(100*t+(4000-100)/80*t*t)):s=16000:d=40"}
RECORDING = "en_081.flac"  # "nevermind": Silero over the whole file missed it after both sounds


@pytest.fixture(scope="module")
def transcriber():
    return FasterWhisperTranscriber(build_settings({}, env={}))


def _after(lead: str, tmp_path) -> np.ndarray:
    out = tmp_path / f"{lead}.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", LEADS[lead], "-i", str(speech_dir("en") / RECORDING),
                    "-filter_complex", "[0:a]aformat=sample_rates=16000:channel_layouts=mono[s];"
                    "[1:a]aformat=sample_rates=16000:channel_layouts=mono,apad=pad_dur=1[e];[s][e]concat=n=2:v=0:a=1[a]",
                    "-map", "[a]", str(out)], check=True)
    return decode_audio(str(out), sampling_rate=SAMPLE_RATE)


@pytest.mark.parametrize("lead", sorted(LEADS))
def test_speech_after_40_s_of_a_steady_sound_is_transcribed(lead, tmp_path, transcriber):
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    audio = _after(lead, tmp_path)
    assert not get_speech_timestamps(audio, VadOptions()), "Silero over the whole file hears it now: the case is gone"
    chunks = vad_chunks(audio, 27.2)
    assert chunks and all(c["start"] >= 39 * SAMPLE_RATE for c in chunks), chunks
    transcript = transcriber.transcribe(audio, "en")
    assert transcript.words and min(w.start for w in transcript.words) >= 39.5
    assert "nevermind" in re.sub(r"[^a-z]", "", transcript.text.lower()), transcript.text  # "Never mind." is fine too


def test_speech_in_quiet_is_found_once_and_chunks_stay_within_the_limit(tmp_path):
    clip = decode_audio(str(speech_dir("en") / "en_010.flac"), sampling_rate=SAMPLE_RATE)
    silence = np.zeros(20 * SAMPLE_RATE, dtype=np.float32)
    audio = np.concatenate([silence, clip, silence, clip, silence])
    spans = [(20 * SAMPLE_RATE, 20 * SAMPLE_RATE + len(clip)), (40 * SAMPLE_RATE + len(clip), 40 * SAMPLE_RATE + 2 * len(clip))]
    chunks = vad_chunks(audio, 1.0)
    assert all(any(a <= c["start"] < c["end"] <= b for a, b in spans) for c in chunks), (chunks, spans)  # none in silence
    assert all(any(a <= c["start"] < b for c in chunks) for a, b in spans), (chunks, spans)  # both heard
    assert all(x["end"] <= y["start"] for x, y in zip(chunks, chunks[1:]))  # in order, none twice
    assert all(c["end"] - c["start"] <= 1.0 * SAMPLE_RATE for c in chunks)
