"""A window with no speech but text on screen is found by search: Phase 1 reads the text (real tesseract
on frames of a real ffmpeg video), Phase 2's transcript analyzer describes the window by it, Phase 3 makes
it searchable and filterable (`has_text`). Phase 1 also records the real shot boundaries (PySceneDetect)
and marks the window holding the cut. The clip has no audio, so Whisper never runs (whisper_model points
nowhere: a transcription attempt would fail the run)."""

from __future__ import annotations

import pytest
from helpers.slides import slides_video

from conftest import run_cli, write_config
from vtdb.config import load_config
from vtdb.media.ocr import ocr_available
from vtdb.search.similar import search_moments
from vtdb.store import Store
from vtdb.workfiles import load_phase1_data

SLIDE = ["EMERGENCY WATER STATION", "OPEN DAILY"]

pytestmark = pytest.mark.skipif(not ocr_available(["eng"])[0], reason="tesseract with English data is not installed "
                                "(scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ocr_flow")
    # A plain second shot: a hard cut at 8 s, no text.
    video = slides_video(folder / "slide.mp4", [(SLIDE, (20, 40, 90)), ([], (150, 90, 30))])
    cfg = write_config(folder, [{"name": "slide", "path": str(video), "language": "en"}], analyzer="transcript",
                       whisper_model="/nonexistent/whisper", window_length=6, window_overlap=1, frames_per_window=3)
    for script in ("phase1_whisper_frames.py", "phase2_vllm_analysis.py", "phase3_load.py"):
        res = run_cli(script, "--config", str(cfg))
        assert res.returncode == 0, script + "\n" + res.stdout + res.stderr
    config = load_config(cfg, env={})
    data = load_phase1_data(config.work_dir, "slide")
    db = Store(config)
    try:
        hits = search_moments(db, "emergency water", n=3)
        with_text = search_moments(db, "emergency water", n=10, filters={"has_text": True})
        without = search_moments(db, "emergency water", n=10, filters={"has_text": False})
        metas = db.get_segments(where={"video_name": "slide"}, include=["metadatas"])["metadatas"]
    finally:
        db.close()
    return data, hits, with_text, without, metas


def test_phase1_reads_the_slide_and_finds_the_cut(run):
    data = run[0]
    first = data["windows"][0]
    assert "EMERGENCY WATER" in " ".join(first["on_screen_text"]), first["on_screen_text"]
    last = data["windows"][-1]
    assert last["on_screen_text"] == []  # the plain shot has no text
    boundaries = [start for start, _end in data["shots"][1:]]
    assert len(boundaries) == 1 and abs(boundaries[0] - 8.0) <= 0.3, data["shots"]
    assert [w["scene_change"] for w in data["windows"]] == [w["start_time"] < boundaries[0] < w["end_time"]
                                                            for w in data["windows"]]
    assert data["timings"]["ocr_read"] >= 1


def test_the_text_on_screen_makes_the_window_searchable_and_filterable(run):
    _data, hits, with_text, without, metas = run
    assert hits and hits[0].video_name == "slide" and hits[0].start_time == 0.0
    assert "EMERGENCY WATER" in hits[0].description.upper()
    assert with_text and all(m.start_time is not None and m.start_time < 8 for m in with_text)
    assert all(m.start_time is not None and m.start_time >= 5 for m in without)  # windows of the plain shot only
    texts = {m["segment_index"]: m for m in metas}
    assert texts[0]["has_text"] is True and "WATER" in texts[0]["on_screen_text"]
    # The plain shot's last window has no speech and no text: no moment at all (issue 25), so none without text.
    assert all(m["has_text"] is True for m in metas) and max(m["start_time"] for m in metas) < 10
