"""The analyzer interface: what Phase 2 hands an analyzer, and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from vtdb.errors import BackendUnavailable


@dataclass
class VideoContext:
    name: str
    title: str
    description: str
    language: str | None  # spoken language (config or detected)
    output_language: str
    duration: float


@dataclass
class WindowInput:
    index: int
    start_time: float
    end_time: float
    transcript: str
    frames: list[bytes]  # JPEG bytes
    previous_transcript: str = ""
    # English (output-language) text of the speech made in Phase 1: creator subtitles or Whisper's translate task.
    translation: str = ""
    translation_source: str = ""  # "subtitles" | "audio-track" | "whisper-translate" | ""
    on_screen_text: list[str] = field(default_factory=list)  # lines read from the frames (OCR), de-duplicated
    shot_cut: bool | None = None  # a real cut inside the window (Phase 1's shot detection); None = not known


# A window with nothing in it to search: no speech, no translation, no text on screen, and no vision model that
# looked at it. Phase 3 loads no moment for it: hundreds of identical "no speech" documents (a 3-hour recording
# with four speech bursts made 304) share one vector and made search results change from process to process.
EMPTY = "empty"


@dataclass
class WindowOutcome:
    """One window's analysis: fields (schema-valid) or an error."""

    index: int
    fields: dict | None
    status: str  # "ok" | "repaired" | "failed" | EMPTY
    error: str = ""
    attempts: int = 1
    notes: list[str] = field(default_factory=list)
    # The language description and dialogue_translation are written in ("" = the output language, which the
    # model analyzers are asked for), and where dialogue_translation came from ("" = the analyzer itself).
    text_language: str = ""
    translation_source: str = ""


ProgressCallback = Callable[[int], None]  # number of windows finished so far


class Analyzer:
    """The analyzer interface. `analyze` is required; the rest have defaults that subclasses override."""

    name: str  # "vllm" | "openai" | "transcript"
    model: str

    def check(self) -> None:
        """Fail fast (AnalyzerUnavailable) when the analyzer cannot run, before any video is claimed.
        Default: nothing to check."""

    @property
    def prompt_version(self) -> str:
        """The version of the prompt template the analyzer renders; "" when it uses none."""
        return ""

    def analyze(self, video: VideoContext, windows: Sequence[WindowInput], progress: ProgressCallback | None = None) -> list[WindowOutcome]:
        """Analyze every window of one video; never raises for a single bad window."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections or engines. Default: nothing to release."""


class AnalyzerUnavailable(BackendUnavailable):
    """The chosen analyzer or summarizer cannot run here (no CUDA, no endpoint, a model that does not load):
    a clear, actionable message; a run-level error (exit 2, no attempt counted)."""
