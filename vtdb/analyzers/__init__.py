"""Phase 2 analyzers behind one interface (see base.Analyzer): vllm, openai, transcript; auto picks one."""

from __future__ import annotations

from vtdb.analyzers.base import Analyzer, AnalyzerUnavailable, VideoContext, WindowInput, WindowOutcome
from vtdb.config import Settings

__all__ = ["Analyzer", "AnalyzerUnavailable", "VideoContext", "WindowInput", "WindowOutcome", "choose_analyzer", "make_analyzer"]


def choose_analyzer(settings: Settings, requested: str | None = None) -> tuple[str, str]:
    """(analyzer name, why) for the requested name or the `analyzer` setting; `auto` explains its pick."""
    from vtdb.analyzers.vllm_engine import cuda_available, vllm_importable

    name = requested or settings.analyzer
    if name != "auto":
        return name, f"chosen by {'--analyzer' if requested else 'the analyzer setting'}"
    if vllm_importable() and cuda_available():
        return "vllm", "auto: vLLM is installed and a CUDA GPU is visible"
    if settings.openai_base_url:
        return "openai", f"auto: an endpoint is configured ({', '.join(settings.openai_base_url)})"
    return "transcript", "auto: no CUDA GPU with vLLM and no openai_base_url, so the CPU transcript analyzer (low confidence)"


def make_analyzer(name: str, settings: Settings) -> Analyzer:
    """The analyzer, ready to run; AnalyzerUnavailable (a run-level error) when it cannot run here."""
    from vtdb.analyzers.prompt import PromptError

    try:
        return _make_analyzer(name, settings)
    except PromptError as exc:  # a bad prompt_file: stop before claiming, not once per video
        raise AnalyzerUnavailable(str(exc)) from None


def _make_analyzer(name: str, settings: Settings) -> Analyzer:
    if name == "openai":
        from vtdb.analyzers.openai_compat import OpenAICompatAnalyzer

        return OpenAICompatAnalyzer(settings)
    if name == "vllm":
        from vtdb.analyzers.vllm_engine import VLLMAnalyzer

        analyzer = VLLMAnalyzer(settings)
        analyzer.backend  # load now: a missing GPU is a run-level error, not one per video
        return analyzer
    if name == "transcript":
        from vtdb.analyzers.transcript import TranscriptAnalyzer

        return TranscriptAnalyzer(settings)
    raise AnalyzerUnavailable(f"unknown analyzer {name!r}; use auto, vllm, openai or transcript")
