"""Names and safe loading of the per-video intermediate files in work_dir."""

from __future__ import annotations

import json
from pathlib import Path

from vtdb.errors import VtdbError
from vtdb.naming import check_name, path_inside
from vtdb.safe_pickle import UnsafePickleError, load_plain

PHASE1_FORMAT = "vtdb.phase1"
# 2: windows carry "translation" and "translation_source", the transcript a "translation" (or None).
PHASE1_VERSION = 2
READABLE_PHASE1_VERSIONS = (1, 2)  # a version-1 file reads as one with no translation
PHASE2_FORMAT = "vtdb.phase2"


class WorkFileError(VtdbError, RuntimeError):
    pass


PHASE1_SUFFIX = "_phase1_data.pkl"


def phase1_data_path(work_dir: Path, name: str) -> Path:
    return path_inside(Path(work_dir), Path(work_dir) / f"{check_name(name)}{PHASE1_SUFFIX}")


def phase2_analysis_path(work_dir: Path, name: str) -> Path:
    return path_inside(Path(work_dir), Path(work_dir) / f"{check_name(name)}_phase2_vllm_analysis.json")


def load_phase1_data(work_dir: Path, name: str) -> dict:
    """Load a video's Phase 1 pickle from work_dir with the plain-data unpickler, and check its shape."""
    path = phase1_data_path(work_dir, name)
    if not path.exists():
        raise WorkFileError(f"{path}: Phase 1 data not found; re-run phase1_whisper_frames.py for {name!r}")
    try:
        data = load_plain(path)
    except UnsafePickleError as exc:
        raise WorkFileError(f"{path}: unsafe pickle refused ({exc})") from None
    except Exception as exc:
        raise WorkFileError(f"{path}: corrupt Phase 1 data ({type(exc).__name__}: {exc}); reset phase 1 for {name!r}") from None
    if not isinstance(data, dict) or data.get("format") != PHASE1_FORMAT:
        raise WorkFileError(f"{path}: not a Phase 1 data file (format marker missing)")
    if data.get("version") not in READABLE_PHASE1_VERSIONS:
        raise WorkFileError(f"{path}: Phase 1 data version {data.get('version')} is not one of "
                            f"{', '.join(map(str, READABLE_PHASE1_VERSIONS))}; reset phase 1 for {name!r}")
    if not isinstance(data.get("windows"), list):
        raise WorkFileError(f"{path}: Phase 1 data has no window list")
    return with_translation_keys(data)


def with_translation_keys(data: dict) -> dict:
    """Fill the keys version 2 added, so that readers need no version checks of their own."""
    for window in data["windows"]:
        if isinstance(window, dict):
            window.setdefault("translation", "")
            window.setdefault("translation_source", "")
    if isinstance(data.get("transcript"), dict):
        data["transcript"].setdefault("translation", None)
    return data


def load_phase2_analysis(work_dir: Path, name: str) -> dict:
    """Read and check a Phase 2 file (Phase 3 reads what Phase 2 wrote)."""
    path = phase2_analysis_path(work_dir, name)
    if not path.exists():
        raise WorkFileError(f"{path}: Phase 2 analysis not found; run phase2_vllm_analysis.py for {name!r}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorkFileError(f"{path}: corrupt Phase 2 analysis ({exc}); reset phase 2 for {name!r}") from None
    if not isinstance(doc, dict) or doc.get("format") != PHASE2_FORMAT or not isinstance(doc.get("segments"), list):
        raise WorkFileError(f"{path}: not a Phase 2 analysis file")
    return doc
