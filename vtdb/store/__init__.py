"""The Chroma store: `video_files` (one record per video, with its phase statuses) and `video_segments`."""

from vtdb.store.manager import ChromaDBManager, Claim, DatabaseUnavailable, EmbedderMismatch, UnknownVideoError, json_list

__all__ = ["ChromaDBManager", "Claim", "DatabaseUnavailable", "EmbedderMismatch", "UnknownVideoError", "json_list"]
