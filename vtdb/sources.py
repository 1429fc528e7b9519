"""Where a video's bytes come from. A source hands Phase 1 a local file and a fingerprint.

Local files are the only kind in the foundation; Kiwix/openZIM archives plug in here as
another VideoSource.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Mapping, Protocol

from .media import MediaError, check_readable


class VideoSource(Protocol):
    kind: str
    location: str  # what users see: a path or an archive URI

    def fingerprint(self) -> str | None:
        """Changes when the content changes; None when the source cannot be read right now."""

    def open_local(self, work_dir: Path) -> contextlib.AbstractContextManager[Path]:
        """A local file path with the video, valid inside the `with` block."""


class LocalFileSource:
    kind = "file"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.location = str(self.path)

    def fingerprint(self) -> str | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return f"file:size={st.st_size}:mtime_ns={st.st_mtime_ns}"

    @contextlib.contextmanager
    def open_local(self, work_dir: Path) -> Iterator[Path]:
        check_readable(self.path)
        yield self.path


def source_for(meta: Mapping[str, object]) -> VideoSource:
    kind = str(meta.get("source_kind") or "file")
    location = str(meta.get("video_path") or "")
    if kind == "file":
        return LocalFileSource(location)
    raise MediaError(f"unknown source kind {kind!r} for {location}")
