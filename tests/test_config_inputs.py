"""videos_config.json inputs that used to load but could not work (issue #9): impossible settings,
NaN and infinities, oversized last windows, a BOM, repeated keys, entries with both path and zim,
and language codes in any case."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from vtdb.config import (
    WHISPER_COMPUTE_TYPES,
    WHISPER_MODEL_NAMES,
    ConfigError,
    Settings,
    ZimEntry,
    build_settings,
    load_config,
    parse_config,
)
from vtdb.languages import validate_language
from vtdb.media.windows import plan_windows

ROOT = Path(__file__).resolve().parent.parent
PHASE1 = ROOT / "phase1_whisper_frames.py"


def settings_error(settings: dict, env: dict | None = None) -> str:
    with pytest.raises(ConfigError) as exc:
        build_settings(settings, env=env or {})
    return str(exc.value)


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "videos_config.json"
    path.write_text(text, encoding=encoding)
    return path


# ---------------------------------------------------------------- settings that cannot work


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"whisper_beam_size": 0}, "settings.whisper_beam_size: must be between 1 and 20 (1 = greedy decoding; wider beams only cost time), got 0"),
        ({"whisper_beam_size": 21}, "settings.whisper_beam_size: must be between 1 and 20"),
        ({"whisper_cpu_threads": -2}, "settings.whisper_cpu_threads: must be between 0 and 1024 (0 = all cores), got -2"),
        ({"whisper_compute_type": "banana"}, "settings.whisper_compute_type: 'banana' is not one of auto, default, int8, int8_float32, "
                                             "int8_float16, int8_bfloat16, int16, float16, bfloat16, float32, float"),
        ({"whisper_compute_type": "INT8"}, "did you mean 'int8'?"),
        ({"max_output_tokens": 0}, "settings.max_output_tokens: must be between 64 and 1000000"),
        ({"temperature": 2.5}, "settings.temperature: must be between 0 and 2"),
        ({"temperature": -0.1}, "settings.temperature: must be between 0 and 2"),
        ({"vllm_max_model_len": 100}, "settings.vllm_max_model_len: must be between 1024 and 10000000"),
        ({"vllm_tensor_parallel_size": 0}, "settings.vllm_tensor_parallel_size: must be between 1 and 1024"),
        ({"vllm_batch_windows": 0}, "settings.vllm_batch_windows: must be between 1 and 1000000"),
        ({"image_min_pixels": 0}, "settings.image_min_pixels: must be between 784 and 268435456 (one 28 x 28 patch)"),
        ({"window_length": 0.5, "window_overlap": 0, "window_min_tail": 0}, "settings.window_length: must be between 1 and 3600 (seconds; a shorter window"),
        ({"analyzer": "vlm"}, "settings.analyzer: 'vlm' is not one of auto, vllm, openai, transcript; did you mean 'vllm'?"),
        ({"summary_chunk_chars": 10}, "settings.summary_chunk_chars: must be between 1000 and 100000000, got 10"),
    ],
)
def test_impossible_settings_are_refused_with_the_setting_named(settings, message):
    assert message in settings_error(settings)


def test_environment_values_are_checked_too_and_say_where_they_came_from():
    assert settings_error({}, env={"VTDB_WHISPER_BEAM_SIZE": "0"}).startswith(
        "settings.whisper_beam_size (from environment VTDB_WHISPER_BEAM_SIZE): must be between 1 and 20")


def test_the_documented_defaults_and_the_test_suites_settings_still_load():
    build_settings({}, env={})
    for extra in ({"window_length": 8.0, "window_overlap": 3.0, "window_min_tail": 5.0},  # tests/test_phase1.py
                  {"window_length": 2.0, "window_overlap": 0.5, "window_min_tail": 0.4},  # tests/test_zim.py
                  {"whisper_beam_size": 1, "whisper_cpu_threads": 0, "max_output_tokens": 256, "temperature": 0},
                  {"whisper_compute_type": "int8_float32", "whisper_beam_size": 20, "temperature": 2}):
        build_settings(extra, env={})


def test_compute_types_are_exactly_what_ctranslate2_accepts():
    ctranslate2 = pytest.importorskip("ctranslate2")
    for compute_type in (*WHISPER_COMPUTE_TYPES, "banana"):
        # CTranslate2 parses the compute type before it opens the model, so a missing model
        # folder tells the two apart without loading anything.
        with pytest.raises(Exception) as exc:
            ctranslate2.models.Whisper("/nonexistent-model-folder", device="cpu", compute_type=compute_type)
        assert ("Invalid compute type" in str(exc.value)) == (compute_type == "banana"), (compute_type, exc.value)
        if compute_type != "banana":
            assert build_settings({"whisper_compute_type": compute_type}, env={}).whisper_compute_type == compute_type


# ---------------------------------------------------------------- whisper_model


def test_model_names_match_faster_whisper():
    utils = pytest.importorskip("faster_whisper.utils")
    assert list(WHISPER_MODEL_NAMES) == utils.available_models()


@pytest.mark.parametrize("name", [*WHISPER_MODEL_NAMES, "bundled", "bundled-base", "Systran/faster-whisper-small",
                                  "deepdml/faster-whisper-large-v3-turbo-ct2"])
def test_model_sizes_the_bundled_aliases_and_repo_ids_are_accepted(name):
    warnings: list[str] = []
    assert build_settings({"whisper_model": name}, env={}, warnings=warnings).whisper_model == name
    assert warnings == []


@pytest.mark.parametrize("name, suggestion", [("larg-v3", "large-v3"), ("Base", "base"), ("medum", "medium"), ("lrage", "large")])
def test_unknown_model_names_are_refused_with_a_suggestion(name, suggestion):
    message = settings_error({"whisper_model": name})
    assert message.startswith(f"settings.whisper_model: {name!r} is not a faster-whisper model; did you mean {suggestion!r}? Use a model size (tiny.en, tiny,")
    assert "a Hugging Face repo id such as 'Systran/faster-whisper-small', or a local CTranslate2 model folder" in message


def test_an_unknown_name_without_a_near_miss_says_what_is_accepted():
    message = settings_error({"whisper_model": "banana"})
    assert message.startswith("settings.whisper_model: 'banana' is not a faster-whisper model. Use a model size (")
    assert "'base' is bundled and works offline" in message and "turbo" in message


def test_local_model_folders(tmp_path):
    good = tmp_path / "ct2-model"
    good.mkdir()
    (good / "model.bin").write_bytes(b"weights")
    assert build_settings({"whisper_model": str(good)}, env={}).whisper_model == str(good)
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    assert "has no model.bin (expected a CTranslate2 model folder)" in settings_error({"whisper_model": str(empty)})
    assert "is a file; use a CTranslate2 model folder" in settings_error({"whisper_model": str(good / "model.bin")})


def test_a_model_folder_that_does_not_exist_yet_is_a_warning(tmp_path):
    # tests/test_zim.py relies on this: ZIM videos with subtitles never load Whisper.
    missing = str(tmp_path / "no-such-whisper-model")
    warnings: list[str] = []
    assert build_settings({"whisper_model": missing}, env={}, warnings=warnings).whisper_model == missing
    assert warnings == [f"settings.whisper_model: folder {missing!r} does not exist (yet); transcription fails until it holds a CTranslate2 model"]


def test_an_empty_model_name_is_refused():
    assert settings_error({"whisper_model": "  "}) == "settings.whisper_model: must not be empty"


# ---------------------------------------------------------------- NaN and infinities

FLOAT_SETTINGS = [f.name for f in fields(Settings) if "float" in str(f.type)]


@pytest.mark.parametrize("name", FLOAT_SETTINGS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_every_float_setting_refuses_nan_and_infinity_under_its_own_name(name, value):
    assert settings_error({name: value}) == f"settings.{name}: must be a finite number, got {value!r}"


def test_nan_in_the_file_and_the_environment(tmp_path):
    path = write(tmp_path, '{"settings": {"window_length": NaN}, "videos": []}')
    with pytest.raises(ConfigError, match=r"^settings\.window_length: must be a finite number, got nan$"):
        load_config(path, env={})
    message = settings_error({}, env={"VTDB_TEMPERATURE": "inf"})
    assert message == "environment VTDB_TEMPERATURE -> temperature: must be a finite number, got 'inf'"


def test_numbers_too_large_for_a_float_are_a_config_error_not_a_crash():
    assert settings_error({"timeout_floor": 10**400}).startswith("settings.timeout_floor: ")


# ---------------------------------------------------------------- windows


def test_window_min_tail_longer_than_the_stride_is_refused():
    # Before: accepted, and a 100 s video became [0, 10], [7, 17], ... then one last window of up to 30 s.
    message = settings_error({"window_length": 10, "window_overlap": 3, "window_min_tail": 20})
    assert message.startswith("settings.window_min_tail: must be at most the stride, window_length - window_overlap (7 s), got 20")
    assert "stretch it up to 30 s" in message
    assert "settings.window_min_tail" in settings_error({"window_length": 10, "window_overlap": 3, "window_min_tail": 7.5})


def test_with_an_accepted_min_tail_only_the_last_window_is_longer_and_by_less_than_a_stride():
    s = build_settings({"window_length": 10, "window_overlap": 3, "window_min_tail": 7}, env={})  # tail == stride: allowed
    stride = s.window_length - s.window_overlap
    for tenth in range(1, 1000):
        spans = plan_windows(tenth / 10, s.window_length, s.window_overlap, s.window_min_tail)
        assert all(w.duration <= s.window_length for w in spans[:-1])
        assert spans[-1].duration < s.window_length + stride


# ---------------------------------------------------------------- the file itself


def test_a_config_saved_with_a_utf8_bom_loads(tmp_path):
    text = json.dumps({"settings": {"fallback_language": "ru"}, "videos": [{"name": "чай", "path": "tea.mp4", "language": "ru"}]},
                      ensure_ascii=False)
    path = write(tmp_path, text, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    config = load_config(path, env={})
    assert [v.name for v in config.videos] == ["чай"] and config.settings.fallback_language == "ru"


def test_repeated_keys_are_warnings_that_say_which_and_where(tmp_path):
    text = """{
      "settings": {"window_length": 40, "window_length": 30, "jpeg_quality": 80},
      "videos": [
        {"name": "a", "path": "a.mp4", "title": "first", "title": "second", "title": "third"},
        {"name": "b", "path": "b.mp4", "extra": {"k": 1, "k": 2}, "extra": 1},
        {"name": "c", "path": "c.mp4", "description": "%s", "description": "short"}
      ],
      "videos": [
        {"name": "a", "path": "a.mp4", "title": "first", "title": "second", "title": "third"},
        {"name": "b", "path": "b.mp4", "extra": {"k": 1, "k": 2}, "extra": 1},
        {"name": "c", "path": "c.mp4", "description": "short", "description": "%s"}
      ]
    }""" % ("x" * 10, "y" * 60)
    config = load_config(write(tmp_path, text), env={})
    assert config.settings.window_length == 30
    assert [v.title for v in config.videos] == ["third", "", ""]
    duplicates = [w for w in config.warnings if "appears" in w]
    assert duplicates == [
        "top level: key 'videos' appears twice; the last value ([{\"name\": \"a\", \"path\": \"a.mp4\", \"titl...) is used",
        "settings: key 'window_length' appears twice; the last value (30) is used",
        "videos[0]: key 'title' appears 3 times; the last value (\"third\") is used",
        "videos[1]: key 'extra' appears twice; the last value (1) is used",
        f"videos[2]: key 'description' appears twice; the last value (\"{'y' * 36}...) is used",  # cut at 40 characters
    ]


def test_a_file_without_repeated_keys_gets_no_such_warning(tmp_path):
    path = write(tmp_path, json.dumps({"settings": {"window_length": 30}, "videos": [{"name": "a", "path": "a.mp4"}]}))
    assert load_config(path, env={}).warnings == []


# ---------------------------------------------------------------- entries


def test_an_entry_with_both_path_and_zim_is_an_entry_problem():
    config = parse_config({"videos": [
        {"name": "mixed", "path": "a.mp4", "zim": "archive.zim"},
        {"path": "b.mp4", "zim": "archive.zim"},
        {"name": "fine", "path": "c.mp4"},
    ]}, env={})
    assert [v.name for v in config.videos] == ["fine"] and [e.kind for e in config.entries] == ["file"]
    assert [str(p) for p in config.invalid_entries] == [
        "videos[0] ('mixed'): has both 'path' and 'zim': a video entry has 'path', an archive entry has 'zim'; split it into two entries",
        "videos[1]: has both 'path' and 'zim': a video entry has 'path', an archive entry has 'zim'; split it into two entries",
    ]
    assert not any("zim" in w for w in config.warnings)


# ---------------------------------------------------------------- languages in any case


@pytest.mark.parametrize("value, code", [("EN", "en"), ("En", "en"), (" ru ", "ru"), ("YUE", "yue"), ("AUTO", None)])
def test_validate_language_accepts_any_case(value, code):
    assert validate_language(value) == (code, None)


def test_near_misses_still_get_a_suggestion_in_any_case():
    assert validate_language("RUS") == (None, "'RUS' is not a Whisper language code; did you mean 'ru'?")
    assert validate_language("en-US")[1] == "'en-US' is not a Whisper language code; did you mean 'en'?"


def test_settings_and_entries_take_languages_in_any_case_and_store_the_code():
    config = parse_config({"settings": {"fallback_language": "EN", "output_language": "Ru"},
                           "videos": [{"name": "a", "path": "a.mp4", "language": "KK"},
                                      {"name": "z", "zim": "archive.zim", "language": "EN"}]}, env={})
    assert (config.settings.fallback_language, config.settings.output_language) == ("en", "ru")
    file_entry, zim_entry = config.entries
    assert (file_entry.kind, zim_entry.kind) == ("file", "zim")
    assert config.videos[0].language == "kk" and isinstance(zim_entry, ZimEntry) and zim_entry.language == "en"
    assert build_settings({}, env={"VTDB_FALLBACK_LANGUAGE": "RU"}).fallback_language == "ru"
    assert "settings.fallback_language: 'Rus' is not a Whisper language code; did you mean 'ru'?" == settings_error({"fallback_language": "Rus"})


# ---------------------------------------------------------------- through a CLI


def run_phase1(config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "COLUMNS": "400"}
    return subprocess.run([sys.executable, str(PHASE1), "--config", str(config), "--dry-run"], cwd=config.parent,
                          capture_output=True, text=True, timeout=120, env=env)


def test_the_cli_exits_2_on_an_impossible_setting_and_prints_repeated_key_warnings(tmp_path):
    base = {"work_dir": str(tmp_path / "data"), "chroma_dir": str(tmp_path / "db")}
    bad = write(tmp_path, json.dumps({"settings": {**base, "whisper_compute_type": "banana"}, "videos": []}))
    proc = run_phase1(bad)
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 2, out
    assert "config error: settings.whisper_compute_type: 'banana' is not one of auto, default, int8" in out
    assert "Traceback" not in out and not (tmp_path / "db").exists()

    text = json.dumps({"settings": base, "videos": []})[:-1] + ', "videos": []}'
    proc = run_phase1(write(tmp_path, text, encoding="utf-8-sig"))
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 0, out
    assert "config warning: top level: key 'videos' appears twice; the last value ([]) is used" in out
