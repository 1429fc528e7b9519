"""--include-media: the videos themselves inside the pack, {source_id}/media/{video}{ext}, so that its
pages play the moment offline from the pack (disaster-clippy serves any file of a source folder
under /backup/{source_id}/…).

Local files are hard-linked when the pack is on the same file system (no second copy on disk),
copied otherwise; a video of any other source (a ZIM item) is extracted as Phase 1 does
(`VideoSource.open_local`, vtdb.sources).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from vtdb.errors import VtdbError
from vtdb.export import ExportError
from vtdb.records import Video
from vtdb.sources import VideoSource, source_for

MEDIA_DIR = "media"


@dataclass(frozen=True)
class MediaPlan:
    """Where a video's file comes from and its name inside media/."""

    video_name: str
    file_name: str  # {video}{ext}: the name is already a safe file name (vtdb.naming)
    record: Mapping[str, object]

    @property
    def source(self) -> VideoSource:
        return source_for(self.record)


def media_suffix(record: Mapping[str, object]) -> str:
    """The file's own extension; without one, the extension of the container its bytes are (a local file's
    signature, vtdb.media.sniff.sniff_media_type), else .mp4 (.m4a for an audio-only file)."""
    source = source_for(record)
    suffix = source.file_suffix().lower()
    if suffix and len(suffix) <= 6 and suffix[1:].isalnum():
        return suffix
    audio = not Video.from_meta(record).has_video
    local = source.local_file()
    if local is not None:
        from vtdb.media.sniff import AUDIO_OF, HEAD_BYTES, MEDIA_TYPES, sniff_media_type

        try:
            with open(local, "rb") as fh:
                found = sniff_media_type(fh.read(HEAD_BYTES))
        except OSError:
            found = None
        if found is not None:
            return "." + MEDIA_TYPES[AUDIO_OF.get(found, found) if audio else found]
    return ".m4a" if audio else ".mp4"


def plan_media(record: Mapping[str, object]) -> tuple[MediaPlan | None, str]:
    """(plan, "") when the video can go into the pack, else (None, why not)."""
    video = Video.from_meta(record)
    name = video.name
    if not video.video_path:
        return None, "its record has no video_path"
    plan = MediaPlan(name, f"{name}{media_suffix(record)}", record)
    missing = plan.source.missing()
    return (None, missing) if missing else (plan, "")


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
    source = plan.source
    try:
        local = source.local_file()
        if local is not None:
            return _link_or_copy(local, dst)
        if work_dir is None:
            raise VtdbError(f"no work folder to extract {source.kind} videos into")
        work_dir.mkdir(parents=True, exist_ok=True)
        with source.open_local(work_dir) as extracted:
            _link_or_copy(Path(extracted), dst)  # a link keeps the data after the temp file is removed
        return "extracted"
    except (OSError, VtdbError) as exc:
        raise ExportError(f"video {plan.video_name}: could not put its file into the pack ({exc}); "
                          "leave it out with --videos, or export without --include-media") from None
