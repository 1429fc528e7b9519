"""The disaster-clippy pack (issue 12): the language rule, links its app opens, pages that seek,
--include-media, retired videos, and the cross-language search an English user does.

Real parts only: records and segments in a real embedded Chroma (a Store + add_segments, as
Phase 3 leaves them), media generated with ffmpeg and checked with ffprobe, a real ZIM archive, the
bundled all-mpnet-base-v2, a real Chroma collection loaded the way disaster-clippy's reindex_pack
loads a pack, and a real headless Chromium on a 127.0.0.1 server routed like its backup server.

disaster-clippy's checks re-implemented (from its own code, in our words): its light and deep validation
in tests/helpers/clippy_pack.py (clippy_checks, next to our spec's validate_export), and here:
- reindex_pack keeps only source, title and url of each document (url is the link users get);
- its backup server serves /backup/{source_id}/{path} from pages/{path}, else {source_id}/{path}, and
  rewrites href/src="/…" and "../…" of the pages it serves to /backup/{source_id}/….
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from helpers.clippy_pack import clippy_checks, clippy_license_ok, load_json, validate_export
from helpers.library import Seg, Vid, build_library
from zim_factory import write_zim

from conftest import free_port, run_cli
from vtdb.config import load_config
from vtdb.embedders import load_embedder
from vtdb.store import Store

SID = "kz_archive"
LICENSE = "CC BY-SA 4.0"
ZIM_ENTRY = "videos/garden01/video.webm"
RETIRED_AT = "2026-11-30T08:00:00+00:00"
QUERY = "how to brew black tea in a teapot"

def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=120)


def probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type,codec_name",
                          "-of", "json", str(path)], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


TEA = [  # Russian speech; the description and dialogue_translation are English (text_language "en")
    Seg(0.0, 4.0, "A teapot is warmed with hot water before loose black tea leaves are spooned into it.",
        "Today we will brew black tea. Pour water into the kettle.", ["tea", "teapot", "black tea"], "cooking",
        transcript="Сегодня мы будем заваривать чёрный чай. Налейте воду в чайник."),
    Seg(3.0, 6.0, "Boiling water is poured over the tea leaves and the tea steeps for four minutes.",
        "Pour boiling water over the leaves and wait four minutes.", ["tea", "brewing", "kettle"], "cooking",
        transcript="Залейте заварку кипятком и подождите четыре минуты."),
]
RU_ONLY_TEXT = "Мы сажаем картофель весной. Копаем грядки и поливаем их утром."
RU_ONLY = [Seg(0.0, 30.0, RU_ONLY_TEXT, RU_ONLY_TEXT, ["картофель", "огород"], "nature", transcript=RU_ONLY_TEXT)]
SPEECH = "Put the chain back on the small gear, turn the pedal slowly and the chain will catch."
REPEAT = [Seg(0.0, 30.0, SPEECH, SPEECH, ["bicycle chain", "pedal"], "repair", transcript=SPEECH)]  # transcript analyzer style
PASTA = [Seg(0.0, 30.0, "A cook drops spaghetti into a pot of boiling salted water.", "Salt the water, then add the pasta.",
             ["pasta", "boiling water"], "cooking", transcript="salt the water then add the pasta")]
GARDEN = [Seg(0.0, 2.5, "A gardener ties tomato plants to wooden stakes.", "Tie them loosely.", ["tomato plants", "gardening"],
              "nature", transcript="tie them loosely")]
OLD = [Seg(0.0, 30.0, "An old clip about sharpening a kitchen knife on a whetstone.", "Keep the angle low.",
           ["knife", "whetstone"], "tutorial", transcript="keep the angle low")]


@pytest.fixture(scope="module")
def mpnet():
    return load_embedder("all-mpnet-base-v2")


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clippy_pack")
    media = folder / "media_src"
    media.mkdir()
    tea_file = media / "чай ёлка.mp4"  # a name that needs quoting in URLs
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=6", "-f", "lavfi", "-i", "sine=frequency=440:duration=6",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", "-shortest", str(tea_file))
    webm = media / "garden.webm"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=128x96:rate=10:duration=3", "-c:v", "libvpx", "-b:v", "200k", str(webm))
    archive = write_zim(folder / "Garden Channel_2024-05.zim", [(ZIM_ENTRY, "video/webm", webm.read_bytes(), "Garden")])
    vids = [
        Vid("tea_ru", "Как заварить чай", str(tea_file), TEA, language="ru", text_language="en",
            extra={"summary": "How to brew black tea: warm the pot, add leaves, steep four minutes."}),
        Vid("potato_ru", "Картофель весной", "/videos/potato.mp4", RU_ONLY, language="ru",
            extra={"summary": "Посадка картофеля."}),
        Vid("chain_en", "Putting a bicycle chain back", "/videos/chain.mp4", REPEAT, extra={"summary": "Fixing a dropped chain."}),
        Vid("pasta_yt", "Cooking pasta", "/videos/pasta.mp4", PASTA, youtube_id="dQw4w9WgXcQ", extra={"summary": "Pasta."}),
        Vid("garden_zim", "Tying tomatoes", f"zim://{archive}#{ZIM_ENTRY}", GARDEN,
            extra={"source_kind": "zim", "zim_archive": str(archive), "zim_entry": ZIM_ENTRY, "summary": "Tomatoes on stakes."}),
        Vid("old_knife", "Sharpening a knife", "/videos/knife.mp4", OLD,
            extra={"summary": "Knife."}),
    ]
    cfg = build_library(folder, vids)
    # Retired after it was loaded (as the sync does when the file leaves the library).
    Store(load_config(cfg, env={})).create_or_update_video_file("old_knife", "/videos/knife.mp4",
                                                                          retired_at=RETIRED_AT, retired=True)
    out = folder / "out"
    proc = run_cli("export_clippy.py", "--config", str(cfg), "--source-id", SID, "--license", LICENSE, "--name", "KZ archive",
                   "--include-media", "--out", str(out), timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"cfg": cfg, "folder": folder, "pack": out / SID, "text": " ".join((proc.stdout + proc.stderr).split()),
            "vids": {v.name: v for v in vids}, "tea_file": tea_file, "webm": webm, "archive": archive}


EXPORTED = ["tea_ru", "chain_en", "pasta_yt", "garden_zim"]


def docs_of(pack: Path, name: str) -> dict[str, dict]:
    return {i: d for i, d in load_json(pack / "_metadata.json")["documents"].items() if d["video_name"] == name}


def test_pack_passes_our_spec_and_disaster_clippys_checks(lib):
    pack = lib["pack"]
    vids = {n: lib["vids"][n] for n in EXPORTED}
    summaries = {n: v.extra["summary"] for n, v in vids.items()}
    assert validate_export(pack, SID, vids, summaries, media={"tea_ru", "garden_zim"}) == []
    assert clippy_checks(pack) == []  # disaster-clippy's light and deep validation


@pytest.mark.parametrize("file,change,rule", [
    ("_manifest.json", lambda o: o.update(license="Unknown"), "license"),
    ("_manifest.json", lambda o: o.update(source_id="other"), "light: header"),
    ("_vectors_768.json", lambda o: next(iter(o["vectors"].values())).__setitem__(slice(None), [0.0] * 768), "deep: vector"),
    ("_vectors_768.json", lambda o: o["vectors"].pop(next(iter(o["vectors"]))), "deep: the metadata's ids"),
])
def test_disaster_clippys_checks_catch_a_broken_pack(lib, tmp_path, file, change, rule):
    assert clippy_license_ok(LICENSE) and not clippy_license_ok("Unknown")
    broken = tmp_path / SID
    shutil.copytree(lib["pack"], broken)
    obj = load_json(broken / file)
    change(obj)
    (broken / file).write_text(json.dumps(obj), encoding="utf-8")
    assert any(p.startswith(rule) or rule in p for p in clippy_checks(broken)), clippy_checks(broken)


def test_an_english_pack_holds_english_text_only(lib):
    text, pack = lib["text"], lib["pack"]
    # The Russian-only video is left out, said in our words with the count and what to do.
    assert "left out 1 segment with no English text (Russian: 1) from potato_ru (1)" in text, text
    assert "translate" in text and "--language" in text
    assert not docs_of(pack, "potato_ru") and not (pack / "pages" / "potato_ru.html").exists()
    # The Russian video with an English translation is exported, its documents in English.
    index = load_json(pack / "_index.json")["documents"]
    tea = docs_of(pack, "tea_ru")
    assert len(tea) == 2
    for i in tea:
        body = index[i]["content"].split("\n", 1)[1]  # after the (Russian) title
        assert "brew black tea" in body or "boiling water" in body.lower()
        assert not re.search("[А-Яа-яЁё]", body), body
    # Its page still shows the Russian transcript, marked as Russian.
    page = (pack / "pages" / "tea_ru.html").read_text(encoding="utf-8")
    assert 'lang="ru">Сегодня мы будем заваривать' in page and '<html lang="en">' in page


def test_content_says_each_thing_once(lib):
    index = load_json(lib["pack"] / "_index.json")["documents"]
    (content,) = [index[i]["content"] for i in docs_of(lib["pack"], "chain_en")]
    assert content.count("Put the chain back on the small gear") == 1, content
    assert content == f"Putting a bicycle chain back\n{SPEECH}\nKeywords: bicycle chain, pedal"


def test_content_parts_drop_repeats_and_cyrillic_keywords():
    from vtdb.export.clippy import content_parts

    desc, dia, kws = content_parts({"description": "Pour the water.", "dialogue_translation": "pour the water",
                                    "keywords": ["tea", "чай"], "language": "ru", "text_language": "en"})
    assert (desc, dia, kws) == ("Pour the water.", "", ["tea"])
    # No dialogue: the window's transcript stands in when it is in the pack's language, never a Russian one.
    assert content_parts({"description": "A cook.", "transcript": "stir it well", "language": "en"})[1] == "stir it well"
    assert content_parts({"description": "A cook.", "transcript": "мешайте", "language": "ru", "text_language": "en"})[1] == ""


def test_links_are_ones_its_app_opens(lib):
    pack = lib["pack"]
    tea = list(docs_of(pack, "tea_ru").values())
    assert [d["url"] for d in tea] == [f"/backup/{SID}/pages/tea_ru.html#t={t}" for t in (0, 3)]
    assert all(d["local_url"] == d["url"] and d["doc_type"] == "guide" for d in tea)
    (pasta,) = docs_of(pack, "pasta_yt").values()
    assert pasta["url"] == "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=0s"
    assert pasta["local_url"] == f"/backup/{SID}/pages/pasta_yt.html#t=0"
    (garden,) = docs_of(pack, "garden_zim").values()
    assert garden["url"] == garden["local_url"] == f"/backup/{SID}/pages/garden_zim.html#t=0"  # its file is in the pack
    assert garden["doc_type"] == "article"
    raw = "".join((pack / f).read_text(encoding="utf-8") for f in ("_metadata.json", "_index.json"))
    assert "file://" not in raw


def test_zim_links_without_media_name_the_archive_source(lib, mpnet, tmp_path):
    from vtdb.export.clippy import ExportOptions, export
    from vtdb.export.select import loaded_videos, segments_of

    db = Store(load_config(lib["cfg"], env={}))
    records = loaded_videos(db, ["garden_zim"])
    for overrides, zim_source in (({}, "garden-channel_2024-05"), ({"Garden Channel_2024-05": "garden"}, "garden")):
        opts = ExportOptions(source_id="z", name="z", license="CC0", out=tmp_path / zim_source, zim_sources=overrides)
        folder = export(opts, records, lambda n: segments_of(db, n), lambda n: "", mpnet.embed_passages, log=lambda m: None)
        (doc,) = load_json(folder / "_metadata.json")["documents"].values()
        assert doc["url"] == doc["local_url"] == f"/zim/{zim_source}/{ZIM_ENTRY}#t=0"
        page = (folder / "pages" / "garden_zim.html").read_text(encoding="utf-8")
        assert f'data-zim="/zim/{zim_source}/{ZIM_ENTRY}"' in page and not (folder / "media").exists()


def test_include_media_puts_playable_videos_into_the_pack(lib):
    media = lib["pack"] / "media"
    assert sorted(p.name for p in media.iterdir()) == ["garden_zim.webm", "tea_ru.mp4"]
    tea, garden = media / "tea_ru.mp4", media / "garden_zim.webm"
    for path, codec, seconds in ((tea, "h264", 6.0), (garden, "vp8", 3.0)):
        info = probe(path)
        assert codec in [s["codec_name"] for s in info["streams"] if s["codec_type"] == "video"], info
        assert abs(float(info["format"]["duration"]) - seconds) < 0.6, info
    assert tea.read_bytes() == lib["tea_file"].read_bytes() and garden.read_bytes() == lib["webm"].read_bytes()
    if os.stat(tea).st_dev == os.stat(lib["tea_file"]).st_dev:
        assert os.stat(tea).st_ino == os.stat(lib["tea_file"]).st_ino  # hard-linked, not a second copy
    page = (lib["pack"] / "pages" / "tea_ru.html").read_text(encoding="utf-8")
    assert '<video id="player" controls preload="metadata" src="../media/tea_ru.mp4">' in page
    assert '<a class="moment" href="#t=3">0:03–0:06</a>' in page


def test_retired_videos_stay_out_unless_asked(lib, tmp_path):
    assert "left out 1 retired video (old_knife); --include-retired exports them too" in lib["text"]
    assert not docs_of(lib["pack"], "old_knife")
    out = tmp_path / "out"
    proc = run_cli("export_clippy.py", "--config", str(lib["cfg"]), "--source-id", "k", "--license", "CC0", "--videos", "old_knife",
                   "--out", str(out), timeout=400)
    text = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 2 and "retired" in text and "--include-retired" in text and "Traceback" not in text, text
    proc = run_cli("export_clippy.py", "--config", str(lib["cfg"]), "--source-id", "k", "--license", "CC0", "--videos", "old_knife",
                   "--include-retired", "--out", str(out), timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [d["video_name"] for d in load_json(out / "k" / "_metadata.json")["documents"].values()] == ["old_knife"]


def test_a_small_pack_is_told_about_the_submission_minimum(lib):
    pages = sum(p.stat().st_size for p in (lib["pack"] / "pages").iterdir())
    assert pages < 0.1 * 1024 * 1024
    assert "0.1 MB" in lib["text"] and "loads and searches in a local disaster-clippy" in lib["text"]


def test_a_russian_pack_holds_the_russian_text(lib, mpnet, tmp_path):
    from vtdb.export.clippy import ExportOptions, export
    from vtdb.export.select import loaded_videos, segments_of

    db = Store(load_config(lib["cfg"], env={}))
    said: list[str] = []
    opts = ExportOptions(source_id="ru", name="ru", license="CC0", out=tmp_path, language="ru")
    folder = export(opts, loaded_videos(db, ["potato_ru", "chain_en"]), lambda n: segments_of(db, n), lambda n: "",
                    mpnet.embed_passages, log=said.append)
    assert load_json(folder / "_manifest.json")["language"] == "ru"
    assert {d["video_name"] for d in load_json(folder / "_metadata.json")["documents"].values()} == {"potato_ru"}
    assert any("no Russian text (English: 1) from chain_en (1)" in m for m in said), said


def test_an_english_query_finds_the_russian_video(lib, mpnet, tmp_path):
    """The cross-language figure of docs/EXPORT.md: rank and score of QUERY on the Russian tea video, by
    the pack's own vectors and after loading the pack the way disaster-clippy's reindex_pack does."""
    import chromadb

    pack = lib["pack"]
    vectors = load_json(pack / "_vectors_768.json")["vectors"]
    index = load_json(pack / "_index.json")["documents"]
    ids = list(vectors)
    q = mpnet.embed_queries([QUERY])[0]
    scores = np.array([vectors[i] for i in ids]) @ q
    order = [ids[k] for k in np.argsort(-scores)]
    assert order[0].startswith(f"{SID}_tea_ru_seg_"), list(zip(order, sorted(scores, reverse=True)))
    tea_score = float(scores.max())
    # What the same moment would score as the Russian text an untranslated export used to hold.
    ru_vec = mpnet.embed_passages(["Как заварить чай\n" + TEA[0].transcript])[0]
    assert float(ru_vec @ q) < tea_score
    # reindex_pack: ids, vectors, content and only source/title/url into a Chroma collection.
    client = chromadb.PersistentClient(path=str(tmp_path / "clippy_chroma"))
    coll = client.create_collection("clippy_768", metadata={"hnsw:space": "cosine"})
    coll.upsert(ids=ids, embeddings=[vectors[i] for i in ids], documents=[index[i]["content"] for i in ids],
                metadatas=[{"source": SID, "title": index[i]["title"], "url": index[i]["url"]} for i in ids])
    got = coll.query(query_embeddings=[q.tolist()], n_results=3)
    top = got["metadatas"][0][0]
    assert top["url"].startswith(f"/backup/{SID}/pages/tea_ru.html#t="), got
    other = max(float(sc) for i, sc in zip(ids, scores) if "_tea_ru_" not in i)
    assert other < tea_score
    print(f"\ncross-language: {QUERY!r} -> rank 1 of {len(ids)}, cosine {tea_score:.3f} "
          f"(best other video {other:.3f}; the Russian text of the same moment {float(ru_vec @ q):.3f}); "
          f"chroma distance {got['distances'][0][0]:.3f}, url {top['url']}")


# ---------------------------------------------------------------- the page seeks, in a real browser


class BackupHandler(BaseHTTPRequestHandler):
    """disaster-clippy's /backup/{source_id}/{path} route, as it behaves (no Range support either)."""

    root: Path
    seen: list[str]

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self.seen.append(unquote(urlsplit(self.path).path))
        parts = unquote(urlsplit(self.path).path).split("/", 3)
        if len(parts) < 4 or parts[1] != "backup":
            self.send_error(404)
            return
        source, rel = self.root / parts[2], parts[3]
        path = next((p for p in (source / "pages" / rel, source / rel) if p.is_file()), None)
        if path is None:
            self.send_error(404)
            return
        body = path.read_bytes()
        ctype = {"html": "text/html; charset=utf-8", "mp4": "video/mp4", "webm": "video/webm"}.get(path.suffix[1:], "application/octet-stream")
        if path.suffix == ".html":
            text = body.decode("utf-8")
            text = re.sub(r'(href|src)="(/[^"]*)"', rf'\1="/backup/{parts[2]}\2"', text)
            text = re.sub(r'(href|src)="((?:\.\./)+)([^"]*)"', rf'\1="/backup/{parts[2]}/\3"', text)
            body = text.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_the_page_seeks_its_player_to_the_moment_in_a_browser(lib):
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/setup.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    seen: list[str] = []
    handler = type("Handler", (BackupHandler,), {"root": lib["pack"].parent, "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(60)

    def current_time(timeout: float = 30.0) -> float:
        deadline = time.monotonic() + timeout
        value = 0.0
        while time.monotonic() < deadline:
            value = float(driver.execute_script("var v = document.getElementById('player'); return v ? v.currentTime : -1;"))
            if value > 0.5:
                return value
            time.sleep(0.2)
        return value

    try:
        (doc,) = [d for d in docs_of(lib["pack"], "tea_ru").values() if d["start_sec"] == 3]
        driver.get(f"http://127.0.0.1:{server.server_port}{doc['url']}")
        assert driver.find_element(By.TAG_NAME, "h1").text == "Как заварить чай"
        # The page's ../media/ link survives the server's rewriting; the server sends no byte ranges,
        # and the page still lands on the moment (it plays a Blob of the file then).
        assert abs(current_time() - 3.0) < 0.3
        assert f"/backup/{SID}/media/tea_ru.mp4" in seen, seen
        driver.execute_script("document.getElementById('player').currentTime = 0;")
        driver.find_element(By.CSS_SELECTOR, 'a.moment[href="#t=0"]').click()  # a moment link seeks too
        driver.find_element(By.CSS_SELECTOR, 'a.moment[href="#t=3"]').click()
        assert abs(current_time() - 3.0) < 0.3
    finally:
        driver.quit()
        server.shutdown()
