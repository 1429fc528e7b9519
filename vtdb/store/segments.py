"""video_segments: add, delete and count a video's segments, the segments revision, vector search; and the
whole-video side of video_files (Phase 4's summary vector, whole-video search)."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from vtdb import clock, state
from vtdb.store.connection import MAX_BATCH, VIDEO_SEGMENTS
from vtdb.store.videos import _clean, _Videos

MAX_SEARCH_RESULTS = 10_000  # one search's results (the CLIs allow 1000, the web app 100)


@dataclass
class Hit:
    """One stored segment a search found; `modes`: which retrievals found it (vector, keyword, similar ...)."""

    id: str
    score: float
    metadata: dict[str, Any]
    document: str
    modes: list[str] = field(default_factory=list)


def as_meta(meta: Any) -> dict[str, Any]:
    """A stored metadata record as a (new) dict; {} for anything that is not a mapping (None, a list ...)."""
    return dict(meta) if isinstance(meta, Mapping) else {}


def result_count(n_results: Any) -> int:
    """One search's result count as an int: a whole number from 1 to MAX_SEARCH_RESULTS (ValueError otherwise:
    the keyword index allocates per result up front, and 100,000,000 aborted the process asking for 36 GB)."""
    try:
        count = operator.index(n_results)  # int, numpy integers; not 2.5 or "5"
    except TypeError:
        count = 0
    if isinstance(n_results, bool) or not 1 <= count <= MAX_SEARCH_RESULTS:
        raise ValueError(f"n_results must be a whole number from 1 to {MAX_SEARCH_RESULTS}, got {str(n_results)[:40]}")
    return count


class _Segments(_Videos):
    """The segments and the nearest segments to a vector."""

    def segments_revision(self) -> str:
        """Changes whenever segments are added or deleted: derived caches (the lexical index) key on it.

        Read fresh from the database, not from the cached collection object: another process (a Phase 3
        worker on a Chroma server) or another client may have changed the segments since it was fetched.
        """
        col = self._segments_col
        try:
            col = self._chroma.get_collection(VIDEO_SEGMENTS, embedding_function=None)
            self._collections[VIDEO_SEGMENTS] = col
        except Exception:  # dropped meanwhile (--reembed elsewhere): the cached object is all there is
            pass
        return str((col.metadata or {}).get("revision") or "")

    def segments_state(self) -> tuple[str, str]:
        """(collection id, revision) of video_segments, read fresh in one call: derived caches start again when
        the id changes (--reembed makes a new collection) and look at the per-video revisions when the revision does."""
        revision = self.segments_revision()
        return str(self._segments_col.id), revision

    def _bump_revision(self, name: str | None = None) -> None:
        """A new collection revision and, for `name`, a new per-video revision in its video_files record: the
        lexical index re-reads only the videos whose revision changed. The record is written first, so a search
        host that sees the new collection revision also sees the video's."""
        revision = state.new_claim_id()
        if name is not None and self._get_meta(name) is not None:  # segments without a record: the index re-reads those
            self._update(name, {"segments_revision": revision})
        self.segments_revision()  # refresh the cached collection, so its other metadata is current
        col = self._segments_col
        meta = dict(col.metadata or {})
        meta["revision"] = revision
        col.modify(metadata=meta)

    def bump_segments_revision(self) -> None:
        """Tell search hosts to look at the video_files records again (`retired` set or cleared: search leaves
        retired videos out, and learns of it when the collection revision changes)."""
        self._bump_revision()

    def segment_revisions(self) -> dict[str, tuple[str, bool]]:
        """Every video's (segments_revision, retired) from video_files, read in pages (for the lexical index)."""
        out: dict[str, tuple[str, bool]] = {}
        offset = 0
        while True:
            got = self._files.get(include=["metadatas"], limit=MAX_BATCH, offset=offset)
            for vid, meta in zip(got["ids"], got["metadatas"]):
                meta = meta or {}
                out[vid] = (str(meta.get("segments_revision") or ""), meta.get("retired") is True)
            if len(got["ids"]) < MAX_BATCH:
                return out
            offset += MAX_BATCH

    def add_segments(
        self,
        name: str,
        ids: Sequence[str],
        embeddings: Sequence[Sequence[float]],
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> int:
        """Replace the video's segments with these (delete first, so a shorter re-run leaves no stale ones)."""
        if not (len(ids) == len(embeddings) == len(documents) == len(metadatas)):
            raise ValueError("ids, embeddings, documents and metadatas must have the same length")
        self._delete_segments(name)
        col = self._segments_col
        for start in range(0, len(ids), MAX_BATCH):
            end = start + MAX_BATCH
            col.add(
                ids=list(ids[start:end]),
                embeddings=[list(map(float, e)) for e in embeddings[start:end]],
                documents=list(documents[start:end]),
                metadatas=[_clean({**m, "video_name": name}) for m in metadatas[start:end]],
            )
        self._bump_revision(name)
        return len(ids)

    def delete_video_segments(self, name: str) -> None:
        """Delete the video's segments (the revision changes only when there were some)."""
        if self._delete_segments(name):
            self._bump_revision(name)

    def _delete_segments(self, name: str) -> bool:
        col = self._segments_col
        if not col.get(where={"video_name": name}, include=[], limit=1)["ids"]:
            return False
        col.delete(where={"video_name": name})
        return True

    def count_segments(self, name: str | None = None) -> int:
        """How many segments the video has (every video's together when `name` is None)."""
        if name is None:
            return int(self._segments_col.count())
        return len(self._segments_col.get(where={"video_name": name}, include=[])["ids"])

    def has_segments(self, name: str) -> bool:
        """Does the video have any segment loaded?"""
        return bool(self._segments_col.get(where={"video_name": name}, include=[], limit=1)["ids"])

    def segment_metadatas(self, name: str) -> list[dict[str, Any]]:
        """The metadata of every segment of the video (unordered)."""
        got = self._segments_col.get(where={"video_name": name}, include=["metadatas"])
        return [dict(m or {}) for m in got["metadatas"]]

    def get_segments(self, ids: Sequence[str] | None = None, include: Sequence[str] = ("metadatas", "documents"),
                     where: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Segments by id and/or a Chroma `where`, as Chroma returns them (`ids` plus the `include`d lists,
        which may name "embeddings"); missing ids are absent. No ids and no where: every segment."""
        got: dict[str, Any] = self._segments_col.get(ids=list(ids) if ids is not None else None,
                                                     where=dict(where) if where else None, include=list(include))
        return got

    def page_segments(self, limit: int, offset: int, include: Sequence[str] = ("metadatas", "documents")) -> dict[str, Any]:
        """One page of every segment (for derived indexes), as Chroma returns it."""
        got: dict[str, Any] = self._segments_col.get(include=list(include), limit=limit, offset=offset)
        return got

    def query_segments(self, vector: Sequence[float], n_results: int, where: Mapping[str, Any] | None = None,
                       include: Sequence[str] = ("metadatas", "documents", "distances")) -> dict[str, Any]:
        """The nearest segments to a vector, as Chroma returns them (one query: lists of lists)."""
        got: dict[str, Any] = self._segments_col.query(query_embeddings=[list(map(float, vector))], n_results=n_results,
                                                       where=dict(where) if where else None, include=list(include))
        return got

    def count_videos(self) -> int:
        """How many video records there are."""
        return int(self._files.count())

    def nearest_segments(self, vector: Sequence[float], n_results: int = 10, where: Mapping[str, Any] | None = None,
                         include_retired: bool = False) -> list[Hit]:
        """The nearest segments to a vector (`Hit`: id, score, metadata, document), `where` as in Chroma. Videos
        that left the library (`retired_at`) are left out unless `include_retired`. `n_results` as in
        `result_count`. (Text search is the search layer's: `vtdb.search.searcher.searcher_for(store)`.)"""
        n_results = result_count(n_results)
        if not include_retired and (retired := sorted(self.retired_names())):
            clause = {"video_name": {"$nin": retired}}
            where = {"$and": [dict(where), clause]} if where else clause
        got = self.query_segments(vector, n_results, where)
        return [Hit(i, 1.0 - float(d), as_meta(m), str(doc or ""), ["vector"])
                for i, d, doc, m in zip(got["ids"][0], got["distances"][0], got["documents"][0], got["metadatas"][0])]

    def set_video_summary(self, name: str, vector: Sequence[float], document: str, metadata: Mapping[str, Any]) -> None:
        """Phase 4: the record's real vector and document replace the placeholder."""
        self._require_meta(name)
        self._files.update(ids=[name], embeddings=[list(map(float, vector))], documents=[document],
                                metadatas=[_clean({**metadata, "embedding_placeholder": False,
                                                   "updated_at": clock.iso(clock.now_utc())})])

    def search_videos(self, query_embedding: Sequence[float], n_results: int = 10) -> list[dict[str, Any]]:
        """Whole-video search over video_files documents (summaries): only records Phase 4 gave a real vector."""
        got = self._files.query(
            query_embeddings=[list(map(float, query_embedding))],
            n_results=n_results,
            where={"embedding_placeholder": False},
            include=["metadatas", "documents", "distances"],
        )
        return [
            {"name": i, "score": 1.0 - d, "document": doc, "metadata": m}
            for i, d, doc, m in zip(got["ids"][0], got["distances"][0], got["documents"][0], got["metadatas"][0])
        ]
