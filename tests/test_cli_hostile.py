"""Hostile and careless use of the CLIs and the library they read (issue #26 items 8-9 and its weaker answers,
issue #25 item 3): huge result counts, deleting without a terminal, pruning a name that does not exist, a
database folder deleted under the phases, an unreadable folder, a dangling symbolic link, an edited subtitle
file, braces in subtitles, a work file symlinked from another disk, an unwritable model cache, CHROMA_HOST
as a URL. Real subprocesses, a real embedded Chroma or `chroma run` server, real file permissions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest
from helpers.library import Seg, Vid, build_library

from conftest import PY, ROOT, run_cli, without_file_override, write_config
from vtdb.config import load_config
from vtdb.manager import ChromaDBManager
from vtdb.naming import UnsafeNameError
from vtdb.store import Store
from vtdb.workfiles import load_phase1_data, phase1_data_path


def out(res: subprocess.CompletedProcess) -> str:
    return res.stdout + res.stderr


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lib")
    return build_library(folder, [
        Vid("pasta", "Pasta for beginners", "/videos/pasta.mp4", [
            Seg(0, 30, "A cook boils spaghetti", "Boil the pasta", ["pasta"], "cooking", transcript="boil the pasta"),
            Seg(30, 60, "The cook drains the pasta", "Drain it", ["pasta"], "cooking", transcript="drain the pasta"),
        ]),
        Vid("bike", "Fixing a tyre", "/videos/bike.mp4", [
            Seg(0, 30, "A puncture is patched", "Patch the tube", ["bicycle"], "repair", transcript="patch the tube"),
        ]),
    ])


# ---------------------------------------------------------------- item 9: result counts


@pytest.mark.parametrize("value, message", [
    ("100000000", "at most 1000 results at a time, got '100000000'"),
    ("99999999999999999999", "at most 1000 results at a time"),
    ("9" * 5000, "at most 1000 results at a time"),
    ("²", "must be a whole number >= 1"),
    ("0", "must be a whole number >= 1"),
])
def test_huge_or_odd_n_is_a_usage_error_not_an_abort(library, value, message):
    res = run_cli("test_search.py", "--config", str(library), "-q", "pasta", "-n", value)
    assert res.returncode == 2, out(res)
    assert "argument -n: " + message in res.stderr and "Traceback" not in out(res)


def test_the_largest_n_works(library):
    res = run_cli("test_search.py", "--config", str(library), "-q", "pasta", "-n", "1000", "--json")
    assert res.returncode == 0, out(res)
    assert len(json.loads(res.stdout)) == 3


def test_interactive_n_is_bounded_and_the_next_query_still_answers(library):
    script = ":n 100000000\n:n 99999999999999999999\nboil pasta\n:n 2\nboil pasta\n:quit\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    res = subprocess.run([PY, str(ROOT / "test_search.py"), "--config", str(library)], input=script, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "Traceback" not in out(res), out(res)[-3000:]
    assert "usage: :n N, with N at most 1000 (now 5); got '100000000'" in res.stdout
    assert "usage: :n N, with N at most 1000 (now 5); got '99999999999999999999'" in res.stdout
    assert "Pasta for beginners" in res.stdout and "showing 2 results" in res.stdout


@pytest.mark.parametrize("value", ["inf", "nan", "١٢", "1e999"])
def test_time_filters_take_finite_ascii_numbers(library, value):
    res = run_cli("test_search.py", "--config", str(library), "-q", "pasta", "--from", value)
    assert res.returncode == 2 and "argument --from: must be a number of seconds" in res.stderr, out(res)


# ---------------------------------------------------------------- db_manager.py delete / prune


def test_delete_without_a_terminal_needs_yes(tmp_path):
    cfg = write_config(tmp_path, [])
    db = Store(load_config(cfg, env={}))
    db.add_video_files([("talk", "/videos/talk.mp4", {"title": "Talk"})])
    res = run_cli("db_manager.py", "delete", "talk", "--config", str(cfg))  # stdin is not a terminal here
    assert res.returncode == 2, out(res)
    assert "delete talk: its record and 0 segments" in res.stdout
    assert "there is no terminal to ask on; run it again with --yes" in res.stdout
    assert Store(load_config(cfg, env={})).get_video_status("talk") is not None
    res = run_cli("db_manager.py", "delete", "talk", "--yes", "--config", str(cfg))
    assert res.returncode == 0 and "talk: deleted" in res.stdout, out(res)
    assert Store(load_config(cfg, env={})).get_video_status("talk") is None


def test_prune_of_an_unknown_name_says_it_is_unknown(tmp_path):
    cfg = write_config(tmp_path, [])
    db = Store(load_config(cfg, env={}))
    db.add_video_files([("talk", "/videos/talk.mp4", {"title": "Talk"})])
    res = run_cli("db_manager.py", "prune", "nobody", "--yes", "--config", str(cfg))
    assert res.returncode == 2, out(res)
    assert "no video named 'nobody' in the database" in res.stdout and "not retired" not in res.stdout
    res = run_cli("db_manager.py", "prune", "tlak", "--yes", "--config", str(cfg))
    assert "no video named 'tlak' in the database; did you mean 'talk'? `python db_manager.py status` lists" in res.stdout
    res = run_cli("db_manager.py", "prune", "talk", "--yes", "--config", str(cfg))
    assert res.returncode == 2 and "not retired: 'talk'" in res.stdout  # known, not retired: as before


# ---------------------------------------------------------------- the database folder deleted


def test_phases_2_to_4_say_the_database_is_gone_and_exit_2(tmp_path):
    cfg = build_library(tmp_path, [Vid("pasta", "Pasta", "/videos/pasta.mp4", [
        Seg(0, 30, "A cook boils spaghetti", "Boil the pasta", ["pasta"], "cooking")])])
    res = run_cli("phase3_load.py", "--config", str(cfg))  # a run on the database: work_dir remembers it
    assert res.returncode == 0, out(res)
    chroma = tmp_path / "chroma_db"
    shutil.rmtree(chroma)
    for script in ("phase2_vllm_analysis.py", "phase3_load.py", "phase4_summary.py"):
        res = run_cli(script, "--config", str(cfg))
        assert res.returncode == 2, (script, out(res))
        assert f"the database {chroma} is gone" in res.stderr and "0 completed" not in out(res)
        assert not (chroma / "chroma.sqlite3").exists()


def test_a_fresh_install_without_a_database_is_not_called_gone(tmp_path):
    cfg = write_config(tmp_path, [])
    res = run_cli("phase3_load.py", "--config", str(cfg))
    assert res.returncode == 0 and "is gone" not in out(res), out(res)


# ---------------------------------------------------------------- issue 25 item 3: unreadable and missing paths


def test_an_unreadable_folder_is_one_videos_error_and_the_others_go_on(tmp_path, silent_video):
    locked = tmp_path / "locked"
    locked.mkdir()
    shutil.copy(silent_video, locked / "clip.mp4")
    cfg = write_config(tmp_path, [{"name": "locked", "path": str(locked / "clip.mp4")},
                                  {"name": "good", "path": str(silent_video)}], ocr="off", shots="off")
    locked.chmod(0o000)
    try:
        res = run_cli("phase1_whisper_frames.py", "--config", str(cfg), prefix=without_file_override())
    finally:
        locked.chmod(0o755)
    text = out(res)
    assert "Traceback" not in text and res.returncode == 1, text
    assert f"{locked / 'clip.mp4'}: permission denied: the folder {locked} cannot be entered by this user" in text
    assert "this video is skipped" in text
    records = {r["name"]: r for r in json.loads(run_cli("db_manager.py", "status", "--json", "--config", str(cfg)).stdout)}
    assert records["good"]["phase1_status"] == "completed" and "locked" not in records
    # Readable again: the next run takes it.
    res = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
    assert res.returncode == 0, out(res)


def test_a_dangling_symlink_says_its_target_and_is_never_shown_retired(tmp_path, silent_video):
    link = tmp_path / "linked.mp4"
    target = tmp_path / "usb_disk" / "clip.mp4"
    link.symlink_to(target)
    cfg = write_config(tmp_path, [{"name": "linked", "path": str(link)}, {"name": "good", "path": str(silent_video)}],
                       ocr="off", shots="off")
    res = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
    text = out(res)
    assert "Traceback" not in text and res.returncode == 1, text
    assert f"{link} is a symbolic link to {target}, which does not exist" in text
    status = run_cli("db_manager.py", "status", "--config", str(cfg))
    assert "RETIRED" not in status.stdout and "good" in status.stdout, out(status)
    # Once processed, a link whose target goes away keeps the video's record and work (a drive not mounted).
    target.parent.mkdir()
    shutil.copy(silent_video, target)
    assert run_cli("phase1_whisper_frames.py", "--config", str(cfg)).returncode == 0
    shutil.rmtree(target.parent)
    res = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
    assert res.returncode == 1 and f"is a symbolic link to {target}, which does not exist" in out(res)
    records = {r["name"]: r for r in json.loads(run_cli("db_manager.py", "status", "--json", "--config", str(cfg)).stdout)}
    assert records["linked"]["phase1_status"] == "completed" and not records["linked"].get("retired_at")


# ---------------------------------------------------------------- subtitles: braces kept, edits reprocess

SRT = "1\n00:00:01,000 --> 00:00:04,000\nThe answer is {{7*7}} and {not a tag}\n\n2\n00:00:05,000 --> 00:00:08,000\n{\\an8}Second line\n"


def test_braces_in_an_srt_stay_text_and_an_edited_sidecar_is_reprocessed(tmp_path, silent_video):
    video = tmp_path / "lesson.mp4"
    shutil.copy(silent_video, video)
    sidecar = tmp_path / "lesson.srt"
    sidecar.write_text(SRT)
    cfg = write_config(tmp_path, [{"name": "lesson", "path": str(video), "language": "en"}], ocr="off", shots="off")
    res = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
    assert res.returncode == 0, out(res)
    work = tmp_path / "data"
    text = " | ".join(s["text"] for s in load_phase1_data(work, "lesson")["transcript"]["segments"])
    assert text == "The answer is {{7*7}} and {not a tag} | Second line"
    assert "The answer is {{7*7}} and {not a tag}" in load_phase1_data(work, "lesson")["windows"][0]["text"] and "Second line" in text and "an8" not in text
    res = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
    assert res.returncode == 0 and "reprocessing" not in out(res), out(res)  # unchanged: nothing to redo
    sidecar.write_text(SRT.replace("Second line", "Corrected line"))
    os.utime(sidecar, (time.time() + 5, time.time() + 5))
    res = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
    assert res.returncode == 0, out(res)
    assert "lesson: reprocessing (its subtitle files changed" in out(res)
    text = " | ".join(s["text"] for s in load_phase1_data(work, "lesson")["transcript"]["segments"])
    assert "Corrected line" in text and "Second line" not in text


# ---------------------------------------------------------------- a work file symlinked from elsewhere


def test_a_work_file_symlinked_from_another_disk_is_refused_saying_symlink(tmp_path):
    work, elsewhere = tmp_path / "work", tmp_path / "other_disk"
    work.mkdir()
    elsewhere.mkdir()
    (elsewhere / "talk_phase1_data.pkl").write_bytes(b"x")
    (work / "talk_phase1_data.pkl").symlink_to(elsewhere / "talk_phase1_data.pkl")
    with pytest.raises(UnsafeNameError) as exc:
        phase1_data_path(work, "talk")
    assert f"is a symlink to {elsewhere / 'talk_phase1_data.pkl'}, outside {work}" in str(exc.value)
    assert "replace the symlink with the file itself" in str(exc.value)


# ---------------------------------------------------------------- item 8: the model cache cannot be written


def test_an_unwritable_model_cache_stops_the_run_with_exit_2_and_counts_no_video(tmp_path, en_video):
    home = tmp_path / "readonly_home"
    home.mkdir()
    cfg = write_config(tmp_path, [{"name": "talk", "path": str(en_video), "language": "en"}], ocr="off", shots="off")
    home.chmod(0o555)
    try:
        res = run_cli("phase1_whisper_frames.py", "--config", str(cfg), prefix=without_file_override(),
                      env={"VTDB_CACHE_DIR": str(home / "cache")})
    finally:
        home.chmod(0o755)
    text = out(res)
    assert res.returncode == 2 and "Traceback" not in text, text
    assert f"cannot prepare the bundled Whisper 'base' model in {home / 'cache' / 'faster-whisper-base'}" in text
    assert "set VTDB_CACHE_DIR to one" in text
    record = json.loads(run_cli("db_manager.py", "show", "talk", "--config", str(cfg)).stdout)
    assert record["phase1_status"] == "pending" and not record.get("phase1_attempts")
    assert not record["flags"]["held"]


# ---------------------------------------------------------------- CHROMA_HOST as a URL, against a real server


def test_chroma_host_written_as_a_url_reaches_the_server(tmp_path, chroma_server):
    host, port = chroma_server
    cfg = write_config(tmp_path, [])
    res = run_cli("db_manager.py", "status", "--config", str(cfg), env={"CHROMA_HOST": f"http://{host}:{port}"})
    assert res.returncode == 0, out(res)
    assert f"no videos in chroma server http://{host}:{port} yet" in res.stdout
    assert "http://http://" not in out(res)


# ---------------------------------------------------------------- a big library's status table


def test_status_of_a_big_library_is_plain_aligned_columns(tmp_path):
    cfg = write_config(tmp_path, [])
    db = Store(load_config(cfg, env={}))
    db.add_video_files([(f"video_{i:04d}", f"/videos/{i}.mp4", {"title": f"Video {i}"}) for i in range(400)])
    db.retire("video_0007", "source file missing: /videos/7\x1b[2J.mp4")
    res = run_cli("db_manager.py", "status", "--config", str(tmp_path / "videos_config.json"))
    assert res.returncode == 0, out(res)
    lines = res.stdout.splitlines()
    assert lines[1].split() == ["video", "duration", "segments", "P1", "frames", "P2", "analysis", "P3", "load", "P4",
                                "summary", "last", "error"]
    rows = [line for line in lines if line.startswith("video_0")]
    assert len(rows) == 400 and len({line.index("pending") for line in rows if "RETIRED" not in line}) == 1
    assert "video_0007 RETIRED source file missing: /videos/7\\x1b[2J.mp4" in res.stdout and "\x1b" not in res.stdout
    assert "P1 frames 0/400" in res.stdout and "1 retired" in res.stdout


def test_a_missing_mount_is_said_and_waited_for_never_counted_against_the_video(tmp_path, silent_video):
    mount = tmp_path / "mnt" / "usb"  # neither the file nor its folder exists: a drive that is not mounted
    cfg = write_config(tmp_path, [{"name": "on_usb", "path": str(mount / "clip.mp4")}, {"name": "good", "path": str(silent_video)}],
                       ocr="off", shots="off", max_attempts=1)
    for _ in range(2):
        res = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
        text = out(res)
        assert res.returncode == 0 and "Traceback" not in text, text
        assert f"on_usb: {mount / 'clip.mp4'} is missing and so is its folder (an unmounted drive?)" in text
    record = json.loads(run_cli("db_manager.py", "show", "on_usb", "--config", str(cfg)).stdout)
    assert record["phase1_status"] == "pending" and not record.get("phase1_attempts") and not record["flags"]["held"]
    mount.mkdir(parents=True)
    shutil.copy(silent_video, mount / "clip.mp4")
    res = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
    assert res.returncode == 0 and "1 completed" in out(res), out(res)


@pytest.mark.parametrize("n", [10**8, 99999999999999999999, 0, -5, 2.5, "5", True])
def test_the_library_refuses_a_result_count_it_cannot_serve(library, n):
    db = ChromaDBManager(load_config(library, env={}))  # the shell's search
    with pytest.raises(ValueError, match="n_results must be a whole number from 1 to 10000"):
        db.search("pasta", n_results=n)
    assert len(db.search("pasta", n_results=10_000)) == 3


def test_an_archive_behind_an_unreadable_folder_or_unreadable_itself_is_said_in_words(tmp_path, silent_video):
    locked, shelf = tmp_path / "locked", tmp_path / "shelf"
    locked.mkdir()
    shelf.mkdir()
    (locked / "talks.zim").write_bytes(b"ZIM" * 100)  # never opened: the folder stops the look first
    (shelf / "closed.zim").write_bytes(b"ZIM" * 100)
    cfg = write_config(tmp_path, [{"zim": str(locked / "talks.zim")}, {"zim": str(shelf / "closed.zim")},
                                  {"name": "good", "path": str(silent_video)}], ocr="off", shots="off")
    locked.chmod(0o000)
    (shelf / "closed.zim").chmod(0o000)
    try:
        res = run_cli("phase1_whisper_frames.py", "--config", str(cfg), prefix=without_file_override())
    finally:
        locked.chmod(0o755)
        (shelf / "closed.zim").chmod(0o644)
    text = out(res)
    assert "Traceback" not in text and res.returncode == 1, text
    assert f"{locked / 'talks.zim'}: permission denied: a folder on the way cannot be entered by this user" in text
    assert f"{shelf / 'closed.zim'}: permission denied: this user may not read the archive" in text
    assert "1 completed" in text
