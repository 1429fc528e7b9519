"""Hybrid search over `video_segments`: vector search fused with BM25 keyword search (vtdb.search.lexical)
by reciprocal-rank fusion, filters (vtdb.search.filters), and overlapping windows merged into moments
(vtdb.search.moments).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vtdb.search.filters import FILTER_FIELDS, QueryError, chroma_where, matches, matches_times, normalize_filters
from vtdb.search.lexical import LexicalIndex
from vtdb.search.moments import Hit, Moment, as_meta, merge_moments, seconds, segment_span
from vtdb.text import search_tokens, words

# The names this module held before it was split: `from vtdb.search.searcher import X` keeps working.
__all__ = ["CENTROID_SAMPLE", "FILTER_FIELDS", "LANGUAGE_CALIBRATION", "MODES", "RRF_K", "Hit", "LexicalIndex", "Moment",
           "QueryError", "Searcher", "chroma_where", "matches", "matches_times", "merge_moments", "normalize_filters",
           "seconds", "segment_span"]

RRF_K = 60
# Hybrid search: share of the query's mean similarity to each language's segments taken off the vector
# scores before fusion. Multilingual embedders score any same-language text higher (e5: ~0.80 vs ~0.76 for
# unrelated text), so a Russian query put unrelated Russian windows above the English window that answers
# it; within one language the order does not change. Measured with bench/retrieval.py (cross-language MRR).
LANGUAGE_CALIBRATION = 0.5
CENTROID_SAMPLE = 1000  # segments per language averaged into its centroid (sampled once per revision)
MODES = ("hybrid", "vector", "keyword")


class Searcher:
    """Hybrid search for one database; the embedder and the lexical index load once and stay warm."""

    def __init__(self, db, embedder=None, cache_dir: Path | None = None):
        self.db = db
        self._embedder = embedder
        self.cache_dir = Path(cache_dir) if cache_dir else Path(db.config.work_dir) / "lexical_index"
        self._lexical: LexicalIndex | None = None
        self._centroids: tuple[str, dict[str, np.ndarray]] | None = None
        self._count: tuple[str, bool] | None = None

    @property
    def embedder(self):
        if self._embedder is None:
            from vtdb.embedders import embedder_dimension, load_embedder

            name = self.db.settings.embedder
            self.db.check_embedder(name, embedder_dimension(name))
            self._embedder = load_embedder(name)
        return self._embedder

    def lexical(self) -> LexicalIndex:
        revision = self.db.segments_revision()
        if self._lexical is not None and self._lexical.revision == revision:
            return self._lexical
        cached = LexicalIndex.load(self.cache_dir)
        if cached is None or cached.revision != revision:
            cached = LexicalIndex.build(self.db, revision)
            try:
                cached.save(self.cache_dir)
            except OSError:
                pass  # a read-only work_dir only costs a rebuild next time
        self._lexical = cached
        return cached

    @staticmethod
    def check_query(query: str) -> list[str]:
        if not isinstance(query, str) or not query.strip():
            raise QueryError("the query is empty: type what you are looking for, e.g. 'boiling pasta'")
        tokens = search_tokens(query)
        if not tokens:
            if words(query):
                raise QueryError(f"the query {query!r} has only stop words; add a word that says what you look for")
            raise QueryError(f"the query {query!r} has no words to search for")
        return tokens

    def vector_hits(self, query: str, limit: int, filters: Mapping[str, Any]) -> list[Hit]:
        if not self._has_segments():
            return []  # nothing to search: no model load
        vector = self.embedder.embed_queries([query])[0]
        # n_results may exceed the count (Chroma returns what there is): no count() per query (~10 ms at 100k).
        got = self.db.query_segments(vector.tolist(), limit, chroma_where(filters))
        # Chroma's $gte/$lte let through what it can compare (a negative start, an end before the start): the time
        # filters are checked again on the stored values, with the same rules as the keyword side.
        return [Hit(i, 1.0 - float(d), as_meta(m), str(doc or ""), ["vector"])
                for i, d, doc, m in zip(got["ids"][0], got["distances"][0], got["documents"][0], got["metadatas"][0])
                if matches_times(as_meta(m), filters)]

    def _has_segments(self) -> bool:
        """Whether there is anything to search; a positive count is remembered per revision, an empty
        collection is asked again every time (another process may be loading it)."""
        revision = self.db.segments_revision()
        if self._count is not None and self._count == (revision, True):
            return True
        self._count = (revision, self.db.count_segments() > 0)
        return self._count[1]

    def language_centroids(self) -> dict[str, np.ndarray]:
        """Mean segment vector per speech language (a sample of each), once per revision; {} with one language."""
        index = self.lexical()
        if self._centroids is not None and self._centroids[0] == index.revision:
            return self._centroids[1]
        by_language: dict[str, list[str]] = {}
        for sid, meta in zip(index.ids, index.metas):
            by_language.setdefault(str(meta.get("language") or ""), []).append(sid)
        centroids: dict[str, np.ndarray] = {}
        if len(by_language) > 1:
            rng = random.Random(0)
            for language, ids in by_language.items():
                sample = ids if len(ids) <= CENTROID_SAMPLE else rng.sample(ids, CENTROID_SAMPLE)
                got = self.db.get_segments(sample, include=["embeddings"])
                vectors = np.asarray(got["embeddings"], dtype=np.float32)
                if vectors.ndim == 2 and len(vectors):
                    centroids[language] = vectors.mean(axis=0)
        self._centroids = (index.revision, centroids)
        return centroids

    def _calibrated_order(self, ids: Sequence[str], similarities: np.ndarray, query_vector: np.ndarray, index: "LexicalIndex") -> list[int]:
        """Positions of the vector hits, best first, after each language's mean similarity to the query was
        partly taken off (LANGUAGE_CALIBRATION). The same order when only one language is loaded."""
        centroids = self.language_centroids() if len(ids) > 1 else {}
        if not centroids:
            return list(range(len(ids)))
        qv = np.asarray(query_vector, dtype=np.float32)
        offset = {language: LANGUAGE_CALIBRATION * float(c @ qv) for language, c in centroids.items()}
        position = index.position
        adjusted = [float(similarities[j]) - (offset.get(str(index.metas[position[sid]].get("language") or ""), 0.0)
                                              if sid in position else 0.0) for j, sid in enumerate(ids)]
        return sorted(range(len(ids)), key=lambda j: -adjusted[j])

    def keyword_hits(self, tokens: list[str], limit: int, filters: Mapping[str, Any]) -> list[Hit]:
        index = self.lexical()
        ranked = index.search(tokens, limit, filters)
        if not ranked:
            return []
        ids = [index.ids[i] for i, _ in ranked]
        got = self.db.get_segments(ids)
        by_id = {i: (as_meta(m), str(d or "")) for i, m, d in zip(got["ids"], got["metadatas"], got["documents"])}
        return [Hit(index.ids[i], score, *by_id[index.ids[i]], ["keyword"]) for i, score in ranked if index.ids[i] in by_id]

    def search_segments(self, query: str, n: int = 10, filters: Mapping[str, Any] | None = None, mode: str = "hybrid") -> list[Hit]:
        if mode not in MODES:
            raise QueryError(f"mode must be one of {MODES}")
        tokens = self.check_query(query)
        filters = normalize_filters(filters)
        if mode == "vector":
            return self.vector_hits(query, n, filters)
        if mode == "keyword":
            return self.keyword_hits(tokens, n, filters)
        return self._hybrid_hits(query, tokens, n, filters)

    def _hybrid_hits(self, query: str, tokens: list[str], n: int, filters: Mapping[str, Any]) -> list[Hit]:
        """Reciprocal-rank fusion of the (language-calibrated) vector ranking and the BM25 ranking, each a pool
        of max(50, 5n). Both rankings are ids only; documents and metadata are read for the best n alone."""
        pool = max(50, n * 5)
        index = self.lexical()
        col = self.db.video_segments
        scores: dict[str, float] = {}
        modes: dict[str, list[str]] = {}

        def add(ranked_ids: Sequence[str], mode: str) -> None:
            for rank, sid in enumerate(ranked_ids):
                scores[sid] = scores.get(sid, 0.0) + 1.0 / (RRF_K + rank + 1)
                modes.setdefault(sid, []).append(mode)

        if index.ids:  # the index is of the current revision: it knows whether there is anything to search
            query_vector = self.embedder.embed_queries([query])[0]
            timed = "time_from" in filters or "time_to" in filters
            got = col.query(query_embeddings=[query_vector.tolist()], n_results=pool, where=chroma_where(filters),
                            include=["distances", "metadatas"] if timed else ["distances"])
            keep = [j for j in range(len(got["ids"][0])) if not timed or matches_times(as_meta(got["metadatas"][0][j]), filters)]
            ids = [got["ids"][0][j] for j in keep]
            similarities = 1.0 - np.asarray([got["distances"][0][j] for j in keep], dtype=np.float32)
            add([ids[j] for j in self._calibrated_order(ids, similarities, query_vector, index)], "vector")
        add([index.ids[i] for i, _ in index.search(tokens, pool, filters)], "keyword")
        best = sorted(scores, key=lambda sid: -scores[sid])[:n]
        if not best:
            return []
        got = col.get(ids=best, include=["metadatas", "documents"])
        by_id = {i: (as_meta(m), str(d or "")) for i, m, d in zip(got["ids"], got["metadatas"], got["documents"])}
        return [Hit(sid, scores[sid], *by_id[sid], modes[sid]) for sid in best if sid in by_id]

    def search(self, query: str, n: int = 10, filters: Mapping[str, Any] | None = None, mode: str = "hybrid") -> list[Moment]:
        """The best `n` moments: matching windows of one video that overlap are merged into one."""
        hits = self.search_segments(query, max(n * 3, n), filters, mode)
        return merge_moments(hits)[:n]
