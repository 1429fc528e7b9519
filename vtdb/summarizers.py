"""The Phase 4 summarizers by name: the SUMMARIZERS registry (name -> factory(settings, embedder)).

extractive (CPU default), openai (any OpenAI-compatible server, through vtdb.llm.openai_client) and
vllm (in process on a GPU, through vtdb.llm.vllm_backend); add one with `@SUMMARIZERS.register("name")`.
"""

from __future__ import annotations

from typing import Callable

from vtdb.config import Settings
from vtdb.embedders import Embedder
from vtdb.errors import BackendUnavailable, Registry
from vtdb.summarize import ExtractiveSummarizer, LLMSummarizer, Summarizer

__all__ = ["SUMMARIZERS", "SummarizerUnavailable", "make_summarizer"]


class SummarizerUnavailable(BackendUnavailable):
    """The summarizer setting names no summarizer (the message lists the registered ones). A run-level error, like an
    unknown analyzer: exit 2 before anything is claimed. An LLM summarizer whose endpoint or engine cannot serve
    raises its transport's `vtdb.llm.LLMUnavailable`, a BackendUnavailable too."""


SUMMARIZERS: Registry[Callable[[Settings, Embedder], Summarizer]] = Registry("summarizer", error=SummarizerUnavailable)


@SUMMARIZERS.register("extractive")
def _extractive(settings: Settings, embedder: Embedder) -> Summarizer:
    return ExtractiveSummarizer(embedder)


@SUMMARIZERS.register("openai")
def _openai(settings: Settings, embedder: Embedder) -> Summarizer:
    from vtdb.llm.openai_client import OpenAIClient

    client = OpenAIClient(settings)
    client.check()
    return LLMSummarizer("openai", client.model, client.text_chat, settings, embedder)


@SUMMARIZERS.register("vllm")
def _vllm(settings: Settings, embedder: Embedder) -> Summarizer:
    from vtdb.llm.vllm_backend import VLLMChat

    chat = VLLMChat(settings)
    return LLMSummarizer("vllm", chat.model, chat, settings, embedder)


def make_summarizer(name: str, settings: Settings, embedder: Embedder) -> Summarizer:
    """The summarizer, ready to run; a BackendUnavailable (a run-level error) when it cannot run here
    (`vtdb.llm.LLMUnavailable`) or when `name` is not registered (`SummarizerUnavailable`)."""
    return SUMMARIZERS.get(name)(settings, embedder)
