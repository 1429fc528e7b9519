"""videos_config.json and the environment read into a Config: JSON (with a warning for every repeated key),
settings coerced to their declared types (defaults, then the file, then VTDB_* variables), then checked.

A malformed file (bad JSON, wrong top-level shape, a bad setting) is fatal: ConfigError, exit code 2,
nothing changed. A bad video entry stops only that entry: it is reported in `Config.invalid_entries` and
the valid entries go on."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import re
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from vtdb.commandline import FORM_VARIABLE
from vtdb.config.entries import EntryProblem, SourceEntry, VideoEntry, parse_entries, resolve_path
from vtdb.config.schema import ConfigError, Settings
from vtdb.config.validate import settled_values, shown
from vtdb.config.whisper import normalize_whisper_device
from vtdb.text import did_you_mean

DEFAULT_CONFIG_NAME = "videos_config.json"
ENV_PREFIX = "VTDB_"
# Short, conventional names that are honoured as well as VTDB_<SETTING>.
ENV_ALIASES = {
    "CHROMA_HOST": "chroma_host",
    "CHROMA_PORT": "chroma_port",
    "CHROMA_DIR": "chroma_dir",
    "OPENAI_BASE_URL": "openai_base_url",
    "OPENAI_API_KEY": "openai_api_key",
}
# VTDB_* variables that are not settings (read elsewhere, by scripts or by the tests): no "unknown" warning.
ENV_NOT_SETTINGS = {
    "VTDB_CACHE_DIR", "VTDB_ALLOW_DOWNLOADS", "VTDB_PHASE1_WORKER", "VTDB_CONFIG", "VTDB_DEV", "VTDB_VENV",
    "VTDB_SKIP_APT", "VTDB_SPEECH_DIR", "VTDB_SCREENSHOTS", "VTDB_CHAOS_SEED",
    FORM_VARIABLE,  # how the pipeline's child processes spell commands (vtdb.commandline), not a setting
}
ENV_NOT_SETTINGS_PREFIXES = ("VTDB_TEST_",)


@dataclass
class Config:
    path: Path | None
    settings: Settings
    videos: list[VideoEntry]
    invalid_entries: list[EntryProblem] = field(default_factory=list)
    # Every valid entry in the config's order, of every source kind (the file entries of `videos` too).
    entries: list[SourceEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def resolve(self, value: str) -> Path:
        return resolve_path(value, self.base_dir)

    @property
    def work_dir(self) -> Path:
        return self.resolve(self.settings.work_dir)

    @property
    def chroma_dir(self) -> Path:
        return self.resolve(self.settings.chroma_dir)

    @property
    def search_index_dir(self) -> Path:
        """Where this host keeps its lexical index (search_index_dir, default {work_dir}/search_index)."""
        return self.resolve(self.settings.search_index_dir) if self.settings.search_index_dir else self.work_dir / "search_index"

    def video(self, name: str) -> VideoEntry | None:
        return next((v for v in self.videos if v.name == name), None)


TOP_KEYS = {"settings", "videos"}


@functools.cache
def _settings_hints() -> dict[str, Any]:
    return typing.get_type_hints(Settings)


def _field_type(name: str) -> tuple[type, bool]:
    """A setting's declared type, resolved (not read from its annotation text), and whether it may be null."""
    hint = _settings_hints()[name]
    args = typing.get_args(hint)
    if type(None) in args:  # X | None
        (inner,) = [a for a in args if a is not type(None)]
        return inner, True
    return hint, False


# Numbers written as text (environment variables, quoted JSON values): ASCII digits only, at most 30 of them.
_INT_TEXT = re.compile(r"\s*[+-]?[0-9]{1,30}\s*", re.ASCII)
_FLOAT_TEXT = re.compile(r"\s*[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,4})?\s*"
                         r"|\s*[+-]?(?:inf|infinity|nan)\s*", re.ASCII | re.IGNORECASE)


YES, NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def yes_no(text: str) -> bool | None:
    """A yes/no written as text: True for 1, true, yes or on; False for 0, false, no or off (any case, spaces
    around); None for anything else. The one reading of a boolean setting, a --filter value and a web flag."""
    word = text.strip().lower()
    return True if word in YES else False if word in NO else None


def _coerce(name: str, value: Any, source: str) -> Any:
    """Coerce a setting to the dataclass field's type; raise ConfigError with the setting's name."""
    target, optional = _field_type(name)
    if name == "whisper_device" and isinstance(value, list):  # GPU indices: one Phase 1 process per GPU
        device, err = normalize_whisper_device(value)
        if err:
            raise ConfigError(f"{source}{name}: {err}")
        return device
    if typing.get_origin(target) is list:
        if isinstance(value, str):  # environment variables and single values: comma-separated
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(f"{source}{name}: must be a list of non-empty strings (or one comma-separated string)")
        return [v.strip() for v in value]
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{source}{name}: must not be null")
    try:
        if target is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and (answer := yes_no(value)) is not None:
                return answer
            raise ValueError
        if target is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            if isinstance(value, str) and not _INT_TEXT.fullmatch(value):
                raise ValueError  # int() takes "١٢" and "1_000"; str.isdigit() even takes "²", which int() refuses
            return int(value)
        if target is float:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, str) and not _FLOAT_TEXT.fullmatch(value):
                raise ValueError
            number = float(value)
            if not math.isfinite(number):  # JSON's NaN/Infinity, or "nan"/"inf" from the environment
                raise ConfigError(f"{source}{name}: must be a finite number, got {value!r}")
            return number
        if isinstance(value, (dict, list, bool)):
            raise ValueError
        return str(value)
    except (TypeError, ValueError, OverflowError):
        hint = {int: " (a whole number in ASCII digits 0-9)", float: " (a number in ASCII digits, e.g. 2.5)"}.get(target, "")
        raise ConfigError(f"{source}{name}: {shown(value)} is not a valid {target.__name__}{hint}") from None


def _unknown_env_warning(env_name: str, types: Mapping[str, Any]) -> str | None:
    if env_name in ENV_NOT_SETTINGS or env_name.startswith(ENV_NOT_SETTINGS_PREFIXES):
        return None
    known = [ENV_PREFIX + name.upper() for name in types] + sorted(ENV_NOT_SETTINGS)
    hint = did_you_mean(env_name, known, cutoff=0.75) or "; VTDB_<SETTING> sets a setting (see docs/SETTINGS.md)"
    return f"environment {env_name}: not a setting, ignored{hint}"


def build_settings(raw: dict[str, Any] | None, env: dict[str, str] | None = None, warnings: list[str] | None = None) -> Settings:
    """Defaults, then the config file's `settings`, then environment variables."""
    environment: Mapping[str, str] = os.environ if env is None else env
    warnings = [] if warnings is None else warnings
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"settings: must be an object such as {{\"work_dir\": \"./data\"}}, got "
                          f"{'an array' if isinstance(raw, list) else type(raw).__name__}")
    types = {f.name: f.type for f in fields(Settings)}
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}  # setting -> the environment variable that set it
    for name, value in raw.items():
        if name not in types:
            warnings.append(f"settings.{name}: unknown setting, ignored{did_you_mean(str(name), types, cutoff=0.75)}")
            continue
        values[name] = _coerce(name, value, "settings.")
    for env_name, value in environment.items():
        key: str | None = ENV_ALIASES.get(env_name)
        if key is None and env_name.startswith(ENV_PREFIX):
            key = env_name[len(ENV_PREFIX):].lower()
            if key not in types:
                warning = _unknown_env_warning(env_name, types)
                if warning:
                    warnings.append(warning)
                continue
        if key is None:
            continue
        values[key] = _coerce(key, value if value != "" else None, f"environment {env_name} -> ")
        origins[key] = env_name
    draft = Settings(**values)  # checked, then built once more with the normalized values: never changed once built
    settled = settled_values(draft, warnings, origins)
    return dataclasses.replace(draft, **settled) if settled else draft


def parse_config(data: Any, path: Path | None = None, env: dict[str, str] | None = None) -> Config:
    if not isinstance(data, dict):
        raise ConfigError(f"the top level must be an object with 'settings' and 'videos', got {type(data).__name__}")
    warnings: list[str] = []
    for key in data:
        if key not in TOP_KEYS:
            warnings.append(f"{key}: unknown top-level key, ignored")
    settings = build_settings(data.get("settings"), env, warnings)
    videos_raw = data.get("videos", [])
    if not isinstance(videos_raw, list):
        raise ConfigError(f"videos: must be a list, got {type(videos_raw).__name__}")
    base_dir = path.parent if path else Path.cwd()
    if settings.prompt_file:
        settings = dataclasses.replace(settings, prompt_file=str(resolve_path(settings.prompt_file, base_dir)))
    videos, entries, problems = parse_entries(videos_raw, base_dir, warnings)
    return Config(path=path, settings=settings, videos=videos, invalid_entries=problems, warnings=warnings, entries=entries)


def load_config(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Config:
    """Load and validate a config file. Raises ConfigError (exit code 2) when it is unusable."""
    config_path = Path(path or DEFAULT_CONFIG_NAME).expanduser().absolute()
    try:
        text = config_path.read_text(encoding="utf-8-sig")  # utf-8-sig: also files saved with a BOM (Notepad)
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: config file not found (create it, or pass --config PATH)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{config_path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{config_path}: cannot read: {exc.strerror}") from None
    try:
        data, duplicates = _parse_json(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{config_path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ConfigError(f"{config_path}: invalid JSON: nested too deeply") from None
    except ValueError as exc:  # a number of more than 4300 digits (int's limit), which is not a JSONDecodeError
        raise ConfigError(f"{config_path}: invalid JSON: {exc}") from None
    config = parse_config(data, config_path, env)
    config.warnings[:0] = duplicates
    return config


def _parse_json(text: str) -> tuple[Any, list[str]]:
    """json.loads, and a warning for every key that appears more than once in one object (JSON
    keeps the last value silently), saying where: "settings", "videos[2]", "top level"."""
    # id(object) -> (object, [(key, count)]); holding the object keeps its id from being reused
    # by a later one when a repeated key throws an earlier value away.
    repeated: dict[int, tuple[dict[str, Any], list[tuple[str, int]]]] = {}

    def pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        counts: dict[str, int] = {}
        for key, value in pairs:
            obj[key] = value
            counts[key] = counts.get(key, 0) + 1
        if len(counts) < len(pairs):
            repeated[id(obj)] = (obj, [(k, n) for k, n in counts.items() if n > 1])
        return obj

    data = json.loads(text, object_pairs_hook=pairs_to_dict)
    warnings: list[str] = []
    if repeated:
        stack: list[tuple[Any, str]] = [(data, "")]
        while stack:
            node, where = stack.pop()
            if isinstance(node, dict):
                held, keys = repeated.get(id(node), (None, []))
                for key, count in keys if held is node else ():
                    shown = json.dumps(node[key], ensure_ascii=False)
                    shown = shown if len(shown) <= 40 else shown[:37] + "..."
                    times = "twice" if count == 2 else f"{count} times"
                    warnings.append(f"{where or 'top level'}: key {key!r} appears {times}; the last value ({shown}) is used")
                children = [(v, f"{where}.{k}" if where else k) for k, v in node.items()]
            elif isinstance(node, list):
                children = [(v, f"{where}[{i}]") for i, v in enumerate(node)]
            else:
                continue
            stack.extend(reversed(children))
    return data, warnings


def settings_only(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Config:
    """The config for tools that need settings but no video list (later phases, status).

    A missing default config file is fine here: defaults plus environment.
    """
    if path is None and not Path(DEFAULT_CONFIG_NAME).exists():
        return parse_config({"videos": []}, None, env)
    return load_config(path, env)
