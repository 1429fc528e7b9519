"""Where a video's bytes come from (local files, Kiwix/openZIM archives), and the config → video_files sync."""

from vtdb.sources.base import LocalFileSource, VideoSource, ZimEntrySource, source_for

__all__ = ["LocalFileSource", "VideoSource", "ZimEntrySource", "source_for"]
