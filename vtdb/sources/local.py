"""A video that is a local file."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from vtdb.media.video import check_readable
from vtdb.sources.base import SOURCES, VideoSource


@SOURCES.register("file")
class LocalFileSource(VideoSource):
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
