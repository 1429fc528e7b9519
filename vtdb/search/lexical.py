"""The keyword side of search, by its old name: the index now lives in vtdb.search.index (tantivy, with a
SQLite book of per-video revisions; updated per video). The rebuild-everything bm25s cache is gone; `from vtdb.search.lexical import
LexicalIndex` keeps working."""

from vtdb.search.index import LexicalIndex, SearchIndexError, SyncReport, rebuild, sync

__all__ = ["LexicalIndex", "SearchIndexError", "SyncReport", "rebuild", "sync"]
