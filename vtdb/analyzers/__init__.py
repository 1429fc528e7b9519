"""Phase 2 analyzers behind one interface (see base.Analyzer): vllm, openai, transcript; auto picks one.

Each analyzer is a factory in the ANALYZERS registry (name -> factory(settings)); a new one is added
with `@ANALYZERS.register("name")`. Factories import their module lazily (vllm is CUDA-only).
"""

from __future__ import annotations

from typing import Callable

from vtdb.analyzers.base import Analyzer, AnalyzerUnavailable, VideoContext, WindowInput, WindowOutcome
from vtdb.config import Settings
from vtdb.errors import Registry

__all__ = ["ANALYZERS", "Analyzer", "AnalyzerUnavailable", "VideoContext", "WindowInput", "WindowOutcome", "choose_analyzer",
           "make_analyzer"]

# An unknown name is a run-level error here (exit 2 before anything is claimed), as it always was.
ANALYZERS: Registry[Callable[[Settings], Analyzer]] = Registry("analyzer", error=AnalyzerUnavailable, extra=["auto"])


@ANALYZERS.register("vllm")
def _vllm(settings: Settings) -> Analyzer:
    from vtdb.analyzers.vllm_analyzer import VLLMAnalyzer

    analyzer = VLLMAnalyzer(settings)
    _ = analyzer.backend  # load now: a missing GPU is a run-level error, not one per video
    return analyzer


@ANALYZERS.register("openai")
def _openai(settings: Settings) -> Analyzer:
    from vtdb.analyzers.openai_compat import OpenAICompatAnalyzer

    return OpenAICompatAnalyzer(settings)


@ANALYZERS.register("transcript")
def _transcript(settings: Settings) -> Analyzer:
    from vtdb.analyzers.transcript import TranscriptAnalyzer

    return TranscriptAnalyzer(settings)


def choose_analyzer(settings: Settings, requested: str | None = None) -> tuple[str, str]:
    """(analyzer name, why) for the requested name or the `analyzer` setting; `auto` explains its pick."""
    from vtdb.llm.vllm_backend import cuda_available, vllm_importable

    name = requested or settings.analyzer
    if name != "auto":
        return name, f"chosen by {'--analyzer' if requested else 'the analyzer setting'}"
    if vllm_importable() and cuda_available():
        return "vllm", "auto: vLLM is installed and a CUDA GPU is visible"
    if settings.openai_base_url:
        return "openai", f"auto: an endpoint is configured ({', '.join(settings.openai_base_url)})"
    return "transcript", "auto: no CUDA GPU with vLLM and no openai_base_url, so the CPU transcript analyzer (low confidence)"


def make_analyzer(name: str, settings: Settings) -> Analyzer:
    """The analyzer, ready to run. A BackendUnavailable (a run-level error) when it cannot run here: an
    AnalyzerUnavailable when `name` is not registered (the message lists the registered ones) or its prompt
    is bad, its transport's LLMUnavailable when the engine or endpoint cannot be reached."""
    from vtdb.analyzers.prompt import PromptError

    factory = ANALYZERS.get(name)
    try:
        return factory(settings)
    except PromptError as exc:  # a bad prompt_file: stop before claiming, not once per video
        raise AnalyzerUnavailable(str(exc)) from None
