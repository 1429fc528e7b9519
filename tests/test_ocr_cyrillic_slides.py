"""Issue 15's "done when": a silent video of slides with Russian and Kazakh text is searchable by that
text, in both scripts, from the CLI (test_search.py) and the web app (its search API and results page).

Real parts throughout: the slides are drawn with DejaVu Sans Bold, cut into an H.264 video by ffmpeg,
read by real tesseract (kaz + eng: Kazakh's Cyrillic alphabet holds every Russian letter), described by
the transcript analyzer, embedded and indexed by Phase 3, and searched by the real CLI and the real app.
The clip has no audio, so Whisper never runs (whisper_model points nowhere: a transcription attempt
would fail the run)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from helpers.slides import slides_video

from conftest import run_cli, write_config
from vtdb.config import load_config
from vtdb.media.ocr import ocr_available
from vtdb.web.app import create_app

RUSSIAN = ["ПУНКТ ВЫДАЧИ ВОДЫ", "ОТКРЫТ ЕЖЕДНЕВНО"]  # "water distribution point", "open daily"
KAZAKH = ["ДӘРІГЕР ҚАБЫЛДАУЫ", "СУДЫ ҚАЙНАТЫҢЫЗ"]  # "doctor's reception", "boil the water": ә і қ ң
# Each query is a word that is only on screen, in its own script; the slide it must find starts at this second.
QUERIES = {"выдачи воды": 0.0, "ежедневно": 0.0, "дәрігер": 8.0, "қабылдауы": 8.0}

pytestmark = pytest.mark.skipif(not ocr_available(["kaz", "eng"])[0] or ocr_available(["kaz", "eng"])[1] is not None,
                                reason="tesseract with Kazakh and English data is not installed (scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cyrillic_slides")
    video = slides_video(folder / "slides.mp4", [(RUSSIAN, (20, 40, 90)), (KAZAKH, (90, 30, 40))], size=(960, 540),
                         font_size=48)
    cfg = write_config(folder, [{"name": "slides", "path": str(video), "language": "kk"}], analyzer="transcript",
                       whisper_model="/nonexistent/whisper", window_length=8, window_overlap=0, frames_per_window=3)
    for script in ("phase1_whisper_frames.py", "phase2_vllm_analysis.py", "phase3_load.py"):
        res = run_cli(script, "--config", str(cfg))
        assert res.returncode == 0, script + "\n" + res.stdout + res.stderr
    return cfg


def _cli_hits(cfg, query: str, mode: str) -> list[dict]:
    res = run_cli("test_search.py", "--config", str(cfg), "-q", query, "--mode", mode, "-n", "3", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout)


@pytest.mark.parametrize("query", ["выдачи воды", "қабылдауы"])
def test_the_cli_finds_each_slide_by_its_words_in_both_scripts(library, query):
    # One query per script through the real CLI (each call loads the embedder); all of them through the app below.
    hits = _cli_hits(library, query, "hybrid")
    assert hits, query
    assert hits[0]["video_name"] == "slides" and hits[0]["start_time"] == QUERIES[query], (query, hits[0])


def test_the_web_app_finds_and_shows_each_slide(library):
    with TestClient(create_app(load_config(library, env={})), base_url="http://127.0.0.1") as client:
        for query, start in QUERIES.items():
            for mode in ("keyword", "hybrid"):
                api = client.get("/api/search", params={"q": query, "n": 3, "mode": mode})
                assert api.status_code == 200, api.text
                moments = api.json()
                assert moments and moments[0]["start_time"] == start, (query, mode, moments[:1])
        page = client.get("/", params={"q": "дәрігер"})
        assert page.status_code == 200
        # The results page carries the slide's words as read (escaped HTML, the Kazakh letters intact).
        assert "ДӘРІГЕР" in page.text and "ҚАБЫЛДАУЫ" in page.text
