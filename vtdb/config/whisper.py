"""Whisper settings read as users write them: the model names faster-whisper knows, the device (one Phase 1
process per GPU of a list), the batch size's limit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from vtdb.text import did_you_mean

# What CTranslate2 accepts as compute_type (its str_to_compute_type; "float" is its alias of float32).
WHISPER_COMPUTE_TYPES = (
    "auto", "default", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16",
    "float32", "float",
)
# faster_whisper.utils.available_models() (a test keeps them in sync; kept here so that loading a
# config does not import the speech stack), and the names vtdb/models.py maps to the bundled model.
WHISPER_MODEL_NAMES = (
    "tiny.en", "tiny", "base.en", "base", "small.en", "small", "medium.en", "medium", "large-v1", "large-v2",
    "large-v3", "large", "distil-large-v2", "distil-medium.en", "distil-small.en", "distil-large-v3",
    "distil-large-v3.5", "large-v3-turbo", "turbo",
)
BUNDLED_WHISPER_ALIASES = ("base", "bundled", "bundled-base")

_HF_REPO_ID = re.compile(r"[A-Za-z0-9](?:[\w.-]*[A-Za-z0-9])?/[A-Za-z0-9](?:[\w.-]*[A-Za-z0-9])?", re.ASCII)



MAX_WHISPER_BATCH = 256
_CUDA_DEVICE = re.compile(r"cuda(?::(\d+(?:\s*,\s*\d+)*))?", re.ASCII)


def normalize_whisper_device(value: Any) -> tuple[str, str | None]:
    """whisper_device in its one stored form: auto, cpu, cuda, or cuda:I[,J...] (a list of GPU indices, in
    the config as [0, 1] or "0,1", becomes cuda:0,1). Returns (normalized, error or None)."""
    if isinstance(value, list):
        if not value or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value):
            return str(value), f"a list must hold GPU indices such as [0, 1, 2], got {value!r}"
        value = ",".join(str(i) for i in value)
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(?:\s*,\s*\d+)*", text):
        text = f"cuda:{text}"
    if text in ("auto", "cpu", "cuda"):
        return text, None
    match = _CUDA_DEVICE.fullmatch(text)
    if match is None:
        return text, (f"{value!r} is not auto, cpu, cuda, cuda:N or a list of GPU indices"
                      + did_you_mean(text, ["auto", "cpu", "cuda"]))
    indices = [int(i) for i in match.group(1).split(",")]
    if len(set(indices)) != len(indices):
        return text, f"{value!r} names a GPU twice"
    return "cuda:" + ",".join(str(i) for i in indices), None


def whisper_devices(device: str) -> list[str]:
    """The devices one Phase 1 process each runs on: ["cuda:0", "cuda:1"] for cuda:0,1, else [device]."""
    if device.startswith("cuda:") and "," in device:
        return [f"cuda:{i}" for i in device.split(":", 1)[1].split(",")]
    return [device]


def check_whisper_model(value: str, fail: Callable[[str, str], None], warnings: list[str]) -> None:
    """What vtdb/models.py and faster-whisper can load: an existing folder (looked up first, like
    resolve_whisper_model), a model size, the bundled 'base', or a Hugging Face repo id."""
    candidate = Path(value).expanduser()
    if candidate.is_dir():
        if not (candidate / "model.bin").exists():
            fail("whisper_model", f"folder {value!r} has no model.bin (expected a CTranslate2 model folder)")
        return
    if value in WHISPER_MODEL_NAMES or value in BUNDLED_WHISPER_ALIASES:
        return
    if _HF_REPO_ID.fullmatch(value) and "--" not in value and ".." not in value and len(value) <= 96:
        return  # "org/name": faster-whisper downloads it (when downloads are allowed)
    if candidate.exists():
        fail("whisper_model", f"{value!r} is a file; use a CTranslate2 model folder (the one holding model.bin)")
    if "/" in value or "\\" in value or value.startswith(("~", ".")) or candidate.is_absolute():
        # A folder that may appear later (a mount, a model not copied yet); ZIM videos with
        # subtitles never load Whisper, so this stops nothing by itself.
        warnings.append(f"settings.whisper_model: folder {value!r} does not exist (yet); transcription fails "
                        "until it holds a CTranslate2 model")
        return
    fail("whisper_model", f"{value!r} is not a faster-whisper model{did_you_mean(value.strip(), WHISPER_MODEL_NAMES) or '.'} "
         f"Use a model size ({', '.join(WHISPER_MODEL_NAMES)}; 'base' is bundled and works offline, the others "
         "download when downloads are allowed), a Hugging Face repo id such as 'Systran/faster-whisper-small', "
         "or a local CTranslate2 model folder")
