"""Where a video's bytes come from. A source hands Phase 1 a local file and a fingerprint.

Local files are the only kind in the foundation; Kiwix/openZIM archives plug in here as
another VideoSource.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Mapping, Protocol

from vtdb.media.video import MediaError, check_readable


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


class ZimEntrySource:
    """One video item inside a ZIM archive, streamed to a temp file in work_dir while Phase 1 runs."""

    kind = "zim"

    def __init__(self, uri: str):
        from vtdb.sources.zim import parse_zim_uri

        self.location = uri
        self.archive, self.entry = parse_zim_uri(uri)

    def fingerprint(self) -> str | None:
        from vtdb.sources.zim import archive_fingerprint

        fp = archive_fingerprint(self.archive)
        return f"{fp}:entry={self.entry}" if fp else None

    @contextlib.contextmanager
    def open_local(self, work_dir: Path) -> Iterator[Path]:
        from vtdb.sources.zim import ZimError, extract_to, remove_quietly

        try:
            path = extract_to(self.archive, self.entry, Path(work_dir))
        except ZimError as exc:
            raise MediaError(str(exc)) from None
        try:
            yield path
        except MediaError as exc:
            # Name the archive item, not the temp file (which is gone once this block ends).
            raise MediaError(str(exc).replace(str(path), self.location)) from None
        finally:
            remove_quietly(path)

    def read_entry(self, entry: str) -> bytes:
        from vtdb.sources.zim import open_archive, read_entry

        with open_archive(self.archive) as archive:
            return read_entry(archive, entry)


def source_for(meta: Mapping[str, object]) -> VideoSource:
    kind = str(meta.get("source_kind") or "file")
    location = str(meta.get("video_path") or "")
    if kind == "file":
        return LocalFileSource(location)
    if kind == "zim":
        return ZimEntrySource(location)
    raise MediaError(f"unknown source kind {kind!r} for {location}")
