"""Analyzer over any OpenAI-compatible chat endpoint (vLLM serve, llama.cpp, Ollama, hosted).

Frames go as base64 JPEG `image_url` parts (a window without frames, of an audio-only file, as text
alone); the answer is constrained with a JSON schema. The transport (retries, round-robin over base
URLs, response_format dialects) is vtdb.llm.openai_client; with openai_concurrency > 1, that many
windows are kept in flight.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import httpx

from vtdb.analyzers.base import Analyzer, ProgressCallback, VideoContext, WindowInput, WindowOutcome
from vtdb.analyzers.prompt import SYSTEM_PROMPT, PromptTemplate
from vtdb.analyzers.schema import GRAMMAR_SCHEMA, WINDOW_SCHEMA, SchemaError, repair, validate
from vtdb.config import AnalysisOptions, Settings, analysis_options
from vtdb.llm.openai_client import (  # noqa: F401  (re-exported: the names used to live here)
    RETRY_STATUS,
    OpenAIClient,
    RequestFailed,
    ResponseFormatRejected,
    _content_text,
    _response_format,
    image_part,
)


class OpenAICompatAnalyzer(Analyzer):
    name = "openai"

    def __init__(self, settings: Settings | AnalysisOptions | AnalysisOptions, template: PromptTemplate | None = None, client: httpx.Client | None = None):
        self.client = OpenAIClient(settings, client)  # AnalyzerUnavailable without an endpoint
        self.options = analysis_options(settings)
        self.model = settings.vlm_model
        self.template = template or PromptTemplate.load(settings.prompt_file)

    @property
    def stats(self) -> dict[str, int]:
        return self.client.stats

    @property
    def prompt_version(self) -> str:
        return self.template.version

    def check(self) -> None:
        """Fail fast, with a clear message, when an endpoint is down or does not serve the model."""
        self.client.check()

    def chat(self, messages: list[dict], schema: dict | None = None) -> str:
        """One chat turn constrained by any JSON schema (Phase 4 summaries); returns the answer text."""
        return self.client.text_chat(messages, schema)

    # ---- analysis ----

    def _messages(self, video: VideoContext, window: WindowInput, previous_description: str | None) -> list[dict]:
        # A window without frames (an audio-only file) is asked as text alone: no image parts, and a plain string
        # content that a server without a vision projector (llama.cpp with a text model) accepts as well.
        text_only = self.options.text_only or not window.frames
        frames = [] if text_only else window.frames
        prompt = self.template.render(video, window, self.options.content_types, len(frames), previous_description)
        content: Any = prompt if text_only else [{"type": "text", "text": prompt}, *[image_part(f) for f in frames]]
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}]

    def analyze_window(self, video: VideoContext, window: WindowInput, previous_description: str | None = None) -> WindowOutcome:
        messages = self._messages(video, window, previous_description)
        problems: list[str] = []
        for attempt in (1, 2):  # a second request when the first answer cannot be used
            try:
                text, finish = self.client.chat(messages, WINDOW_SCHEMA, "window_analysis", grammar_schema=GRAMMAR_SCHEMA)
            except RequestFailed as exc:
                return WindowOutcome(window.index, None, "failed", str(exc), attempt)
            truncated = finish == "length"
            try:
                return WindowOutcome(window.index, validate(json.loads(text)), "ok", attempts=attempt)
            except (json.JSONDecodeError, SchemaError) as exc:
                problem = f"attempt {attempt}: {'answer cut off at max_output_tokens; ' if truncated else ''}{exc}"
            fields, notes = repair(text)
            if fields is not None:
                return WindowOutcome(window.index, fields, "repaired", attempts=attempt, notes=[problem, *notes])
            problems.append(f"{problem} ({'; '.join(notes)}); answer starts {text[:120]!r}")
        return WindowOutcome(window.index, None, "failed", " | ".join(problems), 2)

    def analyze(self, video: VideoContext, windows: Sequence[WindowInput], progress: ProgressCallback | None = None) -> list[WindowOutcome]:
        self.check()
        done = 0
        lock = threading.Lock()

        def finished(outcome: WindowOutcome) -> WindowOutcome:
            nonlocal done
            with lock:
                done += 1
                if progress:
                    progress(done)
            return outcome

        if self.options.openai_concurrency == 1:
            # Sequential: each window sees the previous window's real description.
            outcomes, previous = [], None
            for w in windows:
                outcome = finished(self.analyze_window(video, w, previous))
                previous = outcome.fields["description"] if outcome.fields else None
                outcomes.append(outcome)
            return outcomes
        # Concurrent: windows are independent, so the previous window is given by its transcript.
        with ThreadPoolExecutor(max_workers=self.options.openai_concurrency, thread_name_prefix="openai") as pool:
            return list(pool.map(lambda w: finished(self.analyze_window(video, w)), windows))

    def close(self) -> None:
        self.client.close()
