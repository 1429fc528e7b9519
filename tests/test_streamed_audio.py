"""Audio decoded to a scratch file and read in slices (issue 25, "bounded memory").

A 10-hour file decoded whole is 2.3 GB of float32; vtdb.media.audio keeps it on disk and every stage (VAD,
Whisper, translation) reads slices. Real parts: ffmpeg, real recordings (tests/data/speech/en), Silero VAD,
the bundled Whisper `base`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.audio import decode_audio

from bench._common import norm_words, speech_dir, speech_rows, wer, write_wav
from vtdb.config import build_settings
from vtdb.media import pieces as pieces_module
from vtdb.media.audio import DiskAudio, decoded_audio
from vtdb.media.pieces import SAMPLE_RATE, speech_pieces
from vtdb.media.transcribe import FasterWhisperTranscriber
from vtdb.media.video import MediaError


def _speech_with_gaps(seconds: float, gap_s: float, lead_s: float = 1.0) -> np.ndarray:
    """Real utterances, each after `gap_s` of silence, until `seconds` is reached (16 kHz float32)."""
    parts, total, i = [np.zeros(int(lead_s * SAMPLE_RATE), dtype=np.float32)], lead_s, 0
    rows = speech_rows("en")
    while total < seconds:
        clip = decode_audio(str(speech_dir("en") / rows[i % len(rows)][0]), sampling_rate=SAMPLE_RATE)
        gap = np.zeros(int(gap_s * SAMPLE_RATE), dtype=np.float32)
        parts += [clip, gap]
        total += (len(clip) + len(gap)) / SAMPLE_RATE
        i += 1
    return np.concatenate(parts)


def _encode(samples: np.ndarray, out: Path, *ffmpeg_args: str) -> Path:
    wav = out.with_suffix(".src.wav")
    write_wav(wav, samples)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), *ffmpeg_args, str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def speech_40s() -> np.ndarray:
    return _speech_with_gaps(40.0, 1.5)


# Sources at 16 kHz or 44.1 kHz come out bit for bit as faster-whisper's decode. The system's ffmpeg (5.1 on
# Debian 12) is not the one bundled in PyAV: from 48 kHz their resamplers differ by a few steps of 1/32768 in
# ~1 sample in 10, and so do their Opus decoders (far below the speech: -70 dB).
LSB = 1 / 32768


@pytest.mark.parametrize("name,args,tolerance", [
    ("a.wav", (), 0.0), ("a.flac", (), 0.0), ("a.mp3", ("-ar", "44100", "-ac", "2"), 0.0),
    ("a.mkv", ("-c:a", "libopus", "-b:a", "32k", "-ar", "48000"), 16 * LSB), ("b.wav", ("-ar", "48000"), 16 * LSB)])
def test_slices_are_faster_whispers_decode(name, args, tolerance, tmp_path, speech_40s):
    path = _encode(speech_40s[: 12 * SAMPLE_RATE], tmp_path / name, *args)
    reference = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    with decoded_audio(path, tmp_path) as audio:
        assert isinstance(audio, DiskAudio) and audio.sample_rate == SAMPLE_RATE
        assert len(audio) == len(reference) and audio.duration == pytest.approx(len(reference) / SAMPLE_RATE)
        whole = audio[:]
        assert whole.dtype == np.float32 and np.abs(whole - reference).max() <= tolerance
        if tolerance == 0.0:
            assert np.array_equal(whole, reference)
        else:
            reference = whole  # the slicing itself is checked against the same samples as an array
        for cut in [slice(1000, 5000), slice(None, 777), slice(-3000, None), slice(-5000, -100), slice(5, 5),
                    slice(9000, 100), slice(len(reference) - 10, len(reference) + 500), slice(-10**9, 10),
                    slice(10, 30000, 7), slice(None, None, -3), slice(200, 10, -2)]:
            assert np.array_equal(audio[cut], reference[cut]), cut
        with pytest.raises(TypeError):
            audio[5]  # noqa: B018 — sample by sample would be one read each


def test_the_scratch_file_is_deleted_on_exit_and_when_the_body_raises(tmp_path, speech_40s):
    path = _encode(speech_40s[: 3 * SAMPLE_RATE], tmp_path / "a.flac")
    scratch = tmp_path / "work"
    with decoded_audio(path, scratch) as audio:
        assert audio.path.parent == scratch and audio.path.exists()
        assert audio.path.stat().st_size == 2 * len(audio)  # s16le on disk, not float32
    assert not list(scratch.iterdir())
    with pytest.raises(RuntimeError, match="boom"):
        with decoded_audio(path, scratch) as audio:
            kept = audio.path
            raise RuntimeError("boom")
    assert not kept.exists() and not list(scratch.iterdir())
    with pytest.raises(ValueError, match="closed"):
        audio[0:10]  # noqa: B018 — read after close


def test_a_truncated_file_decodes_to_what_is_there(tmp_path, speech_40s):
    full = _encode(speech_40s, tmp_path / "full.mp3")
    reference = decode_audio(str(full), sampling_rate=SAMPLE_RATE)
    cut = tmp_path / "cut.mp3"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with decoded_audio(cut, tmp_path) as audio:
        assert 0.35 * len(reference) < len(audio) < 0.65 * len(reference)
        head = len(audio) - SAMPLE_RATE  # the last frame before the cut may differ
        assert np.array_equal(audio[:head], reference[:head])


def test_a_truncated_video_decodes_to_what_is_there(tmp_path, speech_40s):
    wav = tmp_path / "speech.wav"
    write_wav(wav, speech_40s)
    full = tmp_path / "full.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10", "-i", str(wav),
                    "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(full)], check=True)
    cut = tmp_path / "cut.mkv"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with decoded_audio(cut, tmp_path) as audio:
        assert 5.0 < audio.duration < 0.8 * len(speech_40s) / SAMPLE_RATE


def test_a_file_without_audio_raises_media_error_naming_it(tmp_path):
    video = tmp_path / "silent film.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x36:rate=5", "-t", "1",
                    "-c:v", "libx264", "-preset", "ultrafast", str(video)], check=True)
    with pytest.raises(MediaError, match="silent film.mp4: cannot decode audio track 1: .*matches no streams"):
        with decoded_audio(video, tmp_path):
            pass
    garbage = tmp_path / "notes.mkv"
    garbage.write_bytes(b"not a media file at all" * 100)
    with pytest.raises(MediaError, match="notes.mkv"):
        with decoded_audio(garbage, tmp_path):
            pass
    assert not list(tmp_path.glob(".audio-*"))


def test_missing_ffmpeg_says_to_install_it(tmp_path, monkeypatch, speech_40s):
    path = _encode(speech_40s[:SAMPLE_RATE], tmp_path / "a.wav")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(MediaError, match="ffmpeg is not installed"):
        with decoded_audio(path, tmp_path):
            pass
    assert not list(tmp_path.glob(".audio-*"))


def test_second_audio_stream(tmp_path, speech_40s):
    first, second = tmp_path / "1.wav", tmp_path / "2.wav"
    write_wav(first, speech_40s[: 2 * SAMPLE_RATE])
    write_wav(second, speech_40s[10 * SAMPLE_RATE: 13 * SAMPLE_RATE])
    both = tmp_path / "two.mka"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(first), "-i", str(second), "-map", "0:a", "-map", "1:a",
                    "-c:a", "flac", str(both)], check=True)
    with decoded_audio(both, tmp_path, 1) as audio:
        assert np.array_equal(audio[:], decode_audio(str(second), sampling_rate=SAMPLE_RATE))
    with pytest.raises(MediaError, match="audio track 3"):
        with decoded_audio(both, tmp_path, 2):
            pass


class _CountingAudio(DiskAudio):
    """A DiskAudio that remembers the longest slice read."""

    longest = 0

    def _read(self, start: int, stop: int) -> np.ndarray:
        self.longest = max(self.longest, stop - start)
        return super()._read(start, stop)


def test_speech_pieces_over_disk_audio_equal_those_over_the_array(tmp_path, speech_40s):
    path = _encode(speech_40s, tmp_path / "a.flac")
    array = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    with decoded_audio(path, tmp_path) as audio:
        found = speech_pieces(audio, True)
        assert found == speech_pieces(array, True)
        assert speech_pieces(audio, False) == speech_pieces(array, False)
    assert len(found) >= 5


def test_a_signal_within_one_block_is_one_silero_call_over_all_of_it(monkeypatch, speech_40s):
    from faster_whisper import vad

    calls: list[int] = []
    real = vad.get_speech_timestamps

    def spy(audio, *args, **kwargs):
        calls.append(len(audio))
        return real(audio, *args, **kwargs)

    monkeypatch.setattr(vad, "get_speech_timestamps", spy)
    options = vad.VadOptions(min_silence_duration_ms=160, speech_pad_ms=0, max_speech_duration_s=26.2)
    found = pieces_module._speech_in_blocks(speech_40s, options)
    assert calls == [len(speech_40s)]
    assert found == [(c["start"], c["end"]) for c in real(speech_40s, options)]


def test_blocks_find_the_pieces_of_the_whole_signal(tmp_path, monkeypatch):
    signal = _speech_with_gaps(70.0, 2.5)
    whole = speech_pieces(signal, True)
    path = _encode(signal, tmp_path / "a.flac")
    monkeypatch.setattr(pieces_module, "VAD_STREAM_BLOCK_S", 20.0)
    monkeypatch.setattr(pieces_module, "VAD_STREAM_OVERLAP_S", 6.0)
    with decoded_audio(path, tmp_path) as plain:
        audio = _CountingAudio(plain.path)
        blocked = speech_pieces(audio, True)
        assert audio.longest <= 20 * SAMPLE_RATE  # never the whole signal at once
        audio.close()
    assert len(whole) >= 8 and len(blocked) == len(whole), (whole, blocked)
    for a, b in zip(whole, blocked):
        assert abs(a.start - b.start) <= 0.1 and abs(a.end - b.end) <= 0.1, (a, b)


def test_language_detection_without_vad_reads_only_the_first_90_s():
    class Model:
        seen: list[int] = []

        def detect_language(self, audio, language_detection_segments):
            self.seen.append(len(audio))
            return "en", 0.9, []

    class Audio:
        longest = 0

        def __len__(self):
            return 3600 * SAMPLE_RATE

        def __getitem__(self, cut):
            start, stop, _ = cut.indices(len(self))
            self.longest = max(self.longest, stop - start)
            return np.zeros(stop - start, dtype=np.float32)

    transcriber = FasterWhisperTranscriber(build_settings({"vad_filter": False}, env={}))
    transcriber._model = Model()
    audio = Audio()
    assert transcriber.detect_language(audio) == ("en", 0.9)
    assert audio.longest == Model.seen[0] == 90 * SAMPLE_RATE


def test_speech_for_language_detection_is_read_in_bounded_steps(tmp_path, speech_40s):
    path = _encode(np.concatenate([np.zeros(400 * SAMPLE_RATE, dtype=np.float32), speech_40s]), tmp_path / "a.flac")
    array = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    with decoded_audio(path, tmp_path) as plain:
        audio = _CountingAudio(plain.path)
        speech = FasterWhisperTranscriber._speech_prefix(audio, 90.0)
        audio.close()
    assert audio.longest == 4 * 90 * SAMPLE_RATE  # the first step; the second reads the 80 s left
    assert len(speech) > 10 * SAMPLE_RATE  # the speech after the silence
    assert np.array_equal(speech, FasterWhisperTranscriber._speech_prefix(array, 90.0))
    short = FasterWhisperTranscriber._speech_prefix(array[: 300 * SAMPLE_RATE], 90.0)
    assert len(short) == 0


def test_transcription_over_disk_audio_hears_the_same_words(tmp_path):
    name, text = speech_rows("en")[4]
    path = _encode(decode_audio(str(speech_dir("en") / name), sampling_rate=SAMPLE_RATE), tmp_path / "one.flac")
    array = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    transcriber = FasterWhisperTranscriber(build_settings({}, env={}))
    from_array = transcriber.transcribe(array, "en")
    transcriber.release()
    with decoded_audio(path, tmp_path) as audio:
        from_disk = transcriber.transcribe(audio, None)
    assert from_disk.language == "en"
    assert norm_words(from_disk.text) == norm_words(from_array.text)
    assert [(w.start, w.end) for w in from_disk.words] == [(w.start, w.end) for w in from_array.words]
    assert len(set(norm_words(text)) & set(norm_words(from_disk.text))) >= 0.7 * len(set(norm_words(text)))


def test_batched_decoding_a_few_batches_per_call_gives_what_one_call_gives(monkeypatch):
    from faster_whisper import BatchedInferencePipeline

    audio = _speech_with_gaps(110.0, 1.5)
    transcriber = FasterWhisperTranscriber(build_settings({"whisper_batch_size": 2}, env={}))
    model = transcriber.whisper_model()
    found = speech_pieces(audio, True)
    signals: list[int] = []
    real = BatchedInferencePipeline.transcribe

    def spy(self, signal, *args, **kwargs):
        signals.append(len(signal))
        return real(self, signal, *args, **kwargs)

    monkeypatch.setattr(BatchedInferencePipeline, "transcribe", spy)
    runs = []
    for per_call in (100, 1):
        monkeypatch.setattr(pieces_module, "BATCHES_PER_CALL", per_call)
        signals.clear()
        runs.append(pieces_module.decode_pieces(model, audio, found, task="transcribe", language="en", beam_size=5,
                                                batch_size=2))
        calls = len(signals)
    items = len(pieces_module.pack(found, list(range(len(found)))))
    assert items >= 3 and calls >= (items + 1) // 2 and max(signals) <= 2 * (pieces_module.ITEM_S + 1) * SAMPLE_RATE
    # Not equal to the sample: faster-whisper rounds each clip's start (float seconds, counted from the start of
    # the signal it is given) down to a sample, so a clip can begin one sample earlier or later than in one call,
    # and beam search can then write "6" for "six". Every piece is still heard, with the same words, at its time.
    # (Here one call once gave item 3's first segment to item 2: it starts at 52.94 s, its clip at 52.944 s.)
    one, grouped = ({s.piece: s for s in run} for run in runs)
    assert len(one) >= 10 and sorted(one) == sorted(grouped)
    for piece, seg in one.items():
        other = grouped[piece]
        assert wer(norm_words(seg.text), norm_words(other.text)) <= 0.25, (seg.text, other.text)
        assert abs(seg.start - other.start) <= 0.05 and abs(seg.end - other.end) <= 0.05, (seg, other)
    assert wer(norm_words(" ".join(s.text for s in runs[0])), norm_words(" ".join(s.text for s in runs[1]))) <= 0.05


def test_scratch_files_left_by_a_killed_phase1_are_removed_and_those_in_use_kept(tmp_path):
    import subprocess
    import sys

    from vtdb.media.audio import remove_stale_scratch

    stale = tmp_path / ".audio-left.s16"
    stale.write_bytes(b"\0" * 64)
    busy = tmp_path / ".audio-busy.s16"
    busy.write_bytes(b"\0" * 64)
    # Another process (another Phase 1 on the same work folder) holds its file's lock.
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); "
                               "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)", str(busy)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert remove_stale_scratch(tmp_path) == [stale]
        assert busy.exists() and not stale.exists()
    finally:
        holder.kill()
        holder.wait()
    assert remove_stale_scratch(tmp_path) == [busy]  # its process died: the kernel released the lock
