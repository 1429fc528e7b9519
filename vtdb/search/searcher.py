"""Hybrid search over `video_segments`: vector search fused with BM25 keyword search by
reciprocal-rank fusion, filters, and overlapping windows merged into moments.

Chroma's local mode has no BM25, so a lexical index is kept beside it (bm25s over stemmed
tokens). It is a derived cache keyed on the collection's revision: never a second source of
truth, rebuilt whenever segments were added or deleted since it was built.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vtdb.atomic import atomic_write_text
from vtdb.text import search_tokens, words

RRF_K = 60
# Hybrid search: share of the query's mean similarity to each language's segments taken off the vector
# scores before fusion. Multilingual embedders score any same-language text higher (e5: ~0.80 vs ~0.76 for
# unrelated text), so a Russian query put unrelated Russian windows above the English window that answers
# it; within one language the order does not change. Measured with bench/retrieval.py (cross-language MRR).
LANGUAGE_CALIBRATION = 0.5
CENTROID_SAMPLE = 1000  # segments per language averaged into its centroid (sampled once per revision)
MODES = ("hybrid", "vector", "keyword")
FILTER_FIELDS = ("video", "content_type", "language", "time_from", "time_to", "keyword")


class QueryError(ValueError):
    pass


@dataclass
class Hit:
    id: str
    score: float
    metadata: dict
    document: str
    modes: list[str] = field(default_factory=list)


@dataclass
class Moment:
    """One result. start_time/end_time are None when the stored window has no usable times (see segment_span)."""

    video_name: str
    title: str
    start_time: float | None
    end_time: float | None
    score: float
    description: str
    transcript: str
    keywords: list[str]
    content_type: str
    language: str
    video_path: str
    segment_ids: list[str]
    modes: list[str]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def seconds(value: Any) -> float | None:
    """A stored time as finite seconds, or None (None, NaN, inf, booleans, text that is no number, lists ...)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def segment_span(meta: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """The (start, end) seconds of a stored segment, or None when its times are unusable.

    Search must never fail on a record, whatever is stored: times are coerced to numbers, a
    negative start is read as 0, and a window without a usable range (missing, not a number,
    negative end, end before start) is None. Such a window stays findable by its text; it is
    shown without a time range and left out only when a --from/--to time filter asks for times.
    """
    if not isinstance(meta, Mapping):
        return None
    start, end = seconds(meta.get("start_time")), seconds(meta.get("end_time"))
    if start is None or end is None:
        return None
    start = max(0.0, start)
    return (start, end) if end >= start else None


def _sort_start(meta: Mapping[str, Any]) -> float:
    span = segment_span(meta)
    return span[0] if span else math.inf


def normalize_filters(filters: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (filters or {}).items():
        if key not in FILTER_FIELDS:
            raise QueryError(f"unknown filter {key!r}; use one of: {', '.join(FILTER_FIELDS)}")
        if value is None or value == "" or value == []:
            continue
        if key in ("time_from", "time_to"):
            number = seconds(value)
            if number is None:
                raise QueryError(f"filter {key}: {value!r} is not a number of seconds")
            out[key] = number
        elif key in ("video", "content_type", "language"):
            out[key] = [value] if isinstance(value, str) else [str(v) for v in value]
        else:
            out[key] = str(value)
    if "time_from" in out and "time_to" in out and out["time_from"] > out["time_to"]:
        raise QueryError("filter time_from is after time_to")
    return out


def chroma_where(filters: Mapping[str, Any]) -> dict | None:
    clauses: list[dict] = []
    for key, field_name in (("video", "video_name"), ("content_type", "content_type"), ("language", "language")):
        if key in filters:
            values = filters[key]
            clauses.append({field_name: values[0]} if len(values) == 1 else {field_name: {"$in": values}})
    if "time_from" in filters:
        clauses.append({"end_time": {"$gte": filters["time_from"]}})
    if "time_to" in filters:
        clauses.append({"start_time": {"$lte": filters["time_to"]}})
    if "keyword" in filters:
        clauses.append({"keywords": {"$contains": filters["keyword"]}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def matches_times(meta: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    """The time-range filters; a segment without usable times never matches one."""
    if "time_from" not in filters and "time_to" not in filters:
        return True
    span = segment_span(meta)
    if span is None:
        return False
    if "time_from" in filters and span[1] < filters["time_from"]:
        return False
    if "time_to" in filters and span[0] > filters["time_to"]:
        return False
    return True


def matches(meta: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    if not isinstance(meta, Mapping):
        meta = {}
    if "video" in filters and meta.get("video_name") not in filters["video"]:
        return False
    if "content_type" in filters and meta.get("content_type") not in filters["content_type"]:
        return False
    if "language" in filters and meta.get("language") not in filters["language"]:
        return False
    if not matches_times(meta, filters):
        return False
    if "keyword" in filters:
        keywords = meta.get("keywords") or []
        if not isinstance(keywords, list) or filters["keyword"] not in keywords:
            return False
    return True


_KEEP = ("video_name", "start_time", "end_time", "content_type", "language", "keywords")


class LexicalIndex:
    """BM25 over stemmed tokens of each segment's document and transcript."""

    def __init__(self, ids: list[str], metas: list[dict], retriever, revision: str):
        self.ids = ids
        self.metas = metas
        self.retriever = retriever
        self.revision = revision
        self._position: dict[str, int] | None = None

    @property
    def position(self) -> dict[str, int]:
        """Segment id -> its row in the index."""
        if self._position is None:
            self._position = {sid: i for i, sid in enumerate(self.ids)}
        return self._position

    @staticmethod
    def segment_text(document: str, meta: Mapping[str, Any]) -> str:
        return f"{document}\n{meta.get('transcript') or ''}"

    @classmethod
    def build(cls, db, revision: str) -> "LexicalIndex":
        import bm25s

        ids: list[str] = []
        metas: list[dict] = []
        corpus: list[list[str]] = []
        col = db.video_segments
        offset, page = 0, 5000
        while True:
            got = col.get(include=["documents", "metadatas"], limit=page, offset=offset)
            for sid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"]):
                meta = meta if isinstance(meta, Mapping) else {}
                ids.append(sid)
                metas.append({k: meta.get(k) for k in _KEEP})
                corpus.append(search_tokens(cls.segment_text(str(doc or ""), meta)) or ["\u2205"])
            if len(got["ids"]) < page:
                break
            offset += page
        retriever = bm25s.BM25()
        if corpus:
            retriever.index(corpus, show_progress=False)
        return cls(ids, metas, retriever, revision)

    def save(self, folder: Path) -> None:
        tmp = folder.with_name(folder.name + ".building")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.ids:
            self.retriever.save(str(tmp / "bm25"))
        atomic_write_text(tmp / "segments.json", json.dumps({"revision": self.revision, "ids": self.ids, "metas": self.metas}, ensure_ascii=False))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)

    @classmethod
    def load(cls, folder: Path) -> "LexicalIndex | None":
        import bm25s

        try:
            data = json.loads((folder / "segments.json").read_text(encoding="utf-8"))
            retriever = bm25s.BM25.load(str(folder / "bm25")) if data["ids"] else bm25s.BM25()
        except (OSError, ValueError, KeyError):
            return None
        return cls(data["ids"], data["metas"], retriever, data["revision"])

    def search(self, tokens: list[str], limit: int, filters: Mapping[str, Any]) -> list[tuple[int, float]]:
        if not self.ids or not tokens:
            return []
        scores = np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)
        if filters:
            mask = np.fromiter((matches(m, filters) for m in self.metas), dtype=bool, count=len(self.metas))
            scores = np.where(mask, scores, 0.0)
        limit = min(limit, len(scores))
        top = np.argpartition(-scores, limit - 1)[:limit]
        top = top[np.argsort(-scores[top])]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


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
        got = self.db.video_segments.query(query_embeddings=[vector.tolist()], n_results=limit, where=chroma_where(filters),
                                           include=["metadatas", "documents", "distances"])
        # Chroma's $gte/$lte let through what it can compare (a negative start, an end before the start): the time
        # filters are checked again on the stored values, with the same rules as the keyword side.
        return [Hit(i, 1.0 - float(d), _meta(m), str(doc or ""), ["vector"])
                for i, d, doc, m in zip(got["ids"][0], got["distances"][0], got["documents"][0], got["metadatas"][0])
                if matches_times(_meta(m), filters)]

    def _has_segments(self) -> bool:
        """Whether there is anything to search; a positive count is remembered per revision, an empty
        collection is asked again every time (another process may be loading it)."""
        revision = self.db.segments_revision()
        if self._count is not None and self._count == (revision, True):
            return True
        self._count = (revision, self.db.video_segments.count() > 0)
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
                got = self.db.video_segments.get(ids=sample, include=["embeddings"])
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
        got = self.db.video_segments.get(ids=ids, include=["metadatas", "documents"])
        by_id = {i: (_meta(m), str(d or "")) for i, m, d in zip(got["ids"], got["metadatas"], got["documents"])}
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
            keep = [j for j in range(len(got["ids"][0])) if not timed or matches_times(_meta(got["metadatas"][0][j]), filters)]
            ids = [got["ids"][0][j] for j in keep]
            similarities = 1.0 - np.asarray([got["distances"][0][j] for j in keep], dtype=np.float32)
            add([ids[j] for j in self._calibrated_order(ids, similarities, query_vector, index)], "vector")
        add([index.ids[i] for i, _ in index.search(tokens, pool, filters)], "keyword")
        best = sorted(scores, key=lambda sid: -scores[sid])[:n]
        if not best:
            return []
        got = col.get(ids=best, include=["metadatas", "documents"])
        by_id = {i: (_meta(m), str(d or "")) for i, m, d in zip(got["ids"], got["metadatas"], got["documents"])}
        return [Hit(sid, scores[sid], *by_id[sid], modes[sid]) for sid in best if sid in by_id]

    def search(self, query: str, n: int = 10, filters: Mapping[str, Any] | None = None, mode: str = "hybrid") -> list[Moment]:
        """The best `n` moments: matching windows of one video that overlap are merged into one."""
        hits = self.search_segments(query, max(n * 3, n), filters, mode)
        return merge_moments(hits)[:n]


def _meta(meta: Any) -> dict:
    return dict(meta) if isinstance(meta, Mapping) else {}


def _video_of(hit: Hit) -> str:
    name = hit.metadata.get("video_name")
    if isinstance(name, str) and name:
        return name
    return hit.id.rsplit("_seg_", 1)[0] if "_seg_" in hit.id else str(name or hit.id)


def _keywords(value: Any) -> list[str]:
    """Keywords as a list of strings, whatever is stored (a list, one comma-separated string, nothing)."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        return []
    return [str(k).strip() for k in value if k is not None and str(k).strip()]


def merge_moments(hits: Sequence[Hit]) -> list[Moment]:
    """Overlapping matching windows of one video become one moment.

    Each moment grows from its best window and takes only the windows that overlap that one, so
    a run of neighbouring matches never chains into a moment as long as the whole video. A window
    without usable times (segment_span is None) is a moment of its own, with no time range.
    """
    by_video: dict[str, list[Hit]] = {}
    for hit in hits:
        by_video.setdefault(_video_of(hit), []).append(hit)
    moments: list[Moment] = []
    for video, group in by_video.items():
        left = sorted(group, key=lambda h: -_score(h))
        while left:
            seed = left.pop(0)
            span = segment_span(seed.metadata)
            members = [seed]
            if span is not None:
                s0, e0 = span
                members += [h for h in left if (sp := segment_span(h.metadata)) is not None and sp[0] < e0 and sp[1] > s0]
            left = [h for h in left if h not in members]
            moments.append(_moment(video, members))
    moments.sort(key=lambda m: -m.score)
    return moments


def _score(hit: Hit) -> float:
    score = seconds(hit.score)  # a finite float, whatever came back
    return score if score is not None else 0.0


def _moment(video: str, hits: list[Hit]) -> Moment:
    best = max(hits, key=_score)
    meta = best.metadata
    spans = [sp for h in hits if (sp := segment_span(h.metadata)) is not None]
    return Moment(
        video_name=video,
        title=str(meta.get("title") or video),
        start_time=min(sp[0] for sp in spans) if spans else None,
        end_time=max(sp[1] for sp in spans) if spans else None,
        score=round(_score(best), 6),
        description=str(meta.get("description") or ""),
        transcript=str(meta.get("transcript") or ""),
        keywords=_keywords(meta.get("keywords")),
        content_type=str(meta.get("content_type") or ""),
        language=str(meta.get("language") or ""),
        video_path=str(meta.get("video_path") or ""),
        segment_ids=[h.id for h in sorted(hits, key=lambda h: _sort_start(h.metadata))],
        modes=sorted({m for h in hits for m in h.modes}),
    )
