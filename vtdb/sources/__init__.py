"""Where a video's bytes come from (local files, Kiwix/openZIM archives), and the config → video_files sync
(vtdb.sources.sync). Importing the package registers the built-in source kinds."""

from vtdb.sources.base import SOURCES, NoEntriesError, VideoSource, source_for
from vtdb.sources.local import LocalFileSource
from vtdb.sources.zim_entry import ZimEntrySource

__all__ = ["SOURCES", "LocalFileSource", "NoEntriesError", "VideoSource", "ZimEntrySource", "source_for"]
