"""The Chroma store: `video_files` (one record per video, with its phase statuses) and `video_segments`."""

from vtdb.store.connection import DatabaseUnavailable
from vtdb.store.manager import ChromaDBManager
from vtdb.store.migration import EmbedderMismatch
from vtdb.store.records import UnknownVideoError, json_list
from vtdb.store.transitions import Claim

__all__ = ["ChromaDBManager", "Claim", "DatabaseUnavailable", "EmbedderMismatch", "UnknownVideoError", "json_list"]
