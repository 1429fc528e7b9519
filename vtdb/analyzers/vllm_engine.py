"""In-process vLLM analyzer (Qwen2.5-VL) for CUDA machines.

All windows of a video go to the engine in one batched `generate` call, each prompt carrying
its frames and transcript, with JSON-schema structured output. vllm, transformers' processor
and qwen-vl-utils are imported lazily, inside `VLLMBackend.load`, so nothing here touches a GPU
stack until this analyzer is chosen. Install on GPU machines only: requirements-gpu.txt.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from vtdb.analyzers.base import AnalyzerUnavailable, ProgressCallback, VideoContext, WindowInput, WindowOutcome
from vtdb.analyzers.prompt import SYSTEM_PROMPT, PromptTemplate
from vtdb.analyzers.schema import WINDOW_SCHEMA, SchemaError, repair, validate
from vtdb.config import Settings

SMALL_CARD_MODEL = "Qwen/Qwen2.5-VL-3B-Instruct"


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def vllm_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


@dataclass
class VLLMBackend:
    """What the analyzer needs from the GPU stack; `load` builds the real one."""

    llm: Any  # vllm.LLM (anything with .generate(inputs, sampling_params))
    processor: Any  # has apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    vision_info: Callable[[list], tuple]  # qwen_vl_utils.process_vision_info
    make_sampling_params: Callable[..., Any]

    @classmethod
    def load(cls, settings: Settings) -> "VLLMBackend":
        if not vllm_importable():
            raise AnalyzerUnavailable(
                "the vllm analyzer needs vLLM on a CUDA machine: `pip install -r requirements-gpu.txt` there. "
                "Here, use --analyzer openai with a vLLM server elsewhere (openai_base_url), or --analyzer transcript."
            )
        if not cuda_available():
            raise AnalyzerUnavailable(
                "the vllm analyzer needs a CUDA GPU and none is visible. Use --analyzer openai with a vLLM server "
                "(`vllm serve Qwen/Qwen2.5-VL-7B-Instruct`) on a GPU host, or --analyzer transcript on the CPU."
            )
        from qwen_vl_utils import process_vision_info  # imports torchvision: only on GPU machines
        from transformers import AutoProcessor
        from vllm import LLM

        llm = LLM(
            model=settings.vlm_model,
            limit_mm_per_prompt={"image": settings.frames_per_window},
            max_model_len=settings.vllm_max_model_len,
            gpu_memory_utilization=settings.vllm_gpu_memory_utilization,
            tensor_parallel_size=settings.vllm_tensor_parallel_size,
            mm_processor_kwargs={"min_pixels": settings.image_min_pixels, "max_pixels": settings.image_max_pixels},
        )
        processor = AutoProcessor.from_pretrained(settings.vlm_model, min_pixels=settings.image_min_pixels, max_pixels=settings.image_max_pixels)
        return cls(llm, processor, process_vision_info, make_vllm_sampling_params)


def make_vllm_sampling_params(temperature: float, max_tokens: int, json_schema: dict | None, seed: int | None = None):
    """SamplingParams with JSON-schema structured output, for both vLLM APIs (structured_outputs, older guided_decoding)."""
    from vllm import SamplingParams

    common = dict(temperature=temperature, top_p=0.9, max_tokens=max_tokens, repetition_penalty=1.05, seed=seed)
    if json_schema is None:
        return SamplingParams(**common)
    try:
        from vllm.sampling_params import StructuredOutputsParams

        return SamplingParams(structured_outputs=StructuredOutputsParams(json=json_schema), **common)
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams

        return SamplingParams(guided_decoding=GuidedDecodingParams(json=json_schema), **common)


def jpeg_to_image(jpeg: bytes):
    from PIL import Image

    image = Image.open(io.BytesIO(jpeg))
    image.load()
    return image.convert("RGB")


class VLLMAnalyzer:
    name = "vllm"

    def __init__(self, settings: Settings, backend: VLLMBackend | None = None, template: PromptTemplate | None = None):
        self.settings = settings
        self.model = settings.vlm_model
        self.template = template or PromptTemplate.load(settings.prompt_file)
        self._backend = backend

    @property
    def backend(self) -> VLLMBackend:
        if self._backend is None:
            self._backend = VLLMBackend.load(self.settings)
        return self._backend

    def build_input(self, video: VideoContext, window: WindowInput) -> dict:
        """One engine input: the chat-templated prompt plus the window's frames as images."""
        s = self.settings
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

    def _generate(self, inputs: list[dict], seed: int | None) -> list[tuple[str, str]]:
        params = self.backend.make_sampling_params(
            temperature=self.settings.temperature, max_tokens=self.settings.max_output_tokens, json_schema=WINDOW_SCHEMA, seed=seed
        )
        results = self.backend.llm.generate(inputs, params)
        out = []
        for r in results:
            completion = r.outputs[0] if r.outputs else None
            out.append((completion.text if completion else "", (completion.finish_reason or "") if completion else ""))
        return out

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
        text = self.backend.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        params = self.backend.make_sampling_params(
            temperature=self.settings.temperature, max_tokens=max(self.settings.max_output_tokens, 1200), json_schema=schema, seed=None
        )
        results = self.backend.llm.generate([{"prompt": text}], params)
        return results[0].outputs[0].text if results and results[0].outputs else ""

    def analyze(self, video: VideoContext, windows: Sequence[WindowInput], progress: ProgressCallback | None = None) -> list[WindowOutcome]:
        outcomes: dict[int, WindowOutcome] = {}
        batch = max(1, self.settings.vllm_batch_windows)
        pending = list(windows)
        for attempt in (1, 2):  # the second pass re-asks, in one batch, the windows whose answers were unusable
            retry: list[WindowInput] = []
            for start in range(0, len(pending), batch):
                chunk = pending[start : start + batch]
                inputs = [self.build_input(video, w) for w in chunk]
                for w, (text, finish) in zip(chunk, self._generate(inputs, seed=None if attempt == 1 else 1000 + attempt)):
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
