"""Hybrid search over `video_segments`: vector search fused with BM25 keyword search (vtdb.search.index)
by reciprocal-rank fusion, filters (vtdb.search.filters), and overlapping windows merged into moments
(vtdb.search.moments). Videos that left the library (`retired_at`) are left out unless asked for.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vtdb.search.filters import QueryError, chroma_where, matches_times, normalize_filters
from vtdb.search.index import LexicalIndex, Progress, SyncReport, sync
from vtdb.search.moments import Moment, merge_moments
from vtdb.store.segments import Hit, as_meta
from vtdb.store.where import all_of
from vtdb.text import search_tokens, words

RRF_K = 60
# Hybrid search: share of the query's mean similarity to each language's segments taken off the vector
# scores before fusion. Multilingual embedders score any same-language text higher (e5: ~0.80 vs ~0.76 for
# unrelated text), so a Russian query put unrelated Russian windows above the English window that answers
# it; within one language the order does not change. Measured with bench/retrieval.py (cross-language MRR).
LANGUAGE_CALIBRATION = 0.5
CENTROID_SAMPLE = 1000  # segments per language averaged into its centroid
CENTROID_DRIFT = 0.1  # centroids are sampled again when a language's segment count moved by more than this share
MODES = ("hybrid", "vector", "keyword")


def searcher_for(db, progress=None) -> "Searcher":
    """The one Searcher of a store connection, shared by `db.search`, the CLI and the web app (one keyword-index
    handle and one set of language centroids per connection), closed with it. `progress(what, done, total)` is
    told while the keyword index is built or updated (a CLI draws a bar with it)."""
    searcher = db.companion("searcher", lambda: Searcher(db))
    if progress is not None:
        searcher.progress = progress
    return searcher


class Searcher:
    """Hybrid search for one database; the embedder and the lexical index load once and stay warm.

    `cache_dir`: where this host keeps its lexical index (default: the search_index_dir setting).
    `progress(what, done, total)`: told while the index is built or updated (the CLI draws a bar).
    Safe to share between threads (a web app's workers).
    """

    def __init__(self, db, embedder=None, cache_dir: Path | None = None, progress: Progress | None = None):
        self.db = db
        self._embedder = embedder
        self.cache_dir = Path(cache_dir) if cache_dir else Path(db.config.search_index_dir)
        self.progress = progress
        self.index = LexicalIndex(self.cache_dir)
        self.last_sync: SyncReport | None = None
        self._state: tuple[str, str] | None = None  # (collection id, revision) the index was last seen synced to
        self._count = 0
        self._retired: list[str] = []
        self._languages: dict[str, int] = {}
        self._centroids: tuple[dict[str, int], dict[str, np.ndarray]] | None = None
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    @property
    def embedder(self):
        if self._embedder is None:
            from vtdb.embedders import embedder_dimension, load_embedder

            name = self.db.settings.embedder
            self.db.check_embedder(name, embedder_dimension(name))
            self._embedder = load_embedder(name)
        return self._embedder

    def lexical(self) -> LexicalIndex:
        """The lexical index, brought up to date with the database first (only the videos that changed)."""
        state = self.db.segments_state()  # one read of the collection per search: another process may have loaded videos
        if state == self._state:
            return self.index
        with self._lock:
            try:
                report = sync(self.index, self.db, self.progress)
            except sqlite3.OperationalError as exc:
                # Another process holds the write lock for longer than the busy timeout (a rebuild): search what the
                # index holds now; the next search syncs again.
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                return self.index
            except sqlite3.DatabaseError:  # damaged while open: a derived cache, start again
                self.index.discard()
                report = sync(self.index, self.db, self.progress)
            self.last_sync = report
            self.index.reload()  # what another process committed (it may have done this sync already)
            self._count = self.index.count()
            self._retired = self.index.retired()
            self._languages = self.index.languages()  # per sync, not per query
            self._state = state
        return self.index

    def close(self) -> None:
        self.index.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

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

    def _exclude(self, include_retired: bool) -> list[str]:
        return [] if include_retired else self._retired

    def _where(self, filters: Mapping[str, Any], exclude: Sequence[str]) -> dict | None:
        where = chroma_where(filters)
        if not exclude:
            return where
        clause = {"video_name": {"$nin": list(exclude)}}
        return all_of([where, clause]) if where else clause

    def _embed_async(self, query: str):
        """The query vector, computed in a worker thread while BM25 runs (both release the GIL)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vtdb-embed")
        embedder = self.embedder  # loaded (and checked) here, so that errors surface in the caller's thread
        return self._pool.submit(lambda: np.asarray(embedder.embed_queries([query])[0], dtype=np.float32))

    def vector_hits(self, query: str, limit: int, filters: Mapping[str, Any], include_retired: bool = False,
                    query_vector: np.ndarray | None = None) -> list[Hit]:
        self.lexical()
        if not self._count:
            return []  # nothing to search: no model load
        vector = query_vector if query_vector is not None else self.embedder.embed_queries([query])[0]
        # n_results may exceed the count (Chroma returns what there is): no count() per query (~10 ms at 100k).
        got = self.db.query_segments(vector.tolist(), limit, self._where(filters, self._exclude(include_retired)))
        # Chroma's $gte/$lte let through what it can compare (a negative start, an end before the start): the time
        # filters are checked again on the stored values, with the same rules as the keyword side.
        return [Hit(i, 1.0 - float(d), as_meta(m), str(doc or ""), ["vector"])
                for i, d, doc, m in zip(got["ids"][0], got["distances"][0], got["documents"][0], got["metadatas"][0])
                if matches_times(as_meta(m), filters)]

    def language_centroids(self) -> dict[str, np.ndarray]:
        """Mean segment vector per speech language (a sample of each); {} with one language. Sampled again only
        when the languages or their counts moved noticeably (one more video does not move a mean of thousands)."""
        index = self.lexical()
        counts = self._languages
        if self._centroids is not None:
            old = self._centroids[0]
            if old.keys() == counts.keys() and all(abs(counts[k] - old[k]) <= CENTROID_DRIFT * max(old[k], 1) for k in counts):
                return self._centroids[1]
        centroids: dict[str, np.ndarray] = {}
        if len(counts) > 1:
            rng = random.Random(0)
            for language in counts:
                ids = index.ids_of_language(language)
                sample = ids if len(ids) <= CENTROID_SAMPLE else rng.sample(ids, CENTROID_SAMPLE)
                got = self.db.get_segments(sample, include=["embeddings"])
                vectors = np.asarray(got["embeddings"], dtype=np.float32)
                if vectors.ndim == 2 and len(vectors):
                    centroids[language] = vectors.mean(axis=0)
        self._centroids = (counts, centroids)
        return centroids

    def _calibrated_order(self, ids: Sequence[str], similarities: np.ndarray, query_vector: np.ndarray,
                          languages: Mapping[str, str]) -> list[int]:
        """Positions of the vector hits, best first (equal ones by id), after each language's mean similarity to the
        query was partly taken off (LANGUAGE_CALIBRATION) when more than one language is loaded."""
        centroids = self.language_centroids() if len(ids) > 1 else {}
        adjusted = [float(s) for s in similarities]
        if centroids:
            qv = np.asarray(query_vector, dtype=np.float32)
            offset = {language: LANGUAGE_CALIBRATION * float(c @ qv) for language, c in centroids.items()}
            adjusted = [a - offset.get(languages.get(sid, ""), 0.0) for a, sid in zip(adjusted, ids)]
        # Ties (equal vectors) in id order: Chroma returns them in no fixed order, and the ranks feed the fusion.
        return sorted(range(len(ids)), key=lambda j: (-adjusted[j], ids[j]))

    def _records(self, ids: Sequence[str]) -> dict[str, tuple[dict, str]]:
        if not ids:
            return {}
        got = self.db.get_segments(list(ids))
        return {i: (as_meta(m), str(d or "")) for i, m, d in zip(got["ids"], got["metadatas"], got["documents"])}

    def keyword_hits(self, tokens: list[str], limit: int, filters: Mapping[str, Any], include_retired: bool = False) -> list[Hit]:
        index = self.lexical()
        ranked = index.search(tokens, limit, filters, self._exclude(include_retired))
        by_id = self._records([sid for sid, _ in ranked])
        return [Hit(sid, score, *by_id[sid], ["keyword"]) for sid, score in ranked if sid in by_id]

    def search_segments(self, query: str, n: int = 10, filters: Mapping[str, Any] | None = None, mode: str = "hybrid",
                        include_retired: bool = False, query_vector: np.ndarray | None = None) -> list[Hit]:
        """`query_vector`: the query's embedding when the caller computed it already (a web app embeds outside its
        database lock, so that one long query never stops the other requests)."""
        if mode not in MODES:
            raise QueryError(f"mode must be one of {MODES}")
        tokens = self.check_query(query)
        filters = normalize_filters(filters)
        if filters.get("keyword"):  # case-insensitive: every spelling of it the library holds ("music" finds "Music")
            index = self.lexical()
            filters["keyword"] = sorted({f for k in filters["keyword"] for f in index.keyword_forms(k)})
        if mode == "vector":
            return self.vector_hits(query, n, filters, include_retired, query_vector)
        if mode == "keyword":
            return self.keyword_hits(tokens, n, filters, include_retired)
        return self._hybrid_hits(query, tokens, n, filters, include_retired, query_vector)

    def _hybrid_hits(self, query: str, tokens: list[str], n: int, filters: Mapping[str, Any], include_retired: bool,
                     query_vector: np.ndarray | None = None) -> list[Hit]:
        """Reciprocal-rank fusion of the (language-calibrated) vector ranking and the BM25 ranking, each a pool
        of max(50, 5n). The query embedding runs while BM25 does; the pools are ids and scores only, and the
        winners' records are read once at the end."""
        pool = max(50, n * 5)
        index = self.lexical()
        exclude = self._exclude(include_retired)
        scores: dict[str, float] = {}
        modes: dict[str, list[str]] = {}
        records: dict[str, tuple[dict, str]] = {}

        def add(ranked_ids: Sequence[str], mode: str) -> None:
            for rank, sid in enumerate(ranked_ids):
                scores[sid] = scores.get(sid, 0.0) + 1.0 / (RRF_K + rank + 1)
                modes.setdefault(sid, []).append(mode)

        pending = None
        if self._count and query_vector is None:
            pending = self._embed_async(query)  # the index knows whether there is anything
        keyword = index.search(tokens, pool, filters, exclude)
        if pending is not None:
            query_vector = pending.result()
        if self._count and query_vector is not None:
            query_vector = np.asarray(query_vector, dtype=np.float32)
            # Distances only: a pool's metadata and documents cost Chroma ~20x the query itself (bench/phase3.py,
            # 150 records), and only the n winners are shown. The segments' languages come from the index;
            # metadata is read with the pool only when a time filter must be checked on the stored values.
            timed = "time_from" in filters or "time_to" in filters
            got = self.db.query_segments(query_vector.tolist(), pool, self._where(filters, exclude),
                                         include=["distances", "metadatas"] if timed else ["distances"])
            metas = got["metadatas"][0] if timed else [None] * len(got["ids"][0])
            ids: list[str] = []
            sims: list[float] = []
            for sid, d, m in zip(got["ids"][0], got["distances"][0], metas):
                if not timed or matches_times(as_meta(m), filters):
                    ids.append(sid)
                    sims.append(1.0 - float(d))
            languages = index.language_of(ids) if len(ids) > 1 and len(self._languages) > 1 else {}
            order = self._calibrated_order(ids, np.asarray(sims, dtype=np.float32), query_vector, languages)
            add([ids[j] for j in order], "vector")
        add([sid for sid, _ in keyword], "keyword")
        best = sorted(scores, key=lambda sid: (-scores[sid], sid))[:n]
        records.update(self._records(best))  # one read of the winners' metadata and documents
        return [Hit(sid, scores[sid], *records[sid], modes[sid]) for sid in best if sid in records]

    def search(self, query: str, n: int = 10, filters: Mapping[str, Any] | None = None, mode: str = "hybrid",
               include_retired: bool = False, query_vector: np.ndarray | None = None) -> list[Moment]:
        """The best `n` moments: matching windows of one video that overlap are merged into one.
        Videos that left the library are left out unless `include_retired`."""
        hits = self.search_segments(query, max(n * 3, n), filters, mode, include_retired, query_vector)
        return merge_moments(hits)[:n]
