"""Names taken from file names are made safe, not refused (issue 25: a Cyrillic file name with an apostrophe)."""

from __future__ import annotations

from pathlib import Path

from vtdb.config import parse_config


def _parse(videos: list[dict]):
    return parse_config({"videos": videos}, Path("/tmp/videos_config.json"), env={})


def test_an_entry_without_a_name_takes_its_file_name_made_safe():
    config = _parse([{"path": "/archive/Интерв'ю 1986 (часть 1).mp4"}, {"path": "/archive/plain.mkv"}])
    assert [v.name for v in config.videos] == ["Интерв_ю_1986_часть_1", "plain"]
    assert not config.invalid_entries
    assert any("no name, so it is 'Интерв_ю_1986_часть_1'" in w for w in config.warnings), config.warnings


def test_an_unsafe_name_given_is_refused_with_a_safe_one_suggested():
    config = _parse([{"name": "O'Brien talk", "path": "/v/x.mp4"}, {"name": "good", "path": "/v/y.mp4"}])
    assert [v.name for v in config.videos] == ["good"]  # the other entry goes on
    [problem] = config.invalid_entries
    assert "U+0027 APOSTROPHE" in problem.messages[0] and "for example 'O_Brien_talk'" in problem.messages[0]


def test_two_files_with_the_same_stem_are_not_silently_merged():
    config = _parse([{"path": "/a/talk.mp4"}, {"path": "/b/talk.mp4"}])
    assert len(config.videos) + len(config.invalid_entries) == 2
    assert len({v.name for v in config.videos}) == len(config.videos)
    assert config.invalid_entries and "talk" in " ".join(config.invalid_entries[0].messages)
