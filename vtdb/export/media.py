"""--include-media: the videos themselves inside the pack, {source_id}/media/{video}{ext}, so that its
pages play the moment offline from the pack (disaster-clippy serves any file of a source folder
under /backup/{source_id}/…).

Local files are hard-linked when the pack is on the same file system (no second copy on disk),
copied otherwise; ZIM videos are extracted from their archive (vtdb.sources, as Phase 1 does).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from vtdb.errors import VtdbError
from vtdb.export import ExportError
from vtdb.sources.base import source_for

MEDIA_DIR = "media"


@dataclass(frozen=True)
class MediaPlan:
    """Where a video's file comes from and its name inside media/."""

    video_name: str
    file_name: str  # {video}{ext}: the name is already a safe file name (vtdb.naming)
    record: Mapping[str, object]

    @property
    def is_zim(self) -> bool:
        return str(self.record.get("source_kind") or "") == "zim" or str(self.record.get("video_path") or "").startswith("zim://")


def media_suffix(record: Mapping[str, object]) -> str:
    """The file's own extension; without one, the extension of the container its bytes are (a local file's
    signature, vtdb.media.sniff.sniff_media_type), else .mp4 (.m4a for an audio-only file)."""
    path = str(record.get("video_path") or "")
    tail = path.rsplit("#", 1)[-1] if path.startswith("zim://") else path
    suffix = Path(tail).suffix.lower()
    if suffix and len(suffix) <= 6 and suffix[1:].isalnum():
        return suffix
    audio = record.get("has_video") is False
    if not path.startswith("zim://"):
        from vtdb.media.sniff import AUDIO_OF, HEAD_BYTES, MEDIA_TYPES, sniff_media_type

        try:
            with open(path, "rb") as fh:
                found = sniff_media_type(fh.read(HEAD_BYTES))
        except OSError:
            found = None
        if found is not None:
            return "." + MEDIA_TYPES[AUDIO_OF.get(found, found) if audio else found]
    return ".m4a" if audio else ".mp4"


def plan_media(record: Mapping[str, object]) -> tuple[MediaPlan | None, str]:
    """(plan, "") when the video can go into the pack, else (None, why not)."""
    name = str(record["name"])
    path = str(record.get("video_path") or "")
    plan = MediaPlan(name, f"{name}{media_suffix(record)}", record)
    if not path:
        return None, "its record has no video_path"
    if plan.is_zim:
        archive = str(record.get("zim_archive") or path[len("zim://"):].split("#", 1)[0])
        if not Path(archive).is_file():
            return None, f"its archive {archive} is missing"
        return plan, ""
    if not Path(path).is_file():
        return None, f"its file {path} is missing"
    return plan, ""


def _link_or_copy(src: Path, dst: Path) -> str:
    try:
        os.link(src, dst)
        return "linked"
    except OSError:  # another file system, or links not allowed there
        shutil.copyfile(src, dst)
        return "copied"


def place_media(plan: MediaPlan, media_dir: Path, work_dir: Path | None) -> str:
    """Put the video at media_dir/plan.file_name; returns how ("linked", "copied", "extracted")."""
    dst = media_dir / plan.file_name
    media_dir.mkdir(parents=True, exist_ok=True)
    try:
        if plan.is_zim:
            if work_dir is None:
                raise VtdbError("no work folder to extract ZIM videos into")
            work_dir.mkdir(parents=True, exist_ok=True)
            with source_for(plan.record).open_local(work_dir) as local:
                _link_or_copy(Path(local), dst)  # a link keeps the data after the temp file is removed
            return "extracted"
        return _link_or_copy(Path(str(plan.record["video_path"])), dst)
    except (OSError, VtdbError) as exc:
        raise ExportError(f"video {plan.video_name}: could not put its file into the pack ({exc}); "
                          "leave it out with --videos, or export without --include-media") from None
