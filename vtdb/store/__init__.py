"""The Chroma store: `video_files` (one record per video, with its phase statuses) and `video_segments`."""

from vtdb.store.connection import DatabaseUnavailable
from vtdb.store.migration import EmbedderMismatch
from vtdb.store.records import UnknownVideoError, json_list
from vtdb.store.store import Store
from vtdb.store.transitions import Claim

__all__ = ["Claim", "DatabaseUnavailable", "EmbedderMismatch", "Store", "UnknownVideoError", "json_list"]
