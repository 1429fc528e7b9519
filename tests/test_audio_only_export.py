"""Audio-only sources in the disaster-clippy pack (issue 25): export_clippy.py --include-media on a library
holding an MP3 of real English speech (tests/data/speech/en) and an M4A stored without an extension, both
recorded as Phase 1 leaves an audio-only file (has_video False, width/height/fps 0), next to a video. The
pages play them in <audio>, the files are copied with their own extension, and a real headless Chromium
seeks the exported page's audio to the moment."""

from __future__ import annotations

import functools
import json
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers.library import Seg, Vid, build_library
from helpers.media_tools import ffmpeg, stream_types
from webfixtures import wait_for

from bench._common import speech_audio, write_wav
from conftest import free_port, run_cli
from vtdb.export.pack_pages import Player, page_html, player_for
from vtdb.safe_pickle import dump_plain
from vtdb.workfiles import PHASE1_FORMAT, PHASE1_VERSION, phase1_data_path

SID = "audio_pack"
SECONDS = 12.0
AUDIO_ONLY = {"has_video": False, "width": 0, "height": 0, "fps": 0.0}


def segs(reference: str) -> list[Seg]:
    words = reference.split()
    half = len(words) // 2
    first, second = " ".join(words[:half]), " ".join(words[half:])
    return [Seg(0.0, 6.0, f"A voice says: {first}", first, ["voice", "assistant"], "other", transcript=first),
            Seg(6.0, SECONDS, f"A voice says: {second}", second, ["voice", "commands"], "other", transcript=second)]


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio_export")
    samples, reference = speech_audio(SECONDS)
    wav = folder / "speech.wav"
    write_wav(wav, samples)
    talk = folder / "talk.mp3"
    ffmpeg("-i", str(wav), "-t", str(SECONDS), "-c:a", "libmp3lame", "-b:a", "64k", str(talk))
    voice = folder / "voice_memo"  # an M4A whose name has no extension: its bytes say what it is
    ffmpeg("-i", str(wav), "-t", str(SECONDS), "-c:a", "aac", "-b:a", "48k", "-f", "ipod", str(voice))
    clip = folder / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=6", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip))
    vids = [Vid("talk", "Voice commands <i>spoken</i>", str(talk), segs(reference), extra=AUDIO_ONLY),
            Vid("memo", "A voice memo", str(voice), segs(reference), extra=AUDIO_ONLY),
            Vid("clip", "A test pattern", str(clip), [Seg(0.0, 6.0, "A colour test pattern moves.", "", ["pattern"], "other")])]
    cfg = build_library(folder, vids)
    # Phase 1's speech as cues: a video's page would get <track>s from it; an <audio> shows none.
    dump_plain(phase1_data_path(folder / "data", "talk"), {
        "format": PHASE1_FORMAT, "version": PHASE1_VERSION,
        "video": {"name": "talk", "has_video": False, "cover": None, "duration": SECONDS},
        "transcript": {"language": "en", "segments": [{"start": 0.0, "end": 5.0, "text": reference[:60]}], "words": []},
        "windows": [{"index": 0, "start_time": 0.0, "end_time": SECONDS, "text": reference, "frames": []}]})
    out = folder / "out"
    proc = run_cli("export_clippy.py", "--config", str(cfg), "--source-id", SID, "--license", "CC0", "--name", "Audio",
                   "--include-media", "--out", str(out), timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"folder": folder, "pack": out / SID, "talk": talk, "voice": voice, "clip": clip,
            "log": " ".join((proc.stdout + proc.stderr).split())}


def test_audio_pages_have_an_audio_player_with_the_copied_file(pack):
    root = pack["pack"]
    page = (root / "pages" / "talk.html").read_text(encoding="utf-8")
    assert '<audio id="player" controls preload="metadata" src="../media/talk.mp3"></audio>' in page
    assert "<video" not in page and "<track" not in page and "<img" not in page
    assert "Voice commands &lt;i&gt;spoken&lt;/i&gt;" in page  # escaped
    assert (root / "media" / "talk.mp3").read_bytes() == pack["talk"].read_bytes()
    assert stream_types(root / "media" / "talk.mp3") == ["audio"]
    assert (root / "media" / "talk.en.vtt").is_file()  # the cues beside the file, for a player that shows them
    assert not (root / "subtitles" / "talk.en.vtt").exists()  # no page links them

    memo = (root / "pages" / "memo.html").read_text(encoding="utf-8")
    assert '<audio id="player" controls preload="metadata" src="../media/memo.m4a"></audio>' in memo
    assert (root / "media" / "memo.m4a").read_bytes() == pack["voice"].read_bytes()

    video = (root / "pages" / "clip.html").read_text(encoding="utf-8")
    assert '<video id="player" controls preload="metadata" src="../media/clip.mp4">' in video and "<audio" not in video

    moments = json.loads((root / "_metadata.json").read_text(encoding="utf-8"))["documents"]
    assert {d["local_url"] for d in moments.values() if d["video_name"] == "talk"} == {
        f"/backup/{SID}/pages/talk.html#t=0", f"/backup/{SID}/pages/talk.html#t=6"}


def test_player_for_an_audio_zim_item_and_an_old_record():
    record = {"name": "z", "video_path": "zim:///a/b.zim#audio/talk.mp3", "has_video": False}
    player = player_for(record, None)
    assert player == Player("zim", "/zim/b/audio/talk.mp3", True)
    html = page_html(record, [], "", player, tracks='<track src="x.vtt">')
    assert '<audio id="player" controls preload="metadata" data-zim="/zim/b/audio/talk.mp3"></audio>' in html
    old = player_for({"name": "v", "video_path": "/v.mp4"}, "v.mp4")  # no has_video: a video
    assert old is not None and not old.audio and "<video" in page_html({"name": "v"}, [], "", old)


def test_the_exported_page_seeks_its_audio_to_the_moment(pack, browser):
    # A plain file server, without byte ranges like disaster-clippy's: the page plays a Blob of the file then.
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(pack["pack"]))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{server.server_port}/pages/talk.html#t=6")
        assert browser.execute_script("return document.getElementById('player').tagName") == "AUDIO"
        time_of = "var a = document.getElementById('player'); return a.readyState >= 1 ? a.currentTime : -1"
        wait_for(lambda: abs(browser.execute_script(time_of) - 6.0) < 0.5)
        duration = browser.execute_script("return document.getElementById('player').duration")
        assert re.match(r"^1[12]\.", f"{duration:.1f}"), duration
    finally:
        server.shutdown()
