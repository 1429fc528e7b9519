"""One in-process vLLM engine (Qwen2.5-VL) for CUDA machines, shared by the Phase 2 vllm analyzer and
the Phase 4 vllm summarizer.

vllm, transformers' processor and qwen-vl-utils are imported lazily, inside `VLLMBackend.load`, so
nothing here touches a GPU stack until the engine is needed. Install on GPU machines only:
`bash scripts/setup.sh --gpu` (.venv-gpu from requirements-gpu.txt; docs/GPU.md).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from vtdb.config import AnalysisOptions, Settings, analysis_options
from vtdb.llm import LLMUnavailable

if TYPE_CHECKING:
    from PIL import Image

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
    vision_info: Callable[[list[Any]], tuple[Any, ...]]  # qwen_vl_utils.process_vision_info(messages)
    make_sampling_params: Callable[..., Any]

    @classmethod
    def load(cls, settings: Settings | AnalysisOptions) -> "VLLMBackend":
        if not vllm_importable():
            raise LLMUnavailable(
                "the vllm analyzer needs vLLM on a CUDA machine: `bash scripts/setup.sh --gpu` there (docs/GPU.md). "
                "Here, use --analyzer openai with a vLLM server elsewhere (openai_base_url), or --analyzer transcript."
            )
        if not cuda_available():
            raise LLMUnavailable(
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
        processor = AutoProcessor.from_pretrained(  # type: ignore[no-untyped-call]  # transformers leaves it unannotated
            settings.vlm_model, min_pixels=settings.image_min_pixels, max_pixels=settings.image_max_pixels)
        return cls(llm, processor, process_vision_info, make_vllm_sampling_params)

    def generate(self, inputs: list[dict[str, Any]], temperature: float, max_tokens: int, json_schema: dict[str, Any] | None,
                 seed: int | None = None) -> list[tuple[str, str]]:
        """One batched `generate` call: (text, finish_reason) per input, in order ("" for an empty completion)."""
        params = self.make_sampling_params(temperature=temperature, max_tokens=max_tokens, json_schema=json_schema, seed=seed)
        out: list[tuple[str, str]] = []
        for r in self.llm.generate(inputs, params):
            completion = r.outputs[0] if r.outputs else None
            out.append((completion.text if completion else "", (completion.finish_reason or "") if completion else ""))
        return out

    def chat(self, messages: list[dict[str, Any]], temperature: float, max_tokens: int, json_schema: dict[str, Any] | None = None) -> str:
        """One text-only chat turn through the processor's chat template; the answer text."""
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        params = self.make_sampling_params(temperature=temperature, max_tokens=max_tokens, json_schema=json_schema, seed=None)
        results = self.llm.generate([{"prompt": text}], params)
        return str(results[0].outputs[0].text) if results and results[0].outputs else ""


class VLLMChat:
    """Text chat turns (Phase 4 summaries) on an in-process engine, loaded on the first turn."""

    def __init__(self, settings: Settings | AnalysisOptions, backend: VLLMBackend | None = None):
        self.options = analysis_options(settings)
        self.model = settings.vlm_model
        self._backend = backend

    def __call__(self, messages: list[dict[str, Any]], schema: dict[str, Any] | None = None) -> str:
        """One text-only chat turn, with JSON-schema structured output when given; the answer text."""
        if self._backend is None:
            self._backend = VLLMBackend.load(self.options)
        return self._backend.chat(messages, temperature=self.options.temperature,
                                  max_tokens=max(self.options.max_output_tokens, 1200), json_schema=schema)


def make_vllm_sampling_params(temperature: float, max_tokens: int, json_schema: dict[str, Any] | None, seed: int | None = None) -> Any:
    """SamplingParams with JSON-schema structured output (`structured_outputs`, vLLM >= 0.10.2; the pinned
    vLLM 0.33.0 of requirements-gpu.txt has no older `guided_decoding`: scripts/check_gpu_stack.sh checks it)."""
    from vllm import SamplingParams

    common = dict(temperature=temperature, top_p=0.9, max_tokens=max_tokens, repetition_penalty=1.05, seed=seed)
    if json_schema is None:
        return SamplingParams(**common)
    from vllm.sampling_params import StructuredOutputsParams

    return SamplingParams(structured_outputs=StructuredOutputsParams(json=json_schema), **common)


def jpeg_to_image(jpeg: bytes) -> Image.Image:
    from PIL import Image

    image = Image.open(io.BytesIO(jpeg))
    image.load()
    return image.convert("RGB")
