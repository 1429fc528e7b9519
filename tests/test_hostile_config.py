"""Hostile and careless config inputs (issue #26, items 5-7 and the config's weaker answers): one bad entry
or one odd setting is a clear, specific error (which video, which field, what to do) and never a traceback;
the other videos go on."""

from __future__ import annotations

import json
import os
import unicodedata
from dataclasses import fields

import pytest

from conftest import run_cli, write_config
from vtdb.atomic import _short_host, temp_path_for
from vtdb.config import ConfigError, Settings, build_settings, load_config, parse_config
from vtdb.languages import validate_language
from vtdb.naming import MAX_NAME_BYTES, UnsafeNameError, check_name, sanitize_name
from vtdb.phases.phase4 import report_path
from vtdb.workfiles import phase1_data_path, phase2_analysis_path


def entries(*videos: dict, settings: dict | None = None, env: dict | None = None):
    return parse_config({"settings": settings or {}, "videos": list(videos)}, None, env or {})


def problems_of(config) -> dict[int, str]:
    return {p.index: str(p) for p in config.invalid_entries}


# ---------------------------------------------------------------- item 5: NUL, surrogates, controls per entry


@pytest.mark.parametrize("entry, field, what", [
    ({"name": "a", "path": "/v/a\x00.mp4"}, "path: contains a NUL byte (\\x00) at character 5", "fix the path"),
    ({"name": "a", "path": "/v/a.mp4", "title": "bad \ud800 title"}, "title: contains a lone surrogate (\\ud800) at character 5",
     "remove it from title"),
    ({"name": "a", "path": "/v/a.mp4", "title": "x\x1b]52;c;aGVsbG8=\x07"}, "title: contains the control character \\x1b", "remove it"),
    ({"name": "a", "path": "/v/a.mp4", "description": "\x9b31m"}, "description: contains the control character \\x9b", "remove it"),
    ({"name": "a", "path": "/v/a.mp4", "subtitles": {"ru": "/v/a\x00.srt"}}, "subtitles.ru: contains a NUL byte", "fix the subtitle"),
    ({"name": "a", "path": "/v/a.mp4", "language": "r\x00u"}, "language: contains a NUL byte", "remove it from language"),
    ({"name": "a\ud800", "path": "/v/a.mp4"}, "name: contains a lone surrogate", "give the video another name"),
    ({"name": "a", "path": "/v/a.mp4", "ti\ud800tle": "x"}, "the key 'ti\\ud800tle' contains a lone surrogate", "fix the key"),
    ({"zim": "/v/a\x00.zim"}, "zim: contains a NUL byte", "fix the archive's path"),
    ({"zim": "/v/a.zim", "include": ["ok", "b\x07d"]}, "include[1]: contains the control character \\x07", "remove it"),
])
def test_a_bad_character_in_one_entry_skips_that_entry_only_and_says_which_field_and_what_to_do(entry, field, what):
    config = entries({"name": "good", "path": "/v/good.mp4"}, entry, {"name": "also_good", "path": "/v/b.mp4"})
    assert [v.name for v in config.videos] == ["good", "also_good"]
    problem = problems_of(config)[1]
    assert problem.startswith("videos[1]") and field in problem and what in problem, problem
    problem.encode("utf-8")  # printable and writable: no lone surrogate in the message itself


def test_tabs_and_line_breaks_are_fine_in_free_text_but_not_in_paths():
    config = entries({"name": "a", "path": "/v/a.mp4", "title": "Part 1\tintro", "description": "line 1\nline 2\r\n"},
                     {"name": "b", "path": "/v/b\n.mp4"})
    assert [v.name for v in config.videos] == ["a"]
    assert "path: contains the control character \\x0a" in problems_of(config)[1]


def test_a_nul_in_work_dir_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match=r"settings\.work_dir: '\./da\\x00ta' contains a NUL byte"):
        build_settings({"work_dir": "./da\x00ta"}, env={})
    with pytest.raises(ConfigError, match=r"settings\.chroma_dir \(from environment VTDB_CHROMA_DIR\): .* lone surrogate"):
        build_settings({}, env={"VTDB_CHROMA_DIR": "/x/\udcff"})


def test_phase1_with_a_nul_path_and_a_surrogate_title_still_registers_and_processes_the_good_video(tmp_path, silent_video):
    cfg = tmp_path / "videos_config.json"
    text = json.dumps({"settings": {"work_dir": str(tmp_path / "data"), "chroma_dir": str(tmp_path / "chroma"),
                                    "ocr": "off", "shots": "off"},
                       "videos": [{"name": "nul_path", "path": str(silent_video) + "\u0000.mp4"},
                                  {"name": "surrogate_title", "path": str(silent_video), "title": "\ud800"},
                                  {"name": "good", "path": str(silent_video)}]})
    assert "\\u0000" in text and "\\ud800" in text  # the JSON escapes a user (or a script) would write
    cfg.write_text(text)
    res = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
    out = res.stdout + res.stderr
    assert "Traceback" not in out, out
    assert res.returncode == 1, out  # some entries were invalid: exit 1, as documented
    assert "videos[0] ('nul_path'): path: contains a NUL byte" in out and "this video is skipped" in out
    assert "videos[1] ('surrogate_title'): title: contains a lone surrogate (\\ud800)" in out
    status = run_cli("db_manager.py", "status", "--json", "--config", str(cfg))
    records = {r["name"]: r for r in json.loads(status.stdout)}
    assert set(records) == {"good"} and records["good"]["phase1_status"] == "completed"


# ---------------------------------------------------------------- item 6 and bounds: numbers


@pytest.mark.parametrize("value", ["²", "١٢", "1_000", "0x10", "٣", "8.0"])
def test_batch_sizes_that_are_not_ascii_digits_are_config_errors(value):
    with pytest.raises(ConfigError, match="settings.whisper_batch_size: must be 'auto', 0 .* up to 256"):
        build_settings({"whisper_batch_size": value}, env={})


@pytest.mark.parametrize("env, message", [
    ({"VTDB_WHISPER_BEAM_SIZE": "²"}, "whisper_beam_size: '²' is not a valid int (a whole number in ASCII digits 0-9)"),
    ({"VTDB_WHISPER_BEAM_SIZE": "٣"}, "whisper_beam_size: '٣' is not a valid int"),
    ({"VTDB_MAX_ATTEMPTS": "1_0"}, "max_attempts: '1_0' is not a valid int"),
    ({"VTDB_TEMPERATURE": "٠.٥"}, "temperature: '٠.٥' is not a valid float (a number in ASCII digits, e.g. 2.5)"),
    ({"VTDB_CHROMA_PORT": "9" * 5000}, "chroma_port: '99999999"),
])
def test_numbers_from_the_environment_take_ascii_digits_only(env, message):
    with pytest.raises(ConfigError) as exc:
        build_settings({}, env=env)
    assert message in str(exc.value)


def test_a_5000_digit_number_in_the_file_is_a_config_error_not_a_traceback(tmp_path):
    path = tmp_path / "videos_config.json"
    path.write_text('{"settings": {"whisper_beam_size": ' + "9" * 5000 + '}, "videos": []}')
    with pytest.raises(ConfigError, match="invalid JSON: Exceeds the limit"):
        load_config(path, env={})


def test_every_numeric_setting_has_an_upper_bound():
    unbounded = [f.name for f in fields(Settings) if f.type in ("int", "float", "float | None", "int | None")
                 and f.metadata.get("le") is None]
    assert unbounded == []


@pytest.mark.parametrize("settings, message", [
    ({"whisper_cpu_threads": 1e30}, "settings.whisper_cpu_threads: must be between 0 and 1024 (0 = all cores)"),
    ({"openai_concurrency": 10**9}, "settings.openai_concurrency: must be between 1 and 1024"),
    ({"heartbeat_lease": 1e12}, "settings.heartbeat_lease: must be > 0 and <= 2592000 (seconds), got 1e+12"),
    ({"max_attempts": 10**6}, "settings.max_attempts: must be between 1 and 1000"),
])
def test_huge_numbers_are_refused_naming_the_field_and_the_range(settings, message):
    with pytest.raises(ConfigError) as exc:
        build_settings(settings, env={})
    assert message in str(exc.value)


def test_settings_given_as_an_array_are_refused():
    with pytest.raises(ConfigError, match=r"settings: must be an object .* got an array"):
        parse_config({"settings": [], "videos": []}, None, {})


# ---------------------------------------------------------------- item 7: names in bytes, with room for suffixes


def test_the_longest_allowed_name_fits_every_work_file_and_its_temp_name_on_a_real_file_system(tmp_path):
    name = "й" * (MAX_NAME_BYTES // 2)  # 2 bytes each in UTF-8
    assert check_name(name) == name
    work = tmp_path / "work"
    (work / "reports").mkdir(parents=True)
    finals = [phase1_data_path(work, name), phase2_analysis_path(work, name), report_path(work, name),
              work / f"{name}.html"]
    for final in finals:
        tmp = temp_path_for(final)
        # The temp tail with the longest host and pid a Linux machine can have.
        worst = tmp.name.replace(f".{_short_host()}.", "." + "h" * 64 + ".").replace(f".{os.getpid()}.", ".4194304.")
        assert len(worst.encode()) <= 255, (final.name, len(worst.encode()))
        (final.parent / worst).write_bytes(b"x")  # the real file system agrees
        final.write_bytes(b"x")


def test_a_name_too_long_in_bytes_is_refused_at_config_time_with_the_byte_count():
    long_name = "й" * 120  # 120 characters, 240 bytes: passed the old 120-character limit
    config = entries({"name": long_name, "path": "/v/a.mp4"}, {"name": "ok", "path": "/v/b.mp4"})
    assert [v.name for v in config.videos] == ["ok"]
    problem = problems_of(config)[0]
    assert f"is 240 bytes long in UTF-8 (120 characters); the limit is {MAX_NAME_BYTES} bytes" in problem


def test_names_made_from_archive_titles_are_cut_in_bytes():
    made = sanitize_name("Очень длинное название видео " * 10)
    assert len(made.encode()) <= MAX_NAME_BYTES
    assert check_name(made) == made


# ---------------------------------------------------------------- names: NFC, Windows devices, case


def test_a_name_typed_in_nfd_is_the_same_name_in_nfc():
    nfd = unicodedata.normalize("NFD", "урок_й")
    assert nfd != "урок_й"
    config = entries({"name": nfd, "path": "/v/a.mp4"})
    assert [v.name for v in config.videos] == ["урок_й"]
    with pytest.raises(UnsafeNameError, match="not in Unicode NFC form"):
        check_name(nfd)  # callers that skip the config's normalization are told why


def test_a_combining_mark_without_a_composed_letter_is_refused_saying_which():
    with pytest.raises(UnsafeNameError, match=r"U\+0306 COMBINING BREVE"):
        check_name("x\u0306y")


@pytest.mark.parametrize("name", ["CON", "nul", "Aux.mp4", "com1", "LPT9", "nul."])
def test_windows_device_names_are_refused(name):
    config = entries({"name": name, "path": "/v/a.mp4"})
    assert not config.videos
    assert "device name Windows reserves" in problems_of(config)[0]


def test_names_that_differ_only_by_case_are_refused():
    config = entries({"name": "Lecture", "path": "/v/a.mp4"}, {"name": "lecture", "path": "/v/b.mp4"})
    assert [v.name for v in config.videos] == ["Lecture"]
    assert "'lecture' differs from videos[0] ('Lecture') only by case" in problems_of(config)[1]


def test_two_names_for_one_file_are_a_warning():
    config = entries({"name": "a", "path": "/v/same.mp4"}, {"name": "b", "path": "/v/./same.mp4"})
    assert [v.name for v in config.videos] == ["a", "b"]
    assert any("videos[0] ('a'), videos[1] ('b') name the same file /v/same.mp4" in w for w in config.warnings)


# ---------------------------------------------------------------- languages, hosts, environment


def test_kz_suggests_kk():
    assert validate_language("kz") == (None, "'kz' is not a Whisper language code; did you mean 'kk'?")
    config = entries({"name": "a", "path": "/v/a.mp4", "language": "KZ"})
    assert "did you mean 'kk'?" in problems_of(config)[0]


@pytest.mark.parametrize("value, host, port", [
    ("http://127.0.0.1:8000", "127.0.0.1", 8000),
    ("http://chroma.local:9001/", "chroma.local", 9001),
    ("127.0.0.1:8123", "127.0.0.1", 8123),
    ("chroma.local", "chroma.local", 8000),
    ("http://[::1]:8555", "[::1]", 8555),
])
def test_chroma_host_as_a_url_is_understood(value, host, port):
    settings = build_settings({}, env={"CHROMA_HOST": value})
    assert (settings.chroma_host, settings.chroma_port) == (host, port)


@pytest.mark.parametrize("value, message", [
    ("https://db.example:8000", "only http:// is supported"),
    ("http://h:8000/api/v2", "with no path or user"),
    ("http://h:99999", "not a host name or an http:// URL"),
])
def test_chroma_host_urls_that_cannot_work_are_config_errors(value, message):
    with pytest.raises(ConfigError, match="settings.chroma_host") as exc:
        build_settings({}, env={"CHROMA_HOST": value})
    assert message in str(exc.value)


def test_misspelled_vtdb_variables_are_warned_about_with_a_suggestion():
    warnings: list[str] = []
    build_settings({}, env={"VTDB_WHISPER_MODLE": "small", "VTDB_CACHE_DIR": "/tmp/x", "VTDB_ALLOW_DOWNLOADS": "1"},
                   warnings=warnings)
    assert warnings == ["environment VTDB_WHISPER_MODLE: not a setting, ignored; did you mean 'VTDB_WHISPER_MODEL'?"]
    warnings.clear()
    build_settings({"whisper_modle": "small"}, env={}, warnings=warnings)
    assert warnings == ["settings.whisper_modle: unknown setting, ignored; did you mean 'whisper_model'?"]


def test_the_cli_prints_the_variable_warning_and_a_setting_error_exits_2(tmp_path):
    cfg = write_config(tmp_path, [])
    res = run_cli("phase1_whisper_frames.py", "--config", str(cfg), "--dry-run", env={"VTDB_MAX_ATEMPTS": "9"})
    assert res.returncode == 0, res.stderr
    assert "VTDB_MAX_ATEMPTS: not a setting, ignored; did you mean 'VTDB_MAX_ATTEMPTS'?" in res.stderr
    res = run_cli("phase1_whisper_frames.py", "--config", str(cfg), "--dry-run", env={"VTDB_WHISPER_BATCH_SIZE": "²"})
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "settings.whisper_batch_size (from environment VTDB_WHISPER_BATCH_SIZE)" in res.stderr


def test_a_nul_in_work_dir_exits_2_from_every_phase(tmp_path):
    cfg = tmp_path / "videos_config.json"
    cfg.write_text(json.dumps({"settings": {"work_dir": "./da\u0000ta"}, "videos": []}))
    for script in ("phase1_whisper_frames.py", "phase3_load.py"):
        res = run_cli(script, "--config", str(cfg))
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert "settings.work_dir: './da\\x00ta' contains a NUL byte" in res.stderr


def test_ten_thousand_entries_for_one_file_are_one_warning(tmp_path, silent_video):
    cfg = write_config(tmp_path, [{"name": f"copy_{i}", "path": str(silent_video)} for i in range(10_000)])
    config = load_config(cfg, env={})
    shared = [w for w in config.warnings if "name the same file" in w]
    assert len(shared) == 1 and "videos[0] ('copy_0'), videos[1] ('copy_1'), videos[2] ('copy_2') and 9997 more" in shared[0]
    assert len(config.videos) == 10_000
