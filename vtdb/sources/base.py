"""Where a video's bytes come from: the VideoSource interface and the SOURCES registry.

A source hands Phase 1 a local file and a fingerprint. Kinds: "file" (vtdb.sources.local) and
"zim", a video item inside a Kiwix/openZIM archive (vtdb.sources.zim_entry); a new kind is a
VideoSource subclass registered with `@SOURCES.register("kind")`. `source_for` builds the source
of a video_files record.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Mapping

from vtdb.errors import Registry, VtdbError
from vtdb.media.video import MediaError


class NoEntriesError(VtdbError, LookupError):
    """The source has no items besides the video itself (only archives carry subtitles and the like)."""


class VideoSource:
    """The interface. `fingerprint` and `open_local` are required; `read_entry` is optional: a source
    that can read side items (subtitle tracks inside an archive) sets `has_entries = True`."""

    kind: str
    location: str  # what users see: a path or an archive URI
    has_entries: bool = False

    def fingerprint(self) -> str | None:
        """Changes when the content changes; None when the source cannot be read right now."""
        raise NotImplementedError

    def open_local(self, work_dir: Path) -> contextlib.AbstractContextManager[Path]:
        """A local file path with the video, valid inside the `with` block."""
        raise NotImplementedError

    def read_entry(self, entry: str) -> bytes:
        """The bytes of another item of the same source (a subtitle track); NoEntriesError by default."""
        raise NoEntriesError(f"{self.location}: a {self.kind} source has no entries to read ({entry!r})")


# An unknown kind is the video's fault (its record names a source this version cannot read), as before.
SOURCES: Registry[Callable[[str], VideoSource]] = Registry("source kind", error=MediaError)


def source_for(meta: Mapping[str, object]) -> VideoSource:
    """The source of a video_files record (`source_kind`, `video_path`)."""
    kind = str(meta.get("source_kind") or "file")
    location = str(meta.get("video_path") or "")
    if kind not in SOURCES:
        raise MediaError(f"unknown source kind {kind!r} for {location}")
    return SOURCES.get(kind)(location)


def __getattr__(name: str) -> Any:
    """The sources used to live in this module: `from vtdb.sources.base import LocalFileSource` still works."""
    if name == "LocalFileSource":
        from vtdb.sources.local import LocalFileSource

        return LocalFileSource
    if name == "ZimEntrySource":
        from vtdb.sources.zim_entry import ZimEntrySource

        return ZimEntrySource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
