"""Every file an archive holds, in one config, through every phase (issue 25's "done when").

tests/helpers/archive_media.py makes the kinds of files real archives hold (WebM/VP9, AV1, HEVC 10-bit, H.264
4:4:4, interlaced MPEG-2 PS, DV, a portrait phone video with a rotation flag and a variable frame rate, no audio,
audio only, two audio tracks, 4K, a 0.5 s clip, a podcast with one cover picture, truncated MKV and MP4, a
0-byte file, a text file named .mp4, a dangling symlink, a Cyrillic file name with an apostrophe and no name in
the config, 40 s of a tone before the speech), with real speech. One run_pipeline.py over all of them; then
each file is either indexed as it should be or held with a reason that names its problem, a second run does
nothing, and nothing else is affected by the bad ones.
"""

from __future__ import annotations

import json

import pytest
from helpers.archive_media import make_archive

from conftest import run_cli, write_config
from vtdb.config import load_config
from vtdb.store import Store
from vtdb.workfiles import load_phase1_data

PHASES = ("phase1", "phase2", "db_load", "phase4")
NO_SPEECH = {"no_audio", "half_second"}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("archive")
    files = make_archive(folder / "media")
    videos = []
    for f in files:
        entry = {"path": str(f.path), "language": f.language, **dict(f.extra)}
        if f.name:
            entry["name"] = f.name
        videos.append(entry)
    cfg = write_config(folder, videos, analyzer="transcript", window_length=10, window_overlap=2, window_min_tail=2,
                       frames_per_window=2, frame_max_side=320)
    first = run_cli("run_pipeline.py", "--config", str(cfg), timeout=1800)
    config = load_config(cfg, env={})
    db = Store(config)
    try:
        records = {m["name"]: m for m in db.list_videos()}
        segments = {name: db.get_segments(where={"video_name": name}, include=["metadatas"])["metadatas"] for name in records}
    finally:
        db.close()
    second = run_cli("run_pipeline.py", "--config", str(cfg), timeout=600)
    return {"files": files, "first": first, "second": second, "records": records, "segments": segments,
            "work_dir": config.work_dir}


def _name(f) -> str:
    return f.name or "Интерв_ю_1986"


def test_every_file_is_indexed_or_held_with_its_reason(archive):
    records, out = archive["records"], archive["first"].stdout + archive["first"].stderr
    assert "Traceback" not in out, out[-4000:]
    outcome = {}
    for f in archive["files"]:
        name = _name(f)
        if f.expect == "refused":
            assert name not in records and f.why in out, (name, out[-3000:])
            outcome[name] = "refused"
            continue
        record = records[name]
        if f.expect == "held":
            assert record["phase1_held"] and f.why in record["phase1_last_error"], (name, record["phase1_last_error"])
            outcome[name] = "held: " + record["phase1_last_error"].split(": ", 1)[-1][:60]
            continue
        assert [record[f"{p}_status"] for p in PHASES] == ["completed"] * 4, (name, [record[f"{p}_last_error"] for p in PHASES])
        if name not in NO_SPEECH:
            assert archive["segments"][name], f"{name}: speech, but nothing searchable"
            assert record["transcript_language"] == f.language, (name, record["transcript_language"])
        outcome[name] = f"indexed, {len(archive['segments'][name])} moments"
    # The run that finds files it must hold exits 1 (cron mails it once); the next one is quiet (below).
    assert archive["first"].returncode == 1, json.dumps(outcome, ensure_ascii=False, indent=1)
    print(json.dumps(outcome, ensure_ascii=False, indent=1))  # the file -> outcome table, shown with -s


def test_a_second_run_has_nothing_to_do(archive):
    second = archive["second"]
    out = second.stdout + second.stderr
    # Exit 1 again only because one entry still names a dangling link (said again, in words); nothing is retried.
    assert second.returncode == 1 and "is a symbolic link to" in out, out[-3000:]
    for phase in PHASES:
        assert f"{phase}: nothing to do" in out or f"{phase}: 0 completed, 0 failed" in out, (phase, out[-3000:])
    assert "✗" not in out  # nothing tried again


def test_frames_are_stored_as_a_viewer_sees_them(archive):
    work_dir = archive["work_dir"]
    phone = load_phase1_data(work_dir, "phone_portrait")["windows"][0]["frames"][0]
    assert phone["height"] > phone["width"], phone["width"]  # upright: 1080x1920 shown, not lying on its side
    tape = load_phase1_data(work_dir, "mpeg2_interlaced")["windows"][0]["frames"][0]
    assert abs(tape["width"] / tape["height"] - 4 / 3) < 0.02, (tape["width"], tape["height"])  # 720x576 at 16:15


def test_speech_after_a_long_tone_and_in_every_codec_is_searchable(archive):
    for name in ("sweep_then_speech", "webm_vp9", "av1", "hevc10", "podcast", "two_tracks", "Интерв_ю_1986"):
        assert archive["segments"][name], name
    starts = [m["start_time"] for m in archive["segments"]["sweep_then_speech"]]
    assert starts and min(starts) >= 30, starts  # the speech is after the 40 s tone


def test_audio_only_files_are_indexed_by_their_speech(archive):
    records, work_dir = archive["records"], archive["work_dir"]
    for name, cover in (("audio_mp3", False), ("audio_m4a_cover", True)):
        record = records[name]
        assert record["has_video"] is False and record["video_duration"] > 3, record
        data = load_phase1_data(work_dir, name)
        assert data["video"]["has_video"] is False
        assert all(w["frames"] == [] for w in data["windows"])
        assert (data["video"]["cover"] is not None) is cover, name
        if cover:
            assert data["video"]["cover"]["jpeg"][:2] == b"\xff\xd8" and data["video"]["cover"]["width"] == 240
        assert archive["segments"][name], f"{name}: speech, but nothing searchable"
    assert records["webm_vp9"]["has_video"] is True


def test_audio_tracks_are_chosen_named_and_the_english_one_used(archive):
    records, work_dir = archive["records"], archive["work_dir"]
    two = records["two_tracks"]
    # German speech on track 1, English on track 2: the English is the people's translation, transcribed.
    assert two["transcript_language"] == "de" and two["translation_source"] == "audio-track", two
    assert "track 1 (de): transcribed" in two["audio_tracks"] and "track 2 (en): used as the English text" in two["audio_tracks"]
    english = " ".join(w["translation"] for w in load_phase1_data(work_dir, "two_tracks")["windows"]).lower()
    assert "never" in english, english  # track 2 says "nevermind" (en_081); the German on track 1 does not
    chosen = records["second_track_chosen"]
    assert chosen["transcript_language"] == "en" and "track 2: transcribed" in chosen["audio_tracks"], chosen
    assert load_phase1_data(work_dir, "second_track_chosen")["video"]["audio_track_used"] == 2
