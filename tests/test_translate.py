"""English for non-English speech: Whisper's translate task (the bundled base model, a second pass over the
same audio), the `translate` setting, per-window translations in the Phase 1 pickle (version 2, version 1
still readable), and a malformed subtitle file falling back to Whisper with a warning.

Real parts: espeak-ng Russian speech, ffmpeg video, faster-whisper base, Chroma, the CLI.
Whisper's words differ by CPU, so the translation is checked for what holds on any machine: it exists,
it is in Latin script, and the Russian transcript stays Cyrillic.
"""

from __future__ import annotations

import re
import shutil

import pytest

from conftest import run_cli, write_config
from vtdb.config import Settings, settings_only
from vtdb.events import read_events
from vtdb.media.transcribe import TranscriptSegment
from vtdb.media.translate import text_in_window
from vtdb.phases.phase1 import Phase1Job
from vtdb.safe_pickle import dump_plain
from vtdb.store import Store
from vtdb.workfiles import PHASE1_FORMAT, PHASE1_VERSION, load_phase1_data, phase1_data_path

PHASE1 = "phase1_whisper_frames.py"
WIN = {"window_length": 6.0, "window_overlap": 2.0, "window_min_tail": 2.0, "frames_per_window": 1, "frame_max_side": 128}
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
LATIN = re.compile(r"[A-Za-z]")


# ---------------------------------------------------------------- units


def test_segments_go_whole_to_every_window_they_overlap():
    segs = [TranscriptSegment(0.0, 2.0, "one"), TranscriptSegment(3.0, 7.0, "two"), TranscriptSegment(9.0, 12.5, "three")]
    assert text_in_window(segs, 0.0, 6.0, last=False) == "one two"
    assert text_in_window(segs, 4.0, 10.0, last=False) == "two three"  # overlapping windows share a segment
    assert text_in_window(segs, 7.0, 9.0, last=False) == ""  # touching is not overlapping
    assert text_in_window([s.__dict__ for s in segs], 8.0, 12.0, last=True) == "three"  # past the end: the last window
    flagged = [TranscriptSegment(0.0, 2.0, "Thank you very much.", unsure="a phrase Whisper writes over silence")]
    assert text_in_window(flagged + segs, 0.0, 6.0, last=False) == "one two"  # unsure text is never a window's
    assert text_in_window([{"start": 1.0, "end": 1.5, "text": "old pickle"}], 0.0, 6.0, last=False) == "old pickle"


@pytest.mark.parametrize("mode, out, speech, wanted", [
    ("auto", "en", "ru", True), ("auto", "en", "en", False), ("auto", "en", None, False),
    ("never", "en", "ru", False), ("always", "en", "en", True), ("auto", "ru", "kk", True),
])
def test_when_a_translation_is_wanted(mode, out, speech, wanted):
    settings = Settings(translate=mode, output_language=out)
    job = Phase1Job(settings.whisper, settings.frames)
    assert job._wants_translation(speech) is wanted


def test_version_1_pickles_read_as_having_no_translation(tmp_path):
    old = {"format": PHASE1_FORMAT, "version": 1, "video": {"name": "old"}, "transcript": {"text": "привет", "segments": []},
           "windows": [{"index": 0, "start_time": 0.0, "end_time": 5.0, "text": "привет", "words": [], "frames": []}]}
    dump_plain(phase1_data_path(tmp_path, "old"), old)
    data = load_phase1_data(tmp_path, "old")
    assert data["windows"][0]["translation"] == "" and data["windows"][0]["translation_source"] == ""
    assert data["transcript"]["translation"] is None and PHASE1_VERSION == 2


# ---------------------------------------------------------------- Phase 1 with Whisper


@pytest.fixture(scope="module")
def whisper_run(tmp_path_factory, ru_video) -> dict:
    d = tmp_path_factory.mktemp("translate_run")
    ru = d / "ru_tea.mp4"
    shutil.copy(ru_video, ru)  # Russian speech, no usable subtitles
    # A malformed sidecar in the video's language: a warning, then Whisper (transcription and translation).
    (d / "ru_tea.ru.srt").write_text("1\n00:00:00,500 --> 00:00:oops\nпривет\n", encoding="utf-8")
    cfg = write_config(d, [{"name": "ru_tea", "path": str(ru), "language": "ru"}], **WIN)
    proc = run_cli(PHASE1, "--config", str(cfg))
    recs = {r["name"]: r for r in Store(settings_only(cfg)).list_videos()}
    data = {n: load_phase1_data(d / "data", n) for n in recs if recs[n]["phase1_status"] == "completed"}
    return {"proc": proc, "records": recs, "data": data, "events": read_events(d / "data" / "events.jsonl")}


def test_russian_without_subtitles_gets_an_english_translation_from_whisper(whisper_run):
    assert whisper_run["proc"].returncode == 0, whisper_run["proc"].stdout + whisper_run["proc"].stderr
    data = whisper_run["data"]["ru_tea"]
    t = data["transcript"]
    assert t["source"] == "whisper" and t["language"] == "ru" and CYRILLIC.search(t["text"]), t["text"]
    tr = t["translation"]
    assert tr is not None and tr["source"] == "whisper-translate" and tr["language"] == "en", tr
    english = " ".join(s["text"] for s in tr["segments"])
    assert LATIN.search(english) and not CYRILLIC.search(english), english
    windows = data["windows"]
    assert any(w["translation"] for w in windows)
    assert {w["translation_source"] for w in windows if w["translation"]} == {"whisper-translate"}
    # Every translated segment lands in some window (overlapping windows may share one).
    assert set(english.split()) == set(" ".join(w["translation"] for w in windows).split())
    assert "translate_s" in data["timings"]  # a second pass really ran


def test_malformed_subtitle_file_warns_and_falls_back_to_whisper(whisper_run):
    assert whisper_run["records"]["ru_tea"]["transcript_source"] == "whisper"
    assert whisper_run["data"]["ru_tea"]["transcript"]["model"] == "faster-whisper:base"
    warnings = [e["message"] for e in whisper_run["events"] if e["event"] == "WARNING" and e.get("video") == "ru_tea"]
    assert any("ru_tea.ru.srt" in m and "line 2" in m and "using Whisper" in m for m in warnings), warnings
