"""Which audio track is transcribed and which gives the English text (issue 25: an MKV with a Russian and an
English track used the first only, with no note that the English one exists)."""

from __future__ import annotations

import pytest

from vtdb.config import parse_audio_track, parse_config
from vtdb.media.audio_tracks import AudioTrackError, choose_audio_tracks
from vtdb.media.video import AudioTrack, audio_tracks_of


def _tracks(*languages: str, default: int = 0) -> tuple[AudioTrack, ...]:
    return tuple(AudioTrack(i + 1, lang, default=(i + 1 == default)) for i, lang in enumerate(languages))


def test_the_configured_language_picks_its_track_and_another_in_english_is_the_translation():
    choice = choose_audio_tracks(_tracks("ru", "en"), "", "ru", "en")
    assert (choice.speech.number, choice.english.number, choice.how) == (1, 2, "language")
    choice = choose_audio_tracks(_tracks("en", "ru"), "", "ru", "en")
    assert (choice.speech.number, choice.english.number) == (2, 1)
    note = choice.note()
    assert "track 2 (ru): transcribed" in note and "track 1 (en): used as the English text" in note
    assert "audio_track" in note  # says how to choose another


def test_english_speech_needs_no_english_track_and_translate_never_uses_none():
    choice = choose_audio_tracks(_tracks("en", "de"), "", "en", "en")
    assert choice.speech.number == 1 and choice.english is None
    assert choose_audio_tracks(_tracks("ru", "en"), "", "ru", "en", translate="never").english is None


def test_without_a_language_the_default_track_then_the_first():
    assert choose_audio_tracks(_tracks("de", "en", default=2), "", None, "en").speech.number == 2
    assert choose_audio_tracks(_tracks("", ""), "", None, "en").how == "first"
    one = choose_audio_tracks(_tracks("fr"), "", None, "en")
    assert one.how == "only" and one.note() == ""  # one track: nothing to say


def test_audio_track_by_number_or_language_and_a_missing_one_is_a_clear_error():
    assert choose_audio_tracks(_tracks("ru", "en"), "2", "ru", "en").speech.number == 2
    assert choose_audio_tracks(_tracks("ru", "en", "de"), "de", None, "en").speech.number == 3
    with pytest.raises(AudioTrackError, match=r"audio_track 3: the file has 2 audio tracks \(track 1 \(ru\), track 2 \(en\)\)"):
        choose_audio_tracks(_tracks("ru", "en"), "3", None, "en")
    with pytest.raises(AudioTrackError, match="no audio track is tagged kk"):
        choose_audio_tracks(_tracks("ru", "en"), "kk", None, "en")
    assert choose_audio_tracks((), "", None, "en").speech is None  # no audio at all: nothing to choose


@pytest.mark.parametrize("value, stored", [(2, "2"), ("2", "2"), (" 1 ", "1"), ("eng", "en"), ("English", ""),
                                           ("ru-RU", "ru"), (None, ""), ("", "")])
def test_audio_track_setting_is_read_as_people_type_it(value, stored):
    got, err = parse_audio_track(value)
    if value == "English":  # a language's name is not a tag; said so
        assert err and "neither a track number" in err
    else:
        assert (got, err) == (stored, None)


@pytest.mark.parametrize("value, fragment", [(0, "start at 1"), (True, "track number"), ([2], "got list"),
                                             ("second", "neither a track number")])
def test_a_bad_audio_track_names_the_field_and_the_video(tmp_path, value, fragment):
    config = parse_config({"work_dir": str(tmp_path), "videos": [{"name": "film", "path": "film.mkv", "audio_track": value}]},
                          tmp_path / "videos_config.json", env={})
    assert not config.videos
    text = str(config.invalid_entries[0])
    assert "audio_track" in text and fragment in text and "film" in text


def test_stream_tags_become_languages():
    streams = [{"codec_type": "video"},
               {"codec_type": "audio", "codec_name": "aac", "channels": 2, "tags": {"language": "rus", "title": "Original"}},
               {"codec_type": "audio", "codec_name": "ac3", "tags": {"language": "und"}, "disposition": {"default": 1}},
               {"codec_type": "audio", "tags": {"language": "eng"}}]
    tracks = audio_tracks_of(streams)
    assert [(t.number, t.language) for t in tracks] == [(1, "ru"), (2, ""), (3, "en")]
    assert tracks[0].label() == "track 1 (ru, Original)" and tracks[1].default


def test_a_missing_track_holds_the_video_until_the_entry_is_fixed_then_it_is_reprocessed(tmp_path):
    import json
    import subprocess

    from bench._common import speech_dir
    from conftest import run_cli, write_config
    from vtdb.workfiles import load_phase1_data

    film = tmp_path / "film.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=5:duration=4",
                    "-f", "lavfi", "-i", "sine=frequency=300:duration=4", "-i", str(speech_dir("en") / "en_010.flac"),
                    "-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "libx264", "-c:a", "aac", "-shortest", str(film)],
                   check=True)
    entry = {"name": "film", "path": str(film), "language": "en", "audio_track": 3}
    cfg = write_config(tmp_path, [entry], ocr="off", shots="off")
    res = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
    said = res.stdout + res.stderr
    assert res.returncode == 1 and "audio_track 3: the file has 2 audio tracks (track 1, track 2)" in said, said
    cfg.write_text(cfg.read_text().replace('"audio_track": 3', '"audio_track": "2"'))
    res = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
    said = res.stdout + res.stderr
    assert res.returncode == 0 and "film: reprocessing (its audio_track changed to 2)" in said, said
    data = load_phase1_data(tmp_path / "data", "film")
    assert data["video"]["audio_track_used"] == 2 and data["transcript"]["words"], data["transcript"]
    res = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
    assert res.returncode == 0 and "reprocessing" not in res.stdout + res.stderr
    records = json.loads(run_cli("db_manager.py", "status", "--json", "--config", str(cfg)).stdout)
    assert "track 2: transcribed" in records[0]["audio_tracks"] and "track 1: not used" in records[0]["audio_tracks"]
