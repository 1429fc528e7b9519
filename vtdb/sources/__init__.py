"""Where a video's bytes come from (local files, Kiwix/openZIM archives), and the config → video_files sync
(vtdb.sources.sync). Importing the package registers the built-in source kinds."""

from vtdb.sources.base import (
    SOURCES,
    NoEntriesError,
    OpenHandles,
    SourceBytes,
    SourceUnavailable,
    UnknownSourceKind,
    VideoSource,
    source_at,
    source_for,
)
from vtdb.sources.local import LocalFileSource
from vtdb.sources.zim_entry import ZimEntrySource

__all__ = ["SOURCES", "LocalFileSource", "NoEntriesError", "OpenHandles", "SourceBytes", "SourceUnavailable",
           "UnknownSourceKind", "VideoSource", "ZimEntrySource", "source_at", "source_for"]
