"""Batched Whisper (the default since issue 11) keeps Phase 1's contract, and so does sequential (batch 0).

Real faster-whisper (the bundled `base`) on real recorded speech from tests/data/speech/en: word
timestamps, VAD, progress, windows and per-video language with the unsure flag, in both modes. Words are
checked loosely (a word error rate bound on real speech, not exact words: kernels differ per CPU).
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from bench._common import norm_words, speech_audio, wer  # the benchmarks' real speech and WER
from vtdb.config import build_settings
from vtdb.media.transcribe import SAMPLE_RATE, FasterWhisperTranscriber
from vtdb.media.windows import plan_windows, words_in_window

MODES = ["0", "8"]  # sequential, batched (8 = the CPU's auto value)

def _music(seconds: float, tmp) -> np.ndarray:
    """A music-like intro made by ffmpeg: a chord that swells, over pink noise."""
    from faster_whisper.audio import decode_audio

    out = tmp / "intro.wav"
    chord = "0.25*sin(2*PI*220*t)+0.2*sin(2*PI*277*t)+0.2*sin(2*PI*330*t)"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"aevalsrc=({chord})*(0.6+0.4*sin(2*PI*0.5*t)):s=16000",
                    "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.08:r=16000", "-filter_complex",
                    "amix=inputs=2:duration=first", "-t", str(seconds), "-ac", "1", "-ar", "16000", str(out)], check=True)
    return decode_audio(str(out), sampling_rate=SAMPLE_RATE)


@pytest.fixture(scope="module")
def speech():
    return speech_audio(45)  # real utterances with 1.2 s pauses, and their text


@pytest.fixture(scope="module")
def transcriptions(speech):
    """One transcription of the same 45 s per mode, with the progress reports it made."""
    audio, _text = speech
    out = {}
    for mode in MODES:
        transcriber = FasterWhisperTranscriber(build_settings({"whisper_batch_size": mode}, env={}))
        reports: list[float] = []
        out[mode] = (transcriber, transcriber.transcribe(audio, "en", progress=reports.append), reports)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_word_timestamps_and_words_in_both_modes(mode, speech, transcriptions):
    audio, text = speech
    transcriber, transcript, _ = transcriptions[mode]
    assert (transcriber._batched is not None) == (mode != "0") and transcriber.batch_size == int(mode)
    duration = len(audio) / SAMPLE_RATE
    words = transcript.words
    assert wer(norm_words(text), norm_words(" ".join(w.word for w in words))) < 0.3, transcript.text
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= duration + 0.5 for w in words)
    assert words[-1].end > 30, "speech after the first 30 s was transcribed too"
    # Segments hold their words: every word lies inside some segment's span.
    assert all(any(s.start - 0.5 <= w.start <= s.end + 0.5 for s in transcript.segments) for w in words)
    assert transcript.language == "en" and transcript.language_source == "config" and not transcript.low_confidence


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_progress_within_the_video_in_both_modes(mode, speech, transcriptions):
    audio, _ = speech
    _, transcript, reports = transcriptions[mode]
    assert reports and reports == sorted(reports) and len(set(reports)) == len(reports)  # forward only
    assert reports[-1] >= 0.8 * (len(audio) / SAMPLE_RATE) - 5
    assert len(reports) <= len(transcript.segments)


@pytest.mark.slow
def test_windows_take_the_same_words_in_both_modes(speech, transcriptions):
    """Windows assign words by timestamp; both modes' timestamps put each reference phrase in the same windows."""
    audio, _ = speech
    spans = plan_windows(len(audio) / SAMPLE_RATE, 20.0, 5.0, 2.0)
    per_mode = {}
    for mode in MODES:
        words = [w.__dict__ for w in transcriptions[mode][1].words]
        assigned = [words_in_window(s, words, last=s.index == len(spans) - 1) for s in spans]
        # every word is in at least one window; words in the overlaps are in two
        assert all(any(w in a for a in assigned) for w in words)
        per_mode[mode] = [len(a) for a in assigned]
    for seq, bat in zip(per_mode["0"], per_mode["8"]):
        assert abs(seq - bat) <= max(3, 0.3 * max(seq, bat)), per_mode


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("vad", [True, False])
def test_vad_filter_decides_what_reaches_faster_whisper_in_both_modes(mode, vad, transcriptions, monkeypatch):
    """With VAD, only pieces of speech are decoded (a long silence is not); without it, all of the audio.
    Either way Whisper runs with word timestamps and timestamp tokens, in the real pipeline of each mode."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    transcriber = FasterWhisperTranscriber(build_settings({"whisper_batch_size": mode, "vad_filter": vad}, env={}))
    shared = transcriptions[mode][0]
    transcriber._model, transcriber._batched, transcriber.batch_size, transcriber.encoder = (
        shared._model, shared._batched, shared.batch_size, shared.encoder)
    seen: list[tuple[int, dict]] = []
    real = BatchedInferencePipeline.transcribe if mode != "0" else WhisperModel.transcribe

    def recording(self, audio, **kwargs):  # records what reaches faster-whisper, then runs it
        seen.append((len(audio), kwargs))
        return real(self, audio, **kwargs)

    monkeypatch.setattr(BatchedInferencePipeline if mode != "0" else WhisperModel, "transcribe", recording)
    speech, _ = speech_audio(6, skip=10)
    silence = np.zeros(SAMPLE_RATE * 40, dtype=np.float32)
    audio = np.concatenate([speech, silence, speech])
    transcript = transcriber.transcribe(audio, "en")
    decoded_s = sum(n for n, _ in seen) / SAMPLE_RATE
    assert seen and all(k["word_timestamps"] is True and k["without_timestamps"] is False for _, k in seen)
    if vad:
        assert decoded_s < len(audio) / SAMPLE_RATE - 30, decoded_s  # the 40 s of silence stayed out
    else:
        assert decoded_s >= len(audio) / SAMPLE_RATE - 1, decoded_s
    assert any(w.start < 10 for w in transcript.words) and any(w.start > 45 for w in transcript.words)


@pytest.mark.slow
def test_language_detected_in_both_modes_and_past_a_music_intro(tmp_path, transcriptions):
    audio, _ = speech_audio(20, skip=30)
    intro = _music(35, tmp_path)  # the first 30 s window is music and noise only
    for mode in MODES:
        transcriber = transcriptions[mode][0]
        for label, signal in (("speech", audio), ("music intro", np.concatenate([intro, audio]))):
            language, probability = transcriber.detect_language(signal)
            assert language == "en" and probability >= 0.5, (mode, label, language, probability)
    # End to end in the default (batched) mode: detected, sure, and the words come after the intro.
    transcript = transcriptions["8"][0].transcribe(np.concatenate([intro, audio]), None)
    assert (transcript.language, transcript.language_source, transcript.low_confidence) == ("en", "detected", False)
    assert transcript.words and min(w.start for w in transcript.words) >= 30


@pytest.mark.slow
def test_unsure_detection_takes_the_fallback_language_in_batched_mode(transcriptions):
    audio, _ = speech_audio(8, skip=60)
    transcriber = FasterWhisperTranscriber(build_settings(
        {"language_confidence_threshold": 1.0, "fallback_language": "de"}, env={}))
    shared = transcriptions["8"][0]
    transcriber._model, transcriber._batched, transcriber.batch_size = shared._model, shared._batched, shared.batch_size
    transcript = transcriber.transcribe(audio, None)
    assert transcript.low_confidence and transcript.language == "de" and transcript.language_source == "fallback"
    assert 0 < transcript.language_probability < 1.0


@pytest.mark.slow
def test_silence_is_no_speech_in_both_modes(transcriptions):
    for mode in MODES:
        transcript = transcriptions[mode][0].transcribe(np.zeros(SAMPLE_RATE * 20, dtype=np.float32), None)
        assert transcript.language_source == "none" and not transcript.words, mode
