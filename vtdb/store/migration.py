"""Embedder bookkeeping: refuse to mix two embedders' vectors, and --reembed (rebuild the collections for
a new embedder)."""

from __future__ import annotations

import dataclasses

from vtdb import clock, state
from vtdb.commandline import command
from vtdb.embedders import placeholder_vector
from vtdb.errors import VtdbError
from vtdb.state import COMPLETED
from vtdb.store.connection import MAX_BATCH, REBUILD_FILES, VIDEO_FILES, VIDEO_SEGMENTS
from vtdb.store.videos import _clean, _Videos


class EmbedderMismatch(VtdbError, RuntimeError):
    """The configured embedder is not the one the collections were built with."""


class _Migration(_Videos):
    """Which embedder the collections were built with, and rebuilding them for another."""

    def check_embedder(self, name: str, dimension: int) -> None:
        """Refuse to mix vectors of two embedders in one collection.

        Both collections follow the segment embedder: video_files (status records now, Phase 4 summaries later)
        is checked first, so that a changed embedder is refused even before any segment was loaded, and before
        touching video_segments creates it recorded for the new embedder.
        """
        for collection_name in (VIDEO_FILES, VIDEO_SEGMENTS):
            meta = self._collection(collection_name).metadata or {}
            built_with, built_dim = meta.get("embedder"), int(meta.get("dimension") or 0)
            if built_with != name or built_dim != dimension:
                raise EmbedderMismatch(
                    f"{collection_name} was built with embedder {built_with!r} ({built_dim}-d) but the config says {name!r} "
                    f"({dimension}-d). Either set embedder back to {built_with!r}, or rebuild every segment with the new one: "
                    f"{command('phase3', '--reembed')}"
                )

    def rebuild_for_embedder(self, name: str, dimension: int) -> int:
        """--reembed: new empty video_segments for this embedder; video_files moved to the new dimension
        if needed (its vectors become placeholders again, Phase 4 pending); every video with Phase 2
        completed goes back to db_load pending. Returns how many videos will be reloaded."""
        self._chroma.delete_collection(VIDEO_SEGMENTS)
        self._collections.pop(VIDEO_SEGMENTS, None)
        old_files = self._files
        if int((old_files.metadata or {}).get("dimension") or 0) != dimension or (old_files.metadata or {}).get("embedder") != name:
            # Build the new collection beside the old one, then swap: a crash never loses the status records.
            got = old_files.get(include=["metadatas", "documents"])
            self.settings = dataclasses.replace(self.settings, embedder=name)
            if self._open_collection(REBUILD_FILES, create=False) is not None:
                self._chroma.delete_collection(REBUILD_FILES)
            new_files = self._open_collection(REBUILD_FILES)
            now = clock.now_utc()
            for start in range(0, len(got["ids"]), MAX_BATCH):
                ids = got["ids"][start : start + MAX_BATCH]
                metas = []
                for meta in got["metadatas"][start : start + MAX_BATCH]:
                    meta = dict(meta or {})
                    if meta.get(state.phase_field("phase4", "status")) == COMPLETED:
                        meta.update(state.reset_update("phase4", now))
                    meta["embedding_placeholder"] = True
                    metas.append(_clean(meta))
                new_files.add(ids=ids, embeddings=[placeholder_vector(dimension)] * len(ids), metadatas=metas,
                              documents=[d or "" for d in got["documents"][start : start + MAX_BATCH]])
            self._chroma.delete_collection(VIDEO_FILES)
            new_files.modify(name=VIDEO_FILES)
            self._collections[VIDEO_FILES] = self._open_collection(VIDEO_FILES, create=False)
        self.settings = dataclasses.replace(self.settings, embedder=name)
        self._collection(VIDEO_SEGMENTS)  # recreate with the new embedder's name and dimension
        names = [m["name"] for m in self.list_videos({state.phase_field("phase2", "status"): COMPLETED})]
        for n in names:
            self._update(n, state.reset_update("db_load", clock.now_utc()))
        return len(names)
