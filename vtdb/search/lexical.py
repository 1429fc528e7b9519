"""The keyword side of search: BM25 (bm25s) over stemmed tokens of each segment's document and transcript.

Chroma's local mode has no BM25, so this index is kept beside it. It is a derived cache keyed on
the collection's revision: never a second source of truth, rebuilt whenever segments were added
or deleted since it was built.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from vtdb.atomic import atomic_write_text, replace_dir
from vtdb.search.filters import matches
from vtdb.text import search_tokens

_KEEP = ("video_name", "start_time", "end_time", "content_type", "language", "keywords")
_EMPTY = "\u2205"  # the token of a segment with no words (bm25s wants at least one per document)


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
    def segment_tokens(cls, document: str, meta: Mapping[str, Any]) -> list[str]:
        """What the index holds of one segment: the stemmed tokens of its document and transcript."""
        return search_tokens(cls.segment_text(document, meta)) or [_EMPTY]

    @classmethod
    def build(cls, db, revision: str) -> "LexicalIndex":
        import bm25s

        ids: list[str] = []
        metas: list[dict] = []
        corpus: list[list[str]] = []
        offset, page = 0, 5000
        while True:
            got = db.page_segments(page, offset)
            for sid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"]):
                meta = meta if isinstance(meta, Mapping) else {}
                ids.append(sid)
                metas.append({k: meta.get(k) for k in _KEEP})
                corpus.append(cls.segment_tokens(str(doc or ""), meta))
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
        replace_dir(tmp, folder)

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
