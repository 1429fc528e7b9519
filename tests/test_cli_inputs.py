"""Command-line inputs that cannot work (issue #9, CLI parts): output into a closed pipe, --config
after the subcommand, bad --filter values, unknown video names and unusable paths. Each ends with
a clear message and an exit code, never a traceback. Real scripts as subprocesses, real embedded
Chroma in a tmp folder."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PY, ROOT, run_cli, without_file_override, write_config
from vtdb.config import load_config
from vtdb.embedders import placeholder_vector
from vtdb.store import Store

EXIT_CLOSED_PIPE = 141
PHASES = ["phase1_whisper_frames.py", "phase2_vllm_analysis.py", "phase3_load.py", "phase4_summary.py"]
NOISE = ("Traceback", "BrokenPipe", "Exception ignored", "Errno")


def quiet(res: subprocess.CompletedProcess) -> bool:
    return not any(word in res.stderr + res.stdout for word in NOISE)


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


def run_into_closed_pipe(script: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a script whose stdout is a pipe that nobody reads any more (`... | head -0`)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([PY, str(ROOT / script), *args], stdout=write_end, stderr=subprocess.PIPE, text=True,
                              cwd=cwd, env=_env(), timeout=300)
    finally:
        os.close(write_end)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", proc.stderr)


def new_db(folder: Path, names=(), **settings) -> tuple[Path, Store]:
    cfg = write_config(folder, [], **settings)
    db = Store(load_config(cfg, env={}))
    if names:
        db.add_video_files([(n, f"/videos/{n}.mp4", {"title": n.title()}) for n in names])
    return cfg, db


@pytest.fixture
def small(tmp_path):
    return new_db(tmp_path / "small", ["alpha", "bravo", "charlie", "news"])


# ---- 1. output into a closed pipe ----


def test_big_json_into_a_pipe_closed_after_a_few_bytes_ends_quietly(tmp_path):
    cfg, db = new_db(tmp_path, [f"video_{i:03d}" for i in range(300)])  # ~0.5 MB of JSON, far over a pipe buffer
    proc = subprocess.Popen([PY, str(ROOT / "db_manager.py"), "status", "--json", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    first = proc.stdout.read(64)
    assert first.startswith(b"[")
    proc.stdout.close()  # `| head -c 64`
    _, err = proc.communicate(timeout=300)
    err = err.decode()
    assert proc.returncode == EXIT_CLOSED_PIPE, err
    assert not any(word in err for word in NOISE), err


@pytest.mark.parametrize("args", [["status"], ["status", "--json"], ["show", "alpha"],
                                  ["status", "--filter", "phase2_status=completed"]])
def test_db_manager_output_into_a_closed_pipe_is_quiet(small, args):
    cfg, _ = small
    res = run_into_closed_pipe("db_manager.py", *args, "--config", str(cfg))
    assert res.returncode == EXIT_CLOSED_PIPE and quiet(res), res.stderr


def test_run_pipeline_into_a_closed_pipe_is_quiet(tmp_path):
    cfg = write_config(tmp_path, [])
    res = run_into_closed_pipe("run_pipeline.py", "--config", str(cfg))  # its quiet report (not a terminal) fails
    assert res.returncode == EXIT_CLOSED_PIPE and quiet(res), res.stderr


@pytest.mark.parametrize("script", ["db_manager.py", "run_pipeline.py", "export_clippy.py", "test_search.py", *PHASES])
def test_help_into_a_closed_pipe_is_quiet(script):
    res = run_into_closed_pipe(script, "--help")
    assert res.returncode in (0, EXIT_CLOSED_PIPE) and quiet(res), res.stderr


# ---- 2. --config before or after the subcommand ----


def test_db_manager_takes_config_after_every_subcommand(tmp_path, small):
    cfg, db = small
    elsewhere = tmp_path / "elsewhere"  # no videos_config.json here: the default would be an empty database
    elsewhere.mkdir()

    def dbm(*args):
        res = run_cli("db_manager.py", *args, cwd=elsewhere)
        assert res.returncode == 0 and quiet(res), (args, res.stdout, res.stderr)
        return res.stdout

    assert "alpha" in dbm("status", "--config", str(cfg))
    assert [r["name"] for r in json.loads(dbm("status", "--json", "--filter", "name=news", "--config", str(cfg)))] == ["news"]
    assert json.loads(dbm("show", "alpha", "--config", str(cfg)))["title"] == "Alpha"
    assert "reset to pending" in dbm("reset", "alpha", "--phase", "1", "--config", str(cfg))
    assert "nothing was held" in dbm("release", "--config", str(cfg), "alpha")
    assert "deleted" in dbm("delete", "bravo", "--yes", f"--config={cfg}")
    assert db.get_video_status("bravo") is None
    assert "charlie" in dbm("--config", str(cfg), "status")  # before the command, as before
    other, _ = new_db(tmp_path / "other", ["zulu"])
    out = dbm("--config", str(other), "status", "--config", str(cfg))  # after the command wins
    assert "charlie" in out and "zulu" not in out


@pytest.mark.parametrize("script,args", [
    ("phase1_whisper_frames.py", ["--dry-run", "--limit", "1"]),
    ("phase2_vllm_analysis.py", ["--dry-run", "--analyzer", "transcript"]),
    ("phase3_load.py", ["--dry-run"]),
    ("phase4_summary.py", ["--dry-run"]),
    ("export_clippy.py", ["--source-id", "s", "--license", "CC BY 4.0"]),
    ("test_search.py", ["--query", "pasta", "--json"]),
    ("run_pipeline.py", ["--only", "x"]),
])
def test_every_script_takes_config_last(tmp_path, script, args):
    bad = tmp_path / "bad.json"
    bad.write_text('{"settings": {')
    res = run_cli(script, *args, "--config", str(bad), cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert f"{bad}: invalid JSON" in res.stderr and "Traceback" not in res.stderr


# ---- 3. status --filter ----


def test_filter_with_a_status_that_does_not_exist(small):
    cfg, _ = small
    res = run_cli("db_manager.py", "status", "--config", str(cfg), "--filter", "phase2_status=bogus")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "'bogus' is not a status; phase2_status is one of pending, processing, completed" in res.stderr
    assert "usage: db_manager.py status" in res.stderr


def test_filter_on_an_unknown_field_names_the_known_ones(small):
    cfg, _ = small
    res = run_cli("db_manager.py", "status", "--config", str(cfg), "--filter", "nosuchfield=x")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "unknown field 'nosuchfield'" in res.stderr and "no videos" not in res.stdout + res.stderr
    assert "known fields: name, video_path" in res.stderr and "{phase}_status" in res.stderr
    res = run_cli("db_manager.py", "status", "--config", str(cfg), "--filter", "phase2_stat=pending")
    assert res.returncode == 2 and "did you mean 'phase2_status'" in res.stderr


def test_filter_without_equals_is_a_usage_error(small):
    cfg, _ = small
    res = run_cli("db_manager.py", "status", "--config", str(cfg), "--filter", "phase2_status")
    assert res.returncode == 2
    assert "usage: db_manager.py status" in res.stderr and "use FIELD=VALUE" in res.stderr


def test_filter_that_matches_nothing_is_not_an_empty_database(tmp_path, small):
    cfg, _ = small
    res = run_cli("db_manager.py", "status", "--config", str(cfg), "--filter", "phase2_status=completed")
    assert res.returncode == 0 and "Traceback" not in res.stderr
    assert "no videos match the filter phase2_status=completed (4 videos in" in res.stdout and "yet" not in res.stdout
    empty, _ = new_db(tmp_path / "empty")
    res = run_cli("db_manager.py", "status", "--config", str(empty), "--filter", "phase2_status=completed")
    assert res.returncode == 0 and "yet: run python phase1_whisper_frames.py" in res.stdout


def test_filter_values_take_the_fields_type_and_stored_fields_count(tmp_path):
    cfg, db = new_db(tmp_path, ["alpha", "bravo"])
    db.create_or_update_video_file("zim_video", "zim:///a.zim#v", license="CC BY-SA 4.0")
    claim = db.claim("bravo", "phase1")
    db.fail(claim, "boom")  # phase1_attempts 1

    def names(*filters):
        args = [a for flt in filters for a in ("--filter", flt)]
        res = run_cli("db_manager.py", "status", "--json", "--config", str(cfg), *args)
        assert res.returncode == 0, res.stderr
        return [r["name"] for r in json.loads(res.stdout)]

    assert names("phase1_attempts=1") == ["bravo"]  # 1 the number, not "1" the string
    assert names("phase1_attempts=0", "phase1_held=false") == ["alpha", "zim_video"]
    assert names("license=CC BY-SA 4.0") == ["zim_video"]  # a field only some stored records have
    res = run_cli("db_manager.py", "status", "--config", str(cfg), "--filter", "phase1_attempts=many")
    assert res.returncode == 2 and "phase1_attempts is a whole number, not 'many'" in res.stderr


# ---- 4. unknown video names ----


@pytest.mark.parametrize("args", [["delete", "nosuch"], ["show", "nosuch"], ["reset", "nosuch", "--phase", "2"],
                                  ["release", "nosuch"]])
def test_unknown_name_is_refused(small, args):
    cfg, db = small
    res = run_cli("db_manager.py", *args, "--config", str(cfg))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "no video named 'nosuch'" in res.stdout and "deleted" not in res.stdout
    assert "`python db_manager.py status` lists its 4 videos" in res.stdout
    assert db.all_names() == ["alpha", "bravo", "charlie", "news"]


@pytest.mark.parametrize("command", [["delete"], ["show"], ["reset", "--phase", "1"], ["release"]])
def test_unknown_name_suggests_the_close_ones(small, command):
    cfg, db = small
    res = run_cli("db_manager.py", command[0], "Alpah", *command[1:], "--config", str(cfg))
    assert res.returncode == 2 and "no video named 'Alpah'" in res.stdout and "did you mean 'alpha'?" in res.stdout
    assert db.get_video_status("alpha") is not None


def test_unknown_name_in_an_empty_database(tmp_path):
    cfg, _ = new_db(tmp_path)
    res = run_cli("db_manager.py", "delete", "nosuch", "--config", str(cfg))
    assert res.returncode == 2 and "no video named 'nosuch'" in res.stdout and "has no videos yet" in res.stdout


def test_delete_removes_segments_left_without_a_record(small):
    cfg, db = small
    vec = placeholder_vector(384)
    db.add_segments("ghost", ["ghost_seg_0", "ghost_seg_1"], [vec] * 2, ["d", "d"], [{"segment_index": i} for i in range(2)])
    res = run_cli("db_manager.py", "delete", "ghost", "--yes", "--config", str(cfg))
    assert res.returncode == 0 and "ghost: no record; deleted 2 segments left behind" in res.stdout
    assert db.count_segments("ghost") == 0


# ---- 5. paths that cannot work ----


def _config(tmp_path: Path, **settings) -> Path:
    (tmp_path / "afile").write_text("not a folder")
    videos = [{"name": "clip", "path": str(tmp_path / "clip.mp4")}]
    return write_config(tmp_path, videos, **settings)


def _refused(res: subprocess.CompletedProcess, *fragments: str) -> None:
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "Error:" not in res.stderr, res.stderr
    for fragment in fragments:
        assert fragment in res.stderr, res.stderr


@pytest.mark.parametrize("script", PHASES)
def test_work_dir_that_is_a_file(tmp_path, script):
    cfg = _config(tmp_path, work_dir=str(tmp_path / "afile"))
    _refused(run_cli(script, "--config", str(cfg)),
             f"config error: settings.work_dir: {tmp_path / 'afile'} is a file, not a folder; set work_dir")
    assert not (tmp_path / "chroma_db").exists()  # refused before the database was opened


@pytest.mark.parametrize("script", PHASES[:1] + PHASES[3:])
def test_work_dir_under_a_file(tmp_path, script):
    cfg = _config(tmp_path, work_dir=str(tmp_path / "afile" / "data"))
    _refused(run_cli(script, "--config", str(cfg)),
             f"settings.work_dir: {tmp_path / 'afile' / 'data'} lies under {tmp_path / 'afile'}, which is a file, not a folder")


@pytest.mark.parametrize("script", PHASES)
def test_chroma_dir_under_a_file_in_the_phases(tmp_path, script):
    cfg = _config(tmp_path, chroma_dir=str(tmp_path / "afile" / "db"))
    _refused(run_cli(script, "--config", str(cfg)), "config error: settings.chroma_dir:",
             f"lies under {tmp_path / 'afile'}, which is a file, not a folder; set chroma_dir")


@pytest.mark.parametrize("args", [["status"], ["status", "--json"], ["show", "clip"], ["reset", "clip", "--phase", "1"],
                                  ["release", "clip"], ["delete", "clip"]])
def test_chroma_dir_that_is_a_file_in_db_manager(tmp_path, args):
    cfg = _config(tmp_path, chroma_dir=str(tmp_path / "afile"))
    _refused(run_cli("db_manager.py", *args, "--config", str(cfg)),
             f"config error: settings.chroma_dir: {tmp_path / 'afile'} is a file, not a folder")


def test_chroma_dir_that_is_a_file_in_export(tmp_path):
    cfg = _config(tmp_path, chroma_dir=str(tmp_path / "afile"))
    _refused(run_cli("export_clippy.py", "--config", str(cfg), "--source-id", "s", "--license", "CC BY 4.0",
                     "--out", str(tmp_path / "out")),
             f"settings.chroma_dir: {tmp_path / 'afile'} is a file, not a folder")


@pytest.mark.parametrize("script", PHASES)
def test_empty_event_log(tmp_path, script):
    cfg = _config(tmp_path, event_log="")
    _refused(run_cli(script, "--config", str(cfg)), "config error: settings.event_log: is empty; give a file name")
    assert not (tmp_path / "chroma_db").exists()  # no video was synced, claimed or started


def test_event_log_that_is_a_folder_or_under_a_file(tmp_path):
    cfg = _config(tmp_path)
    (tmp_path / "data" / "events.jsonl").mkdir(parents=True)
    _refused(run_cli("phase1_whisper_frames.py", "--config", str(cfg)),
             f"settings.event_log: {tmp_path / 'data' / 'events.jsonl'} is a folder, not a file; set event_log")
    cfg = _config(tmp_path, event_log=str(tmp_path / "afile" / "events.jsonl"))
    _refused(run_cli("phase1_whisper_frames.py", "--config", str(cfg)),
             f"settings.event_log: {tmp_path / 'afile' / 'events.jsonl'} lies under {tmp_path / 'afile'}, which is a file")
    assert not (tmp_path / "chroma_db").exists()


def _loaded_video(tmp_path: Path) -> Path:
    """A database with one video whose segments are loaded: an export would embed them."""
    cfg, db = new_db(tmp_path, ["clip"])
    for phase in ("phase1", "phase2", "db_load"):
        assert db.complete(db.claim("clip", phase), 1)
    db.add_segments("clip", ["clip_seg_0"], [placeholder_vector(384)], ["Boiling pasta"],
                    [{"start_time": 0.0, "end_time": 50.0, "description": "Boiling pasta in salted water", "title": "Clip"}])
    (tmp_path / "afile").write_text("not a folder")
    return cfg


@pytest.mark.parametrize("out", ["afile/export", "afile"])
def test_export_out_that_cannot_be_a_folder_is_refused_before_embedding(tmp_path, out):
    cfg = _loaded_video(tmp_path)
    start = time.monotonic()
    res = run_cli("export_clippy.py", "--config", str(cfg), "--source-id", "s", "--license", "CC BY 4.0",
                  "--out", str(tmp_path / out))
    _refused(res, "export refused: --out:", "which is a file, not a folder" if "/" in out else "is a file, not a folder")
    assert "embedding" not in res.stderr + res.stdout
    assert time.monotonic() - start < 60  # no model was loaded


def test_unwritable_folders(tmp_path):
    """Also as root (CI): the commands run without root's permission override, so the folder is really read-only."""
    prefix = without_file_override()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        cfg = _config(tmp_path, work_dir=str(locked / "data"))
        _refused(run_cli("phase1_whisper_frames.py", "--config", str(cfg), prefix=prefix),
                 f"settings.work_dir: {locked / 'data'} cannot be created: {locked} is not writable (permission denied)")
        cfg = _config(tmp_path, chroma_dir=str(locked))
        _refused(run_cli("phase3_load.py", "--config", str(cfg), prefix=prefix),
                 f"settings.chroma_dir: {locked} is not writable (permission denied)")
        assert not (locked / "data").exists() and not any(locked.iterdir())
    finally:
        locked.chmod(0o755)
