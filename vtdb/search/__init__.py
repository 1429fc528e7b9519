"""Search over the moments: hybrid (vectors + BM25), vector or keyword; every face (CLI, export) goes through here.

Modules: searcher (Searcher: hybrid search), index (the keyword index: tantivy BM25, synced per video),
filters (filters, Chroma where clauses), moments (reading stored segment records; windows merged into moments), videos (whole-video
search over the Phase 4 summaries).
"""

from vtdb.search.filters import QueryError
from vtdb.search.moments import Moment
from vtdb.search.searcher import Searcher
from vtdb.search.videos import VideoHit, search_videos

__all__ = ["Moment", "QueryError", "Searcher", "VideoHit", "search_videos"]
