"""Creator subtitles from every source: sidecar files (plain and yt-dlp naming), embedded MKV/MP4 text
tracks (ffprobe + ffmpeg), the config's `subtitles` key; pysubs2 parsing of SRT, WebVTT and ASS.

All media is generated here with espeak-ng (Russian speech) and ffmpeg (containers with subtitle streams,
an image PGS stream hand-built as a .sup file). The Phase 1 run goes through the CLI with real Chroma and
a Whisper model folder that does not exist: had any video needed a Whisper pass (transcription or
translation), the run would abort with exit code 2. `test_control_the_same_setup_aborts_when_whisper_is_needed`
shows that it does, so the subtitle runs prove that no Whisper pass happened.
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli, write_config
from vtdb.config import settings_only
from vtdb.demo import speak
from vtdb.events import read_events
from vtdb.media.subtitle_tracks import subtitle_streams
from vtdb.sources.local import LocalFileSource, sidecar_tracks
from vtdb.sources.subtitles import (
    Cue,
    SubtitleError,
    SubtitleTrack,
    only_language,
    parse_subtitles,
    pick_transcript_track,
    track_language,
)
from vtdb.store import Store
from vtdb.workfiles import load_phase1_data

PHASE1 = "phase1_whisper_frames.py"
NO_WHISPER = "/nonexistent/whisper-model-folder"  # a run that loads Whisper fails (exit 2)
WIN = {"window_length": 4.0, "window_overlap": 1.0, "window_min_tail": 1.0, "frames_per_window": 1, "frame_max_side": 128}
CYRILLIC = re.compile(r"[А-Яа-яЁё]")

RU_SPEECH = "Сегодня хорошая погода. Мы идём гулять в парк."
# Cue texts on purpose differ from the speech, so a transcript shows where it came from.
RU_CUES = [(0.3, 2.5, "Сегодня хорошая погода."), (2.6, 5.5, "Мы идём гулять в парк.")]
EN_CUES = [(0.3, 2.5, "The weather is nice today."), (2.6, 5.5, "We are going for a walk in the park.")]

ASS_HEAD = ("[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, "
            "SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, "
            "Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\nStyle: Default,Arial,"
            "20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1\n\n[Events]\n"
            "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n")


def _ts(t: float, sep: str) -> str:
    ms = round(t * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def srt(cues) -> str:
    return "".join(f"{i}\n{_ts(a, ',')} --> {_ts(b, ',')}\n{t}\n\n" for i, (a, b, t) in enumerate(cues, 1))


def vtt(cues) -> str:
    return "WEBVTT\nKind: captions\nLanguage: xx\n\n" + "".join(f"{_ts(a, '.')} --> {_ts(b, '.')}\n{t}\n\n" for a, b, t in cues)


def ass(cues) -> str:
    def t(x: float) -> str:
        cs = round(x * 100)
        return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"
    return ASS_HEAD + "".join(f"Dialogue: 0,{t(a)},{t(b)},Default,,0,0,0,,{{\\i1}}{x}{{\\i0}}\n" for a, b, x in cues)


def pgs_sup(path: Path) -> Path:
    """A tiny valid PGS (Blu-ray image subtitle) stream: one 4x2 bitmap shown at 1 s, cleared at 2 s."""
    def seg(pts: int, kind: int, payload: bytes) -> bytes:
        return b"PG" + struct.pack(">IIBH", pts, 0, kind, len(payload)) + payload

    def display(pts: int, show: bool) -> bytes:
        pcs = struct.pack(">HHBHBBBB", 320, 240, 0x10, int(not show), 0x80 if show else 0, 0, 0, int(show))
        if show:
            pcs += struct.pack(">HBBHH", 0, 0, 0, 10, 10)
        out = seg(pts, 0x16, pcs) + seg(pts, 0x17, struct.pack(">BBHHHH", 1, 0, 10, 10, 4, 2))
        if show:
            rle = bytes([1, 1, 1, 1, 0, 0]) * 2
            ods = struct.pack(">HBB", 0, 0, 0xC0) + struct.pack(">I", len(rle) + 4)[1:] + struct.pack(">HH", 4, 2) + rle
            out += seg(pts, 0x14, struct.pack(">BBBBBBB", 0, 0, 1, 235, 128, 128, 255)) + seg(pts, 0x15, ods)
        return out + seg(pts, 0x80, b"")

    path.write_bytes(display(90000, True) + display(180000, False))
    return path


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", *args], check=True, capture_output=True)


def video_with_audio(out: Path, wav: Path, *extra_inputs_and_args: str) -> Path:
    """A small test-pattern video over `wav`, with any subtitle inputs and options after it."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:r=5:d=6", "-i", str(wav), *extra_inputs_and_args, str(out))
    return out


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("subs_media")
    wav = d / "ru.wav"
    speak(RU_SPEECH, "ru", wav)
    (d / "ru.srt").write_text(srt(RU_CUES), encoding="utf-8")
    (d / "en.ass").write_text(ass(EN_CUES), encoding="utf-8")
    pgs_sup(d / "img.sup")
    v = "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"
    # MKV: Russian SubRip, an English PGS image track (skipped), English ASS.
    mkv = video_with_audio(d / "lecture.mkv", wav, "-i", str(d / "ru.srt"), "-i", str(d / "img.sup"), "-i", str(d / "en.ass"),
                           "-map", "0:v", "-map", "1:a", "-map", "2", "-map", "3", "-map", "4", *v, "-c:s:0", "srt",
                           "-c:s:1", "copy", "-c:s:2", "ass", "-metadata:s:s:0", "language=rus",
                           "-metadata:s:s:1", "language=eng", "-metadata:s:s:2", "language=eng")
    # MP4: the same Russian track as mov_text.
    mp4 = video_with_audio(d / "clip.mp4", wav, "-i", str(d / "ru.srt"), "-map", "0:v", "-map", "1:a", "-map", "2", *v,
                           "-c:s", "mov_text", "-metadata:s:s:0", "language=rus")
    # A folder of yt-dlp downloads: "Title [id].ext" with "Title [id].<lang>.vtt" beside it.
    ytdlp = d / "downloads"
    ytdlp.mkdir()
    one = video_with_audio(ytdlp / "Прогулка в парке [aBcDeFgHiJk].mp4", wav, "-map", "0:v", "-map", "1:a", *v)
    (ytdlp / "Прогулка в парке [aBcDeFgHiJk].ru.vtt").write_text(vtt(RU_CUES), encoding="utf-8")
    (ytdlp / "Прогулка в парке [aBcDeFgHiJk].en.vtt").write_text(vtt(EN_CUES), encoding="utf-8")
    two = video_with_audio(ytdlp / "Walk two [zYxWvUtSrQp].mp4", wav, "-map", "0:v", "-map", "1:a", *v)
    (ytdlp / "Walk two [zYxWvUtSrQp].ru-orig.vtt").write_text(vtt(RU_CUES), encoding="utf-8")
    (ytdlp / "Walk two [zYxWvUtSrQp].en-US.vtt").write_text(vtt(EN_CUES), encoding="utf-8")
    (ytdlp / "Walk two [zYxWvUtSrQp].info.json").write_text("{}", encoding="utf-8")
    # The config's `subtitles` key: files named nothing like the video.
    plain = video_with_audio(d / "talk.mp4", wav, "-map", "0:v", "-map", "1:a", *v)
    (d / "transcript_for_talk.srt").write_text(srt(RU_CUES), encoding="utf-8")
    (d / "english_for_talk.ass").write_text(ass(EN_CUES), encoding="utf-8")
    bare = video_with_audio(d / "bare.mp4", wav, "-map", "0:v", "-map", "1:a", *v)
    return {"dir": d, "mkv": mkv, "mp4": mp4, "ytdlp_one": one, "ytdlp_two": two, "plain": plain, "bare": bare}


# ---------------------------------------------------------------- parsing (pysubs2)


def test_srt_vtt_and_ass_parse_to_the_same_cues():
    want = [Cue(a, b, t) for a, b, t in EN_CUES]
    assert parse_subtitles(srt(EN_CUES), "x.srt") == want
    assert parse_subtitles(vtt(EN_CUES).encode("utf-8"), "x.vtt") == want
    assert parse_subtitles(ass(EN_CUES), "x.ass") == want
    assert parse_subtitles(srt(EN_CUES), "no ending") == want  # format from the content
    styled = "1\n00:00:01,000 --> 00:00:02,000\n<i>Привет</i> <font color=red>мир</font>\nвторая &amp; строка\n"
    assert parse_subtitles(styled, "x.srt") == [Cue(1.0, 2.0, "Привет мир вторая & строка")]


@pytest.mark.parametrize("text, name, why", [
    ("1\n00:00:01,000 --> 00:00:oops\nhello\n", "bad.srt", "line 2"),
    ("1\n00:00:05,000 --> 00:00:01,000\nbackwards\n", "bad.srt", "ends before it starts"),
    ("00:00:01.000 --> 00:00:02.000\nno header\n", "bad.vtt", "WEBVTT"),
    ("just some notes,\nnot subtitles at all\n", "notes.txt", "not a subtitle file"),
])
def test_malformed_files_raise_naming_the_file(text, name, why):
    with pytest.raises(SubtitleError, match=why) as info:
        parse_subtitles(text, name)
    assert name in str(info.value)
    with pytest.raises(SubtitleError, match="not UTF-8"):
        parse_subtitles(b"1\n00:00:01,000 --> 00:00:02,000\n\xcf\xf0\xe8\xe2\xe5\xf2\n", "cp1251.srt")


def test_language_tags():
    assert [track_language(t) for t in ("ru", "en-US", "ru-orig", "rus", "ENG", "zh-Hans", "und", "live_chat", "")] == \
        ["ru", "en", "ru", "ru", "en", "zh", "", "", ""]


# ---------------------------------------------------------------- discovery


def test_sidecars_plain_and_ytdlp_naming(tmp_path):
    video = tmp_path / "Title [abc123def45].mkv"
    video.write_bytes(b"")
    for name in ("Title [abc123def45].srt", "Title [abc123def45].ru.vtt", "Title [abc123def45].en-US.ass",
                 "Title [abc123def45].kk-orig.srt", "Title [abc123def45].info.json", "Title [abc123def45].final.srt",
                 "Title [abc123def45] (2).ru.srt", "Other.ru.vtt"):
        (tmp_path / name).write_text("x")
    notes: list[str] = []
    found = {Path(t.location).name: t for t in sidecar_tracks(video, notes.append)}
    assert set(found) == {"Title [abc123def45].srt", "Title [abc123def45].ru.vtt", "Title [abc123def45].en-US.ass",
                          "Title [abc123def45].kk-orig.srt"}
    assert found["Title [abc123def45].srt"].video_language and found["Title [abc123def45].srt"].language == ""
    assert (found["Title [abc123def45].ru.vtt"].language, found["Title [abc123def45].ru.vtt"].format) == ("ru", "vtt")
    assert (found["Title [abc123def45].en-US.ass"].language, found["Title [abc123def45].en-US.ass"].format) == ("en", "ass")
    assert found["Title [abc123def45].kk-orig.srt"].original and found["Title [abc123def45].kk-orig.srt"].language == "kk"
    assert len(notes) == 1 and "'final' is not a language tag" in notes[0]


def test_choice_of_the_transcript_track():
    ru = SubtitleTrack("ru", "sidecar", "a.ru.vtt", "vtt", tag="ru")
    ru_emb = SubtitleTrack("ru", "embedded", "a.mkv", "srt", tag="rus", stream=2, codec="subrip")
    en = SubtitleTrack("en", "sidecar", "a.en.vtt", "vtt", tag="en")
    kk_orig = SubtitleTrack("kk", "sidecar", "a.kk-orig.vtt", "vtt", tag="kk-orig", original=True)
    plain = SubtitleTrack("", "config", "t.srt", "srt", video_language=True)
    assert pick_transcript_track([ru_emb, en, ru], "ru") == (ru, "config")  # a sidecar before an embedded track
    assert pick_transcript_track([en, ru, plain], "ru") == (plain, "config")  # the config's own comes first
    assert pick_transcript_track([en], "ru") == (None, "")
    assert pick_transcript_track([en, kk_orig], None) == (kk_orig, "subtitles")  # "-orig" marks the speech
    assert pick_transcript_track([en, ru], None) == (None, "")  # left to language detection
    assert only_language([ru, ru_emb]) == "ru" and only_language([ru, en]) == ""


def test_embedded_text_tracks_found_and_image_tracks_skipped_with_a_note(media):
    streams = subtitle_streams(media["mkv"])
    assert [(s.codec, s.language) for s in streams] == [("subrip", "rus"), ("hdmv_pgs_subtitle", "eng"), ("ass", "eng")]
    notes: list[str] = []
    source = LocalFileSource(media["mkv"])
    tracks = source.subtitle_tracks(media["mkv"], {}, notes.append)
    assert [(t.origin, t.language, t.codec) for t in tracks] == [("embedded", "ru", "subrip"), ("embedded", "en", "ass")]
    assert len(notes) == 1 and "hdmv_pgs_subtitle" in notes[0] and "image" in notes[0]
    ru = parse_subtitles(source.read_subtitles(tracks[0]), tracks[0].label, tracks[0].format)
    en = parse_subtitles(source.read_subtitles(tracks[1]), tracks[1].label, tracks[1].format)
    assert [c.text for c in ru] == [t for _, _, t in RU_CUES] and [c.text for c in en] == [t for _, _, t in EN_CUES]
    # ffmpeg may shift a muxed stream by the video's start delay (tens of ms): timings match to 0.1 s.
    assert all(abs(c.start - a) < 0.1 and abs(c.end - b) < 0.1 for c, (a, b, _) in zip(ru, RU_CUES))
    mp4 = LocalFileSource(media["mp4"]).subtitle_tracks(media["mp4"], {})
    assert [(t.codec, t.language, t.format) for t in mp4] == [("mov_text", "ru", "srt")]
    assert [c.text for c in parse_subtitles(LocalFileSource(media["mp4"]).read_subtitles(mp4[0]), "mp4", "srt")] == \
        [t for _, _, t in RU_CUES]


# ---------------------------------------------------------------- Phase 1, no Whisper


def _config(folder: Path, videos: list[dict]) -> Path:
    return write_config(folder, videos, whisper_model=NO_WHISPER, **WIN)


@pytest.fixture(scope="module")
def subs_run(tmp_path_factory, media) -> dict:
    d = tmp_path_factory.mktemp("subs_run")
    cfg = _config(d, [
        {"name": "mkv_lecture", "path": str(media["mkv"]), "language": "ru"},
        {"name": "ytdlp_one", "path": str(media["ytdlp_one"]), "language": "ru"},
        {"name": "ytdlp_two", "path": str(media["ytdlp_two"])},  # no language: the "-orig" track says it
        {"name": "config_subs", "path": str(media["plain"]), "language": "ru",
         "subtitles": {"": str(media["dir"] / "transcript_for_talk.srt"), "en": str(media["dir"] / "english_for_talk.ass")}},
    ])
    proc = run_cli(PHASE1, "--config", str(cfg))
    recs = {r["name"]: r for r in Store(settings_only(cfg)).list_videos()}
    data = {n: load_phase1_data(d / "data", n) for n in recs if recs[n]["phase1_status"] == "completed"}
    return {"proc": proc, "records": recs, "data": data, "events": read_events(d / "data" / "events.jsonl")}


def test_every_source_uses_its_subtitles_with_no_whisper_pass(subs_run):
    out = subs_run["proc"].stdout + subs_run["proc"].stderr
    assert subs_run["proc"].returncode == 0, out  # exit 2 had Whisper been loaded (the model folder does not exist)
    assert sorted(subs_run["data"]) == ["config_subs", "mkv_lecture", "ytdlp_one", "ytdlp_two"], subs_run["records"]
    expected_track = {"mkv_lecture": "stream 2 (subrip, rus)", "ytdlp_one": "Прогулка в парке [aBcDeFgHiJk].ru.vtt",
                      "ytdlp_two": "Walk two [zYxWvUtSrQp].ru-orig.vtt", "config_subs": "transcript_for_talk.srt"}
    expected_english = {"mkv_lecture": "stream 4 (ass, eng)", "ytdlp_one": "Прогулка в парке [aBcDeFgHiJk].en.vtt",
                        "ytdlp_two": "Walk two [zYxWvUtSrQp].en-US.vtt", "config_subs": "english_for_talk.ass"}
    for name, data in subs_run["data"].items():
        rec, t = subs_run["records"][name], data["transcript"]
        assert rec["transcript_source"] == t["source"] == "subtitles", name
        assert t["language"] == rec["transcript_language"] == "ru", name
        assert t["model"].startswith("subtitles:") and t["model"].endswith(expected_track[name]), (name, t["model"])
        assert [s["text"] for s in t["segments"]] == [x for _, _, x in RU_CUES], name
        tr = t["translation"]
        assert tr["language"] == "en" and tr["source"] == "subtitles" and tr["model"].endswith(expected_english[name]), (name, tr)
        assert [s["text"] for s in tr["segments"]] == [x for _, _, x in EN_CUES], name
        windows = data["windows"]
        # Russian words by cue timing, English translation per window; both cover everything the tracks say.
        assert " ".join(w["text"] for w in windows).count("погода") >= 1 and CYRILLIC.search(windows[0]["text"]), name
        english = " ".join(w["translation"] for w in windows)
        assert "weather" in english and "park" in english and not CYRILLIC.search(english), name
        assert {w["translation_source"] for w in windows if w["translation"]} == {"subtitles"}, name
        assert all(w["translation_source"] == "" for w in windows if not w["translation"]), name
        assert "decode_s" not in data["timings"], name  # the audio was never even decoded


def test_image_track_is_skipped_with_a_note(subs_run):
    notes = [e["message"] for e in subs_run["events"] if e["event"] == "WARNING" and e.get("video") == "mkv_lecture"]
    assert any("stream 3" in m and "hdmv_pgs_subtitle" in m and "skipped" in m for m in notes), notes


def test_control_the_same_setup_aborts_when_whisper_is_needed(tmp_path, media):
    """The control for the runs above: a video without subtitles under the same settings needs Whisper, and
    the missing model stops the run (so a 0 exit above means no Whisper pass)."""
    cfg = _config(tmp_path, [{"name": "bare", "path": str(media["bare"]), "language": "ru"}])
    proc = run_cli(PHASE1, "--config", str(cfg))
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 2 and "cannot load Whisper model" in out, out
