"""In-process vLLM analyzer (Qwen2.5-VL) for CUDA machines.

All windows of a video go to the engine (vtdb.llm.vllm_backend) in one batched `generate` call, each
prompt carrying its frames and transcript, with JSON-schema structured output. A failed call is split
down to single windows (only the windows that cause an engine error fail); windows whose answer was
unusable are asked once more with another seed and a higher temperature. Nothing here touches
a GPU stack until this analyzer is chosen.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from vtdb.analyzers.base import Analyzer, ProgressCallback, VideoContext, WindowInput, WindowOutcome
from vtdb.analyzers.prompt import SYSTEM_PROMPT, PromptTemplate
from vtdb.analyzers.schema import WINDOW_SCHEMA, SchemaError, repair, validate
from vtdb.config import AnalysisOptions, Settings, analysis_options
from vtdb.errors import RunAborted
from vtdb.llm.vllm_backend import VLLMBackend, VLLMChat, jpeg_to_image


class VLLMAnalyzer(Analyzer):
    name = "vllm"

    def __init__(self, settings: Settings | AnalysisOptions | AnalysisOptions, backend: VLLMBackend | None = None, template: PromptTemplate | None = None):
        self.options = analysis_options(settings)
        self.model = settings.vlm_model
        self.template = template or PromptTemplate.load(settings.prompt_file)
        self._backend = backend

    @property
    def prompt_version(self) -> str:
        return self.template.version

    @property
    def backend(self) -> VLLMBackend:
        if self._backend is None:
            self._backend = VLLMBackend.load(self.options)
        return self._backend

    def build_input(self, video: VideoContext, window: WindowInput) -> dict:
        """One engine input: the chat-templated prompt plus the window's frames as images."""
        s = self.options
        # No frames (text_only, or an audio-only file's window): a text-only prompt, no multi_modal_data.
        frames = [] if s.text_only else list(window.frames)[: s.frames_per_window]
        prompt = self.template.render(video, window, s.content_types, len(frames))
        content: list[dict] = [
            {"type": "image", "image": jpeg_to_image(f), "min_pixels": s.image_min_pixels, "max_pixels": s.image_max_pixels}
            for f in frames
        ]
        content.append({"type": "text", "text": prompt})
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}]
        text = self.backend.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        image_inputs, _video_inputs = self.backend.vision_info(messages)
        engine_input: dict[str, Any] = {"prompt": text}
        if image_inputs:
            engine_input["multi_modal_data"] = {"image": image_inputs}
        return engine_input

    @property
    def retry_temperature(self) -> float:
        """The second pass's temperature: a little higher than the first, so that a window whose answer was
        unusable can be answered differently (at temperature 0 the same prompt gives the same answer)."""
        configured = self.options.vllm_retry_temperature
        if configured is not None:
            return float(configured)
        return min(2.0, max(self.options.temperature + 0.3, 0.5))

    def _generate(self, inputs: list[dict], seed: int | None, temperature: float | None = None) -> list[tuple[str, str]]:
        return self.backend.generate(inputs, temperature=self.options.temperature if temperature is None else temperature,
                                     max_tokens=self.options.max_output_tokens, json_schema=WINDOW_SCHEMA, seed=seed)

    def _answers(self, batch: list[tuple[WindowInput, dict]], seed: int | None, temperature: float | None
                 ) -> list[tuple[WindowInput, str, str, str]]:
        """(window, text, finish_reason, engine error) for each window of `batch`. When the batched call
        fails, its halves are asked apart, down to single windows: one bad window (a prompt too long, an
        image the processor rejects) fails alone, not its whole video."""
        try:
            answers = self._generate([inp for _w, inp in batch], seed, temperature)
            if len(answers) != len(batch):
                raise RuntimeError(f"the engine returned {len(answers)} answers for {len(batch)} prompts")
        except RunAborted:
            raise  # the engine cannot work at all: the run's fault
        except Exception as exc:  # noqa: BLE001 - any engine error: narrow it down to the windows that cause it
            if len(batch) == 1:
                return [(batch[0][0], "", "", f"engine error: {type(exc).__name__}: {exc}"[:500])]
            mid = len(batch) // 2
            return self._answers(batch[:mid], seed, temperature) + self._answers(batch[mid:], seed, temperature)
        return [(w, text, finish, "") for (w, _inp), (text, finish) in zip(batch, answers)]

    @staticmethod
    def _parse(text: str, finish: str) -> tuple[dict | None, str, list[str]]:
        try:
            return validate(json.loads(text)), "ok", []
        except (json.JSONDecodeError, SchemaError) as exc:
            problem = ("answer cut off at max_output_tokens; " if finish == "length" else "") + str(exc)
        fields, notes = repair(text)
        return (fields, "repaired", [problem, *notes]) if fields else (None, "failed", [problem, *notes])

    def chat(self, messages: list[dict], schema: dict | None = None) -> str:
        """One text-only chat turn (Phase 4 summaries), with JSON-schema structured output when given."""
        return VLLMChat(self.options, self.backend)(messages, schema)

    def analyze(self, video: VideoContext, windows: Sequence[WindowInput], progress: ProgressCallback | None = None) -> list[WindowOutcome]:
        outcomes: dict[int, WindowOutcome] = {}
        batch = max(1, self.options.vllm_batch_windows)
        pending = list(windows)
        for attempt in (1, 2):  # the second pass re-asks, in one batch, the windows whose answers were unusable
            retry: list[WindowInput] = []
            # The retry pass samples differently (another seed, a higher temperature): it must be able to differ.
            seed, temperature = (None, None) if attempt == 1 else (1000 + attempt, self.retry_temperature)
            for start in range(0, len(pending), batch):
                chunk = pending[start : start + batch]
                inputs = [(w, self.build_input(video, w)) for w in chunk]
                for w, text, finish, engine_error in self._answers(inputs, seed, temperature):
                    if engine_error:  # the engine failed on this window even alone: final, the others go on
                        outcomes[w.index] = WindowOutcome(w.index, None, "failed", engine_error, attempt, [engine_error])
                        continue
                    fields, status, notes = self._parse(text, finish)
                    if fields is None and attempt == 1:
                        retry.append(w)
                        continue
                    error = "" if fields else f"unusable answer twice: {'; '.join(notes)}; starts {text[:120]!r}"
                    outcomes[w.index] = WindowOutcome(w.index, fields, status, error, attempt, notes)
                if progress:
                    progress(len(outcomes))
            pending = retry
            if not pending:
                break
        return [outcomes[w.index] for w in windows]
