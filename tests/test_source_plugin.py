"""A new source kind is one module plus its registration (issue 27 item 1): tests/helpers/gz_source.py, a video
kept gzip-compressed, is planned by the sync, processed by Phase 1 through the runner (real ffmpeg on the
decompressed clip), played with byte ranges by the web app and put into an export pack, with no change to vtdb."""

from __future__ import annotations

import gzip
import io
import subprocess

import pytest
from fastapi.testclient import TestClient
from helpers import gz_source
from rich.console import Console

import vtdb.config.entries
from conftest import write_config
from vtdb import events as ev
from vtdb.config import load_config, settings_only
from vtdb.export import pack_pages
from vtdb.export.media import place_media, plan_media
from vtdb.phases.phase1 import Phase1Job
from vtdb.runner import RunOptions, run_phase
from vtdb.sources import SOURCES, source_for
from vtdb.sources.sync import sync_videos
from vtdb.store import Store
from vtdb.web.app import create_app
from vtdb.workfiles import load_phase1_data

SETTINGS = dict(window_length=2.0, window_overlap=0.5, window_min_tail=0.4, frame_max_side=96, analyzer="transcript",
                whisper_model="/nonexistent/whisper", max_attempts=2, ocr="off")


@pytest.fixture
def gz_kind(monkeypatch):
    """The kind registered for this test only (the registries are process-wide: each gets a copy here)."""
    monkeypatch.setattr(SOURCES, "_factories", dict(SOURCES._factories))
    monkeypatch.setattr(vtdb.config.entries, "ENTRY_KINDS", dict(vtdb.config.entries.ENTRY_KINDS))
    gz_source.register()


@pytest.fixture
def library(tmp_path, gz_kind):
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "3",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip)], check=True, timeout=120)
    raw = clip.read_bytes()
    packed = tmp_path / "clip.mp4.gz"
    packed.write_bytes(gzip.compress(raw))
    clip.unlink()  # only the compressed file is left: nothing can read the video but the source
    cfg = write_config(tmp_path, [{"name": "packed", "gz": "clip.mp4.gz"}], **SETTINGS)
    config = load_config(cfg, env={})
    db = Store(config)
    events = ev.EventLog(tmp_path / "events.jsonl")
    yield {"root": tmp_path, "cfg": cfg, "config": config, "db": db, "events": events, "raw": raw, "packed": packed}
    db.close()


def test_the_config_parses_the_new_kind_and_the_sync_plans_it(library):
    config, db = library["config"], library["db"]
    assert [e.kind for e in config.entries] == ["gz"] and not config.invalid_entries
    synced = sync_videos(db, config, library["events"])
    assert synced.new_videos == ["packed"] and not synced.problems
    record = db.get_video_status("packed")
    assert record["source_kind"] == "gz" and record["video_path"] == f"gz://{library['packed']}"
    assert isinstance(source_for(record), gz_source.GzSource)
    assert sync_videos(db, config, library["events"]).notes == []  # a second sync finds nothing to change
    library["packed"].unlink()
    gone = sync_videos(db, config, library["events"])
    assert any("retired (gz file gone" in n for n in gone.notes), gone.notes


def test_phase1_the_player_and_the_export_read_it_through_the_source(library):
    root, db, raw = library["root"], library["db"], library["raw"]
    sync_videos(db, library["config"], library["events"])
    buf = io.StringIO()
    settings = library["config"].settings
    summary = run_phase(Phase1Job(settings.whisper, settings.frames), db, root / "data", RunOptions(), Console(file=buf, width=200),
                        library["events"])
    record = db.get_video_status("packed")
    assert record["phase1_status"] == "completed", buf.getvalue()
    assert summary is not None and abs(float(record["video_duration"]) - 3.0) < 0.5
    data = load_phase1_data(root / "data", "packed")
    assert data["windows"], "Phase 1 made no windows of the decompressed clip"

    client = TestClient(create_app(settings_only(str(library["cfg"]), env={})), base_url="http://127.0.0.1")
    response = client.get("/media/packed", headers={"Range": "bytes=100-1099"})
    assert response.status_code == 206 and response.content == raw[100:1100]
    assert response.headers["content-range"] == f"bytes 100-1099/{len(raw)}"
    assert response.headers["content-type"] == "video/mp4"
    assert client.get("/media/packed", headers={"Range": "bytes=-64"}).content == raw[-64:]

    plan, why = plan_media(record)
    assert plan is not None and not why and plan.file_name == "packed.mp4"
    assert place_media(plan, root / "pack" / "media", root / "data") == "extracted"
    assert (root / "pack" / "media" / "packed.mp4").read_bytes() == raw
    assert pack_pages.player_for(record, plan.file_name) == pack_pages.Player("media", "../media/packed.mp4")
    assert pack_pages.player_for(record, None) is None  # not an archive item: the pack plays it only from media/
