"""Subtitles out (issue 24): cues from word timestamps and from translation segments, within the limits
(<= 7 s, <= 2 lines of <= 42 characters, no cue across a shot cut), WebVTT and SRT that parse with pysubs2,
and no markup carried from a source into a page."""

from __future__ import annotations

import pysubs2
import pytest

from vtdb.formats.subtitles import (
    MAX_CUE_SECONDS,
    MAX_LINE_CHARS,
    SubtitleError,
    cues_from_segments,
    cues_from_words,
    render,
    subtitle_tracks,
    to_webvtt,
    write_subtitle_files,
)
from vtdb.workfiles import SpokenWord, TimedText, TranscriptPart


def _words(text: str, start: float, step: float = 0.4) -> list[SpokenWord]:
    return [SpokenWord(start + i * step, start + i * step + step * 0.8, " " + w, 0.9) for i, w in enumerate(text.split())]


def _plain(words: list[SpokenWord]) -> list[dict]:
    return [w.to_plain() for w in words]


def _segments(*plain: dict) -> list[TimedText]:
    return [TimedText.from_plain(p) for p in plain]


def _tracks(data: dict):
    """The tracks of a Phase 1 file given as its plain data (its transcript and shots)."""
    shots = [tuple(shot) for shot in data["shots"]] if data.get("shots") is not None else None
    return subtitle_tracks(TranscriptPart.from_plain(data["transcript"]), shots)


def _within_limits(cues) -> None:
    for cue in cues:
        lines = cue.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= MAX_LINE_CHARS for line in lines), cue
        assert 0 < cue.end - cue.start <= MAX_CUE_SECONDS + 1e-6, cue
    assert all(a.end <= b.start + 1e-6 for a, b in zip(cues, cues[1:])), cues


def test_words_make_cues_within_the_limits_and_break_at_pauses():
    speech = ("Fill a large pot with water and bring it to a rolling boil. Add a good handful of salt, because the "
              "pasta absorbs the salty water as it cooks. Stir it now and then.")
    words = _words(speech, 1.0) + _words("Now the sauce.", 40.0)
    cues = cues_from_words(words)
    _within_limits(cues)
    assert " ".join(c.text.replace("\n", " ") for c in cues) == speech + " Now the sauce."
    assert cues[-1].text == "Now the sauce." and cues[-1].start == 40.0  # the pause started a cue
    assert all(c.start >= 1.0 and c.end <= 40.0 + 3 * 0.4 for c in cues)


def test_no_cue_crosses_a_shot_cut():
    words = _words("one two three four five six", 0.0, step=0.5)  # 0.0 .. 2.9 s
    cues = cues_from_words(words, cuts=[1.45])
    assert [c.text for c in cues] == ["one two three", "four five six"]
    assert cues[0].end <= 1.45 <= cues[1].start


def test_segments_are_cut_into_cues_by_time_and_length():
    text = " ".join(f"word{i}" for i in range(60))  # ~400 characters over 20 s
    cues = cues_from_segments(_segments({"start": 5.0, "end": 25.0, "text": text}, {"start": 30.0, "end": 31.0, "text": "Short."},
                               {"start": 32.0, "end": 33.0, "text": "Thank you.", "unsure": "stock phrase"}))
    _within_limits(cues)
    assert cues[0].start == 5.0 and cues[-2].end == 25.0 and cues[-1].text == "Short."
    assert " ".join(c.text.replace("\n", " ") for c in cues[:-1]) == text
    assert "Thank you." not in [c.text for c in cues]  # likely invented: never a subtitle


def test_markup_and_controls_never_reach_the_file():
    cues = cues_from_segments(_segments({"start": 0, "end": 2, "text": "pasta <img src=x onerror=alert(2)> & <b>bold</b>\x1b]52;c;x\x07"}))
    vtt = to_webvtt(cues)
    assert "<" not in vtt.split("\n", 2)[2] and "&lt;img src=x onerror=alert(2)&gt;" in vtt and "&amp;" in vtt
    assert "\x1b" not in vtt and "\x07" not in vtt
    parsed = pysubs2.SSAFile.from_string(vtt, format_="vtt")
    assert len(parsed) == 1


def test_both_formats_parse_and_keep_the_times(tmp_path):
    cues = cues_from_words(_words("Guten Tag. Wie geht es Ihnen heute?", 3.25))
    for fmt in ("vtt", "srt"):
        parsed = pysubs2.SSAFile.from_string(render(cues, fmt), format_=fmt)
        assert [(e.start, e.end) for e in parsed] == [(round(c.start * 1000), round(c.end * 1000)) for c in cues]
        assert [e.plaintext for e in parsed] == [c.text for c in cues]
    with pytest.raises(SubtitleError, match="unknown subtitle format 'ass'"):
        render(cues, "ass")


def test_tracks_of_a_work_file_the_spoken_language_and_english(tmp_path):
    data = {"transcript": {"language": "de", "words": _plain(_words("Guten Tag.", 1.0) + _words("Danke.", 9.0)),
                           "segments": [{"start": 1.0, "end": 2.0, "text": "Guten Tag."},
                                        {"start": 9.0, "end": 9.5, "text": "Danke.", "unsure": "stock phrase"}],
                           "translation": {"language": "en", "segments": [{"start": 1.0, "end": 2.0, "text": "Good day."}]}},
            "shots": [[0.0, 5.0], [5.0, 12.0]]}
    tracks = _tracks(data)
    assert list(tracks) == ["de", "en"]
    assert [c.text for c in tracks["de"]] == ["Guten Tag."]  # the unsure segment's words are left out
    assert [c.text for c in tracks["en"]] == ["Good day."]
    written = write_subtitle_files(tmp_path, "talk", tracks)
    assert sorted(p.name for p in written) == ["talk.de.srt", "talk.de.vtt", "talk.en.srt", "talk.en.vtt"]
    english_only = {"transcript": {"language": "en", "words": _plain(_words("Hello there.", 0.0)),
                                   "translation": None}, "shots": None}
    assert list(_tracks(english_only)) == ["en"]
    assert _tracks({"transcript": {"language": None, "words": [], "segments": []}}) == {}


def test_rewriting_removes_the_tracks_a_video_lost_and_leaves_other_videos_alone(tmp_path):
    from vtdb.formats.subtitles import existing_subtitle_files

    cues = cues_from_segments(_segments({"start": 0, "end": 1, "text": "Hallo."}))
    write_subtitle_files(tmp_path, "talk", {"de": cues, "en": cues})
    write_subtitle_files(tmp_path, "talk.en", {"de": cues})  # another video whose name has a dot
    write_subtitle_files(tmp_path, "talk", {"de": cues})
    assert [p.name for p in existing_subtitle_files(tmp_path, "talk")] == ["talk.de.srt", "talk.de.vtt"]
    assert [p.name for p in existing_subtitle_files(tmp_path, "talk.en")] == ["talk.en.de.srt", "talk.en.de.vtt"]
