"""A library that changes (issue 16), on real files, a real ZIM archive, real Chroma and the real phases.

One library lives through a user's years, in order: processed once; a video dropped from the config and
put back; the whole folder moved (and its files' mtimes changed, as a copy does); the archive replaced by
a newer one that lacks one video and adds another; a file that is not a video; prune. The phases run
in-process through their commands (`run(argv)`, exactly what the scripts call), Phase 2 with the CPU
transcript analyzer. Clips have no audio, so Whisper is never needed (whisper_model points nowhere); on-screen
text is off (ocr: off): the story checks what changes in the library, and tesseract on the test patterns' frames
was half of this module's time (tests/test_ocr_flow.py runs OCR through the phases).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from zim_factory import write_zim, youtube2zim_v3_items

from conftest import run_cli, write_config
from vtdb.commands import manage as status_cmd
from vtdb.commands import phase1, phase2, phase3, phase4
from vtdb.config import settings_only
from vtdb.events import read_events
from vtdb.sources.fingerprint import FingerprintCache, fingerprint_file
from vtdb.store import Store
from vtdb.workfiles import phase1_data_path, phase2_analysis_path

SETTINGS = dict(window_length=2.0, window_overlap=0.5, window_min_tail=0.4, frame_max_side=96, analyzer="transcript",
                whisper_model="/nonexistent/whisper", max_attempts=3, ocr="off")
SOURCES = ["testsrc2", "mandelbrot", "smptebars", "rgbtestsrc", "cellauto", "life"]
PHASES = [("phase1", phase1), ("phase2", phase2), ("db_load", phase3), ("phase4", phase4)]


def clip(path: Path, source: str) -> Path:
    """A 3 s silent H.264 clip of an ffmpeg test source (each source gives different bytes), with a sidecar
    subtitle file beside it: something to search, so that each video has moments (a clip with nothing in it
    has none since issue 25)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"{source}=size=160x120:rate=10",
                    "-t", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    path.with_suffix(".srt").write_text(f"1\n00:00:00,200 --> 00:00:02,800\nThe {source} test pattern fills the screen.\n",
                                        encoding="utf-8")
    return path


def archive(path: Path, videos: dict[str, bytes]) -> Path:
    return write_zim(path, youtube2zim_v3_items([{"id": vid, "title": f"Video {vid}", "media": media,
                                                   "subtitles": {"en": f"WEBVTT\n\n00:00.200 --> 00:02.800\nVideo {vid} plays.\n"}}
                                                  for vid, media in videos.items()]), {"Title": "Channel"})


class Library:
    """The folder, its config and the runs made on it."""

    def __init__(self, root: Path):
        self.root = root
        self.cfg = root / "videos_config.json"
        self.events_file = root / "data" / "events.jsonl"

    def configure(self, files: dict[str, Path], zim: Path | None) -> None:
        videos: list[dict] = [{"name": n, "path": str(p)} for n, p in files.items()]
        if zim is not None:
            videos.append({"zim": str(zim)})
        write_config(self.root, videos, **SETTINGS)

    def events(self) -> list[dict]:
        return read_events(self.events_file)

    def run_all(self) -> dict:
        """Phases 1-4 once each; their exit codes and the videos each one claimed."""
        before = len(self.events())
        codes = {key: module.run(["--config", str(self.cfg)]) for key, module in PHASES}
        new = self.events()[before:]
        claimed = {key: sorted(e["video"] for e in new if e["event"] == "VIDEO_CLAIM" and e.get("phase") == key) for key, _ in PHASES}
        return {"codes": codes, "claimed": claimed, "events": new}

    def records(self) -> dict[str, dict]:
        with Store(settings_only(self.cfg)) as db:
            return {m["name"]: m for m in db.list_videos()}

    def segments(self) -> dict[str, list[dict]]:
        with Store(settings_only(self.cfg)) as db:
            got = db._segments_col.get(include=["metadatas"])
        out: dict[str, list[dict]] = {}
        for meta in got["metadatas"]:
            out.setdefault(meta["video_name"], []).append(meta)
        return out


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    """Every step of the story, run once; each test checks one chapter of it."""
    base = tmp_path_factory.mktemp("library")
    media = base / "media"
    clips = {s: clip(media / f"{s}.mp4", s) for s in SOURCES}
    lib = Library(base / "site")
    folder = lib.root / "videos"
    files = {"alpha": folder / "alpha.mp4", "bravo": folder / "bravo.mp4"}
    for (name, path), source in zip(files.items(), SOURCES):
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clips[source], path)
        shutil.copyfile(clips[source].with_suffix(".srt"), path.with_suffix(".srt"))
    zim = archive(folder / "channel.zim", {"xrayVideo01": clips["smptebars"].read_bytes(), "yankeeVid01": clips["rgbtestsrc"].read_bytes()})
    lib.configure(files, zim)
    out: dict = {"lib": lib}

    out["first"] = lib.run_all()
    out["first_records"] = lib.records()
    out["first_segments"] = lib.segments()

    # 1. bravo leaves the config: retired, nothing deleted; the phases have nothing to do.
    lib.configure({"alpha": files["alpha"]}, zim)
    out["removed"] = lib.run_all()
    out["removed_records"] = lib.records()
    with Store(settings_only(lib.cfg)) as db:
        out["removed_retired_names"] = db.retired_names()
    out["status"] = run_cli("db_manager.py", "status", "--config", str(lib.cfg))
    # 2. bravo comes back: restored, not reprocessed.
    lib.configure(files, zim)
    out["restored"] = lib.run_all()
    out["restored_records"] = lib.records()

    # 3. The whole folder moves, and every file gets a new mtime (as a plain copy gives): nothing is redone.
    moved = base / "mnt" / "videos"
    moved.parent.mkdir(parents=True)
    shutil.move(str(folder), str(moved))
    for p in moved.iterdir():
        os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 7 * 10**9))
    moved_files = {n: moved / p.name for n, p in files.items()}
    lib.configure(moved_files, moved / "channel.zim")
    out["moved_files"] = moved_files
    out["moved"] = lib.run_all()
    out["moved_records"] = lib.records()
    out["moved_segments"] = lib.segments()

    # 4. A newer archive of the channel replaces the old one: yankee is gone, zulu is new, xray is unchanged.
    newer = archive(base / "newer.zim", {"xrayVideo01": clips["smptebars"].read_bytes(), "zuluVideo01": clips["cellauto"].read_bytes()})
    shutil.move(str(newer), str(moved / "channel.zim"))
    out["replaced"] = lib.run_all()
    out["replaced_records"] = lib.records()

    # 5. A file that is not a video joins: held at once (exit 1 once), later cron runs exit 0.
    junk = moved / "notes.mp4"
    junk.write_bytes(b"a shopping list, not a video\n" * 50)
    lib.configure({**moved_files, "junk": junk}, moved / "channel.zim")
    out["junk_first"] = lib.run_all()
    out["junk_second"] = lib.run_all()
    out["junk_records"] = lib.records()

    # 6. Prune: refused without a terminal or --yes; then deletes the retired videos and their work files.
    out["work_files_before"] = {n: [phase1_data_path(lib.root / "data", n).exists(), phase2_analysis_path(lib.root / "data", n).exists(),
                                    (lib.root / "data" / "reports" / f"{n}.md").exists()] for n in out["replaced_records"]}
    out["prune_refused"] = run_cli("db_manager.py", "prune", "--config", str(lib.cfg))
    out["after_refusal"] = lib.records()
    out["prune_yes"] = run_cli("db_manager.py", "prune", "--yes", "--config", str(lib.cfg))
    out["pruned_records"] = lib.records()
    out["pruned_segments"] = lib.segments()
    out["prune_again"] = status_cmd.run(["prune", "--yes", "--config", str(lib.cfg)])
    return out


Y = "channel__yankeeVid01"
X = "channel__xrayVideo01"
Z = "channel__zuluVideo01"


def test_first_run_processes_everything(story):
    first = story["first"]
    assert first["codes"] == {"phase1": 0, "phase2": 0, "db_load": 0, "phase4": 0}, first
    assert first["claimed"]["phase4"] == sorted(["alpha", "bravo", X, Y])
    recs = story["first_records"]
    for name in ("alpha", "bravo", X, Y):
        assert recs[name]["phase4_status"] == "completed" and recs[name]["content_fingerprint"].startswith("content:v1:")
        assert story["first_segments"][name]
    # Different bytes, different fingerprints; the ZIM item's equals the file it was made from.
    assert len({recs[n]["content_fingerprint"] for n in ("alpha", "bravo", X, Y)}) == 4


def test_a_video_removed_from_the_config_is_retired_not_deleted(story):
    removed = story["removed"]
    assert removed["codes"] == {"phase1": 0, "phase2": 0, "db_load": 0, "phase4": 0}
    assert removed["claimed"] == {"phase1": [], "phase2": [], "db_load": [], "phase4": []}
    rec = story["removed_records"]["bravo"]
    assert rec["retired"] is True and rec["retired_at"] and "removed from videos_config.json" in rec["retired_reason"]
    assert rec["phase4_status"] == "completed"  # its work is kept
    assert [e["video"] for e in removed["events"] if e["event"] == "VIDEO_RETIRED"] == ["bravo"]
    assert not story["removed_records"]["alpha"].get("retired")
    assert story["removed_retired_names"] == {"bravo"}


def test_status_shows_the_retired_video(story):
    status = story["status"]
    assert status.returncode == 0, status.stderr
    line = next(ln for ln in status.stdout.splitlines() if "bravo" in ln)
    assert "RETIRED" in line
    assert "1 retired" in status.stdout


def test_a_video_put_back_is_restored_without_reprocessing(story):
    restored = story["restored"]
    assert restored["codes"] == {"phase1": 0, "phase2": 0, "db_load": 0, "phase4": 0}
    assert restored["claimed"] == {"phase1": [], "phase2": [], "db_load": [], "phase4": []}
    rec = story["restored_records"]["bravo"]
    assert rec["retired"] is False and rec["retired_at"] == "" and rec["phase4_status"] == "completed"
    assert [e["video"] for e in restored["events"] if e["event"] == "VIDEO_RESTORED"] == ["bravo"]
    assert not [e for e in restored["events"] if e["event"] == "VIDEO_RESET"]


def test_a_moved_library_keeps_all_its_work(story):
    moved = story["moved"]
    assert moved["codes"] == {"phase1": 0, "phase2": 0, "db_load": 0, "phase4": 0}
    # Phase 1-4 have nothing to do.
    assert moved["claimed"] == {"phase1": [], "phase2": [], "db_load": [], "phase4": []}
    assert not [e for e in moved["events"] if e["event"] == "VIDEO_RESET"]
    assert sorted(e["video"] for e in moved["events"] if e["event"] == "VIDEO_MOVED") == sorted(["alpha", "bravo", X, Y])
    recs = story["moved_records"]
    assert recs["alpha"]["video_path"] == str(story["moved_files"]["alpha"])
    assert recs[X]["video_path"].startswith(f"zim://{story['moved_files']['alpha'].parent / 'channel.zim'}#")
    # The segments follow the file (search results and exports point where it is now).
    for name in ("alpha", X):
        assert {s["video_path"] for s in story["moved_segments"][name]} == {recs[name]["video_path"]}
        assert len(story["moved_segments"][name]) == len(story["first_segments"][name])


def test_a_replaced_archive_retires_what_it_lost_and_processes_what_it_gained(story):
    replaced = story["replaced"]
    assert replaced["codes"] == {"phase1": 0, "phase2": 0, "db_load": 0, "phase4": 0}
    # Only the new video is processed: the unchanged one keeps its work although the archive's UUID changed.
    assert replaced["claimed"] == {"phase1": [Z], "phase2": [Z], "db_load": [Z], "phase4": [Z]}
    recs = story["replaced_records"]
    assert recs[Y]["retired"] is True and "no longer in its archive" in recs[Y]["retired_reason"]
    assert recs[X]["retired"] is False and recs[X]["phase4_status"] == "completed"
    assert recs[Z]["phase4_status"] == "completed"
    assert recs[X]["zim_uuid"] != story["first_records"][X]["zim_uuid"]


def test_a_file_that_is_not_a_video_is_held_at_once_and_later_runs_exit_0(story):
    first, second = story["junk_first"], story["junk_second"]
    assert first["codes"]["phase1"] == 1  # new in this run: reported
    assert first["claimed"]["phase1"] == ["junk"]
    rec = story["junk_records"]["junk"]
    assert rec["phase1_held"] is True and rec["phase1_hold_kind"] == "permanent" and rec["phase1_attempts"] == 1
    assert "not a readable video file" in rec["phase1_last_error"]
    errors = [e for e in first["events"] if e["event"] == "VIDEO_ERROR" and e["video"] == "junk"]
    assert len(errors) == 1 and errors[0]["error_kind"] == "permanent" and errors[0]["held"] is True
    # The next cron run: nothing retried, nothing failed.
    assert second["codes"] == {"phase1": 0, "phase2": 0, "db_load": 0, "phase4": 0}
    assert second["claimed"] == {"phase1": [], "phase2": [], "db_load": [], "phase4": []}


def test_force_still_retries_a_permanently_held_video(story):
    with Store(settings_only(story["lib"].cfg)) as db:
        meta = db.get_video_status("junk")
        assert db.decide(meta, "phase1").held
        assert db.decide(meta, "phase1", force=True).take  # --force retries either kind


def test_prune_asks_then_deletes_retired_videos_and_their_work_files(story):
    refused = story["prune_refused"]
    assert refused.returncode == 2 and "--yes" in refused.stdout and Y in refused.stdout
    assert set(story["after_refusal"]) == set(story["junk_records"])  # nothing deleted
    done = story["prune_yes"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{Y}: deleted" in done.stdout and "pruned 1 retired video(s)" in done.stdout
    assert Y not in story["pruned_records"] and Y not in story["pruned_segments"]
    assert story["work_files_before"][Y] == [True, True, True]
    lib = story["lib"]
    assert not phase1_data_path(lib.root / "data", Y).exists() and not phase2_analysis_path(lib.root / "data", Y).exists()
    assert not (lib.root / "data" / "reports" / f"{Y}.md").exists()
    # The others are untouched.
    assert set(story["pruned_records"]) == set(story["junk_records"]) - {Y}
    assert phase1_data_path(lib.root / "data", X).exists()
    assert story["prune_again"] == 0


def test_fingerprint_samples_start_middle_and_end_and_is_cached(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (40 * 4096))  # 40 MiB
    fp = fingerprint_file(big)
    data = bytearray(big.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a change in the middle sample
    (tmp_path / "mid.bin").write_bytes(bytes(data))
    assert fingerprint_file(tmp_path / "mid.bin") != fp
    cache = FingerprintCache(tmp_path / "cache.json")
    assert cache.file(big) == fp
    cache.save()
    # Cached by path, size and mtime: a stale cache entry is never used for a changed file.
    stored = json.loads((tmp_path / "cache.json").read_text())
    key = f"file:{big}"
    stored[key]["fp"] = "content:v1:bogus"
    (tmp_path / "cache.json").write_text(json.dumps(stored))
    assert FingerprintCache(tmp_path / "cache.json").file(big) == "content:v1:bogus"  # the cache is used ...
    os.utime(big, ns=(big.stat().st_atime_ns, big.stat().st_mtime_ns + 10**9))
    assert FingerprintCache(tmp_path / "cache.json").file(big) == fp  # ... until size or mtime change
