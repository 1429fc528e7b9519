"""Model transports shared by analyzers and summarizers: an OpenAI-compatible HTTP client, an in-process vLLM engine."""

from vtdb.errors import BackendUnavailable

__all__ = ["LLMUnavailable"]


class LLMUnavailable(BackendUnavailable):
    """A transport that cannot serve here: no endpoint configured, one that is down or refuses the key or the model,
    vLLM without CUDA. Its own class (not the analyzers' AnalyzerUnavailable), so that the transports need nothing
    from the analyzers; a run-level error like every BackendUnavailable (exit 2, no video blamed)."""
