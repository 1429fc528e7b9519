"""Kiwix/openZIM archives as video sources, on real archives written with libzim's Creator that
hold real webm (VP9/Opus) and mp4 (H.264) clips made with ffmpeg, real JSON and real WebVTT.

Phase 1 runs through its CLI. Whisper runs only twice in this file (prefer_whisper, and the
malformed-VTT fallback in the bad-inputs run); the main run sets whisper_model to a folder that
does not exist, so it would fail if anything needed Whisper there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from speech_check import assert_word_timings, content_words, heard, real_speech, reference_texts, words
from zim_factory import vtt, write_zim, youtube2zim_v2_items, youtube2zim_v3_items

from conftest import run_cli, write_config
from vtdb.atomic import temp_path_for
from vtdb.config import Settings, settings_only
from vtdb.errors import ModelUnavailable
from vtdb.events import read_events
from vtdb.media.transcribe import FasterWhisperTranscriber
from vtdb.media.windows import plan_windows
from vtdb.naming import check_name
from vtdb.sources.subtitles import Cue, SubtitleError, cue_words, parse_timestamp, parse_vtt
from vtdb.sources.zim import ZimError, iso_duration, list_zim_videos, parse_zim_uri, video_name, zim_language, zim_uri
from vtdb.sources.zim_entry import ZimEntrySource
from vtdb.store import Store
from vtdb.workfiles import load_phase1_data, phase1_data_path

PHASE1 = "phase1_whisper_frames.py"
WIN = dict(window_length=2.0, window_overlap=0.5, window_min_tail=0.4, frame_max_side=128)

YT_ID = "dQw4w9WgXcQ"  # a YouTube-style id, present in the v3 AND the v2 archive
# The speech clip: two real recordings, 4.6 s (speech_check), not espeak-ng: Whisper heard a short espeak clip
# differently on another CPU. spoken() gives their text ("open the Office curtains lock the Front Door");
# tests check it only as a loose overlap.
SPEECH_FILES = ["en_018.flac", "en_080.flac"]
# The creator subtitles deliberately say something else than the speech: the transcript shows its source.
ALPHA_VTT = (
    "WEBVTT\nKind: captions\nLanguage: en\n\n"
    "NOTE made by hand\n\n"
    "1\n00:00:00.000 --> 00:00:01.200 align:start position:0%\n<v Narrator>alpha bravo</v> <c.yellow>charlie</c>\n\n"
    "2\n00:01.500 --> 00:02.900\ndelta\necho\n\n"
    "00:00:03.000 --> 00:00:04.600 line:90%\nfoxtrot golf hotel india\n"
)
# (word, start) as spread evenly over each cue: 3 words over 1.2 s, 2 over 1.4 s, 4 over 1.6 s.
ALPHA_WORDS = [("alpha", 0.0), ("bravo", 0.4), ("charlie", 0.8), ("delta", 1.5), ("echo", 2.2),
               ("foxtrot", 3.0), ("golf", 3.4), ("hotel", 3.8), ("india", 4.2)]
FR_VTT = vtt([(0.0, 2.0, "bonjour tout le monde")])


# ---------------------------------------------------------------- helpers


def spoken() -> str:
    """What the speech clip says."""
    texts = reference_texts()
    return " ".join(texts[f] for f in SPEECH_FILES)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", *args], check=True, capture_output=True)


def make_clip(out: Path, seconds: float, audio: str | None, source: str = "testsrc2") -> bytes:
    """A small real clip: .webm = VP9 + Opus, .mp4 = H.264 + AAC; audio None | 'tone' | 'speech' (SPEECH_FILES)."""
    inputs = ["-f", "lavfi", "-t", str(seconds), "-i", f"{source}=size=160x120:rate=10"]
    maps = ["-map", "0:v"]
    if audio == "tone":
        inputs += ["-f", "lavfi", "-t", str(seconds), "-i", "sine=frequency=440:sample_rate=48000"]
        maps += ["-map", "1:a"]
    elif audio == "speech":
        wav = out.with_suffix(".wav")
        real_speech(SPEECH_FILES, wav)
        inputs += ["-i", str(wav)]
        maps = ["-filter_complex", f"[1:a]apad=whole_dur={seconds}[a]", "-map", "0:v", "-map", "[a]"]
    if out.suffix == ".webm":
        codecs = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "120k", "-c:a", "libopus", "-b:a", "32k"]
    else:
        codecs = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "48k"]
    ffmpeg(*inputs, *maps, *codecs, "-t", str(seconds), str(out))
    return out.read_bytes()


def records(cfg: Path) -> dict[str, dict]:
    return {r["name"]: r for r in Store(settings_only(cfg)).list_videos()}


def events_of(folder: Path) -> list[dict]:
    return read_events(folder / "data" / "events.jsonl")


def flat(text: str) -> str:
    return " ".join(text.split())


def decode(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "JPEG does not decode"
    return img


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def leftover_name(folder: Path, pid: int, suffix: str = ".webm") -> Path:
    """A temp file as extract_to names it, but owned by `pid`."""
    tmp = temp_path_for(folder / f"zim-extract{suffix}")
    return tmp.with_name(tmp.name.replace(f".{os.getpid()}.", f".{pid}.") + suffix)


# ---------------------------------------------------------------- media and archives


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("zim_clips")
    return {
        "speech_webm": make_clip(d / "speech.webm", 5.0, "speech"),
        "silent_webm": make_clip(d / "silent.webm", 4.0, None, "mandelbrot"),
        "silent_mp4": make_clip(d / "silent.mp4", 3.0, None, "smptehdbars"),
    }


def v3_archive(path: Path, clips: dict[str, bytes]) -> Path:
    items = youtube2zim_v3_items([
        {"id": YT_ID, "slug": "alpha-video", "title": "Alpha: boiling water", "description": "How to boil water.\nSecond line.",
         "media": clips["speech_webm"], "ext": "webm", "subtitles": {"en": ALPHA_VTT, "fr": FR_VTT},
         "chapters": [{"startTime": 0, "endTime": 2.5, "title": "Intro"}, {"startTime": 2.5, "endTime": 5, "title": "Boiling"}],
         "duration": "PT5S", "publicationDate": "2023-07-14"},
        {"id": "Tr41l3rV1d0", "slug": "channel-trailer", "title": "Channel trailer", "media": clips["silent_mp4"], "ext": "mp4",
         "duration": "PT3S"},
        {"id": "chapVtt_001", "slug": "chapters-from-vtt", "title": "Chapters from VTT", "description": "Chapters only as VTT",
         "media": clips["silent_webm"], "ext": "webm", "duration": "PT4S", "publicationDate": "2022-01-02",
         "chapters_vtt": vtt([(0.0, 1.5, "Opening"), (1.5, 4.0, "Main part")])},
    ])
    return write_zim(path, items,
                     {"Title": "Alpha channel", "Publisher": "openZIM", "Language": "eng", "Scraper": "youtube2zim 3.2.1", "Date": "2024-06-30"},
                     redirects=[("videos/alpha-again.json", "videos/alpha-video.json"), ("watch", f"videos/{YT_ID}/video.webm")])


@pytest.fixture(scope="module")
def archives(tmp_path_factory, clips) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("zim_archives")
    out = {"v3": v3_archive(d / "alpha_channel.zim", clips)}
    out["v2"] = write_zim(
        d / "legacy_v2.zim",
        youtube2zim_v2_items("uploads", [
            {"id": YT_ID, "title": "Legacy copy", "description": "Same video id, older archive", "media": clips["silent_mp4"], "ext": "mp4",
             "subtitles": {"en": vtt([(0.5, 2.5, "legacy subtitle words")])}},
            {"id": "legacyVid02", "title": "Second legacy video", "media": clips["silent_mp4"], "ext": "mp4"},
        ], more_playlists={"favourites": [YT_ID]}),
        {"Title": "Legacy channel", "Publisher": "Kiwix", "Language": "eng", "Scraper": "youtube2zim 2.1.16", "Date": "2019-02-03"},
    )
    out["generic"] = write_zim(
        d / "TED talks (fr) 2024.zim",
        [("talks/one.html", "text/html", "<html><body><video src='../videos/Ünï talk (2019).mp4'></video></body></html>", "Talk one"),
         ("videos/Ünï talk (2019).mp4", "video/mp4", clips["silent_mp4"], "Ünï talk"),
         ("videos/second.webm", "video/webm", clips["silent_webm"], "Second talk"),
         ("assets/style.css", "text/css", "body{}", "")],
        {"Title": "TED talks", "Publisher": "TED", "Language": "fra", "Scraper": "ted2zim 3.0.0", "Date": "2024-01-15"},
        redirects=[("talk-alias", "videos/Ünï talk (2019).mp4")],
    )
    return out


# ---------------------------------------------------------------- unit: VTT, durations, names


def test_parse_vtt_timestamps_settings_tags_bom_crlf():
    text = ("WEBVTT - with a header\r\n\r\nintro\r\n00:01.250 --> 00:02.500 align:start line:0\r\n<v Ann>Hello</v> <b>there</b> &amp; you\r\n\r\n"
            "NOTE a comment\r\n\r\n01:02:03.004 --> 01:02:05.000 position:10%,line-left\r\n<i>second</i>\r\n<c.blue>line</c>\r\n")
    cues = parse_vtt(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert cues == [Cue(1.25, 2.5, "Hello there & you"), Cue(3723.004, 3725.0, "second line")]
    assert parse_vtt(text.replace("\r\n", "\n")) == cues  # str input, LF
    assert parse_vtt("\ufeff" + text) == cues  # a str that still carries the BOM
    assert parse_timestamp("00:00:07.5") == 7.5 and parse_timestamp("10:00.000") == 600.0


@pytest.mark.parametrize("bad, why", [
    ("1\n00:00:01.000 --> 00:00:02.000\nno header\n", "WEBVTT"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:oops\nhello\n", "line 3"),
    ("WEBVTT\n\n00:00:05.000 --> 00:00:01.000\nbackwards\n", "ends before it starts"),
    ("WEBVTT\n\nabc --> 00:00:01.000\nhello\n", "bad timestamp"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<b></b>\n", "no text"),
])
def test_parse_vtt_rejects_malformed_files(bad, why):
    with pytest.raises(SubtitleError, match=why):
        parse_vtt(bad.encode(), "videos/x/video.en.vtt")
    with pytest.raises(SubtitleError, match="not UTF-8"):
        parse_vtt(b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n\xff\xfe\n")


def test_cue_words_spread_evenly_over_each_cue():
    words = cue_words([Cue(1.0, 2.0, "one two three four"), Cue(5.0, 5.0, "zero length"), Cue(10.0, 13.0, "last")])
    assert [(w["word"], w["start"], w["end"]) for w in words] == [
        ("one", 1.0, 1.25), (" two", 1.25, 1.5), (" three", 1.5, 1.75), (" four", 1.75, 2.0),
        (" zero", 5.0, 5.0), (" length", 5.0, 5.001), (" last", 10.0, 13.0)]
    assert all(w["probability"] == 1.0 for w in words)
    assert cue_words([]) == []


def test_iso_8601_durations():
    assert iso_duration("PT11M3S") == 663.0
    assert iso_duration("PT1H2M3.5S") == 3723.5
    assert iso_duration("P1DT1S") == 86401.0
    assert iso_duration("PT45S") == 45.0
    for bad in ("11:03", "", None, 663, "PTXS"):
        assert iso_duration(bad) == 0.0


def test_zim_uri_and_language():
    uri = zim_uri("/a/b c.zim", "videos/x#1/video.webm")
    assert uri == "zim:///a/b c.zim#videos/x#1/video.webm"
    with pytest.raises(ZimError):
        parse_zim_uri("/a/b.zim")
    assert parse_zim_uri("zim:///a/b.zim#videos/x/video.webm") == ("/a/b.zim", "videos/x/video.webm")
    assert zim_language("eng") == "en" and zim_language("rus,eng") == "ru" and zim_language("") is None


def test_whisper_would_fail_with_the_missing_model_folder(tmp_path):
    """The guard used by the main run: a Whisper load with this setting really fails."""
    transcriber = FasterWhisperTranscriber(Settings(whisper_model=str(tmp_path / "no-such-whisper-model")))
    with pytest.raises(ModelUnavailable, match="cannot load Whisper model .*no-such-whisper-model"):
        transcriber._load()


# ---------------------------------------------------------------- enumeration


def test_v3_enumeration(archives, clips):
    info, videos, problems = list_zim_videos(archives["v3"])
    assert problems == []
    by_id = {v.video_id: v for v in videos}
    assert sorted(by_id) == sorted([YT_ID, "Tr41l3rV1d0", "chapVtt_001"])  # redirects add nothing
    a = by_id[YT_ID]
    assert (a.entry, a.title, a.description) == (f"videos/{YT_ID}/video.webm", "Alpha: boiling water", "How to boil water.\nSecond line.")
    assert (a.layout, a.mimetype, a.youtube_id, a.publication_date, a.duration) == ("youtube2zim-v3", "video/webm", YT_ID, "2023-07-14", 5.0)
    assert a.size == len(clips["speech_webm"])
    assert [(t.code, t.entry) for t in a.subtitles] == [("en", f"videos/{YT_ID}/video.en.vtt"), ("fr", f"videos/{YT_ID}/video.fr.vtt")]
    assert a.chapters == [{"start": 0.0, "end": 2.5, "title": "Intro"}, {"start": 2.5, "end": 5.0, "title": "Boiling"}]
    c = by_id["chapVtt_001"]
    assert c.chapters == [{"start": 0.0, "end": 1.5, "title": "Opening"}, {"start": 1.5, "end": 4.0, "title": "Main part"}]
    assert (c.subtitles, c.duration, c.mimetype) == ([], 4.0, "video/webm")
    assert by_id["Tr41l3rV1d0"].mimetype == "video/mp4" and by_id["Tr41l3rV1d0"].duration == 3.0
    assert (info.title, info.publisher, info.language, info.scraper, info.date) == (
        "Alpha channel", "openZIM", "eng", "youtube2zim 3.2.1", "2024-06-30")
    assert info.path == str(archives["v3"].resolve()) and len(info.uuid) == 36
    assert info.fingerprint == f"zim:size={archives['v3'].stat().st_size}:mtime_ns={archives['v3'].stat().st_mtime_ns}:uuid={info.uuid}"


def test_include_exclude_globs_on_id_and_title(archives):
    def ids(include=None, exclude=None):
        return sorted(v.video_id for v in list_zim_videos(archives["v3"], include, exclude)[1])

    assert ids(exclude=["*trailer*"]) == sorted([YT_ID, "chapVtt_001"])  # title glob
    assert ids(exclude=["Tr41*"]) == sorted([YT_ID, "chapVtt_001"])  # id glob
    assert ids(include=["Alpha:*"]) == [YT_ID]  # title
    assert ids(include=["chapVtt_*", "*trailer"]) == sorted(["Tr41l3rV1d0", "chapVtt_001"])
    assert ids(include=["*"], exclude=[YT_ID, "Chapters*"]) == ["Tr41l3rV1d0"]
    assert ids(include=["*TRAILER*"]) == []  # case-sensitive
    assert ids(include=["nothing*"]) == []


def test_v2_enumeration(archives):
    info, videos, problems = list_zim_videos(archives["v2"])
    assert problems == []
    # The same video in two playlists is one video.
    assert [(v.video_id, v.entry, v.title, v.layout) for v in videos] == [
        (YT_ID, f"videos/{YT_ID}/video.mp4", "Legacy copy", "youtube2zim-v2"),
        ("legacyVid02", "videos/legacyVid02/video.mp4", "Second legacy video", "youtube2zim-v2")]
    assert videos[0].description == "Same video id, older archive" and videos[0].youtube_id == YT_ID
    assert [(t.code, t.entry) for t in videos[0].subtitles] == [("en", f"videos/{YT_ID}/video.en.vtt")]
    assert videos[1].subtitles == [] and videos[1].youtube_id == "legacyVid02"
    assert info.scraper == "youtube2zim 2.1.16"


def test_generic_enumeration_and_sanitized_names(archives):
    info, videos, problems = list_zim_videos(archives["generic"])
    assert problems == []
    assert [(v.video_id, v.entry, v.title, v.mimetype, v.layout, v.youtube_id) for v in videos] == [
        ("videos/second", "videos/second.webm", "Second talk", "video/webm", "generic", ""),
        ("videos/Ünï talk (2019)", "videos/Ünï talk (2019).mp4", "Ünï talk", "video/mp4", "generic", "")]
    names = [video_name(info, v) for v in videos]
    assert names == ["TED_talks_fr_2024__videos_second", "TED_talks_fr_2024__videos_Ünï_talk_2019"]
    assert all(check_name(n) == n for n in names)
    assert (info.language, zim_language(info.language), info.scraper) == ("fra", "fr", "ted2zim 3.0.0")


def test_zim_entry_source_streams_to_a_temp_file_and_removes_it(archives, clips, tmp_path):
    src = ZimEntrySource(zim_uri(str(archives["v3"].resolve()), f"videos/{YT_ID}/video.webm"))
    with src.open_local(tmp_path) as path:
        assert path.parent == tmp_path and path.suffix == ".webm" and ".vtdb-tmp." in path.name
        assert path.read_bytes() == clips["speech_webm"]
    assert not path.exists()
    with pytest.raises(RuntimeError, match="boom"):
        with src.open_local(tmp_path) as path:
            raise RuntimeError("boom")
    assert not path.exists() and list(tmp_path.iterdir()) == []
    assert src.fingerprint().startswith("zim:size=") and src.fingerprint().endswith(f":entry=videos/{YT_ID}/video.webm")


# ---------------------------------------------------------------- phase 1 end to end (no Whisper)


@pytest.fixture(scope="module")
def main_run(tmp_path_factory, archives):
    folder = tmp_path_factory.mktemp("zim_main")
    work = folder / "data"
    work.mkdir()
    # A crashed run's extraction (dead pid) must go; a live process's (this one) must stay.
    stale = leftover_name(work, dead_pid())
    stale.write_bytes(b"\x1aE\xdf\xa3 half an extracted webm")
    live = leftover_name(work, os.getpid(), ".mp4")
    live.write_bytes(b"another process is extracting this")
    cfg = write_config(folder, [
        {"zim": str(archives["v3"]), "exclude": ["*trailer*"], "license": "CC BY 3.0"},
        {"zim": str(archives["v2"]), "description": "fallback description"},
        {"zim": str(archives["generic"])},
    ], whisper_model=str(folder / "no-such-whisper-model"), **WIN)
    proc = run_cli(PHASE1, "--config", str(cfg))
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out
    recs = records(cfg)
    data = {name: load_phase1_data(work, name) for name in recs}
    return {"folder": folder, "cfg": cfg, "out": out, "records": recs, "data": data, "stale": stale, "live": live,
            "files": sorted(p.name for p in work.iterdir())}


A = f"alpha_channel__{YT_ID}"
C = "alpha_channel__chapVtt_001"
L1, L2 = f"legacy_v2__{YT_ID}", "legacy_v2__legacyVid02"
G1, G2 = "TED_talks_fr_2024__videos_Ünï_talk_2019", "TED_talks_fr_2024__videos_second"


def test_records_names_sources_and_archive_metadata(main_run, archives):
    recs = main_run["records"]
    assert sorted(recs) == sorted([A, C, L1, L2, G1, G2])  # trailer excluded; the shared id twice, under two names
    a = recs[A]
    assert a["source_kind"] == "zim"
    assert a["video_path"] == f"zim://{archives['v3'].resolve()}#videos/{YT_ID}/video.webm"
    assert (a["zim_archive"], a["zim_entry"]) == (str(archives["v3"].resolve()), f"videos/{YT_ID}/video.webm")
    assert (a["title"], a["description"], a["language"], a["license"]) == ("Alpha: boiling water", "How to boil water.\nSecond line.", "en", "CC BY 3.0")
    assert (a["zim_title"], a["zim_publisher"], a["zim_language"], a["zim_scraper"], a["zim_date"]) == (
        "Alpha channel", "openZIM", "eng", "youtube2zim 3.2.1", "2024-06-30")
    assert (a["zim_layout"], a["youtube_id"], a["publication_date"]) == ("youtube2zim-v3", YT_ID, "2023-07-14")
    assert json.loads(a["chapters"])[1] == {"start": 2.5, "end": 5.0, "title": "Boiling"}
    with_uuid = list_zim_videos(archives["v3"])[0].uuid
    assert a["zim_uuid"] == with_uuid and f"uuid={with_uuid}" in a["source_fingerprint"]
    l1 = recs[L1]
    assert l1["video_path"] == f"zim://{archives['v2'].resolve()}#videos/{YT_ID}/video.mp4"
    assert (l1["zim_title"], l1["zim_publisher"], l1["zim_scraper"], l1["zim_date"], l1["zim_layout"]) == (
        "Legacy channel", "Kiwix", "youtube2zim 2.1.16", "2019-02-03", "youtube2zim-v2")
    assert recs[L2]["description"] == "fallback description"  # the entry's description when the video has none
    g = recs[G1]
    assert g["video_path"] == f"zim://{archives['generic'].resolve()}#videos/Ünï talk (2019).mp4"
    assert (g["title"], g["language"], g["youtube_id"], g["zim_scraper"], g["zim_language"]) == ("Ünï talk", "fr", "", "ted2zim 3.0.0", "fra")


def test_statuses_windows_and_frames(main_run):
    for name, rec in main_run["records"].items():
        assert rec["phase1_status"] == "completed" and rec["phase1_last_error"] == "", name
        data = main_run["data"][name]
        spans = plan_windows(data["video"]["duration"], WIN["window_length"], WIN["window_overlap"], WIN["window_min_tail"])
        windows = data["windows"]
        assert [(w["start_time"], w["end_time"]) for w in windows] == [(s.start, s.end) for s in spans], name
        assert rec["phase1_segments_created"] == rec["total_segments"] == len(windows) >= 2
        assert data["video"]["source"] == rec["video_path"] and data["video"]["source_kind"] == "zim"
        for w in windows:
            assert len(w["frames"]) == 6
            for fr in w["frames"]:
                img = decode(fr["jpeg"])
                assert img.shape[:2] == (96, 128) == (fr["height"], fr["width"])
                assert w["start_time"] <= fr["time"] <= w["end_time"]
    a = main_run["data"][A]["video"]
    assert (a["video_codec"], a["audio_codec"], a["has_audio"]) == ("vp9", "opus", True)
    assert abs(a["duration"] - 5.0) < 0.1 and main_run["records"][A]["video_duration"] == pytest.approx(a["duration"], abs=0.01)
    assert main_run["data"][G1]["video"]["video_codec"] == "h264"


def test_creator_subtitles_are_the_transcript_with_cue_timings(main_run):
    rec, data = main_run["records"][A], main_run["data"][A]
    t = data["transcript"]
    assert rec["transcript_source"] == t["source"] == "subtitles"
    assert t["language"] == rec["transcript_language"] == "en" and t["model"] == f"subtitles:videos/{YT_ID}/video.en.vtt"
    assert not content_words(spoken()) & set(words(t["text"])), t["text"]  # not Whisper ...
    assert "bonjour" not in t["text"]  # ... nor the French track
    assert [(s["start"], s["end"], s["text"]) for s in t["segments"]] == [
        (0.0, 1.2, "alpha bravo charlie"), (1.5, 2.9, "delta echo"), (3.0, 4.6, "foxtrot golf hotel india")]
    assert [(w["word"].strip(), w["start"]) for w in t["words"]] == ALPHA_WORDS
    assert rec["transcript_words"] == 9
    # Words go to the windows their middle lies in: [0,2) [1.5,3.5) [3,end] ("golf", 3.4-3.8 s, only to the last).
    texts = [w["text"] for w in data["windows"]]
    assert texts == ["alpha bravo charlie delta", "delta echo foxtrot", "foxtrot golf hotel india"]
    for w in data["windows"]:
        last = w["index"] == len(data["windows"]) - 1
        middles = [(x["start"] + x["end"]) / 2 for x in w["words"]]
        assert all(w["start_time"] <= m < w["end_time"] or (last and m >= w["start_time"]) for m in middles)
    # The legacy archive's subtitles work the same way (its clip has no audio at all).
    lt = main_run["data"][L1]["transcript"]
    assert lt["source"] == main_run["records"][L1]["transcript_source"] == "subtitles"
    legacy_windows = main_run["data"][L1]["windows"]
    assert [w["word"].strip() for w in legacy_windows[0]["words"]] == ["legacy", "subtitle"]  # "words" (1.83-2.5 s): window 1
    assert {w["word"].strip() for win in legacy_windows for w in win["words"]} == {"legacy", "subtitle", "words"}
    # No subtitles and no audio: an empty transcript, not Whisper.
    assert main_run["data"][G1]["transcript"]["source"] == main_run["records"][G1]["transcript_source"] == "none"


def test_chapters_and_video_metadata_go_into_the_pickle(main_run):
    a = main_run["data"][A]["video"]
    assert a["chapters"] == [{"start": 0.0, "end": 2.5, "title": "Intro"}, {"start": 2.5, "end": 5.0, "title": "Boiling"}]
    assert (a["youtube_id"], a["publication_date"], a["title"]) == (YT_ID, "2023-07-14", "Alpha: boiling water")
    c = main_run["data"][C]["video"]
    assert c["chapters"] == [{"start": 0.0, "end": 1.5, "title": "Opening"}, {"start": 1.5, "end": 4.0, "title": "Main part"}]
    assert main_run["data"][G2]["video"]["chapters"] == []


def test_temp_files_removed_and_crash_leftovers_cleaned(main_run):
    assert not main_run["stale"].exists()
    assert main_run["live"].exists()  # belongs to a live process: left alone
    expected = sorted([f"{n}_phase1_data.pkl" for n in main_run["records"]]
                      + ["content_fingerprints.json", "events.jsonl", "zim_checksums.json", main_run["live"].name])
    assert main_run["files"] == expected
    assert main_run["stale"].name in main_run["out"]  # reported


def test_unchanged_rerun_then_replaced_archive(main_run, archives, clips):
    folder, cfg = main_run["folder"], main_run["cfg"]
    before = len(events_of(folder))
    proc = run_cli(PHASE1, "--config", str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    new = events_of(folder)[before:]
    assert not [e for e in new if e["event"] in ("VIDEO_RESET", "VIDEO_CLAIM", "VIDEO_ERROR")], new
    assert {n: r["phase1_status"] for n, r in records(cfg).items()} == {n: "completed" for n in main_run["records"]}

    # Rebuild the v3 archive from the same content: same size and mtime, only a new UUID. The videos' bytes are
    # the same (their content fingerprints match), so nothing is redone; the record learns the new UUID.
    path = archives["v3"]
    st = path.stat()
    old_uuid = main_run["records"][A]["zim_uuid"]
    path.unlink()
    v3_archive(path, clips)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    before = len(events_of(folder))
    proc = run_cli(PHASE1, "--config", str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    new = events_of(folder)[before:]
    assert not [e for e in new if e["event"] in ("VIDEO_RESET", "VIDEO_CLAIM")], new
    recs = records(cfg)
    assert recs[A]["zim_uuid"] != old_uuid and f"uuid={recs[A]['zim_uuid']}" in recs[A]["source_fingerprint"]
    assert recs[A]["phase1_end_time"] == main_run["records"][A]["phase1_end_time"]

    # A newer archive in which one video's bytes changed: that one is reprocessed, the others are not.
    path.unlink()
    v3_archive(path, {**clips, "silent_webm": clips["silent_mp4"]})  # chapVtt_001's media
    before = len(events_of(folder))
    proc = run_cli(PHASE1, "--config", str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    new = events_of(folder)[before:]
    resets = {e["video"]: e["reason"] for e in new if e["event"] == "VIDEO_RESET"}
    assert sorted(resets) == [C] and "archive replaced" in resets[C] and "content fingerprint" in resets[C], resets
    assert sorted(e["video"] for e in new if e["event"] == "VIDEO_COMPLETE") == [C]
    recs = records(cfg)
    assert recs[A]["phase1_status"] == recs[C]["phase1_status"] == "completed"
    assert recs[A]["phase1_end_time"] == main_run["records"][A]["phase1_end_time"]
    assert recs[L1]["phase1_end_time"] == main_run["records"][L1]["phase1_end_time"]  # other archives untouched

    # And once more without a change: nothing happens.
    before = len(events_of(folder))
    proc = run_cli(PHASE1, "--config", str(cfg))
    assert proc.returncode == 0
    assert not [e for e in events_of(folder)[before:] if e["event"] in ("VIDEO_RESET", "VIDEO_CLAIM")]


def test_checksums_are_verified_once_per_archive_version(main_run, archives):
    cache = json.loads((main_run["folder"] / "data" / "zim_checksums.json").read_text())
    for key in ("v3", "v2", "generic"):
        info = list_zim_videos(archives[key])[0]
        assert cache[info.path] == {"fingerprint": info.fingerprint, "ok": True}


# ---------------------------------------------------------------- prefer_whisper


def assert_whisper_heard_the_speech(rec: dict, data: dict) -> None:
    """The transcript is Whisper's, of the audio: not the creator subtitles (none of their words, not their
    timings), timed inside the clip, and with at least half of the spoken content words (real speech)."""
    t = data["transcript"]
    assert rec["transcript_source"] == t["source"] == "whisper"
    assert not t["model"].startswith("subtitles:"), t["model"]
    assert not {w for w, _ in ALPHA_WORDS} & set(words(t["text"])), t["text"]
    assert [(w["word"].strip(), w["start"]) for w in t["words"]] != ALPHA_WORDS
    assert_word_timings(t["words"], data["video"]["duration"])
    assert heard(spoken(), t["text"]) >= 0.5, (spoken(), t["text"])


def test_prefer_whisper_transcribes_despite_subtitles(tmp_path, archives):
    cfg = write_config(tmp_path, [{"zim": str(archives["v3"]), "include": [YT_ID]}], prefer_whisper=True, **WIN)
    proc = run_cli(PHASE1, "--config", str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rec = records(cfg)[A]
    data = load_phase1_data(tmp_path / "data", A)
    assert_whisper_heard_the_speech(rec, data)
    assert data["video"]["chapters"][0]["title"] == "Intro"


# ---------------------------------------------------------------- bad inputs


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, clips):
    d = tmp_path_factory.mktemp("zim_bad")
    arch = d / "archives"
    long_title = "A very long title " * 70  # 1260 characters
    items = youtube2zim_v3_items([
        {"id": "goodVideo01", "title": "Good video", "media": clips["silent_webm"], "ext": "webm"},
        {"id": "badVttVid01", "title": "Broken subtitles", "media": clips["speech_webm"], "ext": "webm",
         "subtitles": {"en": "WEBVTT\n\n00:00:00.500 --> 00:00:oops\nhello\n"}},
        {"id": "nonUtf8Vid1", "title": "TITLE_PLACEHOLDER", "media": clips["silent_mp4"]},
        {"id": "longTitle01", "title": long_title, "media": clips["silent_mp4"]},
        {"id": "goneVideo01", "slug": "points-nowhere", "title": "Missing entry", "media": clips["silent_mp4"],
         "videoPath": "videos/elsewhere/video.mp4"},
        {"id": "emptyVideo1", "title": "Empty video", "media": b""},
        {"id": "notVideo001", "title": "Not a video", "media": b"this is a shopping list, not a video\n" * 20},
    ])
    items = [(p, m, (data.encode() if isinstance(data, str) else data).replace(b"TITLE_PLACEHOLDER", b"Caf\xe9 \xff\xfe title"), t)
             for p, m, data, t in items]
    good = write_zim(arch / "good_one.zim", items, {"Title": "Good archive"})
    # The same video id in two archives of the same file name (two folders).
    dup_items = youtube2zim_v3_items([{"id": "dupVideo001", "title": "Duplicated", "media": clips["silent_mp4"]}])
    dup_a = write_zim(arch / "first" / "same.zim", dup_items)
    dup_b = write_zim(arch / "second" / "same.zim", dup_items)
    # A real archive cut in half, and one with bytes flipped in the middle (inside the video item).
    source = write_zim(d / "source.zim", youtube2zim_v3_items([{"id": "damaged0001", "title": "Damaged", "media": clips["silent_webm"]}]))
    raw = source.read_bytes()
    half = arch / "half.zim"
    half.write_bytes(raw[: len(raw) // 2])
    pos = raw.find(clips["silent_webm"]) + len(clips["silent_webm"]) // 2
    assert len(raw) // 4 < pos < 3 * len(raw) // 4  # the middle of the file
    flipped_bytes = bytearray(raw)
    for i in range(pos, pos + 64):
        flipped_bytes[i] ^= 0xFF
    flipped = arch / "flipped.zim"
    flipped.write_bytes(bytes(flipped_bytes))
    notzim = arch / "notes.zim"
    notzim.write_text("This is a text file with a .zim name.\n" * 40)
    missing = arch / "nowhere" / "missing.zim"
    paths = {"good": good, "dup_a": dup_a, "dup_b": dup_b, "half": half, "flipped": flipped, "notzim": notzim, "missing": missing}
    cfg = write_config(d, [{"zim": str(p)} for p in (half, dup_a, notzim, good, missing, flipped, dup_b)], **WIN)
    proc = run_cli(PHASE1, "--config", str(cfg))
    return {"folder": d, "cfg": cfg, "proc": proc, "out": flat(proc.stdout + proc.stderr), "paths": paths,
            "records": records(cfg), "events": events_of(d), "long_title": long_title}


def source_errors(bad_run) -> list[str]:
    return [e["error"] for e in bad_run["events"] if e["event"] == "VIDEO_ERROR" and e["video"] == "(sources)"]


def test_bad_inputs_fail_alone_and_the_rest_goes_on(bad_run):
    assert bad_run["proc"].returncode == 1, bad_run["out"]
    recs = bad_run["records"]
    assert sorted(recs) == sorted(["good_one__goodVideo01", "good_one__badVttVid01", "good_one__nonUtf8Vid1", "good_one__longTitle01",
                                   "good_one__notVideo001", "good_one__emptyVideo1", "same__dupVideo001"])
    for name in ("good_one__goodVideo01", "good_one__badVttVid01", "good_one__nonUtf8Vid1", "good_one__longTitle01", "same__dupVideo001"):
        assert recs[name]["phase1_status"] == "completed" and recs[name]["phase1_last_error"] == "", name
        assert phase1_data_path(bad_run["folder"] / "data", name).exists()


@pytest.mark.parametrize("key, words", [
    ("half", ["not a readable ZIM archive"]),
    ("notzim", ["not a readable ZIM archive"]),
    ("missing", ["ZIM archive not found"]),
    ("flipped", ["checksum"]),
])
def test_bad_archive_is_a_clear_error_naming_it(bad_run, key, words):
    path = str(bad_run["paths"][key])
    errors = [e for e in source_errors(bad_run) if path in e]
    assert len(errors) == 1, source_errors(bad_run)
    assert all(w in errors[0] for w in words), errors[0]
    assert "Traceback" not in errors[0]
    assert path in bad_run["out"]
    assert not [n for n, r in bad_run["records"].items() if r.get("zim_archive") == str(Path(path).resolve())]


def test_flipped_bytes_fail_the_checksum_and_the_verdict_is_remembered(bad_run, tmp_path):
    flipped = bad_run["paths"]["flipped"]
    with pytest.raises(ZimError, match="checksum mismatch"):
        list_zim_videos(flipped)
    cache = json.loads((bad_run["folder"] / "data" / "zim_checksums.json").read_text())
    entry = cache[str(flipped.resolve())]
    assert entry["ok"] is False and entry["fingerprint"].startswith(f"zim:size={flipped.stat().st_size}:")
    # A remembered verdict is used as it is (the archive is not read again) ...
    ok_cache = tmp_path / "cache.json"
    ok_cache.write_text(json.dumps({str(flipped.resolve()): {**entry, "ok": True}}))
    assert [v.video_id for v in list_zim_videos(flipped, checksum_cache=ok_cache)[1]] == ["damaged0001"]
    # ... but only for the same archive version: a new mtime means a new check.
    os.utime(flipped, ns=(flipped.stat().st_atime_ns, flipped.stat().st_mtime_ns + 10**9))
    with pytest.raises(ZimError, match="checksum mismatch"):
        list_zim_videos(flipped, checksum_cache=ok_cache)
    assert json.loads(ok_cache.read_text())[str(flipped.resolve())]["ok"] is False


@pytest.mark.parametrize("entry, words", [
    ("videos/points-nowhere.json", ["videos/elsewhere/video.mp4", "not in the archive"]),
])
def test_bad_video_in_a_good_archive_is_reported(bad_run, entry, words):
    errors = [e for e in source_errors(bad_run) if entry in e]
    assert len(errors) == 1 and str(bad_run["paths"]["good"]) in errors[0], source_errors(bad_run)
    assert all(w in errors[0] for w in words), errors[0]


def test_empty_video_item_is_held_at_once_not_reported_on_every_sync(bad_run):
    # A zero-byte item is the archive's nature: Phase 1 holds it at once (this run reports it), and later
    # syncs do not list it as a problem again.
    rec = bad_run["records"]["good_one__emptyVideo1"]
    assert rec["phase1_held"] is True and rec["phase1_hold_kind"] == "permanent" and rec["phase1_attempts"] == 1
    assert "empty (0 bytes)" in rec["phase1_last_error"] and "videos/emptyVideo1/video.mp4" in rec["phase1_last_error"]
    assert not [e for e in source_errors(bad_run) if "emptyVideo1" in e]


def test_item_that_is_not_a_video_fails_naming_the_archive_entry(bad_run):
    rec = bad_run["records"]["good_one__notVideo001"]
    error = rec["phase1_last_error"]
    assert rec["phase1_status"] == "pending" and rec["phase1_attempts"] == 1
    assert rec["phase1_held"] is True and rec["phase1_hold_kind"] == "permanent"  # retrying cannot fix it
    assert "not a readable video file" in error and rec["video_path"] in error, error
    assert ".vtdb-tmp." not in error  # not the name of a temp file that is gone by now
    assert [p.name for p in (bad_run["folder"] / "data").iterdir() if ".vtdb-tmp." in p.name] == []


def test_malformed_vtt_falls_back_to_whisper_with_a_warning(bad_run):
    name = "good_one__badVttVid01"
    warnings = [e["message"] for e in bad_run["events"] if e["event"] == "WARNING" and e.get("video") == name]
    assert len(warnings) == 1 and "videos/badVttVid01/video.en.vtt" in warnings[0] and "Whisper" in warnings[0], warnings
    data = load_phase1_data(bad_run["folder"] / "data", name)
    assert_whisper_heard_the_speech(bad_run["records"][name], data)
    assert "hello" not in words(data["transcript"]["text"])  # nothing of the broken VTT's one cue


def test_non_utf8_and_very_long_titles(bad_run):
    recs = bad_run["records"]
    assert recs["good_one__nonUtf8Vid1"]["title"] == "Caf\ufffd \ufffd\ufffd title"
    # Replaced, but said: a warning naming the entry (a warning fails nothing).
    warned = [e["message"] for e in bad_run["events"] if e["event"] == "WARNING" and "videos/nonUtf8Vid1.json" in e.get("message", "")]
    assert len(warned) == 1 and "not valid UTF-8" in warned[0], warned
    title = recs["good_one__longTitle01"]["title"]
    assert 100 <= len(title) <= 1000 and bad_run["long_title"].startswith(title.rstrip("…").rstrip())
    assert title.endswith("…")


def test_same_video_id_in_two_archives_of_the_same_file_name(bad_run):
    first, second = str(bad_run["paths"]["dup_a"]), str(bad_run["paths"]["dup_b"])
    rec = bad_run["records"]["same__dupVideo001"]
    assert rec["zim_archive"] == str(Path(first).resolve()) and rec["phase1_status"] == "completed"
    errors = [e for e in source_errors(bad_run) if "same__dupVideo001" in e]
    assert len(errors) == 1 and second in errors[0] and "already used" in errors[0], source_errors(bad_run)
