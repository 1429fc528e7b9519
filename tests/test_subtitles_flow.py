"""Subtitles out, end to end on real speech (issue 24): German utterances at known places in a video, through all
four phases; Phase 4 writes WebVTT and SRT in German and English; `vtdb subtitles` prints and writes them; the
export's page plays the video with both tracks and shows the English one in a real headless Chromium.

Real parts: the recordings in tests/data/speech/de, ffmpeg, faster-whisper (transcribe and translate), the
transcript analyzer, embedded Chroma, the exporter, pysubs2 to parse, Chromium to play."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pysubs2
import pytest

from bench._common import speech_dir
from conftest import PY, ROOT, free_port, run_cli, write_config
from vtdb.config import load_config

# (recording, second it starts at): gaps of different lengths between them.
PLACED = [("de_002.flac", 1.0), ("de_010.flac", 9.0), ("de_017.flac", 21.0)]
SLACK = 0.6  # word timestamps and the end of a cue may run a little past the recorded speech


def _duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout)


def _speech_video(path: Path, seconds: float = 28.0) -> list[tuple[float, float]]:
    """The placed recordings over a test pattern; returns their (start, end) spans."""
    inputs, filters, spans = [], [], []
    for i, (name, at) in enumerate(PLACED):
        wav = speech_dir("de") / name
        inputs += ["-i", str(wav)]
        filters.append(f"[{i}:a]adelay={int(at * 1000)}:all=1[a{i}]")
        spans.append((at, at + _duration(wav)))
    mix = "".join(f"[a{i}]" for i in range(len(PLACED))) + f"amix=inputs={len(PLACED)}:normalize=0,apad[a]"
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=5:duration={seconds}",
                    "-filter_complex", ";".join(filters) + ";" + mix, "-map", f"{len(PLACED)}:v", "-map", "[a]",
                    "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True)
    return spans


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("subtitles_flow")
    spans = _speech_video(folder / "rede.mp4")
    cfg = write_config(folder, [{"name": "rede", "path": str(folder / "rede.mp4"), "language": "de", "title": "Eine Rede"}],
                       analyzer="transcript", window_length=10, window_overlap=2, window_min_tail=2, frames_per_window=1,
                       frame_max_side=320, ocr="off", shots="off")
    res = run_cli("run_pipeline.py", "--config", str(cfg), timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return folder, cfg, spans, Path(load_config(cfg, env={}).work_dir)


def _inside_speech(events, spans) -> None:
    for event in events:
        start, end = event.start / 1000, event.end / 1000
        assert any(a - SLACK <= start and end <= b + SLACK for a, b in spans) or \
            any(a - SLACK <= start <= b and end <= b + SLACK for a, b in spans), (start, end, event.plaintext, spans)


def test_phase4_writes_both_languages_in_both_formats(library):
    _folder, _cfg, spans, work_dir = library
    files = sorted(p.name for p in (work_dir / "subtitles").iterdir())
    assert files == ["rede.de.srt", "rede.de.vtt", "rede.en.srt", "rede.en.vtt"], files
    for language in ("de", "en"):
        for fmt in ("vtt", "srt"):
            events = pysubs2.load(str(work_dir / "subtitles" / f"rede.{language}.{fmt}"))
            assert len(events) >= len(PLACED) - 1, (language, fmt, [e.plaintext for e in events])
            _inside_speech(events, spans)
            for event in events:
                lines = event.plaintext.split("\n")
                assert event.end - event.start <= 7000 and len(lines) <= 2 and all(len(line) <= 42 for line in lines)
    german = " ".join(e.plaintext for e in pysubs2.load(str(work_dir / "subtitles" / "rede.de.vtt")))
    english = " ".join(e.plaintext for e in pysubs2.load(str(work_dir / "subtitles" / "rede.en.vtt")))
    assert german != english and any(ch.isalpha() for ch in english)


def _vtdb(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-c", "from vtdb.cli import vtdb_main; vtdb_main()", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"})


def test_the_subtitles_command_prints_and_writes(library, tmp_path):
    folder, cfg, spans, _work_dir = library
    res = _vtdb("subtitles", "rede", "--lang", "en", "--format", "srt", "--config", str(cfg), cwd=folder)
    assert res.returncode == 0, res.stderr
    printed = pysubs2.SSAFile.from_string(res.stdout, format_="srt")
    assert len(printed) >= 1
    _inside_speech(printed, spans)
    default = _vtdb("subtitles", "rede", "--config", str(cfg), cwd=folder)  # English (output_language) as WebVTT
    assert default.returncode == 0 and default.stdout.startswith("WEBVTT")
    res = _vtdb("subtitles", "--all", "--out", str(tmp_path / "subs"), "--config", str(cfg), cwd=folder)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "subs").iterdir()) == ["rede.de.srt", "rede.de.vtt", "rede.en.srt", "rede.en.vtt"]
    wrong = _vtdb("subtitles", "rde", "--config", str(cfg), cwd=folder)
    assert wrong.returncode == 2 and "did you mean 'rede'" in wrong.stderr, wrong.stderr
    missing = _vtdb("subtitles", "rede", "--lang", "fr", "--config", str(cfg), cwd=folder)
    assert missing.returncode == 2 and "tracks: de, en" in missing.stderr, missing.stderr


@pytest.fixture(scope="module")
def exported(library):
    folder, cfg, _spans, _work_dir = library
    out = folder / "export"
    res = run_cli("export_clippy.py", "--config", str(cfg), "--source-id", "reden", "--license", "CC BY 4.0",
                  "--include-media", "--out", str(out), timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return out / "reden"


def test_the_export_carries_the_tracks(exported):
    page = (exported / "pages" / "rede.html").read_text(encoding="utf-8")
    assert '<track kind="subtitles" srclang="de" label="German (original)" src="../subtitles/rede.de.vtt">' in page
    assert '<track kind="subtitles" srclang="en" label="English" src="../subtitles/rede.en.vtt" default>' in page
    assert (exported / "subtitles" / "rede.en.vtt").read_text(encoding="utf-8").startswith("WEBVTT")
    # --include-media: both formats beside the video, named as players look for them.
    assert {"rede.mp4", "rede.de.vtt", "rede.de.srt", "rede.en.vtt", "rede.en.srt"} <= {p.name for p in (exported / "media").iterdir()}


def _english_cue_shown(browser, seek_to: float | None, timeout: float = 30.0) -> dict | None:
    """The player's English track once it shows a cue (seeking to `seek_to` first when given), else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = browser.execute_script("""
            var v = document.getElementById('player'), want = arguments[0];
            var en = Array.from(v.textTracks).filter(function (t) { return t.language === 'en'; })[0];
            if (want !== null && (v.readyState < 1 || Math.abs(v.currentTime - want) > 0.3)) {
                v.pause(); if (v.readyState >= 1) { v.currentTime = want; } return null;
            }
            if (!en || !en.activeCues || en.activeCues.length === 0) { return null; }
            v.pause();
            return {mode: en.mode, tracks: v.textTracks.length, time: v.currentTime, active: en.activeCues[0].text};
        """, seek_to)
        if state:
            return state
        time.sleep(0.2)
    return None


def test_the_english_track_shows_on_the_exported_page_in_chromium(exported, browser, tmp_path_factory):
    """Served without byte ranges, as disaster-clippy's backup server does: the page's #t= seeks (through its Blob
    fallback) into the first English cue, and Chromium shows that cue."""
    first = pysubs2.load(str(exported / "subtitles" / "rede.en.vtt"))[0]
    middle = round((first.start + first.end) / 2000, 2)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(exported))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/pages/rede.html#t={middle}")
        state = _english_cue_shown(browser, None)
        assert state, "the English track never showed a cue"
        assert state["mode"] == "showing" and state["tracks"] == 2 and state["active"] == first.plaintext, state
        shots = Path(os.environ.get("VTDB_SCREENSHOTS") or tmp_path_factory.mktemp("subtitle_shots"))
        browser.save_screenshot(str(shots / "export_player_english_subtitles.png"))
        (shots / "export_player_english_subtitles.json").write_text(json.dumps(state, ensure_ascii=False))
    finally:
        server.shutdown()


def test_the_web_player_offers_both_tracks_and_shows_the_english_one(library, browser, tmp_path_factory):
    from webfixtures import get, web_server

    folder, cfg, _spans, work_dir = library
    first = pysubs2.load(str(work_dir / "subtitles" / "rede.en.vtt"))[0]
    middle = round((first.start + first.end) / 2000, 2)
    with web_server(cfg, folder) as server:
        status, headers, body = get(server, "/video/rede")
        page = body.decode("utf-8")
        assert status == 200
        assert '<track kind="subtitles" srclang="de" label="German (original)" src="/subtitles/rede/de.vtt">' in page
        assert '<track kind="subtitles" srclang="en" label="English" src="/subtitles/rede/en.vtt" default>' in page
        status, headers, body = get(server, "/subtitles/rede/en.vtt")
        assert status == 200 and headers["content-type"].startswith("text/vtt") and headers["x-content-type-options"] == "nosniff"
        assert body.decode("utf-8").startswith("WEBVTT")
        status, _headers, body = get(server, "/subtitles/rede/fr.vtt")
        assert status == 404 and b"it has: de, en" in body
        assert get(server, "/subtitles/nobody/en.vtt")[0] == 404
        browser.get(f"{server['base']}/video/rede?t={middle}")
        state = _english_cue_shown(browser, middle)
        assert state, "the English track never showed a cue in the web player"
        assert state["mode"] == "showing" and state["tracks"] == 2 and state["active"] == first.plaintext, state
        shots = Path(os.environ.get("VTDB_SCREENSHOTS") or tmp_path_factory.mktemp("subtitle_shots"))
        browser.save_screenshot(str(shots / "web_player_english_subtitles.png"))
