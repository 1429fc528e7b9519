"""No invented speech (issue 24): what Whisper writes over silence, noise, music or a fraction of a word is
flagged unsure (kept in the pickle with its reason, never in a window's searchable text), and real speech
is never flagged.

Real parts: faster-whisper `base` on ffmpeg-made silence, noise and music, on a real recording cut to 0.5 s,
and on the real recordings of tests/data/speech; Phase 1 through its CLI for the pickle. The rules
themselves (vtdb.media.hallucinations) are also checked on their own, with Whisper's scores as numbers.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import speech_check as speech
from faster_whisper.audio import decode_audio

from bench._common import SAMPLE_RATE, speech_audio, speech_dir, write_wav
from conftest import run_cli, write_config
from vtdb.config import build_settings, load_config
from vtdb.media.hallucinations import STOCK_PHRASES, hallucination, normalized
from vtdb.media.transcribe import FasterWhisperTranscriber, TranscriptSegment
from vtdb.phases.phase1 import unsure_in_window
from vtdb.workfiles import load_phase1_data

# ---------------------------------------------------------------- the rules, with Whisper's scores as numbers


def test_stock_phrases_are_flagged_only_with_a_second_sign():
    probable = dict(word_probabilities=[0.9, 0.95, 0.92, 0.97], avg_logprob=-0.2, no_speech_prob=0.05)
    assert hallucination("Thank you very much.", speech_s=1.2, **probable) == ""  # said, clearly: speech
    assert "a word at p=0.01" in hallucination("Thank you very much.", speech_s=1.2,
                                               **{**probable, "word_probabilities": [0.01, 0.95, 0.12, 0.99]})
    assert "could hold" in hallucination("Thank you very much.", speech_s=0.2, **probable)  # 17 letters in 0.2 s
    assert "no-speech" in hallucination("Vielen Dank!", speech_s=1.0, **{**probable, "no_speech_prob": 0.5})
    assert hallucination("Thank you for the tea, it was very good.", speech_s=2.5) == ""  # not a stock phrase


def test_loops_silence_credits_and_symbols():
    assert "repeats itself" in hallucination("I will not let you go. " * 6, speech_s=None, compression_ratio=4.1)
    assert "silence" in hallucination("Why are you so angry?", speech_s=None, avg_logprob=-1.4, no_speech_prob=0.9)
    assert hallucination("Why are you so angry?", speech_s=None, avg_logprob=-1.4, no_speech_prob=0.2) == ""
    assert "repeats" in hallucination(" why are you so ANGRY ", speech_s=2.0, recent=[normalized("Why are you so angry?")])
    assert "credit" in hallucination("Subtitles by the Amara.org community", speech_s=3.0)
    assert "credit" in hallucination("Редактор субтитров А.Семкин", speech_s=3.0)
    assert hallucination("We read the subtitles by the window every evening and talked.", speech_s=4.0) == ""
    assert "no words" in hallucination("♪ ♪", speech_s=2.0)
    assert all(p == normalized(p) for p in STOCK_PHRASES)  # the list is matched normalized


def test_flagged_text_goes_to_the_windows_unsure_list_only():
    from vtdb.media.transcribe import Transcript

    transcript = Transcript("en", 1.0, "config", False, "m", [
        TranscriptSegment(1.0, 2.0, "Pour the water."),
        TranscriptSegment(6.0, 6.5, "Thank you very much.", unsure="more words than its 0.2 s of speech could hold"),
    ])
    assert transcript.text == "Pour the water."
    assert unsure_in_window(transcript, None, 0.0, 5.0, last=False) == []
    flagged = unsure_in_window(transcript, None, 5.0, 10.0, last=True)
    assert flagged == [{"start": 6.0, "end": 6.5, "text": "Thank you very much.", "kind": "speech",
                        "reason": "more words than its 0.2 s of speech could hold"}]


# ---------------------------------------------------------------- real Whisper on real audio


def _ffmpeg_audio(tmp: Path, name: str, *args: str) -> np.ndarray:
    out = tmp / f"{name}.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args, "-ac", "1", "-ar", str(SAMPLE_RATE), str(out)], check=True)
    return decode_audio(str(out), sampling_rate=SAMPLE_RATE)


def _cut_word(language: str, file_name: str, seconds: float) -> np.ndarray:
    """The first `seconds` of speech of a real recording (from where the VAD hears it begin)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    clip = decode_audio(str(speech_dir(language) / file_name), sampling_rate=SAMPLE_RATE)
    start = get_speech_timestamps(clip, VadOptions(speech_pad_ms=0))[0]["start"]
    return clip[start: start + int(seconds * SAMPLE_RATE)]


@pytest.fixture(scope="module")
def transcribers():
    """Batched Whisper with VAD (the defaults) and without VAD (every sound reaches Whisper), one model."""
    with_vad = FasterWhisperTranscriber(build_settings({}, env={}))
    with_vad.whisper_model()
    without = FasterWhisperTranscriber(build_settings({"vad_filter": False}, env={}))
    without._model, without._batched, without.batch_size, without.encoder = (
        with_vad._model, with_vad._batched, with_vad.batch_size, with_vad.encoder)
    return {"vad": with_vad, "no vad": without}


@pytest.fixture(scope="module")
def noises(tmp_path_factory) -> dict[str, np.ndarray]:
    tmp = tmp_path_factory.mktemp("noises")
    chord = "0.25*sin(2*PI*220*t)+0.2*sin(2*PI*277*t)+0.2*sin(2*PI*330*t)"
    return {
        "silence": np.zeros(SAMPLE_RATE * 10, dtype=np.float32),
        "white noise": _ffmpeg_audio(tmp, "white", "-f", "lavfi", "-i", "anoisesrc=color=white:amplitude=0.2:seed=7", "-t", "10"),
        "pink noise": _ffmpeg_audio(tmp, "pink", "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.3:seed=7", "-t", "10"),
        "music": _ffmpeg_audio(tmp, "music", "-f", "lavfi", "-i", f"aevalsrc=({chord})*(0.6+0.4*sin(2*PI*0.5*t)):s=16000",
                               "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.08:seed=7", "-filter_complex",
                               "amix=inputs=2:duration=first", "-t", "12"),
    }


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["silence", "white noise", "pink noise", "music"])
@pytest.mark.parametrize("mode", ["vad", "no vad"])
def test_no_speech_is_indexed_from_silence_noise_or_music(kind, mode, noises, transcribers):
    """Without VAD, base writes loops ("Das ist ein Foto." thirteen times over white noise) and stock phrases
    over these sounds; none of it may become speech, in the language given or detected."""
    for language in ("de", "en", None):
        transcript = transcribers[mode].transcribe(noises[kind], language)
        assert transcript.text == "" and transcript.words == [], (kind, mode, language, transcript.segments)
        assert all(s.unsure for s in transcript.segments), transcript.segments


@pytest.mark.slow
def test_half_a_second_of_a_word_is_not_a_sentence(transcribers):
    """0.5 s of a real "pause" (English) and "Weiter" (German): base writes "Thank you very much." for the
    first on the project's machine. A 0.5 s clip holds a word or two: more plain words than that, or a stock
    phrase as plain speech, is invented."""
    for language, file_name in (("en", "en_088.flac"), ("de", "de_001.flac"), ("en", "en_082.flac")):
        clip = _cut_word(language, file_name, 0.5)
        for given in (language, None):
            transcript = transcribers["vad"].transcribe(clip, given)
            plain = transcript.text
            assert len(speech.words(plain)) <= 2, (file_name, given, transcript.segments)
            assert normalized(plain) not in STOCK_PHRASES or not plain, (file_name, given, transcript.segments)


@pytest.mark.slow
@pytest.mark.parametrize("language, seconds", [("en", 40), ("de", 20), ("es", 20), ("fr", 20)])
def test_real_speech_is_never_flagged(language, seconds, transcribers):
    audio, reference = speech_audio(seconds, language=language, skip=3)
    transcript = transcribers["vad"].transcribe(audio, language)
    assert [s for s in transcript.segments if s.unsure] == [], transcript.segments
    assert speech.heard(reference, transcript.text) >= 0.5, transcript.text


@pytest.mark.slow
def test_short_real_words_are_kept(transcribers):
    """Whole one-word recordings (1.7-2 s) are real speech, however Whisper hears them."""
    for language, file_name in (("en", "en_088.flac"), ("en", "en_082.flac"), ("de", "de_001.flac"),
                                ("de", "de_010.flac"), ("fr", "fr_010.flac")):
        clip = decode_audio(str(speech_dir(language) / file_name), sampling_rate=SAMPLE_RATE)
        transcript = transcribers["vad"].transcribe(clip, language)
        assert transcript.segments and not any(s.unsure for s in transcript.segments), (file_name, transcript.segments)


@pytest.mark.slow
def test_phase1_keeps_flagged_text_out_of_the_windows_text(tmp_path):
    """Phase 1 on a video of real speech, then 0.5 s of "pause", then white noise, without VAD (so that
    Whisper hears all of it): the windows' text and English hold no stock phrase, loop or more than two
    words over the half-second; whatever was flagged is in the windows' unsure_speech with its reason."""
    speech_part, _reference = speech_audio(8, language="de", skip=5)
    noise = np.random.default_rng(7).normal(0, 0.1, SAMPLE_RATE * 8).astype(np.float32)
    gap = np.zeros(SAMPLE_RATE * 3, dtype=np.float32)
    word = _cut_word("en", "en_088.flac", 0.5)
    samples = np.concatenate([speech_part, gap, word, gap, noise, gap])
    word_at = (len(speech_part) + len(gap)) / SAMPLE_RATE
    wav, video = tmp_path / "a.wav", tmp_path / "mixed.mp4"
    write_wav(wav, samples)
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=2", "-i", str(wav),
                    "-t", f"{len(samples) / SAMPLE_RATE:.3f}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", str(video)], check=True)
    cfg = write_config(tmp_path, [{"name": "mixed", "path": str(video), "language": "de"}], window_length=10.0,
                       window_overlap=2.0, window_min_tail=2.0, frames_per_window=1, frame_max_side=128, ocr="off",
                       shots="off", vad_filter=False)
    proc = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = load_phase1_data(load_config(cfg, env={}).work_dir, "mixed")
    segments = data["transcript"]["segments"]
    assert any(not s["unsure"] and s["end"] <= word_at for s in segments), segments  # the real speech is there
    for w in data["windows"]:
        for text in (w["text"], w["translation"]):
            assert normalized(text) not in STOCK_PHRASES, (w["index"], text)
        plain_over_word = [s for s in segments if not s["unsure"] and s["start"] < word_at + 2.0 and s["end"] > word_at - 1.0]
        assert sum(len(speech.words(s["text"])) for s in plain_over_word) <= 2, plain_over_word
        for flagged in w["unsure_speech"]:
            assert flagged["reason"] and flagged["text"] and flagged["text"] not in w["text"], flagged
    flagged = [s for s in segments if s["unsure"]]
    listed = {(f["start"], f["text"]) for w in data["windows"] for f in w["unsure_speech"] if f["kind"] == "speech"}
    assert {(s["start"], s["text"]) for s in flagged} <= listed, (flagged, listed)
