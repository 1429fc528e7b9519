"""Phase 1 on real, generated media: espeak-ng speech, ffmpeg video, the bundled Whisper base
model, real Chroma. Nothing is mocked.

Phase 1 runs through its CLI (as users and cron run it); windows, frames and the pickle
unpickler are also checked at the library level.

Whisper runs three times in this file (the main run, the bad-inputs run, nothing else): every
other CLI run uses videos without an audio track, which never load the model.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
import speech_check as speech

from conftest import EN_SCENES, run_cli, write_config
from vtdb.config import settings_only
from vtdb.events import read_events
from vtdb.media.video import MediaError, extract_frames, probe
from vtdb.media.windows import WindowSpan, frame_times, join_words, plan_windows, words_in_window
from vtdb.safe_pickle import UnsafePickleError, dump_plain, dumps_plain, load_plain, loads_plain, to_plain
from vtdb.store import Store
from vtdb.workfiles import (
    PHASE1_FORMAT,
    PHASE2_FORMAT,
    Phase1Data,
    Phase2Analysis,
    WorkFileError,
    load_phase1_data,
    phase1_data_path,
    read_phase1,
    read_phase2,
)

PHASE1 = "phase1_whisper_frames.py"
DOWNSTREAM = ("phase2_status", "db_load_status", "phase4_status")

# Words said in one scene only of conftest's English clip (cooking, then a bicycle; the cut near 9.9 s).
# Whisper's words differ by machine (speech_check), so tests check overlaps with these, never one exact word.
SCENE1_ONLY = speech.content_words(EN_SCENES[0].text) - speech.content_words(EN_SCENES[1].text)
SCENE2_ONLY = speech.content_words(EN_SCENES[1].text) - speech.content_words(EN_SCENES[0].text)

# Small windows so that the ~20 s English clip gets several overlapping windows and a tail merge.
WIN_LEN, WIN_OVERLAP, WIN_TAIL = 8.0, 3.0, 5.0
MAX_SIDE = 256
# On-screen text (OCR) is read in the main run (the defaults); the bad-input and CLI-option runs turn it off:
# what they check does not depend on it, and tesseract on every frame was a large part of their time.
NO_OCR = {"ocr": "off"}


# ---------------------------------------------------------------- helpers


def ffprobe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    return float(out.strip())


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", *args], check=True, capture_output=True)


def flat(text: str) -> str:
    """rich wraps long lines; compare on collapsed whitespace."""
    return " ".join(text.split())


def reference_windows(duration: float, length: float, overlap: float, min_tail: float) -> list[tuple[float, float]]:
    """The window rule written out independently: start k*stride; the last window ends at the duration
    and swallows a tail shorter than min_tail."""
    stride = length - overlap
    out = []
    k = 0
    while True:
        start = k * stride
        end = start + length
        if end >= duration or duration - end < min_tail:
            out.append((start, duration))
            return out
        out.append((start, end))
        k += 1


def decode(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "JPEG does not decode"
    return img


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def status(cfg: Path, name: str) -> dict | None:
    return Store(settings_only(cfg)).get_video_status(name)


def events_of(cfg_dir: Path) -> list[dict]:
    return read_events(cfg_dir / "data" / "events.jsonl")


def all_plain(obj) -> bool:
    if type(obj) in (str, int, float, bool, bytes, type(None)):
        return True
    if type(obj) is dict:
        return all(type(k) is str and all_plain(v) for k, v in obj.items())
    if type(obj) is list:
        return all(all_plain(v) for v in obj)
    return False


# ---------------------------------------------------------------- extra media


@pytest.fixture(scope="session")
def bad_media(media_dir, en_video) -> dict[str, Path]:
    """Broken and borderline inputs, all generated here."""
    d = media_dir / "bad"
    d.mkdir(exist_ok=True)
    out: dict[str, Path] = {}

    out["missing"] = d / "does_not_exist.mp4"

    out["zero"] = d / "zero_bytes.mp4"
    out["zero"].write_bytes(b"")

    out["text"] = d / "notes_really_text.mp4"
    out["text"].write_text("This is a shopping list, not a video.\nmilk\nbread\n")

    # A real MP4 cut in half. ffmpeg writes the index (moov) at the end by default ...
    data = en_video.read_bytes()
    out["trunc"] = d / "cut_in_half.mp4"
    out["trunc"].write_bytes(data[: len(data) // 2])
    # ... and at the front with +faststart: then the file probes fine and only decoding stops.
    faststart = d / "faststart_full.mp4"
    ffmpeg("-i", str(en_video), "-c", "copy", "-movflags", "+faststart", str(faststart))
    fs = faststart.read_bytes()
    out["trunc_fs"] = d / "faststart_cut_in_half.mp4"
    out["trunc_fs"].write_bytes(fs[: len(fs) // 2])

    wav = d / "speech_only.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), "This file has speech but no pictures."], check=True)
    out["wav"] = wav
    out["m4a"] = d / "speech_only.m4a"
    ffmpeg("-i", str(wav), "-c:a", "aac", str(out["m4a"]))
    # An mp3 with cover art: ffprobe lists the picture as a (one-frame) video stream.
    cover = d / "cover.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:size=64x64", "-frames:v", "1", str(cover))
    out["mp3_cover"] = d / "speech_with_cover.mp3"
    ffmpeg("-i", str(wav), "-i", str(cover), "-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame", "-c:v", "png",
           "-disposition:v:0", "attached_pic", str(out["mp3_cover"]))

    out["half_second"] = d / "half_second.mp4"
    ffmpeg("-f", "lavfi", "-t", "0.5", "-i", "testsrc2=size=320x240:rate=10",
           "-f", "lavfi", "-t", "0.5", "-i", "sine=frequency=440:sample_rate=16000",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(out["half_second"]))
    return out


# ---------------------------------------------------------------- unit: windows


def test_plan_windows_default_layout():
    spans = plan_windows(100.0, 50.0, 15.0, 5.0)
    assert [(w.index, w.start, w.end) for w in spans] == [(0, 0.0, 50.0), (1, 35.0, 85.0), (2, 70.0, 100.0)]


def test_plan_windows_exact_fit_and_tail_rules():
    # Ends exactly at the duration: no extra window.
    assert [(w.start, w.end) for w in plan_windows(85.0, 50, 15, 5)] == [(0.0, 50.0), (35.0, 85.0)]
    # A tail shorter than min_tail stretches the last full window instead of making a sliver.
    assert [(w.start, w.end) for w in plan_windows(88.0, 50, 15, 5)] == [(0.0, 50.0), (35.0, 88.0)]
    assert [(w.start, w.end) for w in plan_windows(89.999, 50, 15, 5)] == [(0.0, 50.0), (35.0, 89.999)]
    # A tail of exactly min_tail (or more) gets its own window, still ending at the duration.
    assert [(w.start, w.end) for w in plan_windows(90.0, 50, 15, 5)] == [(0.0, 50.0), (35.0, 85.0), (70.0, 90.0)]
    # min_tail 0 never merges.
    assert [(w.start, w.end) for w in plan_windows(85.5, 50, 15, 0)] == [(0.0, 50.0), (35.0, 85.0), (70.0, 85.5)]


def test_plan_windows_short_and_empty_durations():
    assert [(w.start, w.end) for w in plan_windows(20.0)] == [(0.0, 20.0)]
    assert [(w.start, w.end) for w in plan_windows(0.5)] == [(0.0, 0.5)]
    assert [(w.start, w.end) for w in plan_windows(50.0)] == [(0.0, 50.0)]
    # Up to length + min_tail one (stretched) window covers everything.
    assert [(w.start, w.end) for w in plan_windows(54.9)] == [(0.0, 54.9)]
    assert plan_windows(0.0) == []
    assert plan_windows(-3.0) == []


def test_plan_windows_rejects_overlap_not_below_length():
    with pytest.raises(ValueError):
        plan_windows(100.0, 10.0, 10.0)
    with pytest.raises(ValueError):
        plan_windows(100.0, 10.0, 12.0)


@pytest.mark.parametrize("length,overlap,min_tail", [(50, 15, 5), (10, 3, 5), (8, 3, 5), (10, 3.3, 2), (7, 0, 1), (30, 29, 0)])
def test_plan_windows_invariants(length, overlap, min_tail):
    """For many durations: full coverage, exact starts (no float drift), exact overlaps, last end == duration."""
    stride = length - overlap
    for duration in [x / 7.0 for x in range(1, 7 * 400, 13)]:
        spans = plan_windows(duration, length, overlap, min_tail)
        assert spans, duration
        assert [w.index for w in spans] == list(range(len(spans)))
        assert spans[0].start == 0.0
        assert spans[-1].end == round(duration, 6)
        ref = reference_windows(duration, length, overlap, min_tail)
        assert len(spans) == len(ref), (duration, spans, ref)
        for w, (rs, re_) in zip(spans, ref):
            assert w.start == pytest.approx(rs, abs=1e-6)
            assert w.end == pytest.approx(re_, abs=1e-6)
            assert w.duration > 0
        for k, (a, b) in enumerate(zip(spans, spans[1:])):
            assert b.start == pytest.approx((k + 1) * stride, abs=1e-6)  # no accumulated drift
            assert a.end - b.start == pytest.approx(overlap, abs=1e-6)  # exact overlap
        for w in spans[:-1]:
            assert w.duration == pytest.approx(length, abs=1e-6)
        # The last window is never longer than a window plus a swallowed tail.
        assert spans[-1].duration < length + max(min_tail, 1e-9) + 1e-6


def test_frame_times_are_slice_centres_inside_the_window():
    assert frame_times(WindowSpan(0, 0.0, 12.0), 6) == [1.0, 3.0, 5.0, 7.0, 9.0, 11.0]
    assert frame_times(WindowSpan(3, 35.0, 85.0), 1) == [60.0]
    times = frame_times(WindowSpan(2, 10.0, 20.119), 6)
    assert len(times) == 6 and all(10.0 < t < 20.119 for t in times)
    assert times == sorted(times)
    steps = np.diff(times)
    assert np.allclose(steps, steps[0], atol=2e-3)
    # A half-second video still gets 6 distinct times inside it.
    tiny = frame_times(WindowSpan(0, 0.0, 0.5), 6)
    assert len(set(tiny)) == 6 and all(0.0 < t < 0.5 for t in tiny)


def test_words_in_window_by_their_middle():
    words = [
        {"word": " a", "start": 0.0, "end": 0.4},
        {"word": " b", "start": 4.9, "end": 5.3},  # middle 5.1: inside the overlap [5, 8)
        {"word": " c", "start": 5.0, "end": 5.5},
        {"word": " d", "start": 7.99, "end": 8.4},  # middle 8.195: past window 0's end
        {"word": " e", "start": 8.0, "end": 8.3},  # window 1 only
        {"word": " f", "start": 12.5, "end": 13.0},  # middle past the video's end: the last window's
    ]
    w0, w1 = WindowSpan(0, 0.0, 8.0), WindowSpan(1, 5.0, 12.5)
    in0 = words_in_window(w0, words, last=False)
    in1 = words_in_window(w1, words, last=True)
    assert [w["word"] for w in in0] == [" a", " b", " c"]
    assert [w["word"] for w in in1] == [" b", " c", " d", " e", " f"]
    # Words in the overlap appear in both windows; every word lands somewhere.
    assert {w["word"] for w in in0} & {w["word"] for w in in1} == {" b", " c"}
    assert {w["word"] for w in in0} | {w["word"] for w in in1} == {w["word"] for w in words}
    # Only the last window takes a word whose middle is at or past its end.
    assert " f" not in [w["word"] for w in words_in_window(w1, words, last=False)]
    assert join_words(in1) == "b c d e f"
    # Whisper starts a phrase's first word a little early: it goes with its phrase, not alone into the window before.
    add = [{"word": " Add", "start": 59.88, "end": 60.76}]
    assert not words_in_window(WindowSpan(2, 40.0, 60.0), add, last=False)
    assert words_in_window(WindowSpan(3, 60.0, 80.0), add, last=False) == add


# ---------------------------------------------------------------- unit: safe pickle


class _Evil:
    """A pickle payload that runs a shell command when loaded with the stock unpickler."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_evil_payload_really_runs_with_plain_pickle(tmp_path):
    """Proves the payload below is live: the stock unpickler executes it."""
    marker = tmp_path / "pwned_by_stock_pickle"
    pickle.loads(pickle.dumps(_Evil(marker)))
    assert marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_unpickler_rejects_malicious_pickle(tmp_path, protocol):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Evil(marker), protocol=protocol)
    with pytest.raises(UnsafePickleError, match="posix.system|os.system|system"):
        loads_plain(payload)
    assert not marker.exists()

    # The same payload as a Phase 1 work file: refused by the loader with the file named.
    work = tmp_path / "data"
    work.mkdir()
    path = phase1_data_path(work, "evil")
    path.write_bytes(payload)
    with pytest.raises(UnsafePickleError):
        load_plain(path)
    with pytest.raises(WorkFileError, match="unsafe pickle refused") as info:
        load_phase1_data(work, "evil")
    assert "evil_phase1_data.pkl" in str(info.value)
    assert not marker.exists()


def test_unpickler_rejects_other_globals(tmp_path):
    # Plain-looking containers that smuggle in a global (numpy arrays, builtins.eval, sets via builtins).
    for obj in [{"x": np.arange(3)}, {"f": eval}, [set([1, 2])], {"c": complex(1, 2)}]:
        with pytest.raises(UnsafePickleError):
            loads_plain(pickle.dumps(obj, protocol=2))


def test_plain_pickle_round_trip_and_to_plain():
    data = {"s": "чай", "b": b"\xff\xd8jpeg", "i": 3, "f": 1.5, "n": None, "t": True, "l": [1, [2, {"k": b""}]]}
    assert loads_plain(dumps_plain(data)) == data
    converted = to_plain({"x": np.float64(2.5), "y": np.int32(7), "z": (1, 2)})
    assert converted == {"x": 2.5, "y": 7, "z": [1, 2]}
    assert type(converted["x"]) is float and type(converted["y"]) is int
    with pytest.raises(TypeError, match="ndarray"):
        dumps_plain({"frames": np.zeros((2, 2))})
    with pytest.raises(TypeError, match="not a string"):
        dumps_plain({1: "int key"})


def test_a_version_1_phase1_file_reads_with_the_keys_version_2_added(tmp_path):
    old = {"format": PHASE1_FORMAT, "version": 1, "video": {"name": "old", "duration": 10.0},
           "transcript": {"language": "ru", "text": "привет", "segments": [{"start": 0.0, "end": 2.0, "text": "привет"}]},
           "windows": [{"index": 0, "start_time": 0.0, "end_time": 10.0, "text": "привет",
                        "frames": [{"time": 5.0, "jpeg": b"\xff\xd8", "width": 4, "height": 3}, {"time": 6.0}]}]}
    dump_plain(phase1_data_path(tmp_path, "old"), old)
    data = read_phase1(tmp_path, "old")
    assert data.transcript.translation is None and data.windows[0].translation == ""
    assert [f.time for f in data.windows[0].frames] == [5.0]  # a frame without JPEG bytes is no frame
    assert data.video.has_video and data.shots is None and data.windows[0].scene_change is None
    plain = load_phase1_data(tmp_path, "old")
    assert plain["windows"][0]["translation_source"] == "" and plain["transcript"]["translation"] is None
    assert Phase1Data.from_plain(plain).to_plain() == plain
    dump_plain(phase1_data_path(tmp_path, "bad"), {**old, "windows": [{"start_time": 0.0}]})
    with pytest.raises(WorkFileError, match="Phase 1 data is malformed"):
        read_phase1(tmp_path, "bad")


def test_a_phase2_file_reads_and_writes_the_same_json(tmp_path):
    ok = {"segment_index": 0, "start_time": 0.0, "end_time": 10.0, "status": "repaired", "analyzer": "openai",
          "model": "m", "prompt_version": "3", "description": "A kitchen.", "dialogue_translation": "",
          "keywords": ["pasta"], "content_type": "tutorial", "mood_atmosphere": "calm", "confidence": "low",
          "scene_change": False, "text_language": "en", "translation_source": "", "notes": ["cut off"]}
    failed = {"segment_index": 1, "start_time": 7.0, "end_time": 17.0, "status": "failed", "analyzer": "openai",
              "model": "m", "prompt_version": "3", "error": "timeout"}
    doc = {"format": PHASE2_FORMAT, "version": 1, "video_name": "v", "created_at": "2026-12-01T09:00:00+00:00",
           "analyzer": "openai", "model": "m", "output_language": "en", "transcript_language": "en",
           "windows_total": 2, "windows_failed": 1, "windows_repaired": 1, "segments": [ok, failed]}
    assert Phase2Analysis.from_plain(doc).to_plain() == doc
    path = tmp_path / "v_phase2_vllm_analysis.json"
    path.write_text(json.dumps({**doc, "segments": [ok, {**failed, "start_time": "soon"}]}), encoding="utf-8")
    with pytest.raises(WorkFileError, match=r"window #1 \(segment_index 1\): start_time must be a number, got 'soon'"):
        read_phase2(tmp_path, "v")


# ---------------------------------------------------------------- unit: media


def test_probe_reports_the_real_streams(en_video, silent_video):
    info = probe(en_video)
    assert info.duration == pytest.approx(ffprobe_duration(en_video), abs=1e-3)
    assert (info.width, info.height, info.fps, info.has_audio) == (640, 360, 10.0, True)
    silent = probe(silent_video)
    assert silent.has_audio is False and silent.duration == pytest.approx(12.0, abs=0.05)


def test_extract_frames_refuses_truncated_faststart_mp4(bad_media):
    path = bad_media["trunc_fs"]
    info = probe(path)  # the index is intact, so the probe still claims the full length
    assert info.duration > 18
    times = [1.0, 5.0, 12.0, 16.0, 19.0]
    with pytest.raises(MediaError, match="truncated") as err:
        extract_frames(path, times, 256, 85, duration=info.video_stream_duration, fps=info.fps)
    assert str(path) in str(err.value)


def test_extract_frames_tolerates_times_at_the_very_end(en_video):
    info = probe(en_video)
    d = info.video_stream_duration or info.duration
    frames = extract_frames(en_video, [0.0, d - 0.3, d - 0.01, d + 0.5], 256, 85, duration=d, fps=info.fps)
    assert len(frames) == 4
    imgs = [decode(f.jpeg) for f in frames]
    assert all(max(img.shape[:2]) <= 256 for img in imgs)
    # Past the last decodable frame: the nearest earlier frame is reused (not a black or missing frame).
    assert mad(imgs[2], imgs[1]) < 20 and mad(imgs[3], imgs[1]) < 20


# ---------------------------------------------------------------- end to end: the main run


@pytest.fixture(scope="module")
def main_run(tmp_path_factory, en_video, ru_video):
    """English (language detected), Russian (language 'ru'): one Phase 1 run with small windows."""
    folder = tmp_path_factory.mktemp("phase1_main")
    cfg = write_config(
        folder,
        [
            {"name": "en_talk", "path": str(en_video), "description": "pasta, then a bicycle"},
            {"name": "ru_tea", "path": str(ru_video), "language": "ru"},
        ],
        window_length=WIN_LEN, window_overlap=WIN_OVERLAP, window_min_tail=WIN_TAIL, frame_max_side=MAX_SIDE,
    )
    proc = run_cli(PHASE1, "--config", str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = {name: load_phase1_data(folder / "data", name) for name in ("en_talk", "ru_tea")}
    return {"cfg": cfg, "folder": folder, "proc": proc, "data": data,
            "videos": {"en_talk": en_video, "ru_tea": ru_video}}


def test_english_transcript_has_the_spoken_words(main_run):
    d = main_run["data"]["en_talk"]
    t = d["transcript"]
    # At least half of each scene's words (a loose overlap: the words Whisper hears differ by CPU).
    assert all(speech.heard(scene.text, t["text"]) >= 0.5 for scene in EN_SCENES), t["text"]
    assert t["language"] == "en" and t["language_source"] == "detected"
    assert 0.5 < t["language_probability"] <= 1.0
    assert t["model"].endswith("base")
    # Word timestamps: in order, inside the video, and in the right scene
    # (scene 1, cooking, ends near 9.9 s; scene 2 is the bicycle).
    words = t["words"]
    speech.assert_word_timings(words, d["video"]["duration"])
    scene1 = [w["start"] for w in words if set(speech.words(w["word"])) & SCENE1_ONLY]
    scene2 = [w["start"] for w in words if set(speech.words(w["word"])) & SCENE2_ONLY]
    assert len(scene1) >= 3 and len(scene2) >= 3, t["text"]
    assert max(scene1) < 9.9 < min(scene2), (scene1, scene2)


def test_russian_transcript_is_cyrillic(main_run):
    t = main_run["data"]["ru_tea"]["transcript"]
    text = t["text"].lower()
    assert t["language"] == "ru" and t["language_source"] == "config"
    letters = [ch for ch in text if ch.isalpha()]
    cyrillic = [ch for ch in letters if "\u0400" <= ch <= "\u04ff"]
    assert len(letters) >= 10 and len(cyrillic) / len(letters) > 0.9, text
    # No word check: Whisper base hears espeak's Russian as partly garbled text, differently on each CPU.
    speech.assert_word_timings(t["words"], main_run["data"]["ru_tea"]["video"]["duration"])


def test_window_boundaries_and_overlaps_are_exact(main_run):
    for name, d in main_run["data"].items():
        duration = ffprobe_duration(main_run["videos"][name])
        assert d["video"]["duration"] == pytest.approx(duration, abs=1e-3)
        windows = d["windows"]
        expected = reference_windows(d["video"]["duration"], WIN_LEN, WIN_OVERLAP, WIN_TAIL)
        assert [(w["start_time"], w["end_time"]) for w in windows] == [
            (pytest.approx(s, abs=1e-6), pytest.approx(e, abs=1e-6)) for s, e in expected
        ], name
        assert [w["index"] for w in windows] == list(range(len(windows)))
        assert windows[-1]["end_time"] == d["video"]["duration"]
        for a, b in zip(windows, windows[1:]):
            assert a["end_time"] - b["start_time"] == pytest.approx(WIN_OVERLAP, abs=1e-6)
        for w in windows:
            assert w["duration"] == pytest.approx(w["end_time"] - w["start_time"], abs=1e-3)
        assert d["settings"]["window_length"] == WIN_LEN and d["settings"]["window_overlap"] == WIN_OVERLAP
    # The ~20 s English clip: [0, 8], [5, 13], then [10, end] swallowing the short tail.
    en = main_run["data"]["en_talk"]["windows"]
    assert [w["start_time"] for w in en] == [0.0, 5.0, 10.0]
    assert [w["end_time"] for w in en[:2]] == [8.0, 13.0]


def test_words_are_assigned_to_windows_by_timestamp(main_run):
    d = main_run["data"]["en_talk"]
    words = d["transcript"]["words"]
    windows = d["windows"]
    for k, w in enumerate(windows):
        last = k == len(windows) - 1
        expected = [x for x in words if w["start_time"] <= x["start"] < w["end_time"] or (last and x["start"] == w["end_time"])]
        assert w["words"] == expected
        assert w["text"] == "".join(x["word"] for x in expected).strip()
    # Every word is in some window; words in an overlap are in both windows.
    seen = [x for w in windows for x in w["words"]]
    assert all(x in seen for x in words)
    shared = 0
    for a, b in zip(windows, windows[1:]):
        in_overlap = [x for x in words if b["start_time"] <= x["start"] < a["end_time"]]
        for x in in_overlap:
            assert x in a["words"] and x in b["words"]
        shared += len(in_overlap)
    assert shared >= 2, "the speech should cross the window overlaps"
    # The right speech in the right window: cooking in the first (0-8 s), the bicycle in the last (10 s-end).
    first, last = set(speech.words(windows[0]["text"])), set(speech.words(windows[-1]["text"]))
    assert len(first & SCENE1_ONLY) >= 2 and not first & SCENE2_ONLY, windows[0]["text"]
    assert len(last & SCENE2_ONLY) >= 2 and not last & SCENE1_ONLY, windows[-1]["text"]


def test_frames_per_window_decode_and_are_downscaled(main_run):
    for name, d in main_run["data"].items():
        src_w, src_h = d["video"]["width"], d["video"]["height"]
        for w in d["windows"]:
            frames = w["frames"]
            assert len(frames) == 6  # the default frames_per_window
            span = WindowSpan(w["index"], w["start_time"], w["end_time"])
            boundaries = [start for start, _end in d["shots"][1:]]  # shot detection is on by default
            for planned, f in zip(frame_times(span, 6), frames, strict=True):
                if f["time"] != planned:  # moved off a cut or fade: a shot boundary was near the planned time
                    assert abs(f["time"] - planned) <= 1.6 and any(abs(b - planned) <= 1.6 for b in boundaries), (planned, f)
                assert all(abs(f["time"] - b) >= 0.25 for b in boundaries), (f["time"], boundaries)
            assert w["scene_change"] == any(span.start < b < span.end for b in boundaries)
            for f in frames:
                assert type(f["jpeg"]) is bytes and f["jpeg"][:2] == b"\xff\xd8"
                img = decode(f["jpeg"])
                h, wd = img.shape[:2]
                assert (wd, h) == (f["width"], f["height"])
                assert max(wd, h) == min(MAX_SIDE, max(src_w, src_h))
                assert wd / h == pytest.approx(src_w / src_h, rel=0.02)  # aspect ratio kept
    assert main_run["data"]["en_talk"]["windows"][0]["frames"][0]["width"] == MAX_SIDE  # 640x360 -> 256x144


def test_frames_from_different_scenes_differ(main_run):
    """Scene 1 (0-9.9 s) is testsrc2, scene 2 is a zooming mandelbrot."""
    windows = main_run["data"]["en_talk"]["windows"]
    first = [decode(f["jpeg"]) for f in windows[0]["frames"]]  # 0.67 .. 7.33 s: all scene 1
    last = [decode(f["jpeg"]) for f in windows[-1]["frames"]]  # 10.8 .. 19.3 s: all scene 2
    within = max(mad(first[0], x) for x in first[1:])
    across = min(mad(a, b) for a in first[:2] for b in last[-2:])
    assert across > 60, across
    assert across > 2.5 * within, (across, within)
    # Frames at different times are not all the same picture (no stuck seeking).
    assert len({f["jpeg"] for w in windows for f in w["frames"]}) >= 15


def test_pickle_is_plain_data_and_loads_with_the_safe_unpickler(main_run):
    work = main_run["folder"] / "data"
    for name in ("en_talk", "ru_tea"):
        path = phase1_data_path(work, name)
        raw = load_plain(path)
        assert raw == main_run["data"][name]
        assert all_plain(raw)
        assert raw["format"] == "vtdb.phase1" and raw["video"]["name"] == name
    assert main_run["data"]["en_talk"]["video"]["description"] == "pasta, then a bicycle"
    # Atomic writes leave no temp files behind.
    assert sorted(p.name for p in work.iterdir()) == ["content_fingerprints.json", "en_talk_phase1_data.pkl", "events.jsonl", "ru_tea_phase1_data.pkl"]
    # Frames are JPEG bytes, not raw arrays: the pickle stays small.
    assert phase1_data_path(work, "en_talk").stat().st_size < 2_000_000


def test_statuses_after_the_run(main_run):
    cfg = main_run["cfg"]
    for name, d in main_run["data"].items():
        st = status(cfg, name)
        assert st is not None
        assert st["phase1_status"] == "completed"
        assert st["phase1_segments_created"] == len(d["windows"]) == st["total_segments"]
        assert st["video_duration"] == pytest.approx(ffprobe_duration(main_run["videos"][name]), abs=1e-3)
        assert st["phase1_attempts"] == 0 and st["phase1_last_error"] == "" and not st["phase1_held"]
        for field in DOWNSTREAM:
            assert st[field] == "pending", field
        for field in ("phase1_start_time", "phase1_end_time", "created_at", "updated_at"):
            assert datetime.fromisoformat(st[field]).tzinfo is not None, field
        assert Store(settings_only(cfg)).video_flags(st).as_dict() == {"stale": {}, "held": []}
    en, ru = status(cfg, "en_talk"), status(cfg, "ru_tea")
    assert (en["width"], en["height"], en["fps"]) == (640, 360, 10.0)
    assert (ru["width"], ru["height"], ru["fps"]) == (320, 240, 10.0)
    assert en["transcript_language"] == "en" and ru["transcript_language"] == "ru"
    kinds = [e["event"] for e in events_of(main_run["folder"])]
    assert kinds[0] == "PHASE_START" and kinds[-1] == "PHASE_DONE"
    assert kinds.count("VIDEO_CLAIM") == 2 and kinds.count("VIDEO_COMPLETE") == 2


def test_rerun_does_nothing(main_run):
    folder, cfg = main_run["folder"], main_run["cfg"]
    work = folder / "data"
    before = {p.name: p.stat().st_mtime_ns for p in work.glob("*.pkl")}
    n_events = len(events_of(folder))
    proc = run_cli(PHASE1, "--config", str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 skipped" in flat(proc.stderr + proc.stdout)
    new = events_of(folder)[n_events:]
    assert [e["event"] for e in new] == ["PHASE_START", "PHASE_DONE"]
    assert new[0]["videos"] == 0
    assert {p.name: p.stat().st_mtime_ns for p in work.glob("*.pkl")} == before
    assert status(cfg, "en_talk")["phase1_status"] == "completed"


# ---------------------------------------------------------------- end to end: bad inputs


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, bad_media, en_video, silent_video):
    """Every bad file in ONE run, next to one good video processed last."""
    folder = tmp_path_factory.mktemp("phase1_bad")
    names = {
        "b_missing": bad_media["missing"],
        "b_zero": bad_media["zero"],
        "b_text": bad_media["text"],
        "b_trunc": bad_media["trunc"],
        "b_trunc_faststart": bad_media["trunc_fs"],
        "b_audio_wav": bad_media["wav"],
        "b_audio_m4a": bad_media["m4a"],
        "b_audio_mp3_cover": bad_media["mp3_cover"],
        "c_no_audio": silent_video,
        "c_half_second": bad_media["half_second"],
        "z_good": en_video,
    }
    videos = [{"name": n, "path": str(p), **({"language": "en"} if n in ("z_good", "b_trunc_faststart") else {})}
              for n, p in names.items()]
    cfg = write_config(folder, videos, window_length=10, window_overlap=3, frame_max_side=MAX_SIDE, **NO_OCR)
    proc = run_cli(PHASE1, "--config", str(cfg))
    return {"cfg": cfg, "folder": folder, "proc": proc, "paths": names, "out": flat(proc.stdout + proc.stderr)}


BAD_EXPECTED = {
    "b_missing": "file not found",
    "b_zero": "file is empty (0 bytes)",
    "b_text": "not a readable video file",
    "b_trunc": "truncated",
}
AUDIO_ONLY = ("b_audio_wav", "b_audio_m4a", "b_audio_mp3_cover")


def test_bad_inputs_exit_code_and_good_video_unaffected(bad_run):
    assert bad_run["proc"].returncode == 1, bad_run["out"]
    st = status(bad_run["cfg"], "z_good")
    assert st["phase1_status"] == "completed" and st["phase1_last_error"] == ""
    data = load_phase1_data(bad_run["folder"] / "data", "z_good")
    assert all(speech.heard(scene.text, data["transcript"]["text"]) >= 0.5 for scene in EN_SCENES), data["transcript"]["text"]
    assert "4 failed" in bad_run["out"] and "7 completed" in bad_run["out"]


@pytest.mark.parametrize("name", sorted(BAD_EXPECTED))
def test_bad_input_gets_a_specific_error(bad_run, name):
    st = status(bad_run["cfg"], name)
    path = bad_run["paths"][name]
    error = st["phase1_last_error"]
    assert BAD_EXPECTED[name] in error, error
    assert str(path) in error, error  # names the file
    assert "Traceback" not in error
    assert st["phase1_status"] == "pending" and st["phase1_attempts"] == 1
    assert st["phase1_segments_created"] == 0
    assert not phase1_data_path(bad_run["folder"] / "data", name).exists()
    logged = [e for e in events_of(bad_run["folder"]) if e["event"] == "VIDEO_ERROR" and e.get("video") == name]
    assert len(logged) == 1 and logged[0]["error"] == error
    assert error in bad_run["out"] or error[:60] in bad_run["out"]  # shown on the console too


def test_bad_run_leaves_no_temp_files(bad_run):
    names = sorted(p.name for p in (bad_run["folder"] / "data").iterdir())
    assert names == [*sorted(f"{n}_phase1_data.pkl" for n in AUDIO_ONLY), "b_trunc_faststart_phase1_data.pkl",
                     "c_half_second_phase1_data.pkl", "c_no_audio_phase1_data.pkl",
                     "content_fingerprints.json", "events.jsonl", "z_good_phase1_data.pkl"]  # no scratch audio left


@pytest.mark.parametrize("name", AUDIO_ONLY)
def test_audio_only_files_are_indexed_by_their_speech(bad_run, name):
    st = status(bad_run["cfg"], name)
    assert st["phase1_status"] == "completed" and st["has_video"] is False, st
    data = load_phase1_data(bad_run["folder"] / "data", name)
    assert data["transcript"]["words"] and all(w["frames"] == [] for w in data["windows"])
    assert (data["video"]["cover"] is not None) is (name == "b_audio_mp3_cover")


def test_a_truncated_file_is_indexed_as_far_as_it_decodes(bad_run):
    """Issue 25: frames that stop early are not an error to retry three times and then hold: the video is
    indexed up to where it decodes, with a note in its record, the status table and the console."""
    st = status(bad_run["cfg"], "b_trunc_faststart")
    assert st["phase1_status"] == "completed" and st["phase1_attempts"] == 0 and st["phase1_last_error"] == ""
    until, full = (float(x) for x in re.match(r"([\d.]+) s of ([\d.]+) s decodable$", st["phase1_partial"]).groups())
    assert 1.0 <= until < full - 1.0, st["phase1_partial"]
    data = load_phase1_data(bad_run["folder"] / "data", "b_trunc_faststart")
    assert data["windows"] and data["windows"][-1]["end_time"] <= until + 0.05
    assert all(f["time"] <= until + 0.05 for w in data["windows"] for f in w["frames"])
    assert f"partial: {st['phase1_partial']}" in bad_run["out"]
    assert status(bad_run["cfg"], "z_good")["phase1_partial"] == ""
    from vtdb.status_table import last_error
    assert last_error(st) == f"partial: {st['phase1_partial']}"


def test_video_without_audio_gets_empty_transcripts(bad_run):
    st = status(bad_run["cfg"], "c_no_audio")
    assert st["phase1_status"] == "completed" and st["phase1_last_error"] == ""
    assert st["has_audio"] is False
    d = load_phase1_data(bad_run["folder"] / "data", "c_no_audio")
    assert d["video"]["has_audio"] is False
    assert d["transcript"]["words"] == [] and d["transcript"]["text"] == ""
    assert d["transcript"]["language_source"] == "none"
    # 12 s with 10/3 windows: the 2 s tail is swallowed -> one window [0, 12].
    assert [(w["start_time"], w["end_time"]) for w in d["windows"]] == [(0.0, pytest.approx(12.0, abs=0.05))]
    assert st["phase1_segments_created"] == 1
    for w in d["windows"]:
        assert w["text"] == "" and w["words"] == []
        assert len(w["frames"]) == 6 and all(decode(f["jpeg"]) is not None for f in w["frames"])
    warnings = [e for e in events_of(bad_run["folder"]) if e["event"] == "WARNING" and e.get("video") == "c_no_audio"]
    assert warnings and "no audio" in warnings[0]["message"]


def test_half_second_video_gets_one_window_of_six_frames(bad_run):
    st = status(bad_run["cfg"], "c_half_second")
    assert st["phase1_status"] == "completed", st["phase1_last_error"]
    d = load_phase1_data(bad_run["folder"] / "data", "c_half_second")
    assert len(d["windows"]) == 1 == st["phase1_segments_created"]
    w = d["windows"][0]
    assert (w["start_time"], w["end_time"]) == (0.0, pytest.approx(0.5, abs=0.02))
    assert len(w["frames"]) == 6
    for f in w["frames"]:
        img = decode(f["jpeg"])
        assert img.shape[:2] == (192, 256)  # 320x240 scaled to frame_max_side 256
        assert 0.0 < f["time"] < 0.5


# ---------------------------------------------------------------- end to end: config-level problems


def test_bad_config_entries_are_skipped_and_the_rest_runs(tmp_path, silent_video, en_video):
    cfg = write_config(
        tmp_path,
        [
            {"name": "good", "path": str(silent_video)},
            {"name": "badlang", "path": str(silent_video), "language": "rus"},
            {"name": "../x", "path": str(silent_video)},
            {"name": "a/b", "path": str(silent_video)},
            {"name": "good", "path": str(en_video)},
            {"name": "nopath"},
            {"name": "", "path": str(silent_video)},
        ],
        **NO_OCR,
    )
    proc = run_cli(PHASE1, "--config", str(cfg))
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 1, out
    assert "videos[1] ('badlang'): language: 'rus' is not a Whisper language code; did you mean 'ru'?" in out
    assert "videos[2] ('../x'): name:" in out and "path separator" in out
    assert "videos[3] ('a/b'): name: 'a/b' contains a path separator" in out
    assert "videos[4] ('good'): name: 'good' is already used by videos[0]" in out
    assert "videos[5] ('nopath'): path: missing (required)" in out
    assert "videos[6]" in out and "empty" in out
    # The valid entry ran; the duplicate did not replace it.
    st = status(cfg, "good")
    assert st["phase1_status"] == "completed"
    assert st["video_path"] == str(silent_video)
    db = Store(settings_only(cfg))
    assert db.all_names() == ["good"]
    # Nothing escaped the work folder.
    assert not (tmp_path / "x_phase1_data.pkl").exists() and not (tmp_path.parent / "x_phase1_data.pkl").exists()
    assert sorted(p.name for p in (tmp_path / "data").glob("*.pkl")) == ["good_phase1_data.pkl"]
    errors = [e for e in events_of(tmp_path) if e["event"] == "VIDEO_ERROR"]
    assert {e["video"] for e in errors} >= {"badlang", "../x", "a/b", "good", "nopath"}


def test_malformed_json_exits_2_and_creates_nothing(tmp_path, silent_video):
    text = (
        "{\n"
        '  "settings": {"window_length": 10},\n'
        '  "videos": [\n'
        f'    {{"name": "a", "path": "{silent_video}",}}\n'
        "  ]\n"
        "}\n"
    )
    cfg = tmp_path / "videos_config.json"
    cfg.write_text(text)
    col = text.splitlines()[3].index(",}") + 2  # the trailing comma, then '}' where a key should be
    proc = run_cli(PHASE1, "--config", str(cfg), cwd=tmp_path)
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 2, out
    assert f"invalid JSON at line 4, column {col}" in out, out
    assert str(cfg) in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["videos_config.json"]  # no chroma_db, no data
    assert "Traceback" not in out


# ---------------------------------------------------------------- end to end: CLI options


@pytest.fixture
def three_silent(tmp_path, silent_video):
    """Three videos without audio (Whisper never loads): cheap CLI runs."""
    videos = []
    for n in ("v1", "v2", "v3"):
        p = tmp_path / "media" / f"{n}.mp4"
        p.parent.mkdir(exist_ok=True)
        shutil.copy2(silent_video, p)
        videos.append({"name": n, "path": str(p)})
    cfg = write_config(tmp_path, videos, window_length=10, window_overlap=3, **NO_OCR)
    return tmp_path, cfg


def _pickles(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (folder / "data").glob("*.pkl")}


def test_dry_run_limit_only_and_rerun(three_silent):
    folder, cfg = three_silent

    # --dry-run on a fresh config: says what it would do, writes no video record and no pickle.
    proc = run_cli(PHASE1, "--config", str(cfg), "--dry-run")
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out
    assert all(f"would process {n} (new video)" in out for n in ("v1", "v2", "v3")), out
    assert "nothing to do" not in out
    assert _pickles(folder) == {}
    assert Store(settings_only(cfg)).all_names() == []

    # --limit 1: exactly one video, the first in name order.
    proc = run_cli(PHASE1, "--config", str(cfg), "--limit", "1")
    assert proc.returncode == 0, proc.stderr
    st = {n: status(cfg, n)["phase1_status"] for n in ("v1", "v2", "v3")}
    assert st == {"v1": "completed", "v2": "pending", "v3": "pending"}
    assert set(_pickles(folder)) == {"v1_phase1_data.pkl"}

    # An unknown --only name is a usage error (exit 2) before any work, with a suggestion.
    proc = run_cli(PHASE1, "--config", str(cfg), "--only", "v3", "--only", "v33")
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 2, out
    assert "--only v33: no such video in the database; did you mean 'v3'?" in out
    assert status(cfg, "v3")["phase1_status"] == "pending"
    # --only v3.
    proc = run_cli(PHASE1, "--config", str(cfg), "--only", "v3")
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out
    st = {n: status(cfg, n)["phase1_status"] for n in ("v1", "v2", "v3")}
    assert st == {"v1": "completed", "v2": "pending", "v3": "completed"}

    # --dry-run with work left: lists it, changes nothing.
    before_events = len(events_of(folder))
    proc = run_cli(PHASE1, "--config", str(cfg), "--dry-run")
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out
    assert "would process v2" in out and "would process v1" not in out and "would process v3" not in out
    assert status(cfg, "v2")["phase1_status"] == "pending"
    assert set(_pickles(folder)) == {"v1_phase1_data.pkl", "v3_phase1_data.pkl"}
    assert len(events_of(folder)) == before_events

    # A plain run does only what is left.
    n_events = len(events_of(folder))
    proc = run_cli(PHASE1, "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    claimed = [e["video"] for e in events_of(folder)[n_events:] if e["event"] == "VIDEO_CLAIM"]
    assert claimed == ["v2"]
    done = _pickles(folder)
    assert set(done) == {"v1_phase1_data.pkl", "v2_phase1_data.pkl", "v3_phase1_data.pkl"}

    # Again: nothing to do, exit 0, nothing rewritten.
    n_events = len(events_of(folder))
    proc = run_cli(PHASE1, "--config", str(cfg))
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out
    assert "0 completed" in out and "3 skipped" in out
    assert [e["event"] for e in events_of(folder)[n_events:]] == ["PHASE_START", "PHASE_DONE"]
    assert _pickles(folder) == done

    # A touched file with the same bytes is no change (content fingerprint); changed bytes would be
    # reprocessed; --dry-run only says so.
    src = folder / "media" / "v1.mp4"
    old = status(cfg, "v1")
    os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 5_000_000_000))
    proc = run_cli(PHASE1, "--config", str(cfg), "--dry-run")
    assert proc.returncode == 0 and "would reprocess" not in flat(proc.stdout + proc.stderr)
    with open(src, "ab") as fh:
        fh.write(b"\0" * 64)
    n_events = len(events_of(folder))
    proc = run_cli(PHASE1, "--config", str(cfg), "--dry-run")
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out
    assert "v1: would reprocess (source file changed" in out
    new = status(cfg, "v1")
    assert new["phase1_status"] == "completed" and new["source_fingerprint"] == old["source_fingerprint"]
    assert _pickles(folder) == done
    assert len(events_of(folder)) == n_events


def test_batched_transcription_option_gives_the_same_words(en_video):
    """whisper_batch_size > 0 uses faster-whisper's BatchedInferencePipeline (the GPU-friendly path)."""
    from vtdb.config import build_settings
    from vtdb.media.transcribe import FasterWhisperTranscriber
    from vtdb.media.video import decode_audio

    settings = build_settings({"whisper_batch_size": 4}, env={})
    transcriber = FasterWhisperTranscriber(settings)
    seen: list[float] = []
    transcript = transcriber.transcribe(decode_audio(en_video), "en", progress=seen.append)
    assert transcriber._batched is not None  # the batched pipeline really ran
    assert all(speech.heard(scene.text, transcript.text) >= 0.5 for scene in EN_SCENES), transcript.text
    assert transcript.words and all(a["start"] <= b["start"] for a, b in zip(
        [w.__dict__ for w in transcript.words], [w.__dict__ for w in transcript.words][1:]))
    assert seen and seen == sorted(seen)  # progress reported in audio seconds, monotonically
