"""The Chroma store: `video_files` (one record per video, with its phase statuses) and `video_segments`."""

from vtdb.store.connection import DatabaseUnavailable
from vtdb.store.migration import EmbedderMismatch
from vtdb.store.store import Store
from vtdb.store.transitions import Claim
from vtdb.store.videos import UnknownVideoError

__all__ = ["Claim", "DatabaseUnavailable", "EmbedderMismatch", "Store", "UnknownVideoError"]
