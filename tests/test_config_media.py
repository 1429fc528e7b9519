"""The round-2 media settings and keys: whisper_device forms, whisper_batch_size, translate, per-video
subtitles and search_index_dir. Each bad value is a ConfigError naming the field (exit 2 in the CLIs)."""

from __future__ import annotations

import json

import pytest

from vtdb.config import ConfigError, load_config, parse_config, whisper_devices


def settings_of(**values):
    return parse_config({"settings": values, "videos": []}, env={}).settings


@pytest.mark.parametrize("given, stored", [
    ("auto", "auto"), ("CPU", "cpu"), ("cuda", "cuda"), ("cuda:1", "cuda:1"), ([0, 1, 2], "cuda:0,1,2"),
    ("0,1", "cuda:0,1"), ("cuda:0, 2", "cuda:0,2"), ("3", "cuda:3"),
])
def test_whisper_device_forms(given, stored):
    assert settings_of(whisper_device=given).whisper_device == stored
    assert settings_of(whisper_device=given).whisper.device == stored


def test_whisper_device_from_the_environment():
    cfg = parse_config({"settings": {}, "videos": []}, env={"VTDB_WHISPER_DEVICE": "0,1"})
    assert cfg.settings.whisper_device == "cuda:0,1"


@pytest.mark.parametrize("bad, why", [
    ("gpu", "not auto, cpu, cuda"), ("cdua", "did you mean 'cuda'"), ([0, 0], "names a GPU twice"),
    ([], "GPU indices"), (["a"], "GPU indices"), ("cuda:x", "not auto"), ([True], "GPU indices"),
])
def test_bad_whisper_devices_are_clear(bad, why):
    with pytest.raises(ConfigError, match="whisper_device") as err:
        settings_of(whisper_device=bad)
    assert why in str(err.value)


def test_whisper_devices_splits_a_list():
    assert whisper_devices("cuda:0,1,2") == ["cuda:0", "cuda:1", "cuda:2"]
    assert whisper_devices("cuda:1") == ["cuda:1"] and whisper_devices("auto") == ["auto"]


@pytest.mark.parametrize("given, stored", [("auto", "auto"), ("AUTO", "auto"), (0, "0"), (8, "8"), ("16", "16")])
def test_whisper_batch_size(given, stored):
    assert settings_of(whisper_batch_size=given).whisper.batch_size == stored


@pytest.mark.parametrize("bad", [-1, "eight", 1000, 2.5, True])
def test_bad_whisper_batch_size(bad):
    with pytest.raises(ConfigError, match="whisper_batch_size"):
        settings_of(whisper_batch_size=bad)


def test_translate_choices():
    assert settings_of().translate == "auto"
    assert settings_of(translate="never").whisper.translate == "never"
    with pytest.raises(ConfigError, match="translate.*did you mean 'always'"):
        settings_of(translate="alway")


def test_per_video_subtitles_are_resolved_from_the_config_folder(tmp_path):
    path = tmp_path / "videos_config.json"
    path.write_text(json.dumps({"videos": [
        {"name": "one", "path": "a.mp4", "subtitles": "a.srt"},
        {"name": "two", "path": "b.mp4", "subtitles": {"ru": "subs/b.ru.vtt", "EN": "/abs/b.en.srt"}},
        {"name": "bad", "path": "c.mp4", "subtitles": {"xx-yy-zz": "c.srt", "en": ""}},
        {"name": "worse", "path": "d.mp4", "subtitles": 5},
    ]}))
    cfg = load_config(path, env={})
    assert cfg.video("one").subtitles == {"": str(tmp_path / "a.srt")}
    assert cfg.video("two").subtitles == {"ru": str(tmp_path / "subs" / "b.ru.vtt"), "en": "/abs/b.en.srt"}
    problems = {p.name: str(p) for p in cfg.invalid_entries}
    assert "subtitles.xx-yy-zz" in problems["bad"] and "subtitles.en: must be a non-empty path" in problems["bad"]
    assert "subtitles: must be a subtitle file's path or an object" in problems["worse"]


def test_search_index_dir(tmp_path):
    path = tmp_path / "videos_config.json"
    path.write_text(json.dumps({"settings": {"work_dir": "w"}, "videos": []}))
    assert load_config(path, env={}).search_index_dir == tmp_path / "w" / "search_index"
    path.write_text(json.dumps({"settings": {"work_dir": "w", "search_index_dir": "idx"}, "videos": []}))
    cfg = load_config(path, env={})
    assert cfg.search_index_dir == tmp_path / "idx" and cfg.settings.search_index_dir == "idx"
