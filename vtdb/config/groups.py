"""Option groups: frozen views of the settings one component needs (the transcriber its WhisperOptions, Phase 1 its FrameOptions, the
analyzers and transports their AnalysisOptions, the state machine its RecoveryOptions). Each field names the
setting it comes from (`metadata["setting"]`), so the JSON keys and VTDB_* variables stay as documented."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from vtdb.config.schema import Settings

G = TypeVar("G", bound="DataclassInstance")


def _from(setting: str) -> Any:
    return field(metadata={"setting": setting})


def group_of(cls: type[G], settings: Settings) -> G:
    """The group `cls` of `settings`, each field read from the setting it names."""
    return cls(**{f.name: getattr(settings, f.metadata["setting"]) for f in fields(cls)})


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
class FrameOptions:
    """Phase 1 besides speech: the windows, their frames, the on-screen text read from them and the shot cuts."""

    window_length: float = _from("window_length")
    window_overlap: float = _from("window_overlap")
    window_min_tail: float = _from("window_min_tail")
    frames_per_window: int = _from("frames_per_window")
    frame_max_side: int = _from("frame_max_side")
    jpeg_quality: int = _from("jpeg_quality")
    ocr: str = _from("ocr")
    ocr_languages: str = _from("ocr_languages")
    shots: str = _from("shots")


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
class RecoveryOptions:
    """The state machine's clocks and limits: when a claim is stale, when a video is held."""

    timeout_factor: float = _from("timeout_factor")
    timeout_floor: float = _from("timeout_floor")
    heartbeat_interval: float = _from("heartbeat_interval")
    heartbeat_lease: float = _from("heartbeat_lease")
    max_attempts: int = _from("max_attempts")
    max_abandons: int = _from("max_abandons")
