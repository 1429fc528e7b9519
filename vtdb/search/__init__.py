"""Search over the moments: hybrid (vectors + BM25), vector or keyword; every face (CLI, export) goes through here."""

from vtdb.search.searcher import Moment, QueryError, Searcher

__all__ = ["Moment", "QueryError", "Searcher"]
